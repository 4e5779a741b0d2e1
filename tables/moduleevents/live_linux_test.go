package moduleevents

import (
	"context"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/modhunt/modhunt/detections"
	"github.com/modhunt/modhunt/tables/inventory"
	"github.com/modhunt/modhunt/tables/table"
	"github.com/modhunt/modhunt/tables/untrusted"
	"github.com/modhunt/modhunt/test/sim"
)

func newBuilder(t *testing.T) *Builder {
	t.Helper()
	b, err := New(Config{})
	require.NoError(t, err)
	return b
}

// eventsOf collects copies of the events of pids.
func eventsOf(t *testing.T, b *Builder, pids ...int) []detections.Event {
	t.Helper()
	var out []detections.Event
	require.NoError(t, b.Scan(context.Background(), pids, func(p *Process, ev *detections.Event) error {
		require.Equal(t, int64(p.PID), ev.ProcessId)
		out = append(out, *ev)
		return nil
	}))
	return out
}

// TestVerdictsAreUntrustedModuleLoads: UntrustedReasons and Hashes are
// untrusted_module_loads' reasons and sha256 for the same (pid, module),
// for planted modules and for everything else the processes map.
func TestVerdictsAreUntrustedModuleLoads(t *testing.T) {
	t.Parallel()
	sim.NeedRoot(t)
	dir := sim.ExecDirIn(t, "/tmp", "modhunt-events-")
	lib := sim.BuildLib(t, filepath.Join(dir, "libverdict.so"))
	gone := sim.BuildLib(t, filepath.Join(dir, "libverdictgone.so"))
	a := sim.StartLoader(t, sim.LoaderOpts{Lib: lib})
	d := sim.StartLoader(t, sim.LoaderOpts{Lib: gone, Unlink: true})
	py := sim.StartPythonCtypes(t, lib)
	pids := []int{a.PID, d.PID, py.PID}

	ut, err := untrusted.NewFromConfig(untrusted.Config{})
	require.NoError(t, err)
	rows, err := ut.Generate(context.Background(), table.PIDQuery(pids))
	require.NoError(t, err)
	want := map[string]string{}
	for _, r := range rows {
		k := r[ut.ColumnIndex("pid")] + " " + r[ut.ColumnIndex("path")]
		want[k] = r[ut.ColumnIndex("reasons")] + " " + r[ut.ColumnIndex("sha256")]
	}
	require.Contains(t, want, strconv.Itoa(a.PID)+" "+lib)
	require.Contains(t, want, strconv.Itoa(d.PID)+" "+gone)

	got := map[string]string{}
	for _, ev := range eventsOf(t, newBuilder(t), pids...) {
		if len(ev.UntrustedReasons) == 0 {
			assert.Empty(t, ev.Hashes, "%s: only modules untrusted_module_loads hashed carry a hash", ev.ImageLoaded)
			continue
		}
		k := strconv.FormatInt(ev.ProcessId, 10) + " " + ev.ImageLoaded
		got[k] = strings.Join(ev.UntrustedReasons, ",") + " " + strings.TrimPrefix(ev.Hashes, "SHA256=")
	}
	assert.Equal(t, want, got)
}

// TestSharedUntrustedTableIsTheOneConsulted: a builder given
// untrusted_module_loads' judge (Config.Judge, as tables.Build wires the
// registered one) takes its verdicts from that judge, so the host keeps
// one package index and one file-facts cache.
func TestSharedUntrustedTableIsTheOneConsulted(t *testing.T) {
	t.Parallel()
	sim.NeedRoot(t)
	lib := sim.BuildLib(t, filepath.Join(sim.ExecDirIn(t, "/tmp", "modhunt-events-shared-"), "libshared.so"))
	p := sim.StartLoader(t, sim.LoaderOpts{Lib: lib})

	inv := inventory.New(inventory.Config{ModulesOnly: true})
	var calls atomic.Int32
	shared, err := untrusted.NewJudge(untrusted.Config{Inventory: inv, OnJudge: func(int) { calls.Add(1) }})
	require.NoError(t, err)
	b, err := New(Config{Inventory: inv, Judge: shared})
	require.NoError(t, err)

	var reasons []string
	for _, ev := range eventsOf(t, b, p.PID) {
		if ev.ImageLoaded == lib {
			reasons = ev.UntrustedReasons
		}
	}
	assert.Equal(t, int32(1), calls.Load(), "one scan of the shared table per Scan")
	assert.Equal(t, []string{"outside_trusted_dirs", "temp_dir"}, reasons)
}

