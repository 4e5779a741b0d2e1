package loadstream

import (
	"context"
	"runtime"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/modhunt/modhunt/internal/loadsource"
)

// The buffer's byte bound is only a bound if what it counts per load is at
// least the heap a load takes: 50,000 loads shaped like a storm's (each its
// own path, comm and exe bytes as decoding makes them; a shared command
// line; reasons) are buffered, and the heap they hold is compared with the
// buffer's count.
func TestBufferBoundIsTheHeap(t *testing.T) {
	s := New(Config{Disabled: true, MaxEvents: 1 << 20, MaxBytes: 1 << 40})
	cmd := "mhload storm /tmp/modhunt-le-123/libmh_bench.so 1000 5"
	var m0, m1 runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&m0)
	const n = 50000
	for i := range n {
		ev := loadsource.Event{
			Kind: loadsource.KindMmap, Time: time.Now(), Comm: string([]byte("mhload")),
			Path: []byte("/tmp/modhunt-le-123/libmh_bench" + strconv.Itoa(i%3) + ".so"),
			Exe:  []byte("/tmp/modhunt-loadtest-1/mhload"),
		}
		s.buf.Add(ev.Time, &Load{Event: ev, Cmdline: cmd, Reasons: []string{"outside_trusted_dirs", "temp_dir"}, Severity: "high"})
	}
	runtime.GC()
	runtime.ReadMemStats(&m1)
	heap, counted := int64(m1.HeapAlloc)-int64(m0.HeapAlloc), s.buf.Stats().Bytes
	t.Logf("heap %d B a load, counted %d B", heap/n, counted/n)
	if counted < heap {
		t.Errorf("the buffer counts %d bytes for loads that hold %d on the heap: its bound would not hold", counted, heap)
	}
	runtime.KeepAlive(s)
}

// fakeSource delivers the events it is given, then closes.
type fakeSource struct{ ch chan loadsource.Event }

func (f *fakeSource) Start(context.Context) error     { return nil }
func (f *fakeSource) Events() <-chan loadsource.Event { return f.ch }
func (f *fakeSource) Stats() loadsource.Stats         { return loadsource.Stats{} }
func (f *fakeSource) Close() error                    { return nil }

// The host hears what the buffer holds as it fills, a MiB at a time, and
// what it hears is the buffer's own count.
func TestBufferBytesReported(t *testing.T) {
	src := &fakeSource{ch: make(chan loadsource.Event)}
	var heard []int64
	s := New(Config{Source: src, OnBufferBytes: func(n int64) { heard = append(heard, n) }})
	if err := s.Start(t.Context()); err != nil {
		t.Fatal(err)
	}
	path := []byte("/tmp/x/" + strings.Repeat("a", 4000) + ".so")
	for range 1000 { // ~4 MiB
		src.ch <- loadsource.Event{Kind: loadsource.KindMmap, Time: time.Now(), Path: path}
	}
	close(src.ch)
	<-s.Done()
	total := s.buf.Stats().Bytes
	if len(heard) < 4 || heard[0] == 0 || heard[len(heard)-1] > total || total-heard[len(heard)-1] >= bufferBytesStep {
		t.Fatalf("heard %v for a buffer of %d bytes", heard, total)
	}
	for i := 1; i < len(heard); i++ {
		if heard[i]-heard[i-1] < bufferBytesStep {
			t.Fatalf("told again after less than a step: %v", heard)
		}
	}
}
