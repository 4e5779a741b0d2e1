package inventory

import (
	"context"
	"testing"

	"github.com/modhunt/modhunt/internal/winproc"
)

// BenchmarkWalkOnePid: the inventory's walk of one process (loader list,
// memory view, and with DetailAll its context and module files) against
// the loader list alone (x-modules, what osquery's process_memory_map-like
// Toolhelp walk reads), measured in the same run. Under Wine every call is
// a wineserver round trip, so read the ratios, not the times.
func BenchmarkWalkOnePid(b *testing.B) {
	dll := dropDLL(b, "payload.dll", "modhunt_bench.dll")
	pid, _ := startFixture(b, "loadlib.exe", "loaded", dll)
	inv := New(Config{})
	walk := func(b *testing.B, d Detail) {
		for b.Loop() {
			n := 0
			if err := inv.WalkDetail(context.Background(), []int{pid}, d, func(p *Process) error { n++; return nil }); err != nil || n != 1 {
				b.Fatalf("walk: %d processes, %v", n, err)
			}
		}
	}
	b.Run("x-modules", func(b *testing.B) {
		for b.Loop() {
			if _, err := winproc.Modules(uint32(pid)); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("bare", func(b *testing.B) { walk(b, 0) })
	b.Run("all", func(b *testing.B) { walk(b, DetailAll) })
}
