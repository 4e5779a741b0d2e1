package loadsource

import (
	"context"
	"errors"
	"fmt"
	"math/bits"
	"os"
	"runtime"
	"runtime/debug"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/cilium/ebpf"
	"github.com/cilium/ebpf/btf"
	"github.com/cilium/ebpf/ringbuf"
	"golang.org/x/sys/unix"
)

// hookSpec ties a tracepoint to its program. Programs load in groups that
// stand or fall together (an enter program is useless without its exit).
type hookSpec struct {
	tracepoint, program, group string
	// raw: a raw tracepoint, attached by name with no perf event (and no
	// tracefs id); a BTF-typed one when its program is of type Tracing.
	raw bool
	// fallback is the program loaded instead where program cannot load or
	// attach (it needs a newer kernel's BPF): the same hook and events.
	fallback string
}

// The groups. exec must attach for the source to run, and one way of
// seeing mmap: vma (maple_tree:ma_write) where the kernel has it, else the
// mmap system call tracepoints, which cost every system call of every
// process while attached (README.md). mprotect and memfd_create add kinds
// of load where the kernel allows them (mprotect needs bpf_find_vma, 5.17+).
const (
	groupExec = "exec"
	groupVMA  = "vma"
	groupMmap = "mmap"
	vmaHook   = "maple_tree:ma_write"
)

// Exit before enter: an enter without its exit would leave a pending
// record behind (the LRU map ages it out, but there is no need).
var hookSpecs = []hookSpec{
	{"sched:sched_process_exec", "sched_exec", groupExec, false, ""},
	{vmaHook, "vma_store", groupVMA, true, "vma_store_raw"},
	{"syscalls:sys_exit_mmap", "exit_mmap", groupMmap, false, ""},
	{"syscalls:sys_enter_mmap", "enter_mmap", groupMmap, false, ""},
	{"syscalls:sys_exit_mprotect", "exit_mprotect", "mprotect", false, ""},
	{"syscalls:sys_enter_mprotect", "enter_mprotect", "mprotect", false, ""},
	{"syscalls:sys_exit_memfd_create", "exit_memfd_create", "memfd_create", false, ""},
	{"syscalls:sys_enter_memfd_create", "enter_memfd_create", "memfd_create", false, ""},
}

var optionalGroups = []string{"mprotect", "memfd_create"}

// SyscallHooksOff is why the optional hooks are not attached unless
// Config.SyscallHooks asks for them.
const SyscallHooksOff = "turned off: system call tracepoints slow every system call on the host"

// Source delivers load events from the kernel. The zero value is not
// usable; call New.
type Source struct {
	cfg    Config
	events chan Event

	mu       sync.Mutex
	started  bool
	state    State
	reason   string
	hooks    []Hook
	colls    []*ebpf.Collection
	progs    []*ebpf.Program
	maps     map[string]*ebpf.Map
	kernel   *btf.Cache // while starting
	cpuState *ebpf.Map  // per-CPU struct cpu_state: the kernel side's counts
	atts     []*attachment
	active   []int           // hookSpecs attached at start, reattached by setAttached
	bound    []*ebpf.Program // by hookSpecs index: the program attached there
	rd       *ringbuf.Reader
	wait     *ringWaiter
	ids      map[string]uint64
	final    *Stats // counters read at Close, after which the maps are gone

	readerDone chan struct{}
	closeOnce  sync.Once

	received, decoded, queueDrops atomic.Uint64
}

// New returns a source that starts with Start.
func New(cfg Config) *Source {
	cfg.defaults()
	hooks := make([]Hook, len(hookSpecs))
	for i, h := range hookSpecs {
		hooks[i] = Hook{Name: h.tracepoint, Required: h.group == groupExec}
	}
	return &Source{
		cfg:        cfg,
		events:     make(chan Event, cfg.Queue),
		state:      StateStopped,
		hooks:      hooks,
		bound:      make([]*ebpf.Program, len(hookSpecs)),
		readerDone: make(chan struct{}),
	}
}

