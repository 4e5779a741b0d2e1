package loadsource

import (
	"context"
	"errors"
	"fmt"
	"os"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/cilium/ebpf"
	"github.com/cilium/ebpf/ringbuf"
	"golang.org/x/sys/unix"
)

// hookSpec ties a tracepoint to its program. Programs load in groups that
// stand or fall together (an enter program is useless without its exit).
type hookSpec struct {
	tracepoint, program, group string
}

// The core group must load and attach for the source to run: mmap is how
// the dynamic loader maps every library, exec is every main image. The
// others add kinds of load where the kernel allows them (mprotect needs
// bpf_find_vma, 5.17+).
const coreGroup = "core"

// Exit before enter: an enter without its exit would leave a pending
// record behind (the LRU map ages it out, but there is no need).
var hookSpecs = []hookSpec{
	{"syscalls:sys_exit_mmap", "exit_mmap", coreGroup},
	{"syscalls:sys_enter_mmap", "enter_mmap", coreGroup},
	{"sched:sched_process_exec", "sched_exec", coreGroup},
	{"syscalls:sys_exit_mprotect", "exit_mprotect", "mprotect"},
	{"syscalls:sys_enter_mprotect", "enter_mprotect", "mprotect"},
	{"syscalls:sys_exit_memfd_create", "exit_memfd_create", "memfd_create"},
	{"syscalls:sys_enter_memfd_create", "enter_memfd_create", "memfd_create"},
}

var groups = []string{coreGroup, "mprotect", "memfd_create"}

// Indexes of the counters map (enum counter in the BPF program).
const (
	cntRingFull = 0
	cntEmitted  = 1
	cntVMABusy  = 2
)

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
	counters *ebpf.Map
	atts     []*attachment
	rd       *ringbuf.Reader
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
		hooks[i] = Hook{Name: h.tracepoint, Required: h.group == coreGroup}
	}
	return &Source{
		cfg:        cfg,
		events:     make(chan Event, cfg.Queue),
		state:      StateStopped,
		hooks:      hooks,
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
	if err := probe(); err != nil {
		return err
	}
	if s.cfg.RingBytes < os.Getpagesize() || s.cfg.RingBytes&(s.cfg.RingBytes-1) != 0 {
		return unavailable(fmt.Sprintf("ring buffer size %d is not a power of two of at least one page", s.cfg.RingBytes))
	}
	names := make([]string, len(hookSpecs))
	for i, h := range hookSpecs {
		names[i] = h.tracepoint
	}
	ids, err := tracepointIDs(names, s.cfg.forcePrivateTracefs)
	if err != nil {
		return unavailable(fmt.Sprintf("reading tracepoint ids: %v", err))
	}
	spec, err := loadLoadsource()
	if err != nil {
		return unavailable(fmt.Sprintf("the embedded BPF object: %v", err))
	}
	spec.Maps["events"].MaxEntries = uint32(s.cfg.RingBytes)
	if err := spec.Variables["wakeup_bytes"].Set(uint64(s.cfg.RingBytes / 4)); err != nil {
		return unavailable(fmt.Sprintf("the embedded BPF object: %v", err))
	}
	if s.cfg.exeEveryLoad {
		if err := spec.Variables["exe_once"].Set(uint8(0)); err != nil {
			return unavailable(fmt.Sprintf("the embedded BPF object: %v", err))
		}
	}

	var maps map[string]*ebpf.Map
	for _, g := range groups {
		coll, err := s.loadGroup(spec, g, ids, maps)
		if err != nil {
			if g == coreGroup {
				return err
			}
			continue
		}
		if maps == nil {
			maps = coll.Maps
			s.counters = coll.Maps["counters"]
		}
	}
	rd, rerr := ringbuf.NewReader(maps["events"])
	if rerr != nil {
		return unavailable(fmt.Sprintf("opening the ring buffer: %v", rerr))
	}
	s.rd = rd
	s.ids = ids
	return s.attach(ids)
}