// TestCloneOfParent: a process that forks without exec runs the same
// image with the same command line as its parent.
func TestCloneOfParent(t *testing.T) {
	t.Parallel()
	sim.NeedRoot(t)
	py := sim.NeedPython(t)
	p := sim.Start(t, py, "-c", "import os, sys, time\n"+
		"if os.fork() == 0:\n    time.sleep(3600)\n    sys.exit(0)\n"+
		"print('ready', flush=True)\nos.wait()\n")
	child := childOf(t, p.PID)
	// Registered after Start's cleanup, so it runs first: the child goes,
	// then the parent reaps it and is killed itself.
	t.Cleanup(func() { _ = syscall.Kill(child, syscall.SIGKILL) })

	b := newBuilder(t)
	evs := eventsOf(t, b, child)
	require.NotEmpty(t, evs)
	for _, ev := range evs {
		assert.True(t, ev.CloneOfParent, ev.ImageLoaded)
		assert.Equal(t, int64(p.PID), ev.ParentProcessId)
		assert.Equal(t, ev.Image, ev.ParentImage)
		assert.Equal(t, ev.CommandLine, ev.ParentCommandLine)
	}
	for _, ev := range eventsOf(t, b, p.PID) {
		assert.False(t, ev.CloneOfParent, "the parent was exec'd by this test: %s", ev.ImageLoaded)
	}
}

func childOf(t *testing.T, pid int) int {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		data, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/task/" + strconv.Itoa(pid) + "/children")
		require.NoError(t, err)
		if f := strings.Fields(string(data)); len(f) > 0 {
			c, err := strconv.Atoi(f[0])
			require.NoError(t, err)
			return c
		}
		require.True(t, time.Now().Before(deadline), "pid %d never forked", pid)
		time.Sleep(20 * time.Millisecond)
	}
}

// TestScanStopsOnCallbackErrorAndContext: fn's error and a cancelled
// context end the scan and are returned.
func TestScanStopsOnCallbackErrorAndContext(t *testing.T) {
	t.Parallel()
	sim.NeedRoot(t)
	pids := sim.StartSleepers(t, 3)
	b := newBuilder(t)
	stop := assert.AnError
	n := 0
	err := b.Scan(context.Background(), pids, func(*Process, *detections.Event) error {
		n++
		return stop
	})
	require.ErrorIs(t, err, stop)
	assert.Equal(t, 1, n)

	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	err = b.Scan(ctx, nil, func(*Process, *detections.Event) error { return nil })
	require.ErrorIs(t, err, context.Canceled)

	// Pinned to nothing: no process is read.
	err = b.Scan(context.Background(), []int{}, func(*Process, *detections.Event) error {
		t.Error("no event expected")
		return nil
	})
	require.NoError(t, err)
}

// TestFullScanEvents: a full scan gives events for this host's processes,
// each with the process context and module names shared per process.
func TestFullScanEvents(t *testing.T) {
	t.Parallel()
	sim.NeedRoot(t)
	pids := sim.StartSleepers(t, 2)
	perPID := map[int64][]detections.Event{}
	require.NoError(t, newBuilder(t).Scan(context.Background(), nil, func(_ *Process, ev *detections.Event) error {
		perPID[ev.ProcessId] = append(perPID[ev.ProcessId], *ev)
		return nil
	}))
	sleepPath, err := filepath.EvalSymlinks("/proc/" + strconv.Itoa(pids[0]) + "/exe")
	require.NoError(t, err)
	for _, pid := range pids {
		evs := perPID[int64(pid)]
		require.NotEmpty(t, evs, "sleeper %d", pid)
		for _, ev := range evs {
			assert.Equal(t, detections.PlatformLinux, ev.Platform)
			assert.Equal(t, sleepPath, ev.Image)
			assert.NotEqual(t, sleepPath, ev.ImageLoaded)
			assert.Equal(t, int64(os.Getpid()), ev.ParentProcessId)
			assert.Contains(t, ev.ProcessModules, filepath.Base(sleepPath))
			assert.Contains(t, ev.ProcessModules, filepath.Base(ev.ImageLoaded))
			assert.Equal(t, "root", ev.User)
			assert.True(t, ev.InLoaderList)
			assert.Empty(t, ev.UntrustedReasons, "sleep maps only packaged libraries")
		}
		// One module-name slice per process (the engine caches by it).
		assert.Same(t, &evs[0].ProcessModules[0], &evs[len(evs)-1].ProcessModules[0])
	}
	assert.Greater(t, len(perPID), 3)
}
