// Package loadsource reports every module load on Linux as it happens,
// from eBPF tracepoint programs that resolve the loaded file in the kernel
// at the moment of the load: a process that is gone before anyone reads
// /proc is still described exactly. README.md says which hooks are used
// and why, what the kernel side resolves, and the bounds.
//
// On other systems, or where eBPF cannot run, a Source reports itself
// unavailable with the reason and delivers nothing; it never fails its
// caller otherwise.
package loadsource

import (
	"errors"
	"log/slog"
	"time"
)

// State is a source's condition.
type State string

// States a Source reports.
const (
	StateStopped     State = "stopped"
	StateRunning     State = "running"
	StateUnavailable State = "unavailable"
)

// Defaults for Config's zero fields.
const (
	// DefaultRingBytes is the kernel ring buffer's size. A typical event
	// takes 300 bytes of it, so it holds some 3,500 loads between two reads
	// of the consumer (70,000 a second at the default poll, and the reader
	// is woken early at a quarter full). The ring is mapped twice into this
	// process, so it costs twice its size in resident memory once a burst
	// has gone round it: 4 MiB cost 8 MB of an agent's budget for bursts no
	// storm test came near.
	DefaultRingBytes = 1 << 20
	// DefaultQueue is how many decoded events wait for the consumer.
	DefaultQueue = 4096
	// DefaultPoll is how often the ring is read when no burst woke the
	// reader: the most an event waits before it is delivered.
	DefaultPoll = 50 * time.Millisecond
)

// Config configures a Source.
type Config struct {
	Log *slog.Logger
	// RingBytes is the kernel ring buffer's size: a power of two, at least
	// one page. Zero means DefaultRingBytes.
	RingBytes int
	// Queue is the capacity of the Events channel. When it is full, new
	// events are dropped and counted (Stats.QueueDrops) rather than
	// holding up the kernel ring. Zero means DefaultQueue.
	Queue int
	// Poll is how often the ring is read. The kernel side wakes the reader
	// early only when a quarter of the ring is full: a wakeup per event
	// would cost every loading process a cross-CPU interrupt. Zero means
	// DefaultPoll.
	Poll time.Duration
	// SyscallHooks adds the hooks that need system call tracepoints,
	// mprotect and memfd_create. They are off unless asked for: while any
	// is attached, every system call of every process on the host takes
	// the kernel's slow path. Without them an mprotect that makes a file
	// mapping executable is not seen and no memfd_create events come;
	// loads of memfd code still are, through mmap and exec, flagged memfd.
	SyscallHooks bool

	// exeEveryLoad walks the executable's path for every load instead of
	// once per process image: benchmarks measure what that costs.
	exeEveryLoad bool
	// forceIoctl attaches through the perf ioctl even where BPF links
	// work: the path kernels before 5.15 take. Tests set it.
	forceIoctl bool
	// fallbackVMA loads vma_store_raw, the program for kernels without
	// BTF-typed loads, even where vma_store loads: tests and benchmarks
	// run it here.
	fallbackVMA bool
	// noVMA sees mmap through its system call tracepoints even where
	// maple_tree:ma_write works: the path older kernels take. Tests set it.
	noVMA bool
	// forcePrivateTracefs reads tracepoint ids from a tracefs mounted in a
	// private mount namespace even when one is mounted. Tests set it.
	forcePrivateTracefs bool
}

// Hook is one kernel hook the source uses.
type Hook struct {
	// Name is the tracepoint, "group:name".
	Name string
	// Required hooks must attach for the source to run. Of the others,
	// maple_tree:ma_write or else the mmap system call tracepoints must
	// attach (mmap); mprotect and memfd_create add kinds of load where the
	// kernel allows.
	Required bool
	Attached bool
	// Spare: not attached because a better hook does its work (the mmap
	// system call tracepoints while maple_tree:ma_write runs).
	Spare bool
	// Err says why it did not attach.
	Err string
}

// Stats is a snapshot of a source's condition and counters.
type Stats struct {
	State State
	// Reason says why the source is unavailable.
	Reason string
	Hooks  []Hook
	// Emitted counts events the kernel side wrote to the ring.
	Emitted uint64
	// RingDrops counts events the kernel side had no ring space for.
	RingDrops uint64
	// Misses counts runs the kernel skipped because another BPF program
	// was running on the same CPU (bpf_prog_info.recursion_misses): loads
	// it never saw. Kernels before 5.12 do not count them.
	Misses uint64
	// VMABusy counts mprotect calls not checked because the address space
	// lock was taken (bpf_find_vma only tries it).
	VMABusy uint64
	// Received counts records read from the ring; Decoded the ones that
	// became events; QueueDrops the events the Events channel had no room
	// for.
	Received, Decoded, QueueDrops uint64
}

// Drops is every event lost between the kernel and the consumer.
func (s Stats) Drops() uint64 { return s.RingDrops + s.QueueDrops + (s.Received - s.Decoded) }

// UnavailableError says why the source cannot run here.
type UnavailableError struct{ Reason string }

func (e *UnavailableError) Error() string { return "load events unavailable: " + e.Reason }

// ErrUnavailable matches every *UnavailableError with errors.Is.
var ErrUnavailable = errors.New("load events unavailable")

// Is makes errors.Is(err, ErrUnavailable) true.
func (e *UnavailableError) Is(target error) bool { return target == ErrUnavailable }

func unavailable(format string) *UnavailableError { return &UnavailableError{Reason: format} }

func (c *Config) defaults() {
	if c.Log == nil {
		c.Log = slog.New(slog.DiscardHandler)
	}
	if c.RingBytes <= 0 {
		c.RingBytes = DefaultRingBytes
	}
	if c.Queue <= 0 {
		c.Queue = DefaultQueue
	}
	if c.Poll <= 0 {
		c.Poll = DefaultPoll
	}
}