// Events delivers the events in the order the kernel wrote them. It is
// closed when the source stops (or at once if it never ran).
func (s *Source) Events() <-chan Event { return s.events }

// Start loads and attaches the programs and starts delivering events
// until ctx ends or Close. When the source cannot run here it returns an
// *UnavailableError (errors.Is ErrUnavailable) with the reason, which
// Stats also reports, and Events is closed.
func (s *Source) Start(ctx context.Context) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.started {
		return errors.New("load source already started or closed")
	}
	s.started = true
	if err := s.start(); err != nil {
		s.state, s.reason = StateUnavailable, err.Reason
		if rerr := s.release(); rerr != nil {
			s.cfg.Log.Warn("releasing a source that could not start", "err", rerr)
		}
		close(s.events)
		close(s.readerDone)
		s.cfg.Log.Warn("load events unavailable", "reason", err.Reason)
		return err
	}
	s.state = StateRunning
	clock := newWallClock()
	go s.read(clock)
	go func() {
		select {
		case <-ctx.Done():
			if err := s.Close(); err != nil {
				s.cfg.Log.Warn("stopping the load event source", "err", err)
			}
		case <-s.readerDone:
		}
	}()
	return nil
}

func (s *Source) start() *UnavailableError {
	// The kernel's types are decoded once for every check and group, and
	// dropped when start returns: decoded, they are most of the heap the
	// source would otherwise keep.
	s.kernel = btf.NewCache()
	defer func() {
		s.kernel = nil
		// Hand the decoding's memory back now: an agent is judged by its
		// resident size (osqueryd's watchdog), and this was a one-off.
		debug.FreeOSMemory()
	}()
	if err := probe(s.kernel); err != nil {
		return err
	}
	if s.cfg.RingBytes < os.Getpagesize() || s.cfg.RingBytes&(s.cfg.RingBytes-1) != 0 {
		return unavailable(fmt.Sprintf("ring buffer size %d is not a power of two of at least one page", s.cfg.RingBytes))
	}
	var names []string
	for _, h := range hookSpecs {
		if !h.raw {
			names = append(names, h.tracepoint)
		}
	}
	ids, err := tracepointIDs(names, s.cfg.forcePrivateTracefs)
	if err != nil {
		return unavailable(fmt.Sprintf("reading tracepoint ids: %v", err))
	}
	s.ids = ids
	spec, uerr := s.spec()
	if uerr != nil {
		return uerr
	}
	if err := s.bringUp(spec, groupExec); err != nil {
		return err
	}
	rd, rerr := ringbuf.NewReader(s.maps["events"])
	if rerr != nil {
		return unavailable(fmt.Sprintf("opening the ring buffer: %v", rerr))
	}
	s.rd = rd
	w, werr := newRingWaiter(s.maps["events"].FD())
	if werr != nil {
		return unavailable(werr.Error())
	}
	s.wait = w
	vmaErr := s.vmaUsable()
	if vmaErr == nil {
		vmaErr = s.bringUp(spec, groupVMA)
	} else {
		s.markGroup(groupVMA, vmaErr.Reason)
	}
	if vmaErr == nil {
		for i, h := range hookSpecs {
			if h.group == groupMmap {
				s.hooks[i].Spare = true
			}
		}
	} else if err := s.bringUp(spec, groupMmap); err != nil {
		return unavailable(fmt.Sprintf("no hook sees mmap: %s; and %s", vmaErr.Reason, err.Reason))
	}
	for _, g := range optionalGroups {
		if !s.cfg.SyscallHooks {
			s.markGroup(g, SyscallHooksOff)
			continue
		}
		_ = s.bringUp(spec, g) // the hooks say why not
	}
	return nil
}

