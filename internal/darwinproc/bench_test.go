package darwinproc

import (
	"fmt"
	"testing"
	"time"
)

// BenchmarkWalkFold measures the pure side of one process's scan: decoding
// 10,000 regions from kernel bytes, the walk loop and the fold, against a
// baseline that only copies the same bytes (the floor any decoder pays).
// The proc_pidinfo calls themselves are only measurable on a Mac.
func BenchmarkWalkFold(b *testing.B) {
	const n = 10000
	recs := make([][]byte, n)
	for i := range recs {
		var c cRegionWithPathInfo
		c.PRI = cRegionInfo{Address: 0x100000000 + uint64(i)*0x4000, Size: 0x4000, Protection: 5}
		if i%3 != 0 {
			c.VIP.VI.Stat = cVinfoStat{Dev: 1, Ino: uint64(i / 30)}
			copy(c.VIP.Path[:], fmt.Sprintf("/usr/lib/lib%d.dylib", i/30))
		}
		recs[i] = encode(b, c)
	}
	buf := make([]byte, SizeRegionWithPathInfo)
	b.Run("baseline_copy", func(b *testing.B) {
		for b.Loop() {
			for _, r := range recs {
				copy(buf, r)
			}
		}
	})
	b.Run("decode_walk_fold", func(b *testing.B) {
		for b.Loop() {
			i := 0
			fetch := func(uint64) (Region, error) {
				if i == n {
					return Region{}, errEndOfMap
				}
				copy(buf, recs[i])
				i++
				return DecodeRegionWithPath(buf)
			}
			w, err := walk(fetch, Limits{}, time.Now)
			if err != nil || len(w.Regions) != n {
				b.Fatal(err, len(w.Regions))
			}
			if mods, _ := Fold(w.Regions); len(mods) == 0 {
				b.Fatal("no modules")
			}
		}
	})
}
