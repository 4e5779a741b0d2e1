package untrusted

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/modhunt/modhunt/tables/inventory"
	"github.com/modhunt/modhunt/tables/inventory/fakeinv"
	"github.com/modhunt/modhunt/tables/table"
)

// macSample copies a committed Mach-O sample (built byte by byte by
// internal/machofacts' tests) to a file of its own.
func macSample(t *testing.T, name string, mode os.FileMode) string {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("..", "..", "internal", "machofacts", "testdata", "samples", name))
	require.NoError(t, err)
	p := filepath.Join(t.TempDir(), name)
	require.NoError(t, os.WriteFile(p, b, mode))
	require.NoError(t, os.Chmod(p, mode))
	return p
}

func hostDir(t *testing.T, mode os.FileMode) string {
	t.Helper()
	d := t.TempDir()
	require.NoError(t, os.Chmod(d, mode))
	return d
}

// macJudgeHost is the recorded macOS loader with its dylibs standing on
// the committed Mach-O samples: evil.dylib (x86_64, unsigned) in the
// sticky /private/tmp, libhidden.dylib (arm64, signed) under alice's home,
// libremote.dylib (fat, its x86_64 slice unsigned) on an SMB share.
func macJudgeHost(t *testing.T) (*inventory.Darwin, string) {
	t.Helper()
	evil := macSample(t, "x86_64_unsigned.dylib", 0o644)
	files := map[string]string{
		"/":                                   hostDir(t, 0o755),
		"/private":                            hostDir(t, 0o755),
		"/private/tmp":                        hostDir(t, 0o777|os.ModeSticky),
		"/private/tmp/evil.dylib":             evil,
		"/Users":                              hostDir(t, 0o755),
		"/Users/alice":                        hostDir(t, 0o750),
		"/Users/alice/.cache":                 hostDir(t, 0o700),
		"/Users/alice/.cache/libhidden.dylib": macSample(t, "arm64_signed.dylib", 0o644),
		"/Volumes/share/libremote.dylib":      macSample(t, "fat_half_signed.dylib", 0o644),
		"/usr/lib/dyld":                       macSample(t, "arm64_signed.dylib", 0o755),
	}
	rec, err := fakeinv.MacLoader(files)
	require.NoError(t, err)
	rec.Owners = map[string]uint32{"/Users/alice": 501, "/Users/alice/.cache": 501}
	return inventory.NewDarwin(inventory.Config{}, rec), evil
}

// TestDarwinJudgement judges a recorded macOS process under the built-in
// macOS policy (chosen by the inventory's platform): each reason from the
// fact that earns it, and none for what Apple's locations hold.
func TestDarwinJudgement(t *testing.T) {
	t.Parallel()
	inv, evil := macJudgeHost(t)
	j, err := NewJudge(Config{Inventory: inv})
	require.NoError(t, err)
	tbl := j.Table()
	rows, err := tbl.Generate(context.Background(), table.Query{})
	require.NoError(t, err)
	got := map[string]table.Row{}
	for _, r := range rows {
		got[r[tbl.ColumnIndex("path")]] = r
		assert.Equal(t, "16777316", r[tbl.ColumnIndex("pid")], "launchd's modules are all Apple's")
	}
	col := func(p, c string) string { return got[p][tbl.ColumnIndex(c)] }
	assert.Equal(t, "outside_trusted_dirs,preloaded,temp_dir,unsigned", col("/private/tmp/evil.dylib", "reasons"),
		"DYLD_INSERT_LIBRARIES=/tmp/evil.dylib names the mapped /private/tmp/evil.dylib")
	assert.Equal(t, "high", col("/private/tmp/evil.dylib", "severity"))
	b, err := os.ReadFile(evil)
	require.NoError(t, err)
	sum := sha256.Sum256(b)
	assert.Equal(t, hex.EncodeToString(sum[:]), col("/private/tmp/evil.dylib", "sha256"))
	assert.Equal(t, "apfs", col("/private/tmp/evil.dylib", "fs_type"))
	assert.Equal(t, "hidden,outside_trusted_dirs,user_writable", col("/Users/alice/.cache/libhidden.dylib", "reasons"),
		"signed, and in a directory alice owns")
	assert.Equal(t, "outside_trusted_dirs,remote,unsigned", col("/Volumes/share/libremote.dylib", "reasons"))
	assert.Equal(t, "smbfs", col("/Volumes/share/libremote.dylib", "fs_type"))
	assert.Equal(t, "deleted,outside_trusted_dirs", col("/Users/alice/lib/libgone.dylib", "reasons"))
	assert.Equal(t, "high", col("/Users/alice/lib/libgone.dylib", "severity"))
	assert.NotContains(t, got, "/usr/lib/dyld", "trusted by location")
	assert.NotContains(t, got, "/Users/alice/bin/loader", "the executable is not a load")
	assert.NotContains(t, got, "/Users/alice/Library/Preferences/data.plist", "not mapped executable")
	for p := range got {
		assert.NotContains(t, p, "dyld_shared_cache", "the shared cache in the shared region is the system's")
	}
	assert.Len(t, got, 4)
}

