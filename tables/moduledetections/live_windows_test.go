package moduledetections

import (
	"context"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/modhunt/modhunt/detections"
	"github.com/modhunt/modhunt/tables/deps"
	"github.com/modhunt/modhunt/tables/inventory"
	"github.com/modhunt/modhunt/tables/moduleevents"
	"github.com/modhunt/modhunt/tables/table"
	"github.com/modhunt/modhunt/tables/untrusted"
	"github.com/modhunt/modhunt/test/wine/winfix"
)

// These tests start mingw-built fixture programs (test/wine/fixtures) and
// match the built-in Windows rules against their module loads, live. They
// run for real under Wine (make test-windows, or GOOS=windows go test -exec
// test/wine/go_windows_amd64_exec with MODHUNT_WINE_FIXTURES set).

// startAs copies the fixture program to a fresh folder under name and runs
// it with arg.
func startAs(t *testing.T, program, name, arg string) int {
	t.Helper()
	exe := filepath.Join(t.TempDir(), name)
	winfix.CopyFile(t, filepath.Join(winfix.Dir(t), program), exe)
	pid, _ := winfix.Start(t, exe, "loaded", arg)
	return int(pid)
}

// fired is the rules that fired in pid's rows: title to the module path.
func fired(t *testing.T, pid int) (map[string]table.Row, []table.Row) {
	t.Helper()
	tbl, err := New(deps.Deps{})
	require.NoError(t, err)
	rows, err := tbl.Generate(context.Background(), table.PIDQuery([]int{pid}))
	require.NoError(t, err)
	out := map[string]table.Row{}
	for _, r := range rows {
		require.Equal(t, table.Int(pid), r[wcol("pid")])
		out[r[wcol("rule_title")]] = r
	}
	return out, rows
}

// PT-CR-303 on a live process: a program named rundll32.exe, started with
// rundll32's MiniDump arguments for comsvcs.dll, holding comsvcs.dll and
// dbghelp.dll. Wine's own rundll32.exe is a builtin that would really call
// the export (and Wine's comsvcs has no MiniDump), so the process is
// minidumphost.exe (test/wine/fixtures) copied under the name rundll32.exe:
// its image name, command line and module set are what the rules read, and
// the modules are Wine's own comsvcs.dll and dbghelp.dll from system32,
// loaded by name. The same program under another name fires neither rule
// (the test's own name must not say "rundll32": t.TempDir puts it in the
// command line, which the export rule also reads).
func TestLiveWindowsPTCR303MiniDump(t *testing.T) {
	const args = `comsvcs.dll, MiniDump 624 C:\users\Public\lsass.dmp full`
	pid := startAs(t, "minidumphost.exe", "rundll32.exe", args)
	got, rows := fired(t, pid)

	set, ok := got["Rundll32 With Comsvcs And The Minidump Library Loaded"]
	require.True(t, ok, "the module-set rule fires: %v", wdescribe(rows))
	assert.True(t, strings.HasSuffix(strings.ToLower(set[wcol("path")]), `\dbghelp.dll`), set[wcol("path")])
	assert.Equal(t, "PT-CR-303", set[wcol("siem_rule")])
	assert.Equal(t, "high", set[wcol("level")])
	assert.True(t, strings.HasSuffix(strings.ToLower(set[wcol("process_path")]), `\rundll32.exe`))
	assert.Empty(t, set[wcol("untrusted_reasons")], "Wine's system32 dbghelp.dll is trusted")

	export, ok := got["Rundll32 Calling The Comsvcs MiniDump Export"]
	require.True(t, ok, "the export rule fires: %v", wdescribe(rows))
	assert.True(t, strings.HasSuffix(strings.ToLower(export[wcol("path")]), `\comsvcs.dll`), export[wcol("path")])
	assert.Contains(t, export[wcol("fields")], "MiniDump 624")

	other := startAs(t, "minidumphost.exe", "helper.exe", args)
	got, rows = fired(t, other)
	assert.NotContains(t, got, "Rundll32 With Comsvcs And The Minidump Library Loaded", "%v", wdescribe(rows))
	assert.NotContains(t, got, "Rundll32 Calling The Comsvcs MiniDump Export", "%v", wdescribe(rows))
}

// The events module_detections matches carry untrusted_module_loads'
// verdicts on the same loads: a DLL from the temp folder and one from
// outside the trusted folders, LoadLibrary()ed by one process.
func TestLiveWindowsEventsCarryTheVerdicts(t *testing.T) {
	dir := t.TempDir()
	dll := filepath.Join(dir, "tempload.dll")
	winfix.CopyFile(t, filepath.Join(winfix.Dir(t), "payload.dll"), dll)
	pid := startAs(t, "loadmany.exe", "loadmany.exe", dll)

	inv := inventory.New(inventory.Config{ModulesOnly: true})
	j, err := untrusted.NewJudge(untrusted.Config{Inventory: inv})
	require.NoError(t, err)
	b, err := moduleevents.New(moduleevents.Config{Inventory: inv, Judge: j})
	require.NoError(t, err)
	events := map[string]detections.Event{}
	require.NoError(t, b.Scan(context.Background(), []int{pid}, func(_ *moduleevents.Process, ev *detections.Event) error {
		events[strings.ToLower(ev.ImageLoaded)] = *ev
		return nil
	}))
	ev, ok := events[strings.ToLower(dll)]
	require.True(t, ok, "%v", events)
	assert.Equal(t, detections.PlatformWindows, ev.Platform)
	assert.Equal(t, []string{"outside_trusted_dirs", "temp_dir", "unsigned"}, ev.UntrustedReasons)
	assert.True(t, ev.InLoaderList)
	for p, e := range events {
		if strings.HasSuffix(p, `\kernel32.dll`) {
			assert.Empty(t, e.UntrustedReasons, "a system DLL carries no reasons")
		}
	}
}

// wcol is a column's position (-1 for a name the table lacks).
func wcol(name string) int { return Spec.ColumnIndex(name) }

func wdescribe(rows []table.Row) []string {
	out := make([]string, 0, len(rows))
	for _, r := range rows {
		out = append(out, r[wcol("rule_title")]+" on "+r[wcol("path")])
	}
	return out
}
