package eventbuf

import (
	"fmt"
	"sync"
	"testing"
	"time"
)

// clock is a settable test clock.
type clock struct{ t time.Time }

func (c *clock) now() time.Time { return c.t }

func newClock() *clock { return &clock{t: time.Unix(1_700_000_000, 0)} }

func eids[T any](es []Entry[T]) []uint64 {
	out := make([]uint64, len(es))
	for i, e := range es {
		out[i] = e.EID
	}
	return out
}

func equal(a, b []uint64) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

func span(from, to uint64) []uint64 {
	var out []uint64
	for i := from; i <= to; i++ {
		out = append(out, i)
	}
	return out
}

func addN(b *Buffer[int], c *clock, n int) {
	for i := range n {
		b.Add(c.now(), i)
	}
}

func TestEIDsIncreaseByOne(t *testing.T) {
	c := newClock()
	b := New[int](Config{MaxEvents: 3, Now: c.now}, nil)
	for want := uint64(1); want <= 10; want++ {
		if got := b.Add(c.now(), 0); got != want {
			t.Fatalf("Add #%d returned eid %d", want, got)
		}
	}
	if got := eids(b.Read(Reader{}).Entries); !equal(got, []uint64{8, 9, 10}) {
		t.Fatalf("after overflow the buffer holds %v, want the newest three", got)
	}
}

func TestScheduledQuerySeesEachEventOnce(t *testing.T) {
	c := newClock()
	b := New[int](Config{Now: c.now}, nil)
	addN(b, c, 5)
	// A query's first run sees the whole buffer, as osquery's (start = 0).
	if got := eids(b.Read(Reader{Query: "pack_a_q"}).Entries); !equal(got, span(1, 5)) {
		t.Fatalf("first run: %v", got)
	}
	if got := b.Read(Reader{Query: "pack_a_q"}).Entries; len(got) != 0 {
		t.Fatalf("second run with nothing new: %v", eids(got))
	}
	addN(b, c, 3)
	if got := eids(b.Read(Reader{Query: "pack_a_q"}).Entries); !equal(got, span(6, 8)) {
		t.Fatalf("third run: %v", got)
	}
	// Another scheduled query has its own position.
	if got := eids(b.Read(Reader{Query: "pack_b_q"}).Entries); !equal(got, span(1, 8)) {
		t.Fatalf("other query's first run: %v", got)
	}
	// An ad-hoc query sees everything and moves nobody.
	if got := eids(b.Read(Reader{}).Entries); !equal(got, span(1, 8)) {
		t.Fatalf("ad hoc: %v", got)
	}
	addN(b, c, 1)
	if got := eids(b.Read(Reader{Query: "pack_a_q"}).Entries); !equal(got, []uint64{9}) {
		t.Fatalf("after an ad-hoc read: %v", got)
	}
}

func TestSameExecutionSeesTheSameEvents(t *testing.T) {
	c := newClock()
	b := New[int](Config{Now: c.now}, nil)
	addN(b, c, 4)
	first := eids(b.Read(Reader{Query: "q", Execution: "1700000000"}).Entries)
	addN(b, c, 2) // arrive while the query runs
	// SQLite calls the table again in the same run (say, a join's inner
	// loop): it must see what the first call saw, not an empty table.
	again := eids(b.Read(Reader{Query: "q", Execution: "1700000000"}).Entries)
	if !equal(first, span(1, 4)) || !equal(again, first) {
		t.Fatalf("first call %v, second call of the same run %v", first, again)
	}
	next := eids(b.Read(Reader{Query: "q", Execution: "1700000060"}).Entries)
	if !equal(next, span(5, 6)) {
		t.Fatalf("next run: %v, want the two that arrived during the last one", next)
	}
}

func TestTimeConstraintSelectsAndMovesNothing(t *testing.T) {
	c := newClock()
	b := New[int](Config{Now: c.now}, nil)
	base := c.t.Unix()
	for i := range 5 {
		b.Add(time.Unix(base+int64(i), 0), i)
	}
	since, until := base+1, base+3
	if got := eids(b.Read(Reader{Query: "q", Since: &since, Until: &until}).Entries); !equal(got, span(2, 4)) {
		t.Fatalf("time range: %v", got)
	}
	if got := eids(b.Read(Reader{Query: "q", Since: &since}).Entries); !equal(got, span(2, 5)) {
		t.Fatalf("time >= only: %v", got)
	}
	if got := eids(b.Read(Reader{Query: "q"}).Entries); !equal(got, span(1, 5)) {
		t.Fatalf("the query's first unconstrained run must still see everything: %v", got)
	}
}

