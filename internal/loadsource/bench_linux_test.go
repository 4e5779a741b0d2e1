package loadsource

import (
	"context"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
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
	_, stop = benchRunning(b, Config{})
	return stop
}

func benchRunning(b *testing.B, cfg Config) (*Source, func() int) {
	b.Helper()
	s := New(cfg)
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
//
// The child runs at a real-time priority (SCHED_FIFO, inherited from the
// thread that starts it), so other work on the host cannot preempt the
// loop and pollute its caches between the pairs compared: on the shared
// 2-core machine that noise was larger than the effect measured. It also
// runs on one CPU, the same for every run compared: under virtualization
// one virtual CPU can be slower than another for a while (a busy sibling
// thread on its physical core), and a pair split across the two measured
// that difference, not the programs.
func childCPU(b *testing.B, args ...string) time.Duration {
	b.Helper()
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	old, err := unix.SchedGetAttr(0, 0)
	if err != nil {
		b.Fatal(err)
	}
	var oldSet, one unix.CPUSet
	if err := unix.SchedGetaffinity(0, &oldSet); err != nil {
		b.Fatal(err)
	}
	one.Set(benchCPU(&oldSet))
	if err := unix.SchedSetaffinity(0, &one); err != nil {
		b.Fatal(err)
	}
	if err := unix.SchedSetAttr(0, &unix.SchedAttr{Size: unix.SizeofSchedAttr, Policy: unix.SCHED_FIFO, Priority: 1}, 0); err != nil {
		b.Fatalf("real-time priority for the loop: %v", err)
	}
	cmd := exec.Command(mhload, args...)
	out, err := cmd.CombinedOutput()
	if rerr := unix.SchedSetAttr(0, old, 0); rerr != nil {
		b.Fatal(rerr)
	}
	if rerr := unix.SchedSetaffinity(0, &oldSet); rerr != nil {
		b.Fatal(rerr)
	}
	if err != nil {
		b.Fatalf("mhload %v: %v\n%s", args, err, out)
	}
	ru := cmd.ProcessState.SysUsage().(*syscall.Rusage)
	return time.Duration(syscall.TimevalToNsec(ru.Utime) + syscall.TimevalToNsec(ru.Stime))
}

// benchCPU is the CPU every measured loop runs on: the last one allowed.
func benchCPU(allowed *unix.CPUSet) int {
	cpu := 0
	for i := range 1024 {
		if allowed.IsSet(i) {
			cpu = i
		}
	}
	return cpu
}

func median(d []float64) float64 {
	s := slices.Clone(d)
	slices.Sort(s)
	return s[len(s)/2]
}

// BenchmarkDlopenSlowdown: a dlopen/dlclose loop with the programs attached
// and detached, in the pairs pairedLoops measures (everything else stays
// loaded, and the consumer keeps running). Reported: CPU ns per dlopen +
// dlclose each way and the slowdown, the median of the pairs' ratios: the
// host's other work drifts, and adjacent runs share its drift (target: at
// most 5%). "default" is the source as it runs (mmap seen through
// maple_tree:ma_write where the kernel has it); "raw_tracepoint" is that
// through the program kernels before 6.2 load (a helper call where the
// default has a load); "syscall_mmap" sees mmap through its system call
// tracepoints, as on kernels without maple_tree:ma_write; "syscall_hooks"
// adds the optional mprotect and memfd_create hooks (--events_syscall_hooks).
// The library is the test's own, 15 KB with nothing to relocate: the
// cheapest dlopen there is, so the worst ratio. "default_libz" loads the
// system's zlib instead, a library as programs load them (its load costs
// the programs the same; the dlopen itself costs more).
func BenchmarkDlopenSlowdown(b *testing.B) {
	lib := benchSetup(b)
	for _, w := range []struct {
		name string
		cfg  Config
		lib  string
	}{
		{"default", Config{}, lib},
		{"raw_tracepoint", Config{fallbackVMA: true}, lib},
		{"syscall_mmap", Config{noVMA: true}, lib},
		{"syscall_hooks", Config{SyscallHooks: true}, lib},
		{"default_libz", Config{}, systemLib(b, "libz.so.1")},
	} {
		b.Run(w.name, func(b *testing.B) {
			if w.lib == "" {
				b.Skip("no system libz.so.1 here")
			}
			dlopenSlowdown(b, w.lib, w.cfg)
		})
	}
}

// systemLib is the path of a shared library of the system's own, or "".
func systemLib(b *testing.B, name string) string {
	b.Helper()
	for _, dir := range []string{"/lib/x86_64-linux-gnu", "/lib/aarch64-linux-gnu", "/usr/lib64", "/lib64", "/usr/lib"} {
		p, err := filepath.EvalSymlinks(filepath.Join(dir, name))
		if err == nil {
			return p
		}
	}
	return ""
}

func dlopenSlowdown(b *testing.B, lib string, cfg Config) {
	var off, on, ratio []float64
	for b.Loop() {
		s, stop := benchRunning(b, cfg)
		o, a, r := pairedLoops(b, func(attach bool) {
			if err := s.setAttached(attach); err != nil {
				b.Fatal(err)
			}
		}, lib)
		off, on, ratio = append(off, o...), append(on, a...), append(ratio, r...)
		if got, want := stop(), len(a)*pairLoops; got < want {
			b.Fatalf("the source delivered %d events for %d loads", got, want)
		}
	}
	b.ReportMetric(median(off), "off-ns/dlopen")
	b.ReportMetric(median(on), "on-ns/dlopen")
	b.ReportMetric(100*(median(ratio)-1), "slowdown-%")
}

// A measured pair is two runs of pairLoops dlopen/dlclose pairs, one with the
// programs attached and one without; a benchmark takes pairCount of them.
// Each run's CPU time varies by several percent on a shared VM, more than
// the effect measured, so the figure is the median of many short pairs
// rather than of a few long ones; and every other pair runs the attached
// run first, so whatever the first run of a pair leaves behind (attaching
// rewrites kernel text; the previous run warms caches) weighs on both
// sides alike.
const pairLoops, pairCount = 500, 120

// pairedLoops measures pairCount pairs, calling set(true) before each
// attached run and set(false) before each detached one, and returns CPU ns
// per dlopen each way and each pair's ratio, attached over detached.
func pairedLoops(b *testing.B, set func(attach bool), lib string) (off, on, ratio []float64) {
	n := strconv.Itoa(pairLoops)
	run := func(attach bool) float64 {
		set(attach)
		return float64(childCPU(b, "dlloop", lib, n)) / pairLoops
	}
	for i := range pairCount {
		var o, a float64
		if i%2 == 0 {
			o = run(false)
			a = run(true)
		} else {
			a = run(true)
			o = run(false)
		}
		off, on, ratio = append(off, o), append(on, a), append(ratio, a/o)
	}
	set(false)
	return off, on, ratio
}

// BenchmarkDlopenTracepointFloor is the part of the slowdown no program can
// avoid: the same loop with an empty program on each hook, in the same
// pairs. "default" is the hooks the source attaches by default
// (maple_tree:ma_write, sched_process_exec); "mmap_exec_memfd" adds the
// memfd_create system call tracepoints; "syscall_hooks" adds those and
// mprotect's (--events_syscall_hooks); "syscall_mmap" has the mmap system
// call tracepoints instead of ma_write. A system call tracepoint costs its
// perf dispatch each time it fires, and while any is attached every system
// call of every process takes the slow path; a raw tracepoint costs a call.
func BenchmarkDlopenTracepointFloor(b *testing.B) {
	lib := benchSetup(b)
	empty := func(t ebpf.ProgramType) *ebpf.Program {
		prog, err := ebpf.NewProgram(&ebpf.ProgramSpec{
			Type:         t,
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
		return prog
	}
	progs := map[bool]*ebpf.Program{false: empty(ebpf.TracePoint), true: empty(ebpf.RawTracepoint)}
	var names []string
	for _, h := range hookSpecs {
		if !h.raw {
			names = append(names, h.tracepoint)
		}
	}
	ids, err := tracepointIDs(names, false)
	if err != nil {
		b.Fatal(err)
	}
	for _, w := range []struct {
		name string
		skip []string // the groups this way leaves out
	}{
		{"default", append([]string{groupMmap}, optionalGroups...)},
		{"mmap_exec_memfd", []string{groupMmap, "mprotect"}},
		{"syscall_hooks", []string{groupMmap}},
		{"syscall_mmap", append([]string{groupVMA}, optionalGroups...)},
	} {
		b.Run(w.name, func(b *testing.B) {
			var ratio []float64
			for b.Loop() {
				var atts []*attachment
				_, _, r := pairedLoops(b, func(attach bool) {
					for _, at := range atts {
						if err := at.Close(); err != nil {
							b.Fatal(err)
						}
					}
					atts = nil
					if !attach {
						return
					}
					for _, h := range hookSpecs {
						if slices.Contains(w.skip, h.group) {
							continue
						}
						a, err := attachHook(h, ids, progs[h.raw], false)
						if err != nil {
							b.Fatal(err)
						}
						atts = append(atts, a)
					}
				}, lib)
				ratio = append(ratio, r...)
			}
			b.ReportMetric(100*(median(ratio)-1), "slowdown-%")
		})
	}
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
// (bpf_stats run time of every program over a dlopen/dlclose loop, per
// dlopen), four ways alternating 5 times in the same run: the source as it
// runs (mmap through maple_tree:ma_write, the executable's path once per
// process image), with the raw tracepoint program kernels before 6.2 load,
// with mmap through its system call tracepoints, and with the executable's
// path walked for every load.
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
	cost := func(cfg Config) float64 {
		cfg.Queue = 1 << 16
		s := New(cfg)
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
		return float64(runNS) / loops
	}
	var def, raw, sys, every []float64
	for b.Loop() {
		for range rounds {
			def = append(def, cost(Config{}))
			raw = append(raw, cost(Config{fallbackVMA: true}))
			sys = append(sys, cost(Config{noVMA: true}))
			every = append(every, cost(Config{exeEveryLoad: true}))
		}
	}
	b.ReportMetric(median(def), "default-ns/dlopen")
	b.ReportMetric(median(raw), "raw-tracepoint-ns/dlopen")
	b.ReportMetric(median(sys), "syscall-mmap-ns/dlopen")
	b.ReportMetric(median(every), "exe-every-load-ns/dlopen")
}
