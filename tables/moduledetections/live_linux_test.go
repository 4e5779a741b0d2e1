package moduledetections

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"os"
	"path"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/modhunt/modhunt/tables/deps"
	"github.com/modhunt/modhunt/tables/inventory"
	"github.com/modhunt/modhunt/tables/table"
	"github.com/modhunt/modhunt/test/sim"
)

// col is a column's position in a row (-1 for a name the table lacks, so
// a misspelt column fails the test instead of reading another one).
func col(name string) int { return Spec.ColumnIndex(name) }

var (
	sharedOnce  sync.Once
	sharedTable *table.Table
	sharedErr   error
)

// shared is one table for the live tests: the package index it builds on
// the first scan is then built once.
func shared(t *testing.T) *table.Table {
	t.Helper()
	sharedOnce.Do(func() { sharedTable, sharedErr = New(deps.Deps{}) })
	require.NoError(t, sharedErr)
	require.NoError(t, sharedTable.Validate())
	return sharedTable
}

func pidQuery(pids ...int) table.Query { return table.PIDQuery(pids) }

// ruleName is the rule file's stem: builtin:rules/linux/so_from_temp_dir.yml
// gives so_from_temp_dir.
func ruleName(r table.Row) string {
	return strings.TrimSuffix(path.Base(r[col("rule_source")]), ".yml")
}

func describe(rows []table.Row) []string {
	out := make([]string, 0, len(rows))
	for _, r := range rows {
		out = append(out, fmt.Sprintf("pid=%s %s: %s [%s] (%s)", r[col("pid")], r[col("process_path")],
			r[col("path")], r[col("untrusted_reasons")], ruleName(r)))
	}
	return out
}