// TestDarwinJudgementWithoutEvidence: the same loader with no environment
// to read (a restricted process) and the dylib writable by others: no
// preload is claimed, and the file's own mode makes it user_writable. An
// unsigned dyld in /usr/lib, which SIP should make impossible, is reported
// although the location is trusted.
func TestDarwinJudgementWithoutEvidence(t *testing.T) {
	t.Parallel()
	evil := macSample(t, "arm64_signed.dylib", 0o666)
	rec, err := fakeinv.MacLoader(map[string]string{"/private/tmp/evil.dylib": evil,
		"/usr/lib/dyld": macSample(t, "x86_64_unsigned.dylib", 0o755)})
	require.NoError(t, err)
	rec.Procs[fakeinv.MacLoaderPID].Args.Env = nil
	rec.Procs[fakeinv.MacLoaderPID].Args.EnvOmitted = true
	j, err := NewJudge(Config{Inventory: inventory.NewDarwin(inventory.Config{}, rec)})
	require.NoError(t, err)
	tbl := j.Table()
	rows, err := tbl.Generate(context.Background(), table.PIDQuery([]int{fakeinv.MacLoaderPID}))
	require.NoError(t, err)
	got := map[string]string{}
	for _, r := range rows {
		got[r[tbl.ColumnIndex("path")]] = r[tbl.ColumnIndex("reasons")] + " " + r[tbl.ColumnIndex("severity")]
	}
	assert.Equal(t, "outside_trusted_dirs,temp_dir,user_writable high", got["/private/tmp/evil.dylib"])
	// unsigned alone is inside the trusted directories: low on every OS
	// (trust.Reasons.Severity); the untrusted_dylib_unsigned hunt reads
	// the reason, not the severity.
	assert.Equal(t, "unsigned low", got["/usr/lib/dyld"])
}

func TestInsertedMatch(t *testing.T) {
	t.Parallel()
	for _, c := range []struct {
		inserted []string
		path     string
		want     bool
	}{
		{[]string{"/tmp/a.dylib"}, "/private/tmp/a.dylib", true},
		{[]string{"/TMP/a.dylib"}, "/private/tmp/a.dylib", true},
		{[]string{"@executable_path/../Frameworks/a.dylib"}, "/Applications/X.app/Contents/Frameworks/a.dylib", true},
		{[]string{"a.dylib"}, "/Users/x/a.dylib", true},
		{[]string{"/tmp/b.dylib"}, "/private/tmp/a.dylib", false},
		{[]string{"/private/var/a.dylib"}, "/private/tmp/a.dylib", false},
		{nil, "/private/tmp/a.dylib", false},
	} {
		assert.Equal(t, c.want, insertedMatch(c.inserted, c.path), "%q %s", c.inserted, c.path)
	}
}