// spec is the embedded object, sized and told about this host.
func (s *Source) spec() (*ebpf.CollectionSpec, *UnavailableError) {
	spec, err := loadLoadsource()
	if err != nil {
		return nil, unavailable(fmt.Sprintf("the embedded BPF object: %v", err))
	}
	spec.Maps["events"].MaxEntries = uint32(s.cfg.RingBytes)
	cpus, err := ebpf.PossibleCPU()
	if err != nil || cpus < 1 {
		cpus = runtime.NumCPU()
	}
	set := map[string]any{
		"wakeup_bytes": uint64(s.wakeBytes()),
		// A quarter of wakeup_bytes shared among the CPUs (see the program).
		"wake_check_bytes": uint64(s.wakeBytes() / 4 / cpus),
		"page_shift":       uint32(bits.TrailingZeros(uint(os.Getpagesize()))),
	}
	if s.cfg.exeEveryLoad {
		set["exe_once"] = uint8(0)
	}
	if sysMmap != 0 {
		set["nr_mmap"], set["nr_execve"], set["nr_execveat"] = uint32(sysMmap), uint32(sysExecve), uint32(sysExecveat)
	}
	if sysIA32Mmap2 != 0 {
		set["nr_ia32_mmap"], set["nr_ia32_mmap2"] = uint32(sysIA32Mmap), uint32(sysIA32Mmap2)
		set["nr_ia32_execve"], set["nr_ia32_execveat"] = uint32(sysIA32Execve), uint32(sysIA32Execveat)
	}
	for name, v := range set {
		if err := spec.Variables[name].Set(v); err != nil {
			return nil, unavailable(fmt.Sprintf("the embedded BPF object: setting %s: %v", name, err))
		}
	}
	return spec, nil
}

// vmaUsable says why maple_tree:ma_write cannot stand for the mmap
// tracepoints here, before anything is loaded: the tracepoint must exist
// with the arguments vma_store reads.
func (s *Source) vmaUsable() *UnavailableError {
	if s.cfg.noVMA {
		return unavailable("off for this test")
	}
	if sysMmap == 0 {
		return unavailable("the system call numbers of " + runtime.GOARCH + " are not known to modhunt")
	}
	return checkMaWrite(s.kernel)
}

// bringUp loads one group's programs, sharing the maps of the first
// group, and attaches them. A group that fails is closed again and its
// hooks say why.
func (s *Source) bringUp(spec *ebpf.CollectionSpec, group string) *UnavailableError {
	fallback := slices.ContainsFunc(hookSpecs, func(h hookSpec) bool { return h.group == group && h.fallback != "" })
	if fallback && s.cfg.fallbackVMA {
		return s.bringUpWith(spec, group, true)
	}
	err := s.bringUpWith(spec, group, false)
	if err == nil || !fallback {
		return err
	}
	if ferr := s.bringUpWith(spec, group, true); ferr != nil {
		return ferr
	}
	s.cfg.Log.Info("load events: the older programs of a group loaded", "group", group, "why", err.Reason)
	return nil
}

// bringUpWith is bringUp with the groups' programs or their fallbacks.
func (s *Source) bringUpWith(spec *ebpf.CollectionSpec, group string, fallback bool) *UnavailableError {
	var idx []int
	var progs []string
	name := func(h hookSpec) string {
		if fallback && h.fallback != "" {
			return h.fallback
		}
		return h.program
	}
	for i, h := range hookSpecs {
		if h.group != group {
			continue
		}
		if _, ok := s.ids[h.tracepoint]; !ok && !h.raw {
			reason := fmt.Sprintf("tracepoint %s is not in this kernel (CONFIG_FTRACE_SYSCALLS)", h.tracepoint)
			s.markGroup(group, reason)
			return unavailable(reason)
		}
		idx = append(idx, i)
		progs = append(progs, name(h))
	}
	gs := spec.Copy()
	for name := range gs.Programs {
		if !slices.Contains(progs, name) {
			delete(gs.Programs, name)
		}
	}
	coll, err := ebpf.NewCollectionWithOptions(gs, ebpf.CollectionOptions{MapReplacements: s.maps, Cache: s.kernel})
	if err != nil {
		reason := loadError("the "+group+" programs", err)
		s.markGroup(group, reason)
		return unavailable(reason)
	}
	var atts []*attachment
	for _, i := range idx {
		a, err := attachHook(hookSpecs[i], s.ids, coll.Programs[name(hookSpecs[i])], s.cfg.forceIoctl)
		if err != nil {
			for _, a := range atts {
				_ = a.Close()
			}
			coll.Close()
			reason := fmt.Sprintf("attaching to %s: %v", hookSpecs[i].tracepoint, err)
			s.markGroup(group, reason)
			return unavailable(reason)
		}
		atts = append(atts, a)
	}
	if s.maps == nil {
		s.maps = coll.Maps
		s.cpuState = coll.Maps["cpu_map"]
	}
	s.colls = append(s.colls, coll)
	s.atts = append(s.atts, atts...)
	for _, i := range idx {
		s.bound[i] = coll.Programs[name(hookSpecs[i])]
		s.progs = append(s.progs, s.bound[i])
		s.hooks[i].Attached, s.hooks[i].Err = true, ""
		s.active = append(s.active, i)
	}
	return nil
}

