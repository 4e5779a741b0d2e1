package loadedmodules

import (
	"context"
	"os"
	"path/filepath"
	"runtime"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/modhunt/modhunt/tables/deps"
	"github.com/modhunt/modhunt/tables/inventory"
	"github.com/modhunt/modhunt/tables/inventory/fakeinv"
	"github.com/modhunt/modhunt/tables/table"
)

// openCounting counts the module files a table opens.
type openCounting struct {
	*fakeinv.Inventory
	opens int
}

func (o *openCounting) OpenModule(pid int, m *inventory.Module) (*os.File, error) {
	o.opens++
	return o.Inventory.OpenModule(pid, m)
}

// windowsHost is fakeinv's Windows host whose C:\Users\Public\evil.dll is
// backed by a real PE with a version resource (tables/imagefacts'
// testdata, built from test/wine/fixtures/versioned.{c,rc}).
func windowsHost(t testing.TB) *openCounting {
	t.Helper()
	b, err := os.ReadFile("../imagefacts/testdata/versioned.dll")
	require.NoError(t, err)
	p := filepath.Join(t.TempDir(), "evil.dll")
	require.NoError(t, os.WriteFile(p, b, 0o600))
	inv := fakeinv.Windows(p)
	inv.Procs[1].Windows = inventory.WindowsProcess{Integrity: "medium", Session: 1}
	return &openCounting{Inventory: inv}
}

func rowsByPath(t *testing.T, src inventory.Source, q table.Query) map[string]map[string]string {
	t.Helper()
	tbl := mustNew(deps.Deps{Inventory: src})
	rows, err := tbl.Generate(context.Background(), q)
	require.NoError(t, err)
	out := map[string]map[string]string{}
	for _, r := range rows {
		cells := map[string]string{}
		for i, c := range tbl.Columns {
			cells[c.Name] = r[i]
		}
		out[cells["path"]] = cells
	}
	return out
}

func TestWindowsShapedRows(t *testing.T) {
	t.Parallel()
	src := windowsHost(t)
	rows := rowsByPath(t, src, table.PIDQuery([]int{fakeinv.PID}))
	evil := rows[`C:\Users\Public\evil.dll`]
	require.NotNil(t, evil)
	assert.Equal(t, "1", evil["in_loader_list"])
	assert.Equal(t, "vendorlib.dll", evil["original_file_name"], "the renamed copy's real name")
	assert.Equal(t, "Modhunt Test Vendor", evil["company"])
	assert.Equal(t, "Modhunt Fixtures", evil["product"])
	assert.Equal(t, "modhunt versioned fixture", evil["description"])
	assert.Equal(t, "4.3.2.1 (fixture.251202)", evil["file_version"])
	assert.Len(t, evil["imphash"], 32)
	assert.Equal(t, "0", evil["is_dotnet"])
	assert.Equal(t, `DESKTOP-7\alice`, evil["user"])
	assert.Equal(t, "medium", evil["integrity_level"])
	assert.Equal(t, "1", evil["session_id"])
	assert.Empty(t, evil["uid"], "Windows has no uid")
	if runtime.GOOS != "windows" {
		// Only Windows verifies signatures: off Windows the columns
		// are empty, not "unsigned".
		assert.Empty(t, evil["signed"])
		assert.Empty(t, evil["signature_status"])
	}

	mapped := rows[`C:\Users\Public\mapped.dll`]
	require.NotNil(t, mapped)
	assert.Equal(t, "0", mapped["in_loader_list"], "mapped outside the loader list")
	assert.Empty(t, mapped["original_file_name"], "a file that cannot be read has no facts")
	assert.Empty(t, mapped["is_dotnet"])
}

func TestPEColumnsAreReadOnlyWhenUsed(t *testing.T) {
	t.Parallel()
	src := windowsHost(t)
	q := table.PIDQuery([]int{fakeinv.PID})
	q.Used = table.UsedColumns("pid", "path", "in_loader_list")
	rows := rowsByPath(t, src, q)
	require.Contains(t, rows, `C:\Users\Public\evil.dll`)
	assert.Zero(t, src.opens, "no PE column read, no file opened")

	q.Used = table.UsedColumns("pid", "path", "imphash")
	rows = rowsByPath(t, src, q)
	assert.Len(t, rows[`C:\Users\Public\evil.dll`]["imphash"], 32)
	opened := src.opens
	assert.Positive(t, opened)
	// The file-facts cache keeps the facts: a second query opens nothing
	// new to parse (its stat is the identity check).
	rows = rowsByPath(t, src, q)
	assert.Len(t, rows[`C:\Users\Public\evil.dll`]["imphash"], 32)
	assert.Equal(t, opened, src.opens)
}
