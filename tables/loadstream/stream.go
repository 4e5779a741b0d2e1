// Package loadstream is a host's stream of module load events: the eBPF
// source (internal/loadsource) read into one bounded, expiring buffer
// (internal/eventbuf), each load given its process context, the trust
// reasons of the host's judge and the Sigma rules it matches at the moment
// it arrives. module_load_events and its status table read the buffer,
// module_detections reads the matches, `modhunt.ext watch` subscribes.
//
// Everything a row shows is decided when the event arrives, never by
// reading the process at query time: by then it may be gone.
package loadstream

import (
	"context"
	"errors"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"
	"unsafe"

	"github.com/modhunt/modhunt/detections"
	"github.com/modhunt/modhunt/internal/eventbuf"
	"github.com/modhunt/modhunt/internal/loadsource"
	"github.com/modhunt/modhunt/tables/verdict"
)

// Defaults, as osquery's flags of the same meaning.
const (
	// DefaultExpiry is osquery's --events_expiry.
	DefaultExpiry = eventbuf.DefaultExpiry
	// DefaultMaxEvents is osquery's --events_max.
	DefaultMaxEvents = eventbuf.DefaultMaxEvents
	// DefaultMaxBytes bounds the buffer's memory.
	DefaultMaxBytes = 32 << 20
	// contextEntries bounds the per-process context kept from exec events.
	contextEntries = 8192
	// subscriberQueue is how many loads a slow subscriber may fall behind
	// before its loads are dropped (counted).
	subscriberQueue = 1024
)

// Source is what the stream reads; *loadsource.Source is one, tests give
// others.
type Source interface {
	Start(ctx context.Context) error
	Events() <-chan loadsource.Event
	Stats() loadsource.Stats
	Close() error
}

// Config configures a Stream. Zero fields take the defaults.
type Config struct {
	Log *slog.Logger
	// Expiry is how long an event is kept (negative: until it overflows);
	// OnBufferBytes, when set, is told the bytes the buffer holds each time
	// they have moved by bufferBytesStep since it was last told (and once
	// at the first event).
	OnBufferBytes func(int64)
	// MaxEvents and MaxBytes bound the buffer. Past either bound the oldest
	// are dropped and counted.
	Expiry    time.Duration
	MaxEvents int
	MaxBytes  int64
	// Disabled keeps the source off: the tables answer no rows and say so.
	Disabled bool
	// SyscallHooks is loadsource.Config's: the hooks that need a system
	// call tracepoint (mprotect, memfd_create), off unless asked for.
	SyscallHooks bool
	// Judge gives each load its trust reasons (nil: none).
	Judge verdict.LoadJudge
	// Rules are matched against each load (nil: none).
	Rules *detections.Engine
	// Source replaces the eBPF source (tests).
	Source Source
	// ProcFS is where procfs is mounted (default /proc), read only for the
	// command line of a process that was running before the source started.
	ProcFS string
	// Now is the clock of the buffer's expiry (tests).
	Now func() time.Time
}

// Load is one module load as the table serves it. It is never changed
// after it is buffered: readers share it.
type Load struct {
	loadsource.Event
	// Cmdline is the process's command line at the load: from its exec
	// event when the source saw it, else read from procfs at the event
	// (processes older than the source), else "".
	Cmdline string
	// ParentPath is the parent's executable when the source saw its exec.
	ParentPath string
	// User is the uid's name (the uid when none resolves).
	User string
	// Judged: a load the trust judgement applies to (mmap/mprotect of a
	// file, or the exec of a memfd), as untrusted_module_loads judges.
	Judged bool
	// Reasons are the trust reasons (sorted words); Severity from them.
	Reasons  []string
	Severity string
	Package  string
	// Matches are the Sigma rules the load matched when it arrived.
	Matches []*detections.Rule
	// EID is the buffer's event id (0 until buffered).
	EID uint64
}

// heapSize is what a buffered load holds: its struct, the event's own
// strings and slices, and its own. The command line and parent path are
// counted although a process's loads share them: a bound that counts them
// once would let one process's loads hold more than it says.
// TestBufferBoundIsTheHeap compares it with the heap it takes.
func (l *Load) heapSize() int {
	n := int(unsafe.Sizeof(*l)) + l.Size() + len(l.Cmdline) + len(l.ParentPath) + len(l.User) + len(l.Package)
	if len(l.Reasons) > 0 {
		n += 16*len(l.Reasons) + 16 // the slice; the words are the trust package's constants
	}
	if len(l.Matches) > 0 {
		n += (8*len(l.Matches) + 15) &^ 15
	}
	return n
}

// Status is the stream's condition, for the status table.
type Status struct {
	Source loadsource.Stats
	Buffer eventbuf.Stats
	// Started: Start was called (the tables start it on first use).
	Started bool
	// Expiry is the configured expiry.
	Expiry time.Duration
	// SubscriberDrops counts loads a slow subscriber (watch) missed.
	SubscriberDrops uint64
	// Matches counts Sigma matches since start.
	Matches uint64
}

// Stream is safe for concurrent use.
type Stream struct {
	cfg Config
	log *slog.Logger
	buf *eventbuf.Buffer[*Load]
	src Source

	startOnce sync.Once
	startErr  error
	started   atomic.Bool
	done      chan struct{}

	procs *procCache

	subMu   sync.Mutex
	subs    map[*subscriber]struct{}
	subDrop atomic.Uint64
	matches atomic.Uint64
}

