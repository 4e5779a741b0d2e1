//go:build !windows

package osquery_test

import (
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/modhunt/modhunt/test/osquery/osqueryd"
	"github.com/modhunt/modhunt/test/sim"
)

// loadedModules is the table the row tests read.
const loadedModules = "process_loaded_modules"

func TestSpecDescribesEveryTable(t *testing.T) {
	t.Parallel()
	all := tableSpecs(t)
	if len(all) == 0 {
		t.Skip("no table is served on this platform yet (tables.SpecsFor); --spec is []")
	}
	for _, s := range all {
		assert.NotEmpty(t, s.Name)
		assert.NotEmpty(t, s.Description, s.Name)
		assert.NotEmpty(t, s.Examples, s.Name)
		assert.NotEmpty(t, s.Platforms, s.Name)
		require.NotEmpty(t, s.Columns, s.Name)
		for _, c := range s.Columns {
			assert.NotEmpty(t, c.Description, "%s.%s", s.Name, c.Name)
			// Every column is declared OPTIMIZED at least (keeps
			// --extensions_default_index off non-index columns).
			assert.True(t, c.Optimized, "%s.%s", s.Name, c.Name)
		}
	}
}

func TestRegistersEveryTableWithItsColumns(t *testing.T) {
	t.Parallel()
	mgr := startManager(t)
	_, reg := running(t, mgr)

	assert.Equal(t, "modhunt", reg.Name)
	want := tableSpecs(t)
	var names []string
	for _, s := range want {
		names = append(names, s.Name)
	}
	var got []string
	for name := range reg.Registry["table"] {
		got = append(got, name)
	}
	assert.ElementsMatch(t, names, got, "registered tables are --spec's tables")

	for _, s := range want {
		routed, err := reg.Columns(s.Name)
		require.NoError(t, err)
		asked, resp, err := mgr.Columns(t.Context(), reg.UUID, s.Name)
		require.NoError(t, err)
		require.Equal(t, int32(0), resp.Status.Code, resp.Status.Message)
		assert.Equal(t, routed, asked, "%s: the columns action answers what registration declared", s.Name)

		require.Len(t, routed, len(s.Columns), s.Name)
		for i, c := range s.Columns {
			r := routed[i]
			assert.Equal(t, c.Name, r.Name, "%s column %d", s.Name, i)
			assert.Equal(t, osqueryType(c.Type), r.Type, "%s.%s", s.Name, c.Name)
			assert.Equal(t, c.Index, r.Op&osqueryd.OptIndex != 0, "%s.%s index", s.Name, c.Name)
			// OPTIMIZED is what makes osqueryd send an IN list in one call.
			assert.NotZero(t, r.Op&osqueryd.OptOptimized, "%s.%s optimized", s.Name, c.Name)
		}
	}
}

func TestUnknownFlagsAreIgnored(t *testing.T) {
	t.Parallel()
	mgr := startManager(t)
	e, reg := running(t, mgr, "--logger_min_status=1", "--some_future_flag", "value")

	st, err := mgr.PingExtension(t.Context(), reg.UUID)
	require.NoError(t, err)
	assert.Equal(t, int32(0), st.Code)
	assert.Contains(t, e.stderr.String(), "ignoring unknown flags")
}

func TestLiveProcessRows(t *testing.T) {
	t.Parallel()
	specOf(t, loadedModules)
	pid := sim.StartSleepers(t, 1)[0]
	exe, err := os.Readlink("/proc/" + strconv.Itoa(pid) + "/exe")
	require.NoError(t, err)

	mgr := startManager(t)
	_, reg := running(t, mgr)
	cols, err := reg.Columns(loadedModules)
	require.NoError(t, err)

	resp, err := mgr.Generate(t.Context(), reg.UUID, loadedModules, osqueryd.QueryContext{
		Columns:     cols,
		Constraints: map[string][]osqueryd.Constraint{"pid": {{Op: osqueryd.Equals, Expr: strconv.Itoa(pid)}}},
	})
	require.NoError(t, err)
	require.Equal(t, int32(0), resp.Status.Code, resp.Status.Message)
	require.NotEmpty(t, resp.Response)

	var main map[string]string
	for _, row := range resp.Response {
		for _, c := range cols {
			assert.Contains(t, row, c.Name, "every column is in every row")
		}
		if row["path"] == exe {
			main = row
		}
	}
	require.NotNil(t, main, "no row maps %s, the executable of pid %d", exe, pid)
	assert.Equal(t, strconv.Itoa(pid), main["pid"])
	assert.Equal(t, exe, main["process_path"])
	assert.Equal(t, filepath.Base(exe), main["name"])
	assert.Equal(t, "sleep", main["process_name"])
	assert.Equal(t, strconv.Itoa(os.Getpid()), main["parent"])
	assert.Equal(t, "1", main["executable"])
	assert.Equal(t, "0", main["deleted"])
}

// pidsOf returns the distinct pids of a response's rows.
func pidsOf(rows []map[string]string) []string {
	var pids []string
	for _, r := range rows {
		if !slices.Contains(pids, r["pid"]) {
			pids = append(pids, r["pid"])
		}
	}
	slices.Sort(pids)
	return pids
}