func (s *Source) markGroup(group, reason string) {
	for i, h := range hookSpecs {
		if h.group == group {
			s.hooks[i].Err = reason
		}
	}
}

// reattach attaches again the hooks that were attached at start.
func (s *Source) reattach() error {
	for _, i := range s.active {
		h := hookSpecs[i]
		a, err := attachHook(h, s.ids, s.bound[i], s.cfg.forceIoctl)
		if err != nil {
			return fmt.Errorf("attaching to %s again: %w", h.tracepoint, err)
		}
		s.atts = append(s.atts, a)
	}
	return nil
}

// read moves records from the ring to the Events channel, a poll interval
// at a time, or sooner when the ring fills past a quarter. A full channel
// drops the event (counted) instead of stalling: the kernel ring keeps
// filling while the consumer is slow, and losing the newest with a count
// beats losing the ring's contents without one. When the waiter closes it
// delivers what the ring still holds and stops.
func (s *Source) read(clock *wallClock) {
	defer close(s.readerDone)
	defer close(s.events)
	var rec ringbuf.Record
	exes := newExeCache(exeCacheSize, "/proc")
	// A deadline long past: ReadInto drains what is there and never
	// blocks (the waiter does the waiting).
	s.rd.SetDeadline(time.Unix(1, 0))
	full := func() bool { return s.rd.AvailableBytes() >= s.wakeBytes() }
	for {
		werr := s.wait.wait(time.Now().Add(s.cfg.Poll), full)
		if werr != nil && !errors.Is(werr, errWaiterClosed) {
			s.cfg.Log.Warn("waiting on the load event ring", "err", werr)
		}
		for {
			err := s.rd.ReadInto(&rec)
			if errors.Is(err, os.ErrDeadlineExceeded) {
				break // drained
			}
			if errors.Is(err, os.ErrClosed) {
				return
			}
			if err != nil {
				s.cfg.Log.Warn("reading the load event ring", "err", err)
				break
			}
			s.deliver(rec.RawSample, clock, exes)
		}
		if werr != nil {
			return
		}
	}
}

// wakeBytes is how full the ring is when the programs wake the reader
// before its poll interval: a quarter, so a burst cannot fill it between
// the wakeup and the read.
func (s *Source) wakeBytes() int { return s.cfg.RingBytes / 4 }

func (s *Source) deliver(raw []byte, clock *wallClock, exes *exeCache) {
	s.received.Add(1)
	ev, err := decode(raw, clock.wall)
	if err != nil {
		s.cfg.Log.Warn("undecodable load event", "err", err)
		return
	}
	s.decoded.Add(1)
	exes.fill(&ev)
	select {
	case s.events <- ev:
	default:
		s.queueDrops.Add(1)
	}
}

