package loadedmodules

import (
	"context"
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/modhunt/modhunt/tables/deps"
	"github.com/modhunt/modhunt/tables/inventory"
	"github.com/modhunt/modhunt/tables/inventory/fakeinv"
	"github.com/modhunt/modhunt/tables/table"
)

func sample(name string) string {
	return filepath.Join("..", "..", "internal", "machofacts", "testdata", "samples", name)
}

// TestMachOColumns: over the recorded macOS loader, whose dylibs stand on
// committed Mach-O samples, arch/is_dylib/signed come from each file's
// header (thin and fat), empty for a file that is not Mach-O; and a query
// that does not read them opens no module.
func TestMachOColumns(t *testing.T) {
	t.Parallel()
	script := filepath.Join(t.TempDir(), "loader")
	require.NoError(t, os.WriteFile(script, []byte("#!/bin/sh\n"), 0o600))
	rec, err := fakeinv.MacLoader(map[string]string{
		"/private/tmp/evil.dylib":             sample("x86_64_unsigned.dylib"),
		"/Users/alice/.cache/libhidden.dylib": sample("arm64_signed.dylib"),
		"/Volumes/share/libremote.dylib":      sample("fat_half_signed.dylib"),
		"/usr/lib/dyld":                       sample("arm64_signed_exec"),
		"/Users/alice/bin/loader":             script,
	})
	require.NoError(t, err)
	var opened int
	inv := inventory.NewDarwin(inventory.Config{OnRead: func(_ int, f string) {
		if f == "module" {
			opened++
		}
	}}, rec)
	tbl, err := New(deps.Deps{Inventory: inv})
	require.NoError(t, err)

	q := table.PIDQuery([]int{fakeinv.MacLoaderPID})
	q.Used = table.UsedColumns("path", "arch", "is_dylib", "signed")
	rows, err := tbl.Generate(context.Background(), q)
	require.NoError(t, err)
	got := map[string][3]string{}
	for _, r := range rows {
		got[r[colPath]] = [3]string{r[colArch], r[colIsDylib], r[colSigned]}
	}
	assert.Equal(t, [3]string{"x86_64", "1", "0"}, got["/private/tmp/evil.dylib"])
	assert.Equal(t, [3]string{"arm64", "1", "1"}, got["/Users/alice/.cache/libhidden.dylib"])
	assert.Equal(t, [3]string{"x86_64,arm64", "1", "0"}, got["/Volumes/share/libremote.dylib"], "one unsigned slice makes it unsigned")
	assert.Equal(t, [3]string{"arm64", "0", "1"}, got["/usr/lib/dyld"])
	assert.Equal(t, [3]string{"", "", ""}, got["/Users/alice/bin/loader"], "not Mach-O")
	assert.Equal(t, [3]string{"", "", ""}, got["/Users/alice/lib/libgone.dylib"], "unreadable")
	assert.Positive(t, opened)

	opened = 0
	q.Used = table.UsedColumns("path", "executable")
	rows, err = tbl.Generate(context.Background(), q)
	require.NoError(t, err)
	assert.Len(t, rows, 8)
	assert.Zero(t, opened, "no module is read when no column needs its bytes")
	for _, r := range rows {
		assert.Empty(t, r[colArch])
	}
}