func TestPidPushdown(t *testing.T) {
	t.Parallel()
	specOf(t, loadedModules)
	pids := sim.StartSleepers(t, 3)
	a, b, c := pids[0], pids[1], pids[2]

	mgr := startManager(t)
	_, reg := running(t, mgr)
	cols, err := reg.Columns(loadedModules)
	require.NoError(t, err)
	generate := func(pids ...int) []string {
		t.Helper()
		var vals []string
		for _, p := range pids {
			vals = append(vals, strconv.Itoa(p))
		}
		resp, err := mgr.Generate(t.Context(), reg.UUID, loadedModules, osqueryd.QueryContext{
			Columns:     cols,
			Constraints: map[string][]osqueryd.Constraint{"pid": osqueryd.In(vals...)},
			Used:        []string{"pid", "path"},
		})
		require.NoError(t, err)
		require.Equal(t, int32(0), resp.Status.Code, resp.Status.Message)
		return pidsOf(resp.Response)
	}
	sorted := func(pids ...int) []string {
		var s []string
		for _, p := range pids {
			s = append(s, strconv.Itoa(p))
		}
		slices.Sort(s)
		return s
	}

	assert.Equal(t, sorted(a), generate(a), "pid = N returns only pid N")
	// pid IN (a, b) on an OPTIMIZED column: both EQUALS in one call.
	assert.Equal(t, sorted(a, b), generate(a, b), "an IN list returns exactly its pids")
	assert.Equal(t, sorted(a, b, c), generate(c, a, b))
	assert.Empty(t, generate(0x7ffffff0), "a pid that does not exist has no rows")
}

func TestUnknownTableOrActionFailsTheCallOnly(t *testing.T) {
	t.Parallel()
	mgr := startManager(t)
	e, reg := running(t, mgr)
	ctx := t.Context()

	resp, err := mgr.Call(ctx, reg.UUID, "table", "no_such_table", map[string]string{"action": "generate", "context": `{"constraints":[]}`})
	require.NoError(t, err)
	assert.Equal(t, int32(1), resp.Status.Code)

	resp, err = mgr.Call(ctx, reg.UUID, "no_such_registry", "x", map[string]string{"action": "generate"})
	require.NoError(t, err)
	assert.Equal(t, int32(1), resp.Status.Code)

	for name := range reg.Registry["table"] {
		resp, err = mgr.Call(ctx, reg.UUID, "table", name, map[string]string{"action": "drop_everything"})
		require.NoError(t, err)
		assert.Equal(t, int32(1), resp.Status.Code, name)
		resp, err = mgr.Call(ctx, reg.UUID, "table", name, map[string]string{"action": "generate", "context": "{not json"})
		require.NoError(t, err)
		assert.Equal(t, int32(1), resp.Status.Code, name)
	}

	st, err := mgr.PingExtension(ctx, reg.UUID)
	require.NoError(t, err, "still serving")
	assert.Equal(t, int32(0), st.Code)
	select {
	case <-e.exited:
		t.Fatalf("modhunt.ext exited: %v", e.err)
	default:
	}
}

func TestExitsWhenOsqueryGoesAway(t *testing.T) {
	t.Parallel()
	mgr := startManager(t)
	e, _ := running(t, mgr)

	mgr.Disappear()
	assert.Equal(t, 0, e.waitExit(t, 10*time.Second))
	assert.Contains(t, e.stderr.String(), "osquery extension manager went away")
	assert.Contains(t, e.stderr.String(), "extension stopped")
}

func TestExitsOnShutdownCall(t *testing.T) {
	t.Parallel()
	mgr := startManager(t)
	e, reg := running(t, mgr)

	require.NoError(t, mgr.ShutdownExtension(t.Context(), reg.UUID))
	assert.Equal(t, 0, e.waitExit(t, 10*time.Second))
	assert.Contains(t, e.stderr.String(), "osquery asked the extension to shut down")
	assert.Contains(t, mgr.Events(), "deregister "+strconv.FormatInt(reg.UUID, 10))
	_, err := os.Stat(mgr.ExtensionSocket(reg.UUID))
	assert.ErrorIs(t, err, os.ErrNotExist, "the extension's socket is removed")
}

func TestExitsOnSIGTERM(t *testing.T) {
	t.Parallel()
	mgr := startManager(t)
	e, reg := running(t, mgr)

	// osqueryd's killGracefully: SIGTERM, then SIGKILL 11 s later.
	require.NoError(t, e.cmd.Process.Signal(syscall.SIGTERM))
	assert.Equal(t, 0, e.waitExit(t, 10*time.Second))
	assert.Contains(t, e.stderr.String(), "extension stopping")
	assert.Contains(t, mgr.Events(), "deregister "+strconv.FormatInt(reg.UUID, 10))
}

func TestMissingSocketIsAnError(t *testing.T) {
	t.Parallel()
	sock := filepath.Join(shortDir(t), "osquery.em")
	e := startExtension(t, "--socket", sock, "--timeout", "1", "--interval", "1")
	assert.Equal(t, 1, e.waitExit(t, 10*time.Second))
	assert.Contains(t, e.stderr.String(), "socket not available")
	assert.Contains(t, e.stderr.String(), sock)
}

func TestNoSocketPrintsUsage(t *testing.T) {
	t.Parallel()
	e := startExtension(t)
	assert.Equal(t, 2, e.waitExit(t, 10*time.Second))
	assert.Contains(t, e.stderr.String(), "--socket is required")
	assert.Contains(t, e.stderr.String(), "usage: modhunt.ext")
}
