// Package eventbuf is the buffer behind an evented table: events kept in
// memory, bounded in count and bytes, expired by age, each with a
// monotonically increasing event id (eid), and read the way osquery's own
// evented tables are read: a scheduled query sees each event once, an
// ad-hoc query sees the whole buffer. README.md says exactly how this
// follows, and where it departs from, osquery's EventSubscriber.
//
// It knows nothing of what an event is: the caller gives each value its
// time and its size in bytes.
package eventbuf

import (
	"sync"
	"time"
)

// Defaults, chosen to match osquery's flags where osquery has one.
const (
	// DefaultExpiry is osquery's --events_expiry default.
	DefaultExpiry = 3600 * time.Second
	// DefaultMaxEvents is osquery's --events_max default (osquery counts
	// one-second batches; this buffer counts events).
	DefaultMaxEvents = 50000
	// DefaultMaxBytes bounds the memory the values may hold.
	DefaultMaxBytes = 64 << 20
	// DefaultMaxQueries bounds the scheduled queries remembered.
	DefaultMaxQueries = 1024
	// entryOverhead is what one entry costs beyond its value's own size:
	// the eid, the time, the slot and the value's header.
	entryOverhead = 64
)

// Config bounds a Buffer. Zero fields take the defaults.
type Config struct {
	// MaxEvents and MaxBytes bound the buffer; adding past either drops
	// the oldest events, which Stats counts as Dropped.
	MaxEvents int
	MaxBytes  int64
	// Expiry is how long an event is kept; a negative value keeps events
	// until they overflow.
	Expiry time.Duration
	// MaxQueries bounds the scheduled queries whose position is kept; past
	// it the one read least recently is forgotten (its next read sees the
	// whole buffer again, as a new query would).
	MaxQueries int
	// Now is the clock; nil means time.Now. Tests set it.
	Now func() time.Time
}

// Entry is one buffered event.
type Entry[T any] struct {
	EID   uint64
	Time  time.Time
	Value T
	size  int64
}

// Reader says who reads and which events it wants.
type Reader struct {
	// Query is the scheduled query's name; "" is an ad-hoc query, which
	// sees every buffered event and moves no position.
	Query string
	// Execution tells one run of Query from the next. Reads with the same
	// non-empty Execution get the same events: SQLite may call a table
	// several times in one query (a join's inner loop), and each call must
	// see what the first one saw. "" makes every read a new run.
	Execution string
	// Since and Until, when set, select events by time (inclusive, Unix
	// seconds, as osquery's time constraint) and move no position: with a
	// time constraint osquery returns the range and skips its optimization.
	Since, Until *int64
}

// Result is one read.
type Result[T any] struct {
	Entries []Entry[T]
	// Missed counts the events this scheduled query never saw because they
	// were dropped or expired before it read them.
	Missed uint64
}

// Stats describes the buffer.
type Stats struct {
	Events  int
	Bytes   int64
	LastEID uint64
	// Dropped counts events pushed out by the count or byte bound.
	Dropped uint64
	// Expired counts events removed by age.
	Expired uint64
	// Queries is how many scheduled queries have a position.
	Queries int
	// QueriesForgotten counts positions dropped by MaxQueries.
	QueriesForgotten uint64
}

type position struct {
	from, to  uint64 // the last run saw eids in (from, to]
	execution string
	used      uint64 // read sequence number, for least-recently-read eviction
}

// Buffer is safe for concurrent use.
type Buffer[T any] struct {
	cfg  Config
	size func(T) int

	mu      sync.Mutex
	ring    []Entry[T] // circular; ring[head] is the oldest
	head    int
	n       int
	bytes   int64
	lastEID uint64
	queries map[string]*position
	reads   uint64
	st      Stats
}