func TestOverflowDropsOldestAndCounts(t *testing.T) {
	c := newClock()
	b := New[int](Config{MaxEvents: 10, Now: c.now}, nil)
	addN(b, c, 4)
	b.Read(Reader{Query: "q"}) // saw 1..4
	addN(b, c, 20)             // 5..24; only 15..24 fit
	st := b.Stats()
	if st.Events != 10 || st.Dropped != 14 || st.LastEID != 24 {
		t.Fatalf("stats %+v, want 10 events, 14 dropped, last eid 24", st)
	}
	res := b.Read(Reader{Query: "q"})
	if !equal(eids(res.Entries), span(15, 24)) || res.Missed != 10 {
		t.Fatalf("read %v missed %d, want 15..24 and 10 missed (5..14)", eids(res.Entries), res.Missed)
	}
}

func TestByteBound(t *testing.T) {
	c := newClock()
	size := func(s string) int { return len(s) }
	b := New[string](Config{MaxBytes: 3 * (1000 + entryOverhead), Now: c.now}, size)
	big := string(make([]byte, 1000))
	for range 10 {
		b.Add(c.now(), big)
	}
	st := b.Stats()
	if st.Events != 3 || st.Dropped != 7 || st.Bytes > 3*(1000+entryOverhead) {
		t.Fatalf("stats %+v, want 3 events within the byte bound and 7 dropped", st)
	}
	// One event larger than the bound is kept alone rather than lost.
	huge := string(make([]byte, 10000))
	b.Add(c.now(), huge)
	if st := b.Stats(); st.Events != 1 {
		t.Fatalf("an oversized event: %+v", st)
	}
}

func TestExpiryByAge(t *testing.T) {
	c := newClock()
	b := New[int](Config{Now: c.now}, nil) // default expiry: osquery's 3600 s
	b.Add(c.now(), 1)
	c.t = c.t.Add(30 * time.Minute)
	b.Add(c.now(), 2)
	c.t = c.t.Add(31 * time.Minute) // the first is 61 minutes old
	res := b.Read(Reader{Query: "q"})
	if !equal(eids(res.Entries), []uint64{2}) || res.Missed != 1 {
		t.Fatalf("read %v missed %d, want only eid 2 and one missed", eids(res.Entries), res.Missed)
	}
	if st := b.Stats(); st.Expired != 1 || st.Dropped != 0 {
		t.Fatalf("stats %+v", st)
	}
	c.t = c.t.Add(time.Hour)
	if st := b.Stats(); st.Events != 0 || st.Expired != 2 {
		t.Fatalf("after another hour: %+v", st)
	}
}

func TestNegativeExpiryKeeps(t *testing.T) {
	c := newClock()
	b := New[int](Config{Expiry: -1, Now: c.now}, nil)
	b.Add(c.now(), 1)
	c.t = c.t.Add(1000 * time.Hour)
	if st := b.Stats(); st.Events != 1 {
		t.Fatalf("%+v", st)
	}
}

func TestQueryPositionsAreBounded(t *testing.T) {
	c := newClock()
	b := New[int](Config{MaxQueries: 2, Now: c.now}, nil)
	addN(b, c, 3)
	b.Read(Reader{Query: "a"})
	b.Read(Reader{Query: "b"})
	b.Read(Reader{Query: "a"}) // b is now the least recently read
	b.Read(Reader{Query: "c"})
	st := b.Stats()
	if st.Queries != 2 || st.QueriesForgotten != 1 {
		t.Fatalf("stats %+v", st)
	}
	if got := b.Read(Reader{Query: "a"}).Entries; len(got) != 0 {
		t.Fatalf("a was kept and must see nothing new: %v", eids(got))
	}
	if got := eids(b.Read(Reader{Query: "b"}).Entries); !equal(got, span(1, 3)) {
		t.Fatalf("b was forgotten and starts over: %v", got)
	}
}

// Writers and scheduled readers at once: every reader sees each eid at most
// once, in increasing order, and (with no overflow) all of them.
func TestConcurrentReadersSeeEachEventOnce(t *testing.T) {
	b := New[int](Config{}, nil)
	const writers, perWriter, readers = 4, 5000, 3
	var wg sync.WaitGroup
	for w := range writers {
		wg.Go(func() {
			for i := range perWriter {
				b.Add(time.Now(), w*perWriter+i)
			}
		})
	}
	seen := make([][]uint64, readers)
	done := make(chan struct{})
	var rg sync.WaitGroup
	for r := range readers {
		rg.Go(func() {
			name := fmt.Sprintf("q%d", r)
			for {
				select {
				case <-done:
					seen[r] = append(seen[r], eids(b.Read(Reader{Query: name}).Entries)...)
					return
				default:
					seen[r] = append(seen[r], eids(b.Read(Reader{Query: name}).Entries)...)
				}
			}
		})
	}
	wg.Wait()
	close(done)
	rg.Wait()
	for r, s := range seen {
		if !equal(s, span(1, writers*perWriter)) {
			t.Fatalf("reader %d saw %d events (first %v), want each of 1..%d once in order", r, len(s), s[:min(5, len(s))], writers*perWriter)
		}
	}
}
