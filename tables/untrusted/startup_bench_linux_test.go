package untrusted

import (
	"context"
	"path/filepath"
	"testing"
	"time"

	"github.com/modhunt/modhunt/tables/inventory"
	"github.com/modhunt/modhunt/tables/table"
	"github.com/modhunt/modhunt/test/sim"
)

// BenchmarkStartupEvidence weighs the start-up evidence of preloads: the
// same processes (sleepers, a C loader with a module in ld.so's cache hole,
// a wiped preload) scanned with and without it, in one run, through pid
// pushdown so the rest of the machine does not add noise. x-without is the
// ratio of the two, each timed in every iteration.
func BenchmarkStartupEvidence(b *testing.B) {
	sim.NeedRoot(b)
	dir := sim.ExecDirIn(b, "/tmp", "modhunt-bench-startup-")
	pids := sim.StartSleepers(b, 60)
	lib := sim.BuildLib(b, filepath.Join(dir, "libhole.so"))
	pids = append(pids, sim.Start(b, sim.BuildMultiLoader(b, dir), lib).PID)
	wiped := sim.BuildLibFrom(b, filepath.Join(dir, "libwiped.so"), sim.WipingPreloadSource)
	sleep := sim.NeedTool(b, "sleep", "coreutils")
	w := sim.StartNoWait(b, sim.BuildLaunch(b, dir), "LD_PRELOAD="+wiped, "--", sleep, "600")
	sim.WaitSleeping(b, w.PID, sleep)
	pids = append(pids, w.PID)

	ctx := context.Background()
	inv := inventory.New(inventory.Config{})
	q := table.PIDQuery(pids)
	without, err := NewFromConfig(Config{Inventory: inv, noStartupEvidence: true})
	if err != nil {
		b.Fatal(err)
	}
	with, err := NewFromConfig(Config{Inventory: inv})
	if err != nil {
		b.Fatal(err)
	}
	// Run both in every iteration, in alternating order: the machine's load
	// drifts, and both see the same drift.
	var tWith, tWithout time.Duration
	run := func(tb *table.Table, total *time.Duration) {
		start := time.Now()
		if _, err := tb.Generate(ctx, q); err != nil {
			b.Fatal(err)
		}
		*total += time.Since(start)
	}
	run(without, new(time.Duration)) // package index, caches
	run(with, new(time.Duration))
	odd := false
	for b.Loop() {
		if odd = !odd; odd {
			run(without, &tWithout)
			run(with, &tWith)
		} else {
			run(with, &tWith)
			run(without, &tWithout)
		}
	}
	b.ReportMetric(float64(tWith)/float64(tWithout), "x-without")
	b.ReportMetric(float64(tWith.Nanoseconds())/float64(b.N), "ns-with/op")
}
