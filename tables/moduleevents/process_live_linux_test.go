package moduleevents

import (
	"context"
	"path/filepath"
	"testing"
	"unsafe"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/modhunt/modhunt/detections"
	"github.com/modhunt/modhunt/test/sim"
)

// TestEventsShareOneProcess: every event of a process is handed the same
// Process, and the event's process-wide fields are that Process's own
// strings and list, not copies.
func TestEventsShareOneProcess(t *testing.T) {
	t.Parallel()
	sim.NeedRoot(t)
	lib := sim.BuildLib(t, filepath.Join(sim.ExecDirIn(t, "/tmp", "modhunt-events-"), "libshared.so"))
	p := sim.StartLoader(t, sim.LoaderOpts{Lib: lib})
	var procs []*Process
	events := 0
	require.NoError(t, newBuilder(t).Scan(context.Background(), []int{p.PID}, func(pc *Process, ev *detections.Event) error {
		events++
		if len(procs) == 0 || procs[len(procs)-1] != pc {
			procs = append(procs, pc)
		}
		require.NotEmpty(t, ev.ProcessModules)
		assert.Same(t, &pc.Modules[0], &ev.ProcessModules[0])
		assert.Len(t, ev.ProcessModules, len(pc.Modules))
		assert.Equal(t, unsafe.StringData(pc.Cmdline), unsafe.StringData(ev.CommandLine))
		assert.Equal(t, unsafe.StringData(pc.Path), unsafe.StringData(ev.Image))
		return nil
	}))
	assert.Greater(t, events, 2, "the loader, its library, libc and ld.so")
	assert.Len(t, procs, 1, "one Process for all of the process's events")
}
