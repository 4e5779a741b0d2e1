package loadsource

import (
	"context"
	"errors"
	"os"
	"os/exec"
	"slices"
	"strconv"
	"syscall"
	"testing"
	"time"

	"github.com/cilium/ebpf"
	"github.com/cilium/ebpf/asm"
	"golang.org/x/sys/unix"

	"github.com/modhunt/modhunt/internal/eventbuf"
	"github.com/modhunt/modhunt/internal/loadsource/loadtest"
)

// benchSource starts a source and a consumer that does what the extension
// will: every event into an event buffer. stop closes both and returns how
// many events the consumer took.
func benchSource(b *testing.B) (stop func() int) {
	_, stop = benchRunning(b)
	return stop
}

func benchRunning(b *testing.B) (*Source, func() int) {
	b.Helper()
	s := New(Config{})
	if err := s.Start(context.Background()); err != nil {
		if errors.Is(err, ErrUnavailable) {
			loadtest.MustRun(b, err.Error())
		}
		b.Fatal(err)
	}
	buf := eventbuf.New[*Event](eventbuf.Config{}, (*Event).Size)
	done := make(chan int)
	go func() {
		n := 0
		for ev := range s.Events() {
			buf.Add(ev.Time, &ev)
			n++
		}
		done <- n
	}()
	return s, func() int {
		if err := s.Close(); err != nil {
			b.Error(err)
		}
		return <-done
	}
}

func benchSetup(b *testing.B) string {
	b.Helper()
	if os.Geteuid() != 0 {
		loadtest.MustRun(b, "not root (loading BPF programs needs CAP_BPF and CAP_PERFMON)")
	}
	build(b)
	dir := b.TempDir()
	lib, err := os.ReadFile(mhlib)
	if err != nil {
		b.Fatal(err)
	}
	p := dir + "/libmh_bench.so"
	if err := os.WriteFile(p, lib, 0o755); err != nil {
		b.Fatal(err)
	}
	return p
}

// childCPU runs mhload and returns the CPU time (user + system) it used:
// the BPF programs run in the loading process's system calls, so its own
// CPU time carries their cost, and other load on the host does not.
func childCPU(b *testing.B, args ...string) time.Duration {
	b.Helper()
	cmd := exec.Command(mhload, args...)
	if out, err := cmd.CombinedOutput(); err != nil {
		b.Fatalf("mhload %v: %v\n%s", args, err, out)
	}
	ru := cmd.ProcessState.SysUsage().(*syscall.Rusage)
	return time.Duration(syscall.TimevalToNsec(ru.Utime) + syscall.TimevalToNsec(ru.Stime))
}

func median(d []float64) float64 {
	s := slices.Clone(d)
	slices.Sort(s)
	return s[len(s)/2]
}

// BenchmarkDlopenSlowdown: a dlopen/dlclose loop with the programs attached
// and detached, alternating in the same run 20 times (everything else stays
// loaded, and the consumer keeps running). Reported: CPU ns per dlopen +
// dlclose each way and the slowdown, the median of the 20 pairs' ratios:
// the host's other work drifts, and adjacent runs share its drift (target:
// at most 5%).
func BenchmarkDlopenSlowdown(b *testing.B) {
	lib := benchSetup(b)
	const loops, pairs = 1000, 20
	n := strconv.Itoa(loops)
	var off, on, ratio []float64
	for b.Loop() {
		s, stop := benchRunning(b)
		for range pairs {
			if err := s.setAttached(false); err != nil {
				b.Fatal(err)
			}
			o := float64(childCPU(b, "dlloop", lib, n)) / loops
			if err := s.setAttached(true); err != nil {
				b.Fatal(err)
			}
			a := float64(childCPU(b, "dlloop", lib, n)) / loops
			off, on, ratio = append(off, o), append(on, a), append(ratio, a/o)
		}
		if got := stop(); got < pairs*loops {
			b.Fatalf("the source delivered %d events for %d loads", got, pairs*loops)
		}
	}
	b.ReportMetric(median(off), "off-ns/dlopen")
	b.ReportMetric(median(on), "on-ns/dlopen")
	b.ReportMetric(100*(median(ratio)-1), "slowdown-%")
}

