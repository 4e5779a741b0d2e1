package loadstream

import (
	"runtime"
	"strconv"
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
