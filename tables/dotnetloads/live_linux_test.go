package dotnetloads

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/modhunt/modhunt/tables/inventory"
	"github.com/modhunt/modhunt/tables/table"
	"github.com/modhunt/modhunt/test/sim"
)

// hostCS is a Mono program that (a) uses System.Xml from Mono's GAC,
// (b) Assembly.LoadFrom()s args[0], (c) Assembly.Load()s the bytes of
// args[1], runs code of both, then writes what Mono's own reflection says
// of the three (the oracle) to args[2] and prints "ready".
const hostCS = `using System;
using System.IO;
using System.Reflection;
using System.Threading;
class Host {
  static string Id(string kind, Assembly a) {
    var n = a.GetName();
    var tok = n.GetPublicKeyToken();
    var t = tok == null ? "" : BitConverter.ToString(tok).Replace("-", "").ToLowerInvariant();
    return kind + "\t" + n.Name + "\t" + n.Version + "\t" + (n.CultureInfo == null ? "" : n.CultureInfo.Name) + "\t" + t +
      "\t" + a.ManifestModule.ModuleVersionId + "\t" + a.Location + "\n";
  }
  static void Main(string[] args) {
    var doc = new System.Xml.XmlDocument();
    doc.LoadXml("<x/>");
    var from = Assembly.LoadFrom(args[0]);
    from.GetType("FromFile").GetMethod("Run").Invoke(null, null);
    var mem = Assembly.Load(File.ReadAllBytes(args[1]));
    mem.GetType("Payload").GetMethod("Run").Invoke(null, null);
    File.WriteAllText(args[2], Id("gac", typeof(System.Xml.XmlDocument).Assembly) + Id("from", from) + Id("mem", mem));
    Console.WriteLine("ready");
    Thread.Sleep(Timeout.Infinite);
  }
}
`

type oracle struct{ name, version, culture, token, mvid, location string }

// monoHost starts the program of hostCS; it returns its pid and what Mono
// says of the GAC, LoadFrom and Load(byte[]) assemblies.
func monoHost(t *testing.T) (pid int, want map[string]oracle) {
	t.Helper()
	sim.NeedTool(t, "mono", "mono-runtime")
	dir := t.TempDir()
	exe := compileCS(t, dir, "host.exe", hostCS, "-target:exe", "-r:System.Xml.dll")
	from := compileCS(t, dir, "FromFile.dll", libSource("FromFile", "1.2.3.4"))
	strongNameKey(t, filepath.Join(dir, "payload.snk"))
	payload := compileCS(t, dir, "Payload.dll", libSource("Payload", "5.6.7.8"), "-keyfile:payload.snk")
	report := filepath.Join(dir, "report.tsv")
	p := sim.Start(t, "mono", exe, from, payload, report)
	// The bytes are in the process only now: no file holds them any more.
	require.NoError(t, os.Remove(payload))
	b, err := os.ReadFile(report)
	require.NoError(t, err)
	want = map[string]oracle{}
	for _, line := range strings.Split(strings.TrimRight(string(b), "\n"), "\n") {
		f := strings.Split(line, "\t")
		require.Len(t, f, 7, "report line %q", line)
		want[f[0]] = oracle{f[1], f[2], f[3], f[4], f[5], f[6]}
	}
	require.Len(t, want, 3)
	return p.PID, want
}

// TestMonoHostLive: a real Mono process with a GAC assembly, a LoadFrom
// assembly and an Assembly.Load(byte[]) assembly, next to a native
// process (sleep) that must yield nothing and whose memory is never read.
func TestMonoHostLive(t *testing.T) {
	pid, want := monoHost(t)
	native := sim.StartNoWait(t, "sleep", "3600")
	var mem memCounter
	s := &Scanner{Inventory: inventory.New(inventory.Config{ModulesOnly: true}), OnMemory: mem.hook}
	rows, err := NewWith(s).Generate(context.Background(), table.PIDQuery([]int{pid, native.PID}))
	require.NoError(t, err)
	got := rowMaps(rows)
	for _, r := range got {
		t.Logf("%s %s %s gac=%s mem=%s %s %s", r["assembly_name"], r["assembly_version"], r["public_key_token"], r["gac"], r["in_memory"], r["base_address"], r["path"])
	}

	for _, r := range got {
		assert.Equal(t, table.Int(pid), r["pid"], "a row of another process: %v", r)
		assert.Equal(t, RuntimeMono, r["runtime"])
	}
	assert.Equal(t, []int{pid}, mem.opened(), "only the CLR host's memory is read")

	check := func(kind string, gac, inMemory bool) map[string]string {
		w := want[kind]
		rs := byName(got, w.name)
		require.Len(t, rs, 1, "%s assembly %s: rows %v", kind, w.name, rs)
		r := rs[0]
		assert.Equal(t, w.version, r["assembly_version"], kind)
		assert.Equal(t, w.culture, r["culture"], kind)
		assert.Equal(t, w.token, r["public_key_token"], kind)
		assert.Equal(t, w.mvid, r["mvid"], kind)
		assert.Equal(t, table.Bool(gac), r["gac"], kind)
		assert.Equal(t, table.Bool(inMemory), r["in_memory"], kind)
		assert.Equal(t, "0", r["native_image"], kind)
		assert.NotEqual(t, "0x0", r["base_address"], kind)
		return r
	}
	x := check("gac", true, false)
	assert.Equal(t, "b77a5c561934e089", x["public_key_token"], "System.Xml's token")
	assert.Contains(t, x["path"], "/gac/System.Xml/")
	f := check("from", false, false)
	assert.Equal(t, want["from"].location, f["path"])
	m := check("mem", false, true)
	assert.Empty(t, m["path"], "an assembly only in memory has no path")
	assert.Len(t, want["mem"].token, 16, "the payload is signed")

	// mscorlib is file-mapped: it must not come back as an in-memory copy.
	for _, r := range got {
		if r["in_memory"] == "1" {
			assert.Equal(t, want["mem"].name, r["assembly_name"], "only the byte[] assembly is in memory only")
		}
	}
}

// TestNativeProcessLive: a process without a CLR has no rows and its
// memory is never opened, also in a full scan.
func TestNativeProcessLive(t *testing.T) {
	native := sim.StartNoWait(t, "sleep", "3600")
	var mem memCounter
	s := &Scanner{Inventory: inventory.New(inventory.Config{ModulesOnly: true}), OnMemory: mem.hook}
	rows, err := NewWith(s).Generate(context.Background(), table.Query{})
	require.NoError(t, err)
	for _, r := range rowMaps(rows) {
		assert.NotEqual(t, table.Int(native.PID), r["pid"])
	}
	assert.NotContains(t, mem.opened(), native.PID)
}
