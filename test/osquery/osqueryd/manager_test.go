//go:build !windows

package osqueryd

import (
	"os"
	"path/filepath"
	"strconv"
	"testing"
	"time"

	osquery "github.com/osquery/osquery-go"
	gen "github.com/osquery/osquery-go/gen/osquery"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.uber.org/goleak"

	"github.com/modhunt/modhunt/test/sim"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

func listen(t *testing.T) *Manager {
	t.Helper()
	// A short path: osquery-go refuses a manager socket over 97 bytes.
	m, err := Listen(filepath.Join(sim.TempDirIn(t, "/tmp", "mh"), "osquery.em"), time.Second)
	require.NoError(t, err)
	t.Cleanup(m.Close)
	return m
}

func client(t *testing.T, m *Manager) *osquery.ExtensionManagerClient {
	t.Helper()
	c, err := osquery.NewClient(m.Path(), time.Second)
	require.NoError(t, err)
	t.Cleanup(c.Close)
	return c
}

var routes = gen.ExtensionPluginResponse{
	{"id": "column", "name": "pid", "type": "BIGINT", "op": "9"},
	{"id": "column", "name": "path", "type": "TEXT", "op": "8"},
}

func TestManagerServesOsquerysAPI(t *testing.T) {
	t.Parallel()
	m := listen(t)
	c := client(t, m)

	st, err := c.Ping()
	require.NoError(t, err)
	assert.Equal(t, int32(0), st.Code)

	reg := gen.ExtensionRegistry{"table": {"t1": routes}}
	st, err = c.RegisterExtension(&gen.InternalExtensionInfo{Name: "ext", Version: "1.2"}, reg)
	require.NoError(t, err)
	require.Equal(t, int32(0), st.Code, st.Message)
	uuid := int64(st.UUID)
	assert.True(t, uuid >= 1 && uuid <= 65535, "osquery's uuids are uint16 and never 0: %d", uuid)

	got := m.Extensions()[uuid]
	assert.Equal(t, "ext", got.Name)
	assert.Equal(t, "1.2", got.Version)
	cols, err := got.Columns("t1")
	require.NoError(t, err)
	assert.Equal(t, []Column{{Name: "pid", Type: "BIGINT", Op: OptIndex | OptOptimized}, {Name: "path", Type: "TEXT", Op: OptOptimized}}, cols)

	list, err := c.Extensions()
	require.NoError(t, err)
	require.Contains(t, list, gen.ExtensionRouteUUID(uuid))
	assert.Equal(t, "ext", list[gen.ExtensionRouteUUID(uuid)].Name)

	opts, err := c.Options()
	require.NoError(t, err)
	assert.Equal(t, m.Path(), opts["extensions_socket"].Value)

	st, err = c.RegisterExtension(&gen.InternalExtensionInfo{Name: "ext"}, reg)
	require.NoError(t, err)
	assert.Equal(t, int32(1), st.Code, "a second extension with the same name is refused")

	st, err = c.RegisterExtension(&gen.InternalExtensionInfo{Name: "empty"}, gen.ExtensionRegistry{"table": {"t2": {}}})
	require.NoError(t, err)
	assert.Equal(t, int32(1), st.Code, "a table without routes is refused")

	resp, err := c.Query("SELECT 1")
	require.NoError(t, err)
	assert.Equal(t, int32(1), resp.Status.Code)
	resp, err = c.GetQueryColumns("SELECT 1")
	require.NoError(t, err)
	assert.Equal(t, int32(1), resp.Status.Code)

	st, err = c.DeregisterExtension(gen.ExtensionRouteUUID(uuid))
	require.NoError(t, err)
	assert.Equal(t, int32(0), st.Code)
	assert.Empty(t, m.Extensions())
	st, err = c.DeregisterExtension(gen.ExtensionRouteUUID(uuid))
	require.NoError(t, err)
	assert.Equal(t, int32(1), st.Code, "unknown uuid")
	assert.Equal(t, []string{"register ext " + itoa(uuid), "deregister " + itoa(uuid)}, m.Events())
}

func TestDisappearCutsOpenConnections(t *testing.T) {
	t.Parallel()
	m := listen(t)
	c := client(t, m)
	_, err := c.Ping()
	require.NoError(t, err)

	m.Disappear()
	_, err = c.Ping()
	assert.Error(t, err, "the open connection is cut, as when osqueryd dies")
	_, err = os.Stat(m.Path())
	assert.ErrorIs(t, err, os.ErrNotExist, "the socket file is gone")
}

func TestContextJSONIsOsquerys(t *testing.T) {
	t.Parallel()
	cols := []Column{{Name: "pid", Type: "BIGINT"}, {Name: "path", Type: "TEXT"}, {Name: "deleted", Type: "INTEGER"}}
	qc := QueryContext{
		Columns:     cols,
		Constraints: map[string][]Constraint{"pid": In("42", "7", "42"), "path": {{Op: Like, Expr: "/tmp/%"}}},
		Used:        []string{"path", "pid"},
	}
	// Entries sorted by name (std::map), every column present, colsUsed in
	// column order, colsUsedBitset with bit i for column i.
	assert.JSONEq(t, `{"constraints":[
		{"name":"deleted","list":[],"affinity":"INTEGER"},
		{"name":"path","list":[{"op":65,"expr":"/tmp/%"}],"affinity":"TEXT"},
		{"name":"pid","list":[{"op":2,"expr":"42"},{"op":2,"expr":"7"}],"affinity":"BIGINT"}],
		"colsUsed":["pid","path"],"colsUsedBitset":3}`, qc.JSON())

	all := QueryContext{Columns: cols}
	assert.JSONEq(t, `{"constraints":[
		{"name":"deleted","list":[],"affinity":"INTEGER"},
		{"name":"path","list":[],"affinity":"TEXT"},
		{"name":"pid","list":[],"affinity":"BIGINT"}],
		"colsUsed":["pid","path","deleted"],"colsUsedBitset":7}`, all.JSON(), "SELECT *")

	none := QueryContext{Columns: cols, Used: []string{}}
	assert.JSONEq(t, `{"constraints":[
		{"name":"deleted","list":[],"affinity":"INTEGER"},
		{"name":"path","list":[],"affinity":"TEXT"},
		{"name":"pid","list":[],"affinity":"BIGINT"}],
		"colsUsed":[],"colsUsedBitset":0}`, none.JSON(), "SELECT count(*)")

	wide := QueryContext{}
	for i := range 70 {
		wide.Columns = append(wide.Columns, Column{Name: "c" + itoa(int64(100+i)), Type: "TEXT"})
	}
	wide.Used = []string{"c100", "c169"}
	assert.Contains(t, wide.JSON(), `"colsUsedBitset":9223372036854775809`, "columns past the 63rd share bit 63")
}

func itoa(n int64) string { return strconv.FormatInt(n, 10) }

func TestContextCountsConstrainedColumnsAsUsed(t *testing.T) {
	t.Parallel()
	cols := []Column{{Name: "pid", Type: "BIGINT"}, {Name: "path", Type: "TEXT"}, {Name: "deleted", Type: "INTEGER"}}
	// SELECT path FROM t WHERE pid = 7: SQLite's colUsed has pid too.
	qc := QueryContext{Columns: cols, Constraints: map[string][]Constraint{"pid": In("7")}, Used: []string{"path"}}
	assert.Contains(t, qc.JSON(), `"colsUsed":["pid","path"],"colsUsedBitset":3`)
	// SELECT count(*) FROM t WHERE pid = 7
	qc.Used = []string{}
	assert.Contains(t, qc.JSON(), `"colsUsed":["pid"],"colsUsedBitset":1`)
}
