package dotnetloads

import (
	"context"
	"log/slog"
	"testing"
	"time"

	"github.com/modhunt/modhunt/tables/inventory"
	"github.com/modhunt/modhunt/test/sim"
)

// BenchmarkNoCLRHost: on a host with no CLR process (200 sleepers, pinned
// by pid so that other CLR processes on the machine do not count), the
// table against the cheapest scan of process_loaded_modules (pid and path
// only) over the same processes, timed back to back in each iteration:
// x-loaded-modules is the ratio of their total times (target <= 1.2).
func BenchmarkNoCLRHost(b *testing.B) {
	sim.NeedRoot(b)
	pids, stop, err := sim.Sleepers(200)
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(stop)
	inv := inventory.New(inventory.Config{ModulesOnly: true})
	benchAgainstLoadedModules(b, inv, pids)
}

// BenchmarkMonoSearch: the in-memory search of one live Mono host (the
// sim's, with an Assembly.Load(byte[]) assembly in its heap) against a raw
// read of the same regions through the same /proc/PID/mem in 1 MiB reads,
// timed back to back: x-raw is the ratio of their times, MB-read what the
// search read per op, MB-regions the regions' size.
func BenchmarkMonoSearch(b *testing.B) {
	sim.NeedRoot(b)
	p := sim.StartMonoHost(b)
	inv := inventory.New(inventory.Config{ModulesOnly: true})
	s := &Scanner{Inventory: inv}
	lim := Limits{}.withDefaults()
	log := slog.New(slog.DiscardHandler)
	ctx := context.Background()
	buf := make([]byte, 1<<20)
	var tRaw, tSearch time.Duration
	var rawBytes, readBytes int64
	for b.Loop() {
		t0 := time.Now()
		rawBytes += rawRead(b, inv, p.PID, buf)
		t1 := time.Now()
		sr := s.search(ctx, log, p.PID, lim, lim.ProcessBytes)
		tSearch += time.Since(t1)
		tRaw += t1.Sub(t0)
		readBytes += sr.read
		if len(sr.found) == 0 || sr.cut {
			b.Fatalf("search found %d, cut %v", len(sr.found), sr.cut)
		}
	}
	n := float64(b.N)
	b.ReportMetric(float64(tSearch)/float64(tRaw), "x-raw")
	b.ReportMetric(float64(tSearch.Milliseconds())/n, "search-ms/op")
	b.ReportMetric(float64(tRaw.Milliseconds())/n, "raw-ms/op")
	b.ReportMetric(float64(readBytes)/n/(1<<20), "MB-read/op")
	b.ReportMetric(float64(rawBytes)/n/(1<<20), "MB-regions/op")
}

// rawRead reads every region the search reads, in 1 MiB reads, parsing
// nothing: the floor of any search.
func rawRead(b *testing.B, inv inventory.Source, pid int, buf []byte) int64 {
	regions, err := inv.Regions(context.Background(), pid)
	if err != nil {
		b.Fatal(err)
	}
	mem, err := inv.OpenMemory(pid)
	if err != nil {
		b.Fatal(err)
	}
	defer func() { _ = mem.Close() }()
	var total int64
	for _, r := range regions {
		if !Searchable(r) {
			continue
		}
		for off := uint64(0); off < r.Size; off += uint64(len(buf)) {
			n := min(uint64(len(buf)), r.Size-off)
			got, _ := mem.ReadAt(buf[:n], int64(r.Start+off))
			total += int64(got)
		}
	}
	return total
}
