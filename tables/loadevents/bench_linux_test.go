package loadevents_test

import (
	"os/exec"
	"runtime"
	"slices"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/modhunt/modhunt/tables/loadstream"
)

func median(d []float64) float64 {
	s := slices.Clone(d)
	slices.Sort(s)
	return s[len(s)/2]
}

func selfCPU(b *testing.B) time.Duration {
	var ru unix.Rusage
	if err := unix.Getrusage(unix.RUSAGE_SELF, &ru); err != nil {
		b.Fatal(err)
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// BenchmarkExtensionCPU is the extension's whole cost of the table: ring
// reader, decoding, process context, the trust judgement, every built-in
// Sigma rule, the buffer, while a process makes 1,000 loads a second for 5
// seconds; from getrusage of this process against the same interval with
// no stream at all, in the same run. The source sees the whole host, so
// other processes' loads count too: the cost is also reported per event and
// scaled to exactly 1,000 events a second (target: under 2% of one core).
func BenchmarkExtensionCPU(b *testing.B) {
	build(b)
	lib := tmpLib(b, "libmh_bench.so")
	window := func(on bool) (ratio float64, events uint64) {
		var l *live
		if on {
			l = startLive(b, loadstream.Config{})
			l.src.open()
			// The start's own cost (loading the programs, the judge's first
			// read of the package databases) is not the steady state: one
			// load first, then the window.
			if err := exec.Command(mhload, "load", lib).Run(); err != nil {
				b.Fatal(err)
			}
			for l.stream.Status().Matches == 0 {
				time.Sleep(10 * time.Millisecond)
			}
			time.Sleep(300 * time.Millisecond)
		}
		runtime.GC() // the start's garbage is not the steady state's
		var eid0 uint64
		if l != nil {
			eid0 = l.stream.Status().Buffer.LastEID
		}
		cpu0, t0 := selfCPU(b), time.Now()
		if err := exec.Command(mhload, "storm", lib, "1000", "5").Run(); err != nil {
			b.Fatal(err)
		}
		time.Sleep(100 * time.Millisecond) // the last poll
		cpu, wall := selfCPU(b)-cpu0, time.Since(t0)
		if l != nil {
			events = l.stream.Status().Buffer.LastEID - eid0
			if err := l.stream.Close(); err != nil {
				b.Error(err)
			}
		}
		return float64(cpu) / float64(wall), events
	}
	var idle, busy, perEvent []float64
	// Three alternating pairs per iteration, medians reported: on the shared
	// 2-core machine one window's CPU moves with the other work by a factor
	// of two or three.
	for b.Loop() {
		for range 3 {
			off, _ := window(false)
			on, n := window(true)
			if n < 5000 {
				b.Fatalf("%d events for 5,000 loads", n)
			}
			idle, busy = append(idle, off), append(busy, on)
			perEvent = append(perEvent, (on-off)*5.1/float64(n)) // core-seconds per event
		}
	}
	b.ReportMetric(100*median(idle), "off-%core")
	b.ReportMetric(100*median(busy), "on-%core")
	b.ReportMetric(1e9*median(perEvent), "ns/event")
	b.ReportMetric(100*1000*median(perEvent), "%core-at-1000/s")
}
