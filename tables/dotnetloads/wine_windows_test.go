package dotnetloads

import (
	"context"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/modhunt/modhunt/tables/inventory"
	"github.com/modhunt/modhunt/tables/table"
	"github.com/modhunt/modhunt/test/wine/winfix"
)

// Under Wine the table runs over real processes through the Windows
// inventory (loader list, VirtualQueryEx, ReadProcessMemory), but no
// managed code runs: Debian 12 packages no wine-mono, so no CLR exists in
// the prefix. clrhost.exe is a native program with a CLR host's shape: a
// module named clr.dll (a mingw stub), an mcs-compiled assembly mapped as
// an image from the prefix's GAC (SEC_IMAGE, as the CLR maps assembly
// files), and another one's bytes in VirtualAlloc'd memory at no region or
// page start (as Assembly.Load(byte[]) leaves them). The expected
// identities are what Mono's reflection said of the same files on Linux
// when the fixtures were built (managed/identity.tsv), not this package's
// parser.

// wineIdentity is one line of identity.tsv.
type wineIdentity struct{ name, version, culture, token, mvid string }

func readIdentities(t *testing.T, dir string) map[string]wineIdentity {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(dir, "managed", "identity.tsv"))
	require.NoError(t, err, "fixture missing (make wine-fixtures)")
	out := map[string]wineIdentity{}
	for _, line := range strings.Split(strings.TrimSpace(strings.ReplaceAll(string(b), "\r", "")), "\n") {
		f := strings.Split(line, "\t")
		require.Len(t, f, 6, "identity.tsv line %q", line)
		out[f[0]] = wineIdentity{name: f[1], version: f[2], culture: f[3], token: f[4], mvid: f[5]}
	}
	return out
}

// intoGAC copies the assembly file into the prefix's .NET 2-3.5 GAC, where
// the Framework keeps it (C:\Windows\assembly\GAC_MSIL\Name\Version__Token),
// until the test ends.
func intoGAC(t *testing.T, from string, id wineIdentity) string {
	t.Helper()
	dir := filepath.Join(winfix.WindowsDir(), "assembly", "GAC_MSIL", id.name, id.version+"__"+id.token)
	return winfix.Place(t, from, dir, id.name+".dll")
}

// TestWineCLRShapedHost: the table finds the image-mapped GAC assembly
// (gac 1, its path and base) and the in-memory one (in_memory 1, at the
// address the program copied it to) of a process holding clr.dll (runtime
// clr4), with the identities Mono's reflection gave; a native process
// queried with it has no rows and its memory is never opened.
func TestWineCLRShapedHost(t *testing.T) {
	dir := winfix.Dir(t)
	ids := readIdentities(t, dir)
	mapped, bytesID := ids["Mapped.dll"], ids["Bytes.dll"]
	require.NotEmpty(t, mapped.mvid, "identity.tsv names Mapped.dll")
	require.NotEmpty(t, bytesID.mvid, "identity.tsv names Bytes.dll")

	gacPath := intoGAC(t, filepath.Join(dir, "managed", "Mapped.dll"), mapped)
	tmp := t.TempDir()
	clr := filepath.Join(tmp, "clr.dll")
	winfix.CopyFile(t, filepath.Join(dir, "clr.dll"), clr)
	payload := filepath.Join(tmp, "payload.bin") // no assembly-like name: identity is the metadata's
	winfix.CopyFile(t, filepath.Join(dir, "managed", "Bytes.dll"), payload)
	host, addrs := winfix.Start(t, filepath.Join(dir, "clrhost.exe"), "hosting", clr+"|"+gacPath+"|"+payload)
	require.Len(t, addrs, 3)

	native := filepath.Join(tmp, "payload.dll")
	winfix.CopyFile(t, filepath.Join(dir, "payload.dll"), native)
	nat, _ := winfix.Start(t, filepath.Join(dir, "loadlib.exe"), "loaded", native)

	var mem memCounter
	s := &Scanner{Inventory: inventory.New(inventory.Config{}), OnMemory: mem.hook}
	rows, err := NewWith(s).Generate(context.Background(), table.PIDQuery([]int{int(host), int(nat)}))
	require.NoError(t, err)
	got := rowMaps(rows)
	t.Logf("rows: %v", got)

	assert.Equal(t, []int{int(host)}, mem.opened(), "only the CLR host's memory is read")
	for _, r := range got {
		assert.Equal(t, strconv.Itoa(int(host)), r["pid"], "a row of another process: %v", r)
		assert.Equal(t, RuntimeCLR4, r["runtime"])
		assert.Equal(t, "clrhost.exe", strings.ToLower(r["process_name"]))
	}
	require.Len(t, got, 2, "the mapped and the in-memory assembly, nothing else: %v", got)

	m := byName(got, mapped.name)
	require.Len(t, m, 1, "the image-mapped assembly: %v", got)
	assert.True(t, strings.EqualFold(gacPath, m[0]["path"]), "path %q, want %q", m[0]["path"], gacPath)
	assert.Equal(t, mapped.version, m[0]["assembly_version"])
	assert.Equal(t, mapped.culture, m[0]["culture"])
	assert.Equal(t, mapped.token, m[0]["public_key_token"])
	assert.Equal(t, mapped.mvid, m[0]["mvid"])
	assert.Equal(t, "1", m[0]["gac"])
	assert.Equal(t, "0", m[0]["native_image"])
	assert.Equal(t, "0", m[0]["in_memory"])
	assert.Equal(t, "0x"+strconv.FormatUint(addrs[1], 16), m[0]["base_address"], "where MapViewOfFile put it")

	b := byName(got, bytesID.name)
	require.Len(t, b, 1, "the in-memory assembly: %v", got)
	assert.Empty(t, b[0]["path"])
	assert.Equal(t, bytesID.version, b[0]["assembly_version"])
	assert.Equal(t, bytesID.culture, b[0]["culture"])
	assert.Equal(t, bytesID.token, b[0]["public_key_token"])
	assert.Equal(t, bytesID.mvid, b[0]["mvid"])
	assert.Equal(t, "0", b[0]["gac"])
	assert.Equal(t, "1", b[0]["in_memory"])
	assert.Equal(t, "0x"+strconv.FormatUint(addrs[2], 16), b[0]["base_address"], "the MZ header, 0x1234 into its region")
	assert.NotZero(t, addrs[2]&0xfff, "the copy is at no page start")
	fi, err := os.Stat(payload)
	require.NoError(t, err)
	assert.Equal(t, strconv.FormatInt(fi.Size(), 10), b[0]["size"], "the copy's extent: the file's, in its file layout")
}
