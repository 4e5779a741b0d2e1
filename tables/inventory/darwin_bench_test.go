package inventory_test

import (
	"context"
	"fmt"
	"testing"

	"github.com/modhunt/modhunt/internal/darwinproc"
	"github.com/modhunt/modhunt/tables/inventory"
	"github.com/modhunt/modhunt/tables/inventory/fakeinv"
)

// BenchmarkDarwinWalk measures what the macOS inventory adds to the region
// fold it is built on, for 200 processes of 300 file regions (100 dylibs)
// each: the baseline folds the same regions with darwinproc.Fold alone. The
// libproc calls themselves are only measurable on a Mac.
func BenchmarkDarwinWalk(b *testing.B) {
	rec := &fakeinv.MacRecording{Procs: map[int32]*fakeinv.MacProc{}, Users: map[uint32]string{501: "alice"}}
	var all [][]darwinproc.Region
	for pid := int32(1); pid <= 200; pid++ {
		var rs []darwinproc.Region
		for i := range 300 {
			rs = append(rs, darwinproc.Region{Address: 0x100000000 + uint64(i)*0x4000, Size: 0x4000, Protection: 5,
				Vnode: darwinproc.Vnode{Dev: 1, Inode: uint64(i / 3), Nlink: 1, Path: fmt.Sprintf("/usr/lib/lib%d.dylib", i/3)}})
		}
		all = append(all, rs)
		rec.Procs[pid] = &fakeinv.MacProc{BSD: darwinproc.BSDInfo{PID: uint32(pid), UID: 501, Comm: "p"}, Regions: rs}
	}
	b.Run("baseline_fold", func(b *testing.B) {
		for b.Loop() {
			for _, rs := range all {
				if mods, _ := darwinproc.Fold(rs); len(mods) != 100 {
					b.Fatal(len(mods))
				}
			}
		}
	})
	inv := inventory.NewDarwin(inventory.Config{}, rec)
	b.Run("walk", func(b *testing.B) {
		for b.Loop() {
			n := 0
			if err := inv.WalkDetail(context.Background(), nil, 0, func(p *inventory.Process) error {
				n += len(p.Modules)
				return nil
			}); err != nil || n != 200*100 {
				b.Fatal(err, n)
			}
		}
	})
}