// firedOn scans one process through pid pushdown until a rule fires on
// module (a process started through env or a shell maps it a moment after
// it starts), and returns the names of the rules that fired on it. Every
// row must be for that process and that module: no rule may fire on the
// process's other modules.
func firedOn(t *testing.T, tb *table.Table, pid int, module string) []string {
	t.Helper()
	deadline := time.Now().Add(15 * time.Second)
	for {
		rows, err := tb.Generate(context.Background(), pidQuery(pid))
		require.NoError(t, err)
		var names []string
		for _, r := range rows {
			require.Equal(t, strconv.Itoa(pid), r[col("pid")], "pid pushdown returned another process")
			if r[col("path")] == module {
				names = append(names, ruleName(r))
			}
		}
		if len(names) > 0 {
			assert.Len(t, names, len(rows), "rules fired on other modules of pid %d: %v", pid, describe(rows))
			sort.Strings(names)
			return names
		}
		if time.Now().After(deadline) {
			t.Fatalf("no rule fired on %s in pid %d; rows: %v", module, pid, describe(rows))
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// row finds the row of rule name for module in pid.
func row(t *testing.T, tb *table.Table, pid int, module, name string) table.Row {
	t.Helper()
	rows, err := tb.Generate(context.Background(), pidQuery(pid))
	require.NoError(t, err)
	for _, r := range rows {
		if r[col("path")] == module && ruleName(r) == name {
			return r
		}
	}
	t.Fatalf("no %s row for %s in pid %d: %v", name, module, pid, describe(rows))
	return nil
}

func TestLiveSoFromTmp(t *testing.T) {
	t.Parallel()
	sim.NeedRoot(t)
	tb := shared(t)
	lib := sim.BuildLib(t, filepath.Join(sim.TempDirIn(t, "/tmp", "modhunt-detect-"), "libtmp.so"))
	p := sim.StartLoader(t, sim.LoaderOpts{Lib: lib})
	assert.Equal(t, []string{"so_from_temp_dir"}, firedOn(t, tb, p.PID, lib))

	// The row carries the rule, the process and the whole event.
	r := row(t, tb, p.PID, lib, "so_from_temp_dir")
	assert.Equal(t, "f28f0cc6-87cc-4f57-b69e-d69f83b11343", r[col("rule_id")])
	assert.Equal(t, "Shared Object Loaded From A Temporary Folder", r[col("rule_title")])
	assert.Equal(t, "high", r[col("level")])
	assert.Contains(t, strings.Split(r[col("tags")], ","), "attack.t1129")
	assert.Empty(t, r[col("siem_rule")], "a Linux rule mirrors no SIEM rule")
	assert.Equal(t, "loader", r[col("process_name")])
	assert.Equal(t, p.Cmd.Path, r[col("process_path")])
	assert.Equal(t, "root", r[col("user")])
	assert.Equal(t, "outside_trusted_dirs,temp_dir", r[col("untrusted_reasons")])
	var ev map[string]any
	require.NoError(t, json.Unmarshal([]byte(r[col("fields")]), &ev))
	assert.Equal(t, "linux", ev["Platform"])
	assert.Equal(t, lib, ev["ImageLoaded"])
	assert.Equal(t, p.Cmd.Path, ev["Image"])
	assert.EqualValues(t, p.PID, ev["ProcessId"])
	assert.EqualValues(t, os.Getpid(), ev["ParentProcessId"])
	assert.Contains(t, ev["CommandLine"], "dlopen "+lib)
	assert.Contains(t, ev["ProcessModules"], "libtmp.so")
	assert.Equal(t, true, ev["InLoaderList"])
}

func TestLiveSoFromDevShm(t *testing.T) {
	t.Parallel()
	sim.NeedRoot(t)
	sim.NeedExec(t, "/dev/shm")
	lib := sim.BuildLib(t, filepath.Join(sim.TempDirIn(t, "/dev/shm", "modhunt-detect-"), "libshm.so"))
	p := sim.StartLoader(t, sim.LoaderOpts{Lib: lib})
	assert.Equal(t, []string{"so_from_temp_dir"}, firedOn(t, shared(t), p.PID, lib))
}

func TestLiveHiddenDirInHome(t *testing.T) {
	t.Parallel()
	sim.NeedRoot(t)
	// A HOME-like directory the test owns, /root/.modhunt-test-XXXX/.cache
	// (malware's ~/.cache/.x hideouts look like this).
	dir := filepath.Join(sim.TempDirIn(t, "/root", ".modhunt-detect-"), ".cache")
	require.NoError(t, os.Mkdir(dir, 0o700))
	lib := sim.BuildLib(t, filepath.Join(dir, "libhidden.so"))
	p := sim.StartLoader(t, sim.LoaderOpts{Lib: lib})
	assert.Equal(t, []string{"hidden_shared_object", "so_from_home_dir"}, firedOn(t, shared(t), p.PID, lib))
}

func TestLivePythonCtypesFromVarTmp(t *testing.T) {
	t.Parallel()
	sim.NeedRoot(t)
	sim.NeedPython(t)
	lib := sim.BuildLib(t, filepath.Join(sim.TempDirIn(t, "/var/tmp", "modhunt-detect-"), "libpy.so"))
	p := sim.StartPythonCtypes(t, lib)
	assert.Equal(t, []string{"interpreter_native_module_writable", "so_from_temp_dir"}, firedOn(t, shared(t), p.PID, lib))
}

func TestLiveDeletedAfterLoad(t *testing.T) {
	t.Parallel()
	sim.NeedRoot(t)
	lib := sim.BuildLib(t, filepath.Join(sim.TempDirIn(t, "/tmp", "modhunt-detect-"), "libgone.so"))
	p := sim.StartLoader(t, sim.LoaderOpts{Lib: lib, Unlink: true})
	_, err := os.Stat(lib)
	require.ErrorIs(t, err, os.ErrNotExist, "the loader unlinked it")
	tb := shared(t)
	assert.Equal(t, []string{"deleted_module", "so_from_temp_dir"}, firedOn(t, tb, p.PID, lib))
	var ev map[string]any
	require.NoError(t, json.Unmarshal([]byte(row(t, tb, p.PID, lib, "deleted_module")[col("fields")]), &ev))
	assert.Equal(t, true, ev["Deleted"])
	assert.Equal(t, []any{"deleted", "outside_trusted_dirs", "temp_dir"}, ev["UntrustedReasons"])
}

func TestLiveMemfd(t *testing.T) {
	t.Parallel()
	sim.NeedRoot(t)
	lib := sim.BuildLib(t, filepath.Join(t.TempDir(), "libmem.so"))
	p := sim.StartLoader(t, sim.LoaderOpts{Lib: lib, Memfd: true, MemfdName: "modhunt-fileless"})
	tb := shared(t)
	assert.Equal(t, []string{"memfd_module"}, firedOn(t, tb, p.PID, "/memfd:modhunt-fileless"))
	var ev map[string]any
	require.NoError(t, json.Unmarshal([]byte(row(t, tb, p.PID, "/memfd:modhunt-fileless", "memfd_module")[col("fields")]), &ev))
	assert.Equal(t, true, ev["Memfd"])
	assert.Equal(t, false, ev["InLoaderList"], "memfd code is taken for a loader bypass")
}

func TestLiveLDPreloadFromTmp(t *testing.T) {
	t.Parallel()
	sim.NeedRoot(t)
	lib := sim.BuildLib(t, filepath.Join(sim.TempDirIn(t, "/tmp", "modhunt-detect-"), "libpre.so"))
	p := sim.StartPreloaded(t, lib)
	assert.Equal(t, []string{"preloaded_library", "so_from_temp_dir"}, firedOn(t, shared(t), p.PID, lib))
}

// TestLiveUnpackagedLibraryInRootProcess plants a library in /usr/lib
// through an overlay in a private mount namespace: the loader sees it in
// /usr/lib, the host's /usr/lib is untouched.
func TestLiveUnpackagedLibraryInRootProcess(t *testing.T) {
	t.Parallel()
	sim.NeedRoot(t)
	sim.NeedDpkg(t)
	p, planted, _ := sim.StartPlantedLoader(t, "/usr/lib", "libmodhunt-detect-planted.so")
	assert.Equal(t, []string{"unowned_library_in_root_process"}, firedOn(t, shared(t), p.PID, planted))
}

// TestPidPushdownReadsOnlyThoseProcesses counts the processes the
// inventory reads: a pinned scan reads the pinned pids and their parents
// (for ParentImage and ParentCommandLine), nothing else.
func TestPidPushdownReadsOnlyThoseProcesses(t *testing.T) {
	t.Parallel()
	sim.NeedRoot(t)
	lib := sim.BuildLib(t, filepath.Join(sim.TempDirIn(t, "/tmp", "modhunt-detect-"), "libpin.so"))
	a := sim.StartLoader(t, sim.LoaderOpts{Lib: lib})
	b := sim.StartLoader(t, sim.LoaderOpts{Lib: lib})
	var mu sync.Mutex
	read := map[int]int{}
	inv := inventory.New(inventory.Config{ModulesOnly: true, OnProcess: func(pid int) {
		mu.Lock()
		read[pid]++
		mu.Unlock()
	}})
	tb, err := New(deps.Deps{Inventory: inv})
	require.NoError(t, err)
	rows, err := tb.Generate(context.Background(), pidQuery(a.PID))
	require.NoError(t, err)
	require.NotEmpty(t, rows)
	for _, r := range rows {
		assert.Equal(t, strconv.Itoa(a.PID), r[col("pid")])
	}
	mu.Lock()
	assert.Equal(t, map[int]int{a.PID: 1, os.Getpid(): 1}, read, "the pinned process once, its parent (this test) once")
	assert.NotContains(t, read, b.PID)
	mu.Unlock()

	var ev map[string]any
	require.NoError(t, json.Unmarshal([]byte(rows[0][col("fields")]), &ev))
	self, err := os.Executable()
	require.NoError(t, err)
	assert.Equal(t, self, ev["ParentImage"], "the parent read for the context is this test binary")
	assert.NotEmpty(t, ev["ParentCommandLine"])

	// IN lists, and values no process can have.
	rows, err = tb.Generate(context.Background(), pidQuery(a.PID, b.PID, -1))
	require.NoError(t, err)
	pids := map[string]bool{}
	for _, r := range rows {
		pids[r[col("pid")]] = true
	}
	assert.Equal(t, map[string]bool{strconv.Itoa(a.PID): true, strconv.Itoa(b.PID): true}, pids)
	rows, err = tb.Generate(context.Background(), pidQuery(0))
	require.NoError(t, err)
	assert.Empty(t, rows)
}

// TestExtraRules: a rule folder's rules run beside the built-in ones, and a
// broken rule in it is logged once at construction (file, line, reason)
// and skipped.
func TestExtraRules(t *testing.T) {
	t.Parallel()
	sim.NeedRoot(t)
	dir := t.TempDir()
	require.NoError(t, os.WriteFile(filepath.Join(dir, "broken.yml"), []byte("title: broken\nid: x\ndetection: [\n"), 0o644))
	require.NoError(t, os.WriteFile(filepath.Join(dir, "extra.yml"), []byte(`title: Loader Maps The Probe Library
id: 0b8c9a52-5f0e-4d55-9a8e-7a3f2c1e9d01
level: informational
tags: [attack.t1129]
logsource: {category: image_load, product: linux}
detection:
    sel:
        ImageLoaded|endswith: '/libextra-probe.so'
        ProcessModules: 'libextra-probe.so'
    condition: sel
`), 0o644))
	logs := &sim.SyncBuffer{}
	tb, err := New(deps.Deps{Log: slog.New(slog.NewTextHandler(logs, &slog.HandlerOptions{Level: slog.LevelDebug})), RuleDirs: []string{dir}})
	require.NoError(t, err)
	logged := logs.String()
	assert.Equal(t, 1, strings.Count(logged, "rule skipped"), logged)
	assert.Contains(t, logged, "broken.yml")
	assert.Regexp(t, `line=\d+`, logged)
	assert.Contains(t, logged, "invalid YAML")

	lib := sim.BuildLib(t, filepath.Join(sim.TempDirIn(t, "/tmp", "modhunt-detect-"), "libextra-probe.so"))
	p := sim.StartLoader(t, sim.LoaderOpts{Lib: lib})
	assert.Equal(t, []string{"extra", "so_from_temp_dir"}, firedOn(t, tb, p.PID, lib), "the extra rule and the built-in one")
	r := row(t, tb, p.PID, lib, "extra")
	assert.Equal(t, filepath.Join(dir, "extra.yml"), r[col("rule_source")])
	assert.Equal(t, "informational", r[col("level")])

	assert.Equal(t, 1, strings.Count(logs.String(), "rule skipped"), "rules load once, not per query")
}
