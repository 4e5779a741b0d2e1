package main

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/modhunt/modhunt/detections"
	"github.com/modhunt/modhunt/test/sim"
)

// TestEventsRoundTrip records planted processes with `events`, replays the
// recording with `detect`, and checks that it finds exactly what
// `SELECT * FROM module_detections` finds for the same processes, with the
// same event in each match.
func TestEventsRoundTrip(t *testing.T) {
	t.Parallel()
	sim.NeedRoot(t)
	dir := sim.TempDirIn(t, "/tmp", "modhunt-events-")
	tmpLib := sim.BuildLib(t, filepath.Join(dir, "libround.so"))
	goneLib := sim.BuildLib(t, filepath.Join(dir, "libroundgone.so"))
	memLib := sim.BuildLib(t, filepath.Join(t.TempDir(), "libroundmem.so"))
	inTmp := sim.StartLoader(t, sim.LoaderOpts{Lib: tmpLib})
	deleted := sim.StartLoader(t, sim.LoaderOpts{Lib: goneLib, Unlink: true})
	memfd := sim.StartLoader(t, sim.LoaderOpts{Lib: memLib, Memfd: true, MemfdName: "modhunt-roundtrip"})
	clean := sim.StartSleepers(t, 1)[0]
	pids := []int{inTmp.PID, deleted.PID, memfd.PID, clean}
	pidStrs := make([]string, len(pids))
	for i, p := range pids {
		pidStrs[i] = strconv.Itoa(p)
	}

	// modhunt.ext events --pid ... > host.jsonl
	rec := runEventsIn(t, "--pid", strings.Join(pidStrs, ","))
	require.Equal(t, 0, rec.code, rec.stderr)
	recording := filepath.Join(t.TempDir(), "host.jsonl")
	require.NoError(t, os.WriteFile(recording, []byte(rec.stdout), 0o600))
	lines := strings.Split(strings.TrimSuffix(rec.stdout, "\n"), "\n")
	assert.Contains(t, rec.stderr, fmt.Sprintf("events: %d written", len(lines)))
	seen := map[string]bool{}
	for _, l := range lines {
		var ev map[string]any
		require.NoError(t, json.Unmarshal([]byte(l), &ev), l)
		seen[fmt.Sprint(ev["ProcessId"])] = true
	}
	for _, p := range pidStrs {
		assert.True(t, seen[p], "pid %s has events", p)
	}

	// modhunt.ext detect --events host.jsonl --json
	det := runIn(t, "", "detect", "--events", recording, "--json")
	require.Equal(t, 0, det.code, det.stderr)
	assert.Contains(t, det.stderr, fmt.Sprintf("events: %d read", len(lines)))
	fromDetect := map[string]map[string]any{}
	for _, l := range strings.Split(strings.TrimSpace(det.stdout), "\n") {
		var m struct {
			RuleID string         `json:"rule_id"`
			Event  map[string]any `json:"event"`
		}
		require.NoError(t, json.Unmarshal([]byte(l), &m), l)
		k := fmt.Sprintf("%v %v %s", m.Event["ProcessId"], m.Event["ImageLoaded"], m.RuleID)
		fromDetect[k] = m.Event
	}

	// modhunt.ext query "SELECT * FROM module_detections WHERE pid IN (...)"
	q := runIn(t, "", "query", "--json", "SELECT * FROM module_detections WHERE pid IN ("+strings.Join(pidStrs, ", ")+")")
	require.Equal(t, 0, q.code, q.stderr)
	var rows []struct {
		RuleID string `json:"rule_id"`
		PID    int    `json:"pid"`
		Path   string `json:"path"`
		Fields string `json:"fields"`
	}
	require.NoError(t, json.Unmarshal([]byte(q.stdout), &rows), q.stdout)
	fromTable := map[string]map[string]any{}
	for _, r := range rows {
		var ev map[string]any
		require.NoError(t, json.Unmarshal([]byte(r.Fields), &ev))
		fromTable[fmt.Sprintf("%d %s %s", r.PID, r.Path, r.RuleID)] = ev
	}

	assert.Equal(t, keys(fromTable), keys(fromDetect), "the recording replayed through detect matches what the table finds")
	for k, ev := range fromTable {
		assert.Equal(t, ev, fromDetect[k], "event of %s", k)
	}
	// And what both find is the planted modules, each by its rules.
	rule := func(stem string) string { return ruleIDOf(t, stem) }
	want := []string{
		fmt.Sprintf("%d %s %s", inTmp.PID, tmpLib, rule("so_from_temp_dir")),
		fmt.Sprintf("%d %s %s", deleted.PID, goneLib, rule("so_from_temp_dir")),
		fmt.Sprintf("%d %s %s", deleted.PID, goneLib, rule("deleted_module")),
		fmt.Sprintf("%d /memfd:modhunt-roundtrip %s", memfd.PID, rule("memfd_module")),
	}
	sort.Strings(want)
	assert.Equal(t, want, keys(fromTable))
}