// Close detaches the programs and stops delivery; Events is closed once
// the last event read is delivered or dropped. It is safe to call twice;
// only the first call reports an error (a detach or close that failed).
func (s *Source) Close() error {
	var err error
	s.closeOnce.Do(func() {
		s.mu.Lock()
		if !s.started {
			// Never started: nothing to stop, but Events must still close.
			s.started = true
			close(s.events)
			close(s.readerDone)
			s.mu.Unlock()
			return
		}
		if s.state == StateRunning {
			// Detach first, so nothing new is written, then take the
			// kernel counters before the maps go, then stop the reader.
			err = s.detach()
			st := s.statsLocked()
			s.final = &st
			s.state = StateStopped
			if s.wait != nil {
				err = errors.Join(err, s.wait.Close())
			}
		}
		s.mu.Unlock()
		<-s.readerDone
		s.mu.Lock()
		err = errors.Join(err, s.release())
		s.mu.Unlock()
	})
	return err
}

// setAttached detaches or reattaches the programs of a running source,
// keeping everything loaded: benchmarks compare loads with and without the
// programs in quick alternation, so drift in the host's load cancels out.
func (s *Source) setAttached(on bool) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.state != StateRunning {
		return errors.New("not running")
	}
	if !on {
		return s.detach()
	}
	if len(s.atts) > 0 {
		return nil
	}
	return s.reattach()
}

func (s *Source) detach() error {
	var err error
	for _, a := range s.atts {
		err = errors.Join(err, a.Close())
	}
	s.atts = nil
	return err
}

// release frees what start acquired. Called with mu held.
func (s *Source) release() error {
	err := s.detach()
	if s.wait != nil {
		err = errors.Join(err, s.wait.Close())
		s.wait = nil
	}
	if s.rd != nil {
		if cerr := s.rd.Close(); cerr != nil && !errors.Is(cerr, os.ErrClosed) {
			err = errors.Join(err, cerr)
		}
		s.rd = nil
	}
	for _, c := range s.colls {
		c.Close()
	}
	s.colls, s.progs, s.cpuState, s.maps = nil, nil, nil, nil
	return err
}

// Stats reports the state and counters.
func (s *Source) Stats() Stats {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.final != nil {
		st := *s.final
		st.State = s.state
		st.Received, st.Decoded, st.QueueDrops = s.received.Load(), s.decoded.Load(), s.queueDrops.Load()
		return st
	}
	return s.statsLocked()
}

func (s *Source) statsLocked() Stats {
	st := Stats{
		State:      s.state,
		Reason:     s.reason,
		Hooks:      slices.Clone(s.hooks),
		Received:   s.received.Load(),
		Decoded:    s.decoded.Load(),
		QueueDrops: s.queueDrops.Load(),
	}
	if s.cpuState != nil {
		var perCPU []loadsourceCpuState
		if err := s.cpuState.Lookup(uint32(0), &perCPU); err == nil {
			var made uint64
			for _, c := range perCPU {
				made += c.Seq
				st.RingDrops += c.RingFull
				st.VMABusy += c.VmaBusy
			}
			st.Emitted = made - st.RingDrops
		}
	}
	for _, p := range s.progs {
		if ps, err := p.Stats(); err == nil {
			st.Misses += ps.RecursionMisses
		}
	}
	return st
}

// wallClock turns CLOCK_BOOTTIME instants into wall-clock times. The
// offset between the two clocks only changes when the wall clock is set,
// so it is measured again at most once a second, not per event.
type wallClock struct {
	offset   atomic.Int64 // realtime - boottime, ns
	measured atomic.Int64 // monotonic ns of the last measurement
	start    time.Time
}

func newWallClock() *wallClock {
	c := &wallClock{start: time.Now()}
	c.measure()
	return c
}

func (c *wallClock) measure() {
	var ts unix.Timespec
	if err := unix.ClockGettime(unix.CLOCK_BOOTTIME, &ts); err != nil {
		return
	}
	now := time.Now()
	c.offset.Store(now.UnixNano() - ts.Nano())
	c.measured.Store(int64(time.Since(c.start)))
}

func (c *wallClock) wall(bootNS uint64) time.Time {
	if time.Since(c.start)-time.Duration(c.measured.Load()) > time.Second {
		c.measure()
	}
	return time.Unix(0, int64(bootNS)+c.offset.Load())
}