// loadGroup loads one group's programs, sharing maps when given. A hook
// whose tracepoint this kernel lacks, or whose program it rejects, is
// marked with the reason.
func (s *Source) loadGroup(spec *ebpf.CollectionSpec, group string, ids map[string]uint64, maps map[string]*ebpf.Map) (*ebpf.Collection, *UnavailableError) {
	var progs []string
	for i, h := range hookSpecs {
		if h.group != group {
			continue
		}
		if _, ok := ids[h.tracepoint]; !ok {
			reason := fmt.Sprintf("tracepoint %s is not in this kernel (CONFIG_FTRACE_SYSCALLS)", h.tracepoint)
			s.markGroup(group, reason)
			return nil, unavailable(reason)
		}
		progs = append(progs, hookSpecs[i].program)
	}
	gs := spec.Copy()
	for name := range gs.Programs {
		if !slices.Contains(progs, name) {
			delete(gs.Programs, name)
		}
	}
	coll, err := ebpf.NewCollectionWithOptions(gs, ebpf.CollectionOptions{MapReplacements: maps})
	if err != nil {
		reason := loadError("the "+group+" programs", err)
		s.markGroup(group, reason)
		return nil, unavailable(reason)
	}
	s.colls = append(s.colls, coll)
	for _, p := range progs {
		s.progs = append(s.progs, coll.Programs[p])
	}
	return coll, nil
}

func (s *Source) markGroup(group, reason string) {
	for i, h := range hookSpecs {
		if h.group == group {
			s.hooks[i].Err = reason
		}
	}
}

func (s *Source) program(name string) *ebpf.Program {
	for _, c := range s.colls {
		if p := c.Programs[name]; p != nil {
			return p
		}
	}
	return nil
}

func (s *Source) attach(ids map[string]uint64) *UnavailableError {
	for i := range s.hooks {
		s.hooks[i].Attached = false
	}
	for i, h := range hookSpecs {
		prog := s.program(h.program)
		if prog == nil {
			continue // its group did not load; the hook says why
		}
		a, err := attachTracepoint(ids[h.tracepoint], prog, s.cfg.forceIoctl)
		if err != nil {
			reason := fmt.Sprintf("attaching to %s: %v", h.tracepoint, err)
			s.hooks[i].Err = reason
			if h.group == coreGroup {
				return unavailable(reason)
			}
			continue
		}
		s.atts = append(s.atts, a)
		s.hooks[i].Attached = true
	}
	return nil
}

// read moves records from the ring to the Events channel. A full channel
// drops the event (counted) instead of stalling: the kernel ring keeps
// filling while the consumer is slow, and losing the newest with a count
// beats losing the ring's contents without one.
func (s *Source) read(clock *wallClock) {
	defer close(s.readerDone)
	defer close(s.events)
	var rec ringbuf.Record
	exes := newExeCache(exeCacheSize, "/proc")
	s.rd.SetDeadline(time.Now().Add(s.cfg.Poll))
	for {
		if err := s.rd.ReadInto(&rec); err != nil {
			if errors.Is(err, os.ErrDeadlineExceeded) {
				// The ring is drained; sleep until the next poll or a wakeup.
				s.rd.SetDeadline(time.Now().Add(s.cfg.Poll))
				continue
			}
			if errors.Is(err, os.ErrClosed) {
				return
			}
			s.cfg.Log.Warn("reading the load event ring", "err", err)
			continue
		}
		s.received.Add(1)
		ev, err := decode(rec.RawSample, clock.wall)
		if err != nil {
			s.cfg.Log.Warn("undecodable load event", "err", err)
			continue
		}
		s.decoded.Add(1)
		exes.fill(&ev)
		select {
		case s.events <- ev:
		default:
			s.queueDrops.Add(1)
		}
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
			if s.rd != nil {
				err = errors.Join(err, s.rd.Close())
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
	if err := s.attach(s.ids); err != nil {
		return err
	}
	return nil
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
	if s.rd != nil {
		if cerr := s.rd.Close(); cerr != nil && !errors.Is(cerr, os.ErrClosed) {
			err = errors.Join(err, cerr)
		}
		s.rd = nil
	}
	for _, c := range s.colls {
		c.Close()
	}
	s.colls, s.progs, s.counters = nil, nil, nil
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
	if s.counters != nil {
		st.RingDrops = sumCounter(s.counters, cntRingFull)
		st.Emitted = sumCounter(s.counters, cntEmitted)
		st.VMABusy = sumCounter(s.counters, cntVMABusy)
	}
	for _, p := range s.progs {
		if ps, err := p.Stats(); err == nil {
			st.Misses += ps.RecursionMisses
		}
	}
	return st
}

func sumCounter(m *ebpf.Map, idx uint32) uint64 {
	var perCPU []uint64
	if err := m.Lookup(idx, &perCPU); err != nil {
		return 0
	}
	var n uint64
	for _, v := range perCPU {
		n += v
	}
	return n
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