func keys(m map[string]map[string]any) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}

// ruleIDOf returns the id of the built-in Linux rule in <stem>.yml.
func ruleIDOf(t *testing.T, stem string) string {
	t.Helper()
	engine, _, err := detections.Load(true, nil)
	require.NoError(t, err)
	for _, r := range engine.Rules() {
		if r.Source == "builtin:rules/linux/"+stem+".yml" {
			return r.ID
		}
	}
	t.Fatalf("no built-in rule %s", stem)
	return ""
}

// TestEventsFields checks one recorded event field by field against what
// the test knows of the process it planted.
func TestEventsFields(t *testing.T) {
	t.Parallel()
	sim.NeedRoot(t)
	lib := sim.BuildLib(t, filepath.Join(sim.TempDirIn(t, "/tmp", "modhunt-events-"), "libfields.so"))
	p := sim.StartLoader(t, sim.LoaderOpts{Lib: lib})
	r := runEventsIn(t, "--pid", strconv.Itoa(p.PID))
	require.Equal(t, 0, r.code, r.stderr)
	var planted, libc map[string]any
	n := 0
	err := func() error {
		_, err := detections.ReadEvents(strings.NewReader(r.stdout), "events", "", func(_ int, ev *detections.Event) error {
			n++
			f := ev.Fields()
			switch {
			case ev.ImageLoaded == lib:
				planted = f
			case strings.HasSuffix(ev.ImageLoaded, "/libc.so.6"):
				libc = f
			}
			assert.NotEqual(t, p.Cmd.Path, ev.ImageLoaded, "the process's own executable is not a module load")
			return nil
		})
		return err
	}()
	require.NoError(t, err, "detect's reader reads what events writes")
	require.NotNil(t, planted, r.stdout)
	require.NotNil(t, libc, r.stdout)
	self, err := os.Executable()
	require.NoError(t, err)
	sum := sim.SHA256File(t, lib)
	assert.Equal(t, map[string]any{
		"Platform": "linux", "ProcessId": int64(p.PID), "Image": p.Cmd.Path, "ImageLoaded": lib,
		"User": "root", "CommandLine": p.Cmd.Path + " dlopen " + lib,
		"ParentProcessId": int64(os.Getpid()), "ParentImage": self, "ParentCommandLine": strings.Join(os.Args, " "),
		"ProcessModules":   []string{"loader", "libfields.so", "libc.so.6", "ld-linux-x86-64.so.2"},
		"UntrustedReasons": []string{"outside_trusted_dirs", "temp_dir"}, "Hashes": "SHA256=" + sum,
		"Deleted": false, "Memfd": false, "InLoaderList": true, "CloneOfParent": false, "InMemory": false,
	}, withSortedModules(planted, "loader", "libfields.so", "libc.so.6", "ld-linux-x86-64.so.2"))
	assert.NotContains(t, libc, "Hashes", "trusted modules are not hashed")
	assert.NotContains(t, libc, "UntrustedReasons")
}

// withSortedModules replaces ProcessModules by want when it holds exactly
// those names in any order (the maps order is the kernel's), so the
// comparison above stays exact.
func withSortedModules(f map[string]any, want ...string) map[string]any {
	got, _ := f["ProcessModules"].([]string)
	a, b := append([]string(nil), got...), append([]string(nil), want...)
	sort.Strings(a)
	sort.Strings(b)
	if strings.Join(a, ",") == strings.Join(b, ",") {
		f["ProcessModules"] = want
	}
	return f
}

// A zero or negative --table_timeout means the default deadline, for
// events as for every table, not a deadline already past.
func TestEventsNonPositiveTimeoutTakesTheDefault(t *testing.T) {
	t.Parallel()
	sim.NeedRoot(t)
	lib := sim.BuildLib(t, filepath.Join(sim.TempDirIn(t, "/tmp", "modhunt-events-timeout-"), "libtimeout.so"))
	p := sim.StartLoader(t, sim.LoaderOpts{Lib: lib})
	r := runIn(t, "", "events", "--table_timeout=0", "--pid", strconv.Itoa(p.PID))
	require.Equal(t, 0, r.code, r.stderr)
	assert.Contains(t, r.stdout, `"ImageLoaded":"`+lib+`"`)
}
