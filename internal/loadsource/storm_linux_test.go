package loadsource

import (
	"bytes"
	"context"
	"errors"
	"os"
	"os/exec"
	"runtime"
	"sync"
	"testing"
	"time"

	"github.com/modhunt/modhunt/internal/eventbuf"
	"github.com/modhunt/modhunt/internal/loadsource/loadtest"
)

// A storm of 10,000 loads a second for 10 seconds, into a consumer that
// stalls for its first two seconds (a long query, a GC pause): the events
// that find no room are dropped and counted, every event is accounted for,
// the buffer and the heap stay bounded, and no event is reported twice.
func TestStormDropsCountedBoundedNoDuplicates(t *testing.T) {
	if testing.Short() {
		t.Skip("-short: the storm takes 10 seconds")
	}
	const rate, seconds, total = 10000, 10, 100000
	s := startRaw(t, Config{Queue: 1024})
	lib := copyLib(t, t.TempDir(), "libmh_storm.so")

	buf := eventbuf.New[*Event](eventbuf.Config{MaxEvents: 20000, MaxBytes: 8 << 20}, (*Event).Size)
	// The kernel names every event by its CPU and its number there.
	type key struct {
		cpu uint32
		seq uint64
	}
	var (
		mu        sync.Mutex
		stormPID  int
		seen      = make(map[key]bool)
		stormN    int
		dupes     int
		lastEID   uint64
		eidErrors int
		delivered int
	)
	ready := make(chan int)
	consumed := make(chan struct{})
	go func() {
		defer close(consumed)
		pid := <-ready
		time.Sleep(2 * time.Second) // the stall
		for ev := range s.Events() {
			eid := buf.Add(ev.Time, &ev)
			mu.Lock()
			delivered++
			if eid != lastEID+1 {
				eidErrors++
			}
			lastEID = eid
			if int(ev.PID) == pid && ev.Kind == KindMmap && string(ev.Path) == lib {
				stormN++
				k := key{ev.CPU, ev.Seq}
				if seen[k] {
					dupes++
				}
				seen[k] = true
			}
			mu.Unlock()
		}
	}()

	// A scheduled query reading the buffer twice a second, and the heap.
	var readEIDs []uint64
	var missed uint64
	var peakHeap uint64
	var peakEvents int
	var peakBytes int64
	stop := make(chan struct{})
	var pollers sync.WaitGroup
	pollers.Go(func() {
		tick := time.NewTicker(500 * time.Millisecond)
		defer tick.Stop()
		var ms runtime.MemStats
		for {
			res := buf.Read(eventbuf.Reader{Query: "pack_modhunt_storm"})
			for _, e := range res.Entries {
				readEIDs = append(readEIDs, e.EID)
			}
			missed += res.Missed
			st := buf.Stats()
			peakEvents, peakBytes = max(peakEvents, st.Events), max(peakBytes, st.Bytes)
			runtime.ReadMemStats(&ms)
			peakHeap = max(peakHeap, ms.HeapInuse)
			select {
			case <-stop:
				return
			case <-tick.C:
			}
		}
	})

	cmd := exec.Command(mhload, "storm", lib, "10000", "10")
	var out bytes.Buffer
	cmd.Stdout = &out
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	mu.Lock()
	stormPID = cmd.Process.Pid
	mu.Unlock()
	ready <- stormPID
	if err := cmd.Wait(); err != nil {
		t.Fatalf("storm: %v", err)
	}
	t.Logf("storm: %s", bytes.TrimSpace(out.Bytes()))
	settleRaw(t, s)
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	<-consumed
	close(stop)
	pollers.Wait()
	final := buf.Read(eventbuf.Reader{Query: "pack_modhunt_storm"})
	for _, e := range final.Entries {
		readEIDs = append(readEIDs, e.EID)
	}
	missed += final.Missed

	st := s.Stats()
	bst := buf.Stats()
	t.Logf("source: emitted %d ring drops %d misses %d received %d decoded %d queue drops %d", st.Emitted, st.RingDrops, st.Misses, st.Received, st.Decoded, st.QueueDrops)
	t.Logf("storm events delivered %d of %d; buffer: %d events %d bytes (peak %d, %d), dropped %d; scheduled query read %d, missed %d; peak heap in use %d MiB",
		stormN, total, bst.Events, bst.Bytes, peakEvents, peakBytes, bst.Dropped, len(readEIDs), missed, peakHeap>>20)

	// Every event is accounted for: written or counted as a ring drop;
	// read; decoded; delivered or counted as a queue drop.
	if st.Received != st.Emitted || st.Decoded != st.Received || uint64(delivered)+st.QueueDrops != st.Decoded {
		t.Errorf("accounting: emitted %d received %d decoded %d delivered %d queue drops %d", st.Emitted, st.Received, st.Decoded, delivered, st.QueueDrops)
	}
	// The storm's own loads: none invented, none lost without a count.
	if stormN > total || uint64(stormN)+st.Drops()+st.Misses < total {
		t.Errorf("the storm made %d loads: %d delivered, %d dropped, %d missed", total, stormN, st.Drops(), st.Misses)
	}
	if st.Drops() == 0 {
		t.Errorf("a consumer stalled for two seconds of a 10,000/s storm dropped nothing: the drop counters do not count")
	}
	if dupes != 0 || eidErrors != 0 {
		t.Errorf("%d events reported twice, %d eids out of sequence", dupes, eidErrors)
	}
	// The scheduled query saw each buffered event once, in eid order, and
	// what it did not see was dropped by the buffer's bound.
	for i := 1; i < len(readEIDs); i++ {
		if readEIDs[i] <= readEIDs[i-1] {
			t.Fatalf("the scheduled query saw eid %d after %d", readEIDs[i], readEIDs[i-1])
		}
	}
	if uint64(len(readEIDs))+missed != lastEID {
		t.Errorf("the scheduled query read %d and missed %d of %d events", len(readEIDs), missed, lastEID)
	}
	if peakEvents > 20000 || peakBytes > 8<<20 {
		t.Errorf("the buffer grew past its bounds: %d events, %d bytes", peakEvents, peakBytes)
	}
	if peakHeap > 128<<20 {
		t.Errorf("heap in use peaked at %d MiB", peakHeap>>20)
	}
}