type subscriber struct{ ch chan *Load }

// New returns a stream that starts with Start.
func New(cfg Config) *Stream {
	if cfg.Log == nil {
		cfg.Log = slog.New(slog.DiscardHandler)
	}
	if cfg.Expiry == 0 {
		cfg.Expiry = DefaultExpiry
	}
	if cfg.MaxBytes <= 0 {
		cfg.MaxBytes = DefaultMaxBytes
	}
	if cfg.ProcFS == "" {
		cfg.ProcFS = "/proc"
	}
	src := cfg.Source
	if src == nil && !cfg.Disabled {
		src = loadsource.New(loadsource.Config{Log: cfg.Log, SyscallHooks: cfg.SyscallHooks})
	}
	return &Stream{
		cfg: cfg,
		log: cfg.Log,
		buf: eventbuf.New(eventbuf.Config{
			MaxEvents: cfg.MaxEvents, MaxBytes: cfg.MaxBytes, Expiry: cfg.Expiry, Now: cfg.Now,
		}, (*Load).heapSize),
		src:   src,
		done:  make(chan struct{}),
		procs: newProcCache(contextEntries, cfg.ProcFS),
		subs:  map[*subscriber]struct{}{},
	}
}

// bufferBytesStep is how far the buffer's bytes move before OnBufferBytes
// hears of it again.
const bufferBytesStep = 1 << 20

// ErrDisabled is Start's error when the stream was configured off.
var ErrDisabled = errors.New("load events disabled (--disable_events)")

// Start starts the source and the pump once; later calls return the first
// call's result. The source runs until ctx ends. An unavailable source is
// not a failure of the host: the tables show no rows and the reason.
func (s *Stream) Start(ctx context.Context) error {
	s.startOnce.Do(func() {
		s.started.Store(true)
		if s.src == nil {
			s.startErr = ErrDisabled
			close(s.done)
			return
		}
		// The source first: its start decodes the kernel's types (a brief
		// peak of memory it hands back), and that peak should not stack on
		// the package index. Events wait in the source's queue meanwhile.
		if err := s.src.Start(ctx); err != nil {
			s.startErr = err
			close(s.done)
			return
		}
		if w, ok := s.cfg.Judge.(interface{ WarmLoads() }); ok {
			// The judge's package index before the pump (half a second of
			// CPU): a pump busy building it would judge the first events
			// without it.
			w.WarmLoads()
		}
		go s.pump()
	})
	return s.startErr
}

// Done is closed when the pump has stopped (the source ended) or never ran.
func (s *Stream) Done() <-chan struct{} { return s.done }

func (s *Stream) pump() {
	defer close(s.done)
	defer s.closeSubscribers()
	told := int64(-bufferBytesStep)
	for ev := range s.src.Events() {
		l := s.enrich(ev)
		l.EID = s.buf.Add(ev.Time, l)
		if s.cfg.OnBufferBytes != nil {
			if n := s.buf.Bytes(); n-told >= bufferBytesStep || told-n >= bufferBytesStep {
				told = n
				s.cfg.OnBufferBytes(n)
			}
		}
		s.matches.Add(uint64(len(l.Matches)))
		s.publish(l)
	}
}

// Read returns the buffered loads r may see (eventbuf's semantics).
func (s *Stream) Read(r eventbuf.Reader) eventbuf.Result[*Load] { return s.buf.Read(r) }

// Status reports the source's state and every counter.
func (s *Stream) Status() Status {
	st := Status{
		Buffer:          s.buf.Stats(),
		Started:         s.started.Load(),
		Expiry:          s.cfg.Expiry,
		SubscriberDrops: s.subDrop.Load(),
		Matches:         s.matches.Load(),
	}
	if s.src == nil {
		st.Source = loadsource.Stats{State: loadsource.StateUnavailable, Reason: ErrDisabled.Error()}
	} else {
		st.Source = s.src.Stats()
	}
	return st
}

// Subscribe delivers every load buffered from now on, until cancel or the
// stream stops (the channel is then closed). A subscriber that falls
// subscriberQueue loads behind misses loads; Status counts them.
func (s *Stream) Subscribe() (<-chan *Load, func()) {
	sub := &subscriber{ch: make(chan *Load, subscriberQueue)}
	s.subMu.Lock()
	select {
	case <-s.done:
		close(sub.ch)
		s.subMu.Unlock()
		return sub.ch, func() {}
	default:
	}
	s.subs[sub] = struct{}{}
	s.subMu.Unlock()
	var once sync.Once
	return sub.ch, func() {
		once.Do(func() {
			s.subMu.Lock()
			if _, ok := s.subs[sub]; ok {
				delete(s.subs, sub)
				close(sub.ch)
			}
			s.subMu.Unlock()
		})
	}
}

func (s *Stream) publish(l *Load) {
	s.subMu.Lock()
	defer s.subMu.Unlock()
	for sub := range s.subs {
		select {
		case sub.ch <- l:
		default:
			s.subDrop.Add(1)
		}
	}
}

func (s *Stream) closeSubscribers() {
	s.subMu.Lock()
	defer s.subMu.Unlock()
	for sub := range s.subs {
		close(sub.ch)
		delete(s.subs, sub)
	}
}

// Close stops the source.
func (s *Stream) Close() error {
	if s.src == nil {
		return nil
	}
	return s.src.Close()
}
