package moduleevents

import (
	"encoding/json"
	"fmt"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/modhunt/modhunt/detections"
	"github.com/modhunt/modhunt/tables/inventory"
)

func TestRowLimit(t *testing.T) {
	t.Parallel()
	assert.Equal(t, ProcessRowsMax, RowLimit(0))
	assert.Equal(t, ProcessRowsMax, RowLimit(1))
	assert.Equal(t, ProcessRowsMax/8, RowLimit(8))
	assert.Equal(t, RowValueMin, RowLimit(ProcessRowsMax/RowValueMin+1))
	assert.Equal(t, RowValueMin, RowLimit(1<<30))
}

// bigProcess is a process with n modules, a long command line (multi-byte
// runes across the cut) and a parent.
func bigProcess(n int) *Process {
	names := make([]string, n)
	for i := range names {
		names[i] = fmt.Sprintf("lib%05d.so", i)
	}
	return &Process{
		Process: &inventory.Process{PID: 7, Path: "/usr/bin/python3", Cmdline: "python3 " + strings.Repeat("é", 20000)},
		Parent:  &inventory.Process{PID: 1, Path: "/usr/lib/systemd/systemd", Cmdline: "/sbin/init"},
		Modules: names,
	}
}

func eventOf(p *Process) detections.Event {
	return detections.Event{
		Platform: detections.PlatformLinux, ProcessId: int64(p.PID), Image: p.Path, CommandLine: p.Cmdline,
		ParentImage: p.Parent.Path, ParentCommandLine: p.Parent.Cmdline, ProcessModules: p.Modules,
		ImageLoaded: "/tmp/lib00000.so", UntrustedReasons: []string{"temp_dir"},
	}
}

// A row of a process with 20,000 modules and a 40 KB command line carries
// a bounded part of each, says what it cut, and cuts text between runes.
func TestRowViewBoundsWhatARowCarries(t *testing.T) {
	t.Parallel()
	p := bigProcess(20000)
	ev := eventOf(p)
	const rows = 40000
	v := p.RowView(RowLimit(rows))
	b, err := v.Fields(&ev)
	require.NoError(t, err)
	assert.Less(t, len(b), 5*RowValueMin+512, "a row's fields")

	var got map[string]any
	require.NoError(t, json.Unmarshal(b, &got))
	assert.Equal(t, "CommandLine,ProcessModules", got[TruncatedKey])
	assert.EqualValues(t, 20000, got[ModulesTotalKey])
	cmd := got["CommandLine"].(string)
	assert.LessOrEqual(t, len(cmd), RowValueMin)
	assert.True(t, strings.HasPrefix(p.Cmdline, cmd), "a prefix, cut between runes: %q", cmd)
	mods := got["ProcessModules"].([]any)
	require.NotEmpty(t, mods)
	assert.Equal(t, "lib00000.so", mods[0])
	assert.Equal(t, "/sbin/init", got["ParentCommandLine"], "short values are whole")
	assert.Equal(t, "/tmp/lib00000.so", got["ImageLoaded"], "the module's own fields are whole")

	// The event itself, what the rules match, is untouched.
	assert.Len(t, ev.ProcessModules, 20000)
}

// The view is made of the Process's own strings and list: nothing per row
// is copied but the JSON itself.
func TestRowViewSharesTheProcess(t *testing.T) {
	t.Parallel()
	p := bigProcess(3000)
	v := p.RowView(RowValueMin)
	require.NotEmpty(t, v.modules)
	assert.Same(t, &p.Modules[0], &v.modules[0])
	assert.True(t, strings.HasPrefix(p.Cmdline, v.cmdline))
	assert.Equal(t, cap(v.modules), len(v.modules), "an append to the view cannot write into the process's list")
}

// A process with few rows keeps everything: nothing cut, no marker, the
// same JSON as MarshalFields.
func TestRowViewOfAnOrdinaryProcessIsTheWholeEvent(t *testing.T) {
	t.Parallel()
	p := bigProcess(150)
	p.Cmdline = "python3 -m http.server"
	ev := eventOf(p)
	b, err := p.RowView(RowLimit(3)).Fields(&ev)
	require.NoError(t, err)
	whole, err := MarshalFields(&ev)
	require.NoError(t, err)
	assert.Equal(t, string(whole), string(b))
}