// A ring of one page under an unpaced burst: the kernel side finds the ring
// full and counts, and the counts add up with what arrived.
func TestRingFullCounted(t *testing.T) {
	// A queue that holds the whole burst: with nothing dropped after the
	// ring, the event numbers account for every ring drop (below).
	s := startRaw(t, Config{RingBytes: os.Getpagesize(), Queue: 1 << 17})
	lib := copyLib(t, t.TempDir(), "libmh_burst.so")
	out, err := exec.Command(mhload, "storm", lib, "10000000", "0.005").Output()
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("burst: %s", bytes.TrimSpace(out))
	// Closing reads what the ring still holds and freezes the counters:
	// the host's other processes load too, and could not then make the
	// kernel's count run ahead of the reader's between two reads of them.
	settleRaw(t, s)
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	var n uint64
	seqs := map[uint32]map[uint64]bool{} // by CPU
	for ev := range s.Events() {
		if seqs[ev.CPU] == nil {
			seqs[ev.CPU] = map[uint64]bool{}
		}
		if seqs[ev.CPU][ev.Seq] {
			t.Errorf("CPU %d event %d delivered twice", ev.CPU, ev.Seq)
		}
		seqs[ev.CPU][ev.Seq] = true
		n++
	}
	st := s.Stats()
	t.Logf("emitted %d ring drops %d received %d", st.Emitted, st.RingDrops, st.Received)
	if st.RingDrops == 0 {
		t.Errorf("50,000 loads into a one-page ring and no ring drop counted")
	}
	if st.Received != st.Emitted || n+st.QueueDrops != st.Decoded {
		t.Errorf("accounting: emitted %d received %d decoded %d delivered %d queue drops %d", st.Emitted, st.Received, st.Decoded, n, st.QueueDrops)
	}
	// Each CPU numbers its events from 0, dropped ones too: with nothing
	// dropped after the ring, the gaps below each CPU's last number are
	// ring drops, and every number up to it was made.
	if st.QueueDrops == 0 {
		var gaps, made uint64
		for _, got := range seqs {
			last := uint64(0)
			for q := range got {
				last = max(last, q)
			}
			made += last + 1
			gaps += last + 1 - uint64(len(got))
		}
		if gaps == 0 || gaps > st.RingDrops || made > st.Emitted+st.RingDrops {
			t.Errorf("event numbers: %d gaps, %d made; the ring dropped %d of %d", gaps, made, st.RingDrops, st.Emitted+st.RingDrops)
		}
	}
}

// startRaw starts a source whose events the test consumes itself.
func startRaw(t *testing.T, cfg Config) *Source {
	t.Helper()
	if os.Geteuid() != 0 {
		loadtest.MustRun(t, "not root (loading BPF programs needs CAP_BPF and CAP_PERFMON)")
	}
	build(t)
	s := New(cfg)
	if err := s.Start(context.Background()); err != nil {
		if errors.Is(err, ErrUnavailable) {
			loadtest.MustRun(t, err.Error())
		}
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = s.Close() })
	return s
}

// settleRaw waits until every event the kernel wrote has been read.
func settleRaw(t *testing.T, s *Source) {
	t.Helper()
	for range 1000 {
		if st := s.Stats(); st.Received == st.Emitted {
			return
		}
		time.Sleep(10 * time.Millisecond)
	}
	t.Fatalf("the reader did not catch up: %+v", s.Stats())
}
