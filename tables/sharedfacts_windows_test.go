package tables_test

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/modhunt/modhunt/tables/deps"
	"github.com/modhunt/modhunt/tables/imagefacts"
	"github.com/modhunt/modhunt/tables/inventory"
	"github.com/modhunt/modhunt/tables/loadedmodules"
	"github.com/modhunt/modhunt/tables/table"
	"github.com/modhunt/modhunt/tables/untrusted"
	"github.com/modhunt/modhunt/test/wine/winfix"
)

// rowsByPath runs q on tbl and returns its rows' cells by lower-cased path.
func rowsByPath(t *testing.T, tbl *table.Table, q table.Query) map[string]map[string]string {
	t.Helper()
	rows, err := tbl.Generate(context.Background(), q)
	require.NoError(t, err)
	out := map[string]map[string]string{}
	for _, r := range rows {
		cells := map[string]string{}
		for i, c := range tbl.Columns {
			cells[c.Name] = r[i]
		}
		out[strings.ToLower(cells["path"])] = cells
	}
	return out
}

// process_loaded_modules and untrusted_module_loads read a module file's
// version resource and signature through one place (imagefacts), cached
// per file identity in the inventory's file-facts cache: once the first
// table has parsed and verified a live process's DLLs, judging the same
// process parses and verifies nothing again, and adds nothing to the cache,
// yet its renamed and unsigned reasons come from those facts.
func TestLiveWindowsModuleFactsReadOncePerFileForBothTables(t *testing.T) {
	root := os.Getenv("SystemDrive")
	if root == "" {
		root = "C:"
	}
	fixtures := winfix.Dir(t)
	dir, err := os.MkdirTemp(root+`\`, "modhunt-shared-")
	require.NoError(t, err)
	t.Cleanup(func() { _ = os.RemoveAll(dir) })
	renamed := filepath.Join(dir, "notes.dll")
	winfix.CopyFile(t, filepath.Join(fixtures, "versioned.dll"), renamed)
	pid32, _ := winfix.Start(t, filepath.Join(fixtures, "loadmany.exe"), "loaded", renamed)
	q := table.PIDQuery([]int{int(pid32)})

	inv := inventory.New(inventory.Config{})
	loaded, err := loadedmodules.New(deps.Deps{Inventory: inv})
	require.NoError(t, err)
	lm := rowsByPath(t, loaded, q)
	require.Contains(t, lm, strings.ToLower(renamed))
	assert.Equal(t, "vendorlib.dll", lm[strings.ToLower(renamed)]["original_file_name"])
	assert.Equal(t, "0", lm[strings.ToLower(renamed)]["signed"])
	pe, sig := imagefacts.Reads()
	require.NotZero(t, pe)
	require.NotZero(t, sig)
	entries, bytes := inv.Files().Len(), inv.Files().Bytes()

	j, err := untrusted.NewJudge(untrusted.Config{Inventory: inv, ShareWindow: -1})
	require.NoError(t, err)
	uq := q
	uq.Used = table.UsedColumns("pid", "path", "reasons") // no sha256: nothing hashed into the cache
	um := rowsByPath(t, j.Table(), uq)
	require.Contains(t, um, strings.ToLower(renamed))
	assert.Equal(t, "outside_trusted_dirs,renamed,unsigned", um[strings.ToLower(renamed)]["reasons"])

	pe2, sig2 := imagefacts.Reads()
	assert.Equal(t, pe, pe2, "PE parses after the judgement")
	assert.Equal(t, sig, sig2, "signature verifications after the judgement")
	assert.Equal(t, entries, inv.Files().Len(), "file-facts cache entries")
	assert.Equal(t, bytes, inv.Files().Bytes(), "file-facts cache bytes: no second copy of the facts")
}