// BenchmarkDlopenTracepointFloor is the part of the slowdown no program can
// avoid: the same loop with an empty program on the four syscall tracepoints
// the source uses (mmap and mprotect, entry and exit), in the same pairs. It
// is the kernel's cost of running any program on a system call tracepoint
// (the perf dispatch, and the slow system call path every syscall of every
// process takes while one is attached).
func BenchmarkDlopenTracepointFloor(b *testing.B) {
	lib := benchSetup(b)
	prog, err := ebpf.NewProgram(&ebpf.ProgramSpec{
		Type:         ebpf.TracePoint,
		Instructions: asm.Instructions{asm.Mov.Imm(asm.R0, 0), asm.Return()},
		License:      "GPL",
	})
	if err != nil {
		loadtest.MustRun(b, err.Error())
	}
	b.Cleanup(func() {
		if err := prog.Close(); err != nil {
			b.Error(err)
		}
	})
	names := []string{"syscalls:sys_enter_mmap", "syscalls:sys_exit_mmap", "syscalls:sys_enter_mprotect", "syscalls:sys_exit_mprotect"}
	ids, err := tracepointIDs(names, false)
	if err != nil {
		b.Fatal(err)
	}
	const loops, pairs = 1000, 20
	n := strconv.Itoa(loops)
	var ratio []float64
	for b.Loop() {
		for range pairs {
			o := float64(childCPU(b, "dlloop", lib, n))
			var atts []*attachment
			for _, name := range names {
				a, err := attachTracepoint(ids[name], prog, false)
				if err != nil {
					b.Fatal(err)
				}
				atts = append(atts, a)
			}
			a := float64(childCPU(b, "dlloop", lib, n))
			for _, at := range atts {
				if err := at.Close(); err != nil {
					b.Fatal(err)
				}
			}
			ratio = append(ratio, a/o)
		}
	}
	b.ReportMetric(100*(median(ratio)-1), "slowdown-%")
}

// BenchmarkConsumerCPU: the extension's side (ring reader, decoding, event
// buffer) while a process makes 1,000 loads a second for 5 seconds, from
// getrusage of this process against the same interval with the source off.
// Other processes' loads arrive too (the source sees the whole host), so
// the cost is also reported per event and scaled to exactly 1,000 a second
// (target: under 2% of one core).
func BenchmarkConsumerCPU(b *testing.B) {
	lib := benchSetup(b)
	selfCPU := func() time.Duration {
		var ru unix.Rusage
		if err := unix.Getrusage(unix.RUSAGE_SELF, &ru); err != nil {
			b.Fatal(err)
		}
		return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
	}
	window := func(on bool) (ratio float64, events int) {
		var stop func() int
		if on {
			stop = benchSource(b)
			time.Sleep(200 * time.Millisecond) // let the start's own cost pass
		}
		cpu0, t0 := selfCPU(), time.Now()
		if err := exec.Command(mhload, "storm", lib, "1000", "5").Run(); err != nil {
			b.Fatal(err)
		}
		cpu, wall := selfCPU()-cpu0, time.Since(t0)
		if stop != nil {
			events = stop()
		}
		return float64(cpu) / float64(wall), events
	}
	var idle, busy, perEvent []float64
	for b.Loop() {
		off, _ := window(false)
		on, n := window(true)
		if n < 5000 {
			b.Fatalf("%d events for 5,000 loads", n)
		}
		idle, busy = append(idle, off), append(busy, on)
		perEvent = append(perEvent, (on-off)*5/float64(n)) // core-seconds per event
	}
	b.ReportMetric(100*median(idle), "off-%core")
	b.ReportMetric(100*median(busy), "on-%core")
	b.ReportMetric(1e9*median(perEvent), "ns/event")
	b.ReportMetric(100*1000*median(perEvent), "%core-at-1000/s")
}

// BenchmarkProgramCost is the programs' own work in the kernel per load
// (bpf_stats run time of every program, over a dlopen/dlclose loop, per
// event written), with the executable's path sent once per process image
// (the default) and walked for every load, alternating 5 times in the same
// run.
func BenchmarkProgramCost(b *testing.B) {
	lib := benchSetup(b)
	stats, err := ebpf.EnableStats(uint32(unix.BPF_STATS_RUN_TIME))
	if err != nil {
		loadtest.MustRun(b, "bpf_stats: "+err.Error())
	}
	defer func() {
		if err := stats.Close(); err != nil {
			b.Error(err)
		}
	}()
	const loops, rounds = 2000, 5
	cost := func(everyLoad bool) float64 {
		s := New(Config{exeEveryLoad: everyLoad, Queue: 1 << 16})
		if err := s.Start(context.Background()); err != nil {
			loadtest.MustRun(b, err.Error())
		}
		go func() {
			for range s.Events() {
			}
		}()
		childCPU(b, "dlloop", lib, strconv.Itoa(loops))
		var runNS time.Duration
		for _, p := range s.progs {
			st, err := p.Stats()
			if err != nil {
				b.Fatal(err)
			}
			runNS += st.Runtime
		}
		emitted := s.Stats().Emitted
		if err := s.Close(); err != nil {
			b.Fatal(err)
		}
		if emitted < loops {
			b.Fatalf("%d events for %d loads", emitted, loops)
		}
		return float64(runNS) / float64(emitted)
	}
	var once, every, ratio []float64
	for b.Loop() {
		for range rounds {
			e := cost(true)
			o := cost(false)
			once, every, ratio = append(once, o), append(every, e), append(ratio, o/e)
		}
	}
	b.ReportMetric(median(once), "exe-once-ns/event")
	b.ReportMetric(median(every), "exe-every-ns/event")
	b.ReportMetric(100*(1-median(ratio)), "saved-%")
}
