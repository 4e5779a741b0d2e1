package loadevents_test

import (
	"os/exec"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/modhunt/modhunt/tables/loadstream"
	"github.com/modhunt/modhunt/tables/table"
)

// TestStormThroughTheTable: 10,000 loads a second for 10 seconds into a
// buffer bounded at 20,000 events, read by a scheduled query twice a
// second through the table. Every storm load is read once or counted as
// dropped (status: drops, buffer_dropped), no eid is read twice, the
// buffer and the heap stay bounded.
func TestStormThroughTheTable(t *testing.T) {
	if testing.Short() {
		t.Skip("-short: the storm takes 10 seconds")
	}
	const total = 100000
	l := startLive(t, loadstream.Config{MaxEvents: 20000, MaxBytes: 16 << 20})
	l.src.open()
	lib := tmpLib(t, "libmh_storm.so")

	var (
		mu         sync.Mutex
		seen       = map[string]bool{}
		dupes      int
		stormRows  int
		peakHeap   uint64
		peakBuffer int
	)
	var stormPID string
	read := func() {
		rows, err := l.events.Generate(t.Context(), table.Query{Scheduled: "pack_modhunt_storm"})
		if err != nil {
			t.Error(err)
			return
		}
		mu.Lock()
		defer mu.Unlock()
		for _, r := range rows {
			m := rowMap(l.events, r)
			if seen[m["eid"]] {
				dupes++
			}
			seen[m["eid"]] = true
			if m["pid"] == stormPID && m["path"] == lib && m["kind"] == "mmap" {
				stormRows++
			}
		}
		var ms runtime.MemStats
		runtime.ReadMemStats(&ms)
		peakHeap = max(peakHeap, ms.HeapInuse)
		peakBuffer = max(peakBuffer, l.stream.Status().Buffer.Events)
	}
	cmd := exec.Command(mhload, "storm", lib, "10000", "10")
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	mu.Lock()
	stormPID = strconv.Itoa(cmd.Process.Pid)
	mu.Unlock()
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	tick := time.NewTicker(500 * time.Millisecond)
	defer tick.Stop()
loop:
	for {
		select {
		case err := <-done:
			if err != nil {
				t.Fatalf("storm: %v", err)
			}
			break loop
		case <-tick.C:
			read()
		}
	}
	time.Sleep(time.Second) // the reader's last polls
	read()

	rows, err := l.status.Generate(t.Context(), table.Query{})
	if err != nil || len(rows) != 1 {
		t.Fatal(rows, err)
	}
	st := rowMap(l.status, rows[0])
	drops, _ := strconv.Atoi(st["drops"])
	bufDropped, _ := strconv.Atoi(st["buffer_dropped"])
	misses, _ := strconv.Atoi(st["misses"])
	t.Logf("storm rows read %d of %d; status %v; peak heap %d MiB, peak buffer %d events", stormRows, total, st, peakHeap>>20, peakBuffer)
	if dupes != 0 {
		t.Errorf("%d eids read twice by one scheduled query", dupes)
	}
	if stormRows > total || stormRows+drops+bufDropped+misses < total {
		t.Errorf("the storm made %d loads: %d read, %d dropped before the buffer, %d pushed out of it, %d missed", total, stormRows, drops, bufDropped, misses)
	}
	if drops+bufDropped == 0 {
		t.Errorf("a 100,000-load storm into a 20,000-event buffer dropped nothing: status %v", st)
	}
	if peakBuffer > 20000 || !strings.HasPrefix(st["state"], "running") {
		t.Errorf("buffer peaked at %d events; state %q", peakBuffer, st["state"])
	}
	if peakHeap > 256<<20 {
		t.Errorf("heap in use peaked at %d MiB", peakHeap>>20)
	}
}