// New returns an empty buffer. size gives a value's size in bytes (nil:
// count entries only).
func New[T any](cfg Config, size func(T) int) *Buffer[T] {
	if cfg.MaxEvents <= 0 {
		cfg.MaxEvents = DefaultMaxEvents
	}
	if cfg.MaxBytes <= 0 {
		cfg.MaxBytes = DefaultMaxBytes
	}
	if cfg.Expiry == 0 {
		cfg.Expiry = DefaultExpiry
	}
	if cfg.MaxQueries <= 0 {
		cfg.MaxQueries = DefaultMaxQueries
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if size == nil {
		size = func(T) int { return 0 }
	}
	return &Buffer[T]{cfg: cfg, size: size, queries: make(map[string]*position)}
}

// Add buffers v, which happened at t, and returns its eid. The eid is one
// more than the last one given, whether or not older events were dropped.
func (b *Buffer[T]) Add(t time.Time, v T) uint64 {
	sz := int64(b.size(v)) + entryOverhead
	b.mu.Lock()
	defer b.mu.Unlock()
	b.expire()
	// An event larger than the whole byte bound is still kept, alone: the
	// bound is on memory held, and one event is held while it is added.
	for b.n > 0 && (b.n >= b.cfg.MaxEvents || b.bytes+sz > b.cfg.MaxBytes) {
		b.popOldest()
		b.st.Dropped++
	}
	b.lastEID++
	if b.n == len(b.ring) {
		b.grow()
	}
	b.ring[(b.head+b.n)%len(b.ring)] = Entry[T]{EID: b.lastEID, Time: t, Value: v, size: sz}
	b.n++
	b.bytes += sz
	return b.lastEID
}

// grow doubles the ring (up to MaxEvents), so an idle buffer costs little.
func (b *Buffer[T]) grow() {
	size := max(16, 2*len(b.ring))
	size = min(size, b.cfg.MaxEvents)
	ring := make([]Entry[T], size)
	for i := range b.n {
		ring[i] = b.ring[(b.head+i)%len(b.ring)]
	}
	b.ring, b.head = ring, 0
}

func (b *Buffer[T]) popOldest() {
	e := &b.ring[b.head]
	b.bytes -= e.size
	*e = Entry[T]{} // let the value be collected
	b.head = (b.head + 1) % len(b.ring)
	b.n--
}

// expire removes events older than Expiry. Events arrive in nearly time
// order (the kernel's ring orders them by reservation, not by timestamp),
// so it stops at the first one young enough: an older one queued behind it
// waits for the next pass.
func (b *Buffer[T]) expire() {
	if b.cfg.Expiry < 0 {
		return
	}
	oldest := b.cfg.Now().Add(-b.cfg.Expiry)
	for b.n > 0 && b.ring[b.head].Time.Before(oldest) {
		b.popOldest()
		b.st.Expired++
	}
}

// firstEID is the eid of the oldest buffered event (lastEID+1 when empty).
func (b *Buffer[T]) firstEID() uint64 {
	if b.n == 0 {
		return b.lastEID + 1
	}
	return b.ring[b.head].EID
}

// Read returns the events r may see, oldest first.
func (b *Buffer[T]) Read(r Reader) Result[T] {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.expire()
	if r.Since != nil || r.Until != nil {
		return Result[T]{Entries: b.collect(0, b.lastEID, r.Since, r.Until)}
	}
	if r.Query == "" {
		return Result[T]{Entries: b.collect(0, b.lastEID, nil, nil)}
	}
	b.reads++
	p := b.queries[r.Query]
	if p == nil {
		b.forgetIfFull()
		p = &position{}
		b.queries[r.Query] = p
	} else if r.Execution == "" || r.Execution != p.execution {
		p.from = p.to
	}
	if p.execution == "" || r.Execution == "" || r.Execution != p.execution {
		p.to = b.lastEID
		p.execution = r.Execution
	}
	p.used = b.reads
	res := Result[T]{Entries: b.collect(p.from, p.to, nil, nil)}
	if first := b.firstEID(); first > p.from+1 {
		res.Missed = min(first, p.to+1) - (p.from + 1)
	}
	return res
}

// collect copies the events with from < eid <= to, inside the time bounds.
func (b *Buffer[T]) collect(from, to uint64, since, until *int64) []Entry[T] {
	first := b.firstEID()
	start := max(from+1, first)
	if start > to {
		return nil
	}
	out := make([]Entry[T], 0, to-start+1)
	for eid := start; eid <= to; eid++ {
		e := b.ring[(b.head+int(eid-first))%len(b.ring)]
		sec := e.Time.Unix()
		if (since != nil && sec < *since) || (until != nil && sec > *until) {
			continue
		}
		e.size = 0
		out = append(out, e)
	}
	return out
}

// forgetIfFull drops the position read least recently when MaxQueries are kept.
func (b *Buffer[T]) forgetIfFull() {
	if len(b.queries) < b.cfg.MaxQueries {
		return
	}
	var oldest string
	var used uint64
	for name, p := range b.queries {
		if oldest == "" || p.used < used {
			oldest, used = name, p.used
		}
	}
	delete(b.queries, oldest)
	b.st.QueriesForgotten++
}

// Bytes is what the buffered entries hold now (Stats().Bytes without
// expiring anything or copying the counters: cheap enough per event).
func (b *Buffer[T]) Bytes() int64 {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.bytes
}

// Stats returns the buffer's counters.
func (b *Buffer[T]) Stats() Stats {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.expire()
	st := b.st
	st.Events, st.Bytes, st.LastEID, st.Queries = b.n, b.bytes, b.lastEID, len(b.queries)
	return st
}
