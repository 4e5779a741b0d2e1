package dotnetloads

import (
	"bytes"
	"crypto/rand"
	"crypto/rsa"
	"encoding/binary"
	"fmt"
	"math/big"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"

	"go.uber.org/goleak"

	"github.com/modhunt/modhunt/tables/table"
	"github.com/modhunt/modhunt/test/sim"
)

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "dotnetloads-test-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(2)
	}
	shared = dir
	code := m.Run()
	_ = os.RemoveAll(dir)
	if err := goleak.Find(); err != nil && code == 0 {
		fmt.Fprintln(os.Stderr, "goroutine leak:", err)
		code = 1
	}
	os.Exit(code)
}

// shared holds what tests compile once per run (TestMain removes it).
var shared string

// The assemblies these tests read are compiled by Mono's C# compiler in
// the test (Debian's mono-mcs; .ci/run installs it).

// compileCS compiles src into dir/out with mcs; args are extra mcs flags
// (-target:library is the default target).
func compileCS(tb testing.TB, dir, out, src string, args ...string) string {
	tb.Helper()
	mcs := sim.NeedTool(tb, "mcs", "mono-mcs")
	name := strings.TrimSuffix(out, filepath.Ext(out)) + ".cs"
	if err := os.WriteFile(filepath.Join(dir, name), []byte(src), 0o644); err != nil {
		tb.Fatal(err)
	}
	a := append([]string{"-nologo", "-out:" + out}, args...)
	if !strings.Contains(strings.Join(args, " "), "-target:") {
		a = append(a, "-target:library")
	}
	cmd := exec.Command(mcs, append(a, name)...)
	cmd.Dir = dir
	if b, err := cmd.CombinedOutput(); err != nil {
		tb.Fatalf("mcs %s: %v\n%s", out, err, b)
	}
	return filepath.Join(dir, out)
}

// libSource is a small library of the given name and version with one
// public static method Run.
func libSource(class, version string) string {
	return fmt.Sprintf(`using System.Reflection;
[assembly: AssemblyVersion(%q)]
public class %s { public static int Run() { return 42; } }
`, version, class)
}

// strongNameKey writes a fresh RSA key as a CAPI PRIVATEKEYBLOB (the .snk
// format sn -k writes), so mcs -keyfile signs an assembly with a public
// key no one has seen before.
func strongNameKey(tb testing.TB, path string) {
	tb.Helper()
	key, err := rsa.GenerateKey(rand.Reader, 1024)
	if err != nil {
		tb.Fatal(err)
	}
	const bits = 1024
	le := func(n *big.Int, size int) []byte {
		b := n.FillBytes(make([]byte, size))
		for i, j := 0, len(b)-1; i < j; i, j = i+1, j-1 {
			b[i], b[j] = b[j], b[i]
		}
		return b
	}
	p, q := key.Primes[0], key.Primes[1]
	one := big.NewInt(1)
	var snk bytes.Buffer
	snk.Write([]byte{0x07, 0x02, 0, 0})
	_ = binary.Write(&snk, binary.LittleEndian, []uint32{0x2400, 0x32415352, bits, uint32(key.E)})
	snk.Write(le(key.N, bits/8))
	snk.Write(le(p, bits/16))
	snk.Write(le(q, bits/16))
	snk.Write(le(new(big.Int).Mod(key.D, new(big.Int).Sub(p, one)), bits/16))
	snk.Write(le(new(big.Int).Mod(key.D, new(big.Int).Sub(q, one)), bits/16))
	snk.Write(le(new(big.Int).ModInverse(q, p), bits/16))
	snk.Write(le(key.D, bits/8))
	if err := os.WriteFile(path, snk.Bytes(), 0o600); err != nil {
		tb.Fatal(err)
	}
}

func rowMaps(rows []table.Row) []map[string]string {
	out := make([]map[string]string, 0, len(rows))
	for _, r := range rows {
		m := map[string]string{}
		for i, c := range Columns {
			m[c.Name] = r[i]
		}
		out = append(out, m)
	}
	return out
}

func byName(rows []map[string]string, name string) []map[string]string {
	var out []map[string]string
	for _, r := range rows {
		if r["assembly_name"] == name {
			out = append(out, r)
		}
	}
	return out
}

// memCounter records the pids whose memory the scanner opened.
type memCounter struct {
	mu   sync.Mutex
	pids []int
}

func (c *memCounter) hook(pid int) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.pids = append(c.pids, pid)
}

func (c *memCounter) opened() []int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return slices.Clone(c.pids)
}
