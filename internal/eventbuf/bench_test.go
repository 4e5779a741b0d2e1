package eventbuf

import (
	"testing"
	"time"
)

// BenchmarkAdd is the cost of buffering one event in a full buffer (every
// add also drops the oldest), the storm case.
func BenchmarkAdd(b *testing.B) {
	buf := New[int](Config{MaxEvents: 10000}, func(int) int { return 200 })
	now := time.Now()
	for i := range 10000 {
		buf.Add(now, i)
	}
	b.ReportAllocs()
	for i := 0; b.Loop(); i++ {
		buf.Add(now, i)
	}
}

// BenchmarkScheduledRead is one scheduled query collecting the 1,000
// events that arrived since its last run, from a buffer of 50,000.
func BenchmarkScheduledRead(b *testing.B) {
	buf := New[int](Config{}, nil)
	now := time.Now()
	for i := range DefaultMaxEvents {
		buf.Add(now, i)
	}
	buf.Read(Reader{Query: "q"})
	b.ReportAllocs()
	for i := 0; b.Loop(); i++ {
		b.StopTimer()
		for j := range 1000 {
			buf.Add(now, j)
		}
		b.StartTimer()
		if got := len(buf.Read(Reader{Query: "q"}).Entries); got != 1000 {
			b.Fatalf("read %d events, want 1000", got)
		}
	}
}
