package darwinproc

import (
	"bufio"
	"errors"
	"os"
	"sort"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

// loadFixture reads testdata/regions_*.txt into encoded
// proc_regionwithpathinfo structs, the bytes the kernel would copy out.
func loadFixture(t testing.TB, name string) [][]byte {
	t.Helper()
	f, err := os.Open("testdata/" + name)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var out [][]byte
	sc := bufio.NewScanner(f)
	for line := 1; sc.Scan(); line++ {
		s := strings.TrimSpace(sc.Text())
		if s == "" || s[0] == '#' {
			continue
		}
		fs := strings.Fields(s)
		if len(fs) != 9 {
			t.Fatalf("%s:%d: %d fields", name, line, len(fs))
		}
		n := make([]uint64, 8)
		for i := range 8 {
			if n[i], err = strconv.ParseUint(fs[i], 0, 64); err != nil {
				t.Fatalf("%s:%d: %v", name, line, err)
			}
		}
		var c cRegionWithPathInfo
		c.PRI = cRegionInfo{Address: n[0], Size: n[1], Protection: uint32(n[2]), MaxProtection: uint32(n[3]),
			Flags: uint32(n[4]), ShareMode: uint32(n[5])}
		if fs[8] != "-" {
			c.VIP.VI.Stat = cVinfoStat{Dev: uint32(n[6]), Ino: n[7], Mode: 0o100755, Nlink: 1}
			c.VIP.VI.Type = 1
			copy(c.VIP.Path[:], fs[8])
		}
		out = append(out, encode(t, c))
	}
	return out
}

// kernel answers like fill_procregioninfo: the region containing addr, else
// the next one above it, else EINVAL (the end of the map). onlyFiles skips
// regions without a vnode, as PROC_PIDREGIONPATHINFO2 does.
func kernel(t testing.TB, recs [][]byte, onlyFiles bool) (fetchFunc, *int) {
	calls := 0
	return func(addr uint64) (Region, error) {
		calls++
		for _, b := range recs {
			r, err := DecodeRegionWithPath(b)
			if err != nil {
				t.Fatal(err)
			}
			if r.End() <= addr || (onlyFiles && (r.Submap() || !r.Vnode.HasFile())) {
				continue
			}
			return r, nil
		}
		return Region{}, errEndOfMap
	}, &calls
}

func TestWalkFixture(t *testing.T) {
	recs := loadFixture(t, "regions_arm64.txt")
	fetch, calls := kernel(t, recs, false)
	w, err := walk(fetch, Limits{}, time.Now)
	if err != nil {
		t.Fatal(err)
	}
	if len(w.Regions) != len(recs) || w.Truncated != "" || w.Err != nil {
		t.Fatalf("walk: %d regions of %d, truncated %q, err %v", len(w.Regions), len(recs), w.Truncated, w.Err)
	}
	if *calls != len(recs)+1 {
		t.Errorf("%d proc_pidinfo calls, want one per region plus the EINVAL that ends the walk", *calls)
	}
	mods, sr := Fold(w.Regions)
	type got struct {
		path    string
		inode   uint64
		regions int
		perms   uint32
		cache   bool
	}
	var g []got
	for _, m := range mods {
		g = append(g, got{m.Path, m.Inode, m.Regions, m.Protection, m.SharedCache})
	}
	want := []got{
		{"/Users/alice/bin/loader", 812345, 3, 7, false},
		{"/private/tmp/evil.dylib", 4411, 3, 7, false},
		{"/usr/lib/dyld", 221, 3, 7, false},
		{"/System/Volumes/Preboot/Cryptexes/OS/System/Library/dyld/dyld_shared_cache_arm64e", 77, 1, 1, true},
		// Same path, another file (replaced on disk after the first load):
		// a module of its own, not folded into the first.
		{"/private/tmp/evil.dylib", 4412, 1, 5, false},
	}
	if len(g) != len(want) {
		t.Fatalf("modules %+v\nwant %+v", g, want)
	}
	for i := range want {
		if g[i] != want[i] {
			t.Errorf("module %d = %+v, want %+v", i, g[i], want[i])
		}
	}
	kinds := map[string]int{}
	for _, r := range w.Regions {
		kinds[r.Kind()]++
	}
	if kinds["file"] != 11 || kinds["submap"] != 2 || kinds["anonymous"] != 5 {
		t.Errorf("region kinds %v", kinds)
	}
	if !mods[1].Executable() || mods[3].Executable() {
		t.Errorf("executable: evil %v cache %v", mods[1].Executable(), mods[3].Executable())
	}
	if mods[0].Base != 0x100000000 || mods[0].End != 0x10000c000 || mods[0].Mapped != 0xc000 {
		t.Errorf("loader spans %#x-%#x mapped %#x", mods[0].Base, mods[0].End, mods[0].Mapped)
	}
	wantSR := SharedRegion{Present: true, Address: 0x180000000, Size: 0x210000000 - 0x180000000,
		Files: []string{"/System/Volumes/Preboot/Cryptexes/OS/System/Library/dyld/dyld_shared_cache_arm64e"}}
	if sr.Present != wantSR.Present || sr.Address != wantSR.Address || sr.Size != wantSR.Size ||
		strings.Join(sr.Files, ",") != strings.Join(wantSR.Files, ",") {
		t.Errorf("shared region %+v, want %+v", sr, wantSR)
	}
}

func TestWalkFilesOnly(t *testing.T) {
	recs := loadFixture(t, "regions_arm64.txt")
	fetch, _ := kernel(t, recs, true)
	w, err := walk(fetch, Limits{}, time.Now)
	if err != nil {
		t.Fatal(err)
	}
	for _, r := range w.Regions {
		if !r.Vnode.HasFile() {
			t.Errorf("region %#x without a file", r.Address)
		}
	}
	mods, sr := Fold(w.Regions)
	if len(mods) != 5 || len(sr.Files) != 1 {
		t.Errorf("%d modules, shared cache files %v", len(mods), sr.Files)
	}
}

// TestWalkPastOsqueryCap: a process with far more regions than osquery's 512
// is walked to its end, and MaxRegions is the only count bound.
func TestWalkPastOsqueryCap(t *testing.T) {
	const n = 5000
	fetch := func(addr uint64) (Region, error) {
		i := addr/0x4000 + 1
		if i > n {
			return Region{}, errEndOfMap
		}
		return Region{Address: (i - 1) * 0x4000, Size: 0x4000, Protection: 1}, nil
	}
	w, err := walk(fetch, Limits{}, time.Now)
	if err != nil || len(w.Regions) != n || w.Truncated != "" {
		t.Fatalf("%d regions, truncated %q, err %v", len(w.Regions), w.Truncated, err)
	}
	w, _ = walk(fetch, Limits{MaxRegions: 700}, time.Now)
	if len(w.Regions) != 700 || w.Truncated != "max_regions" {
		t.Fatalf("bounded walk: %d regions, truncated %q", len(w.Regions), w.Truncated)
	}
}

func TestWalkBudget(t *testing.T) {
	clock := time.Unix(0, 0)
	now := func() time.Time { return clock }
	fetch := func(addr uint64) (Region, error) {
		clock = clock.Add(10 * time.Millisecond) // each call is slow
		return Region{Address: addr, Size: 0x4000}, nil
	}
	w, err := walk(fetch, Limits{Budget: time.Second}, now)
	if err != nil || w.Truncated != "budget" || len(w.Regions) < 99 || len(w.Regions) > 101 {
		t.Fatalf("%d regions, truncated %q, err %v", len(w.Regions), w.Truncated, err)
	}
}

func TestWalkHostile(t *testing.T) {
	// A region that ends at or below the address asked for would loop.
	stuck := func(addr uint64) (Region, error) { return Region{Address: 0, Size: 0x4000}, nil }
	w, err := walk(stuck, Limits{}, time.Now)
	if err != nil || len(w.Regions) != 1 || w.Truncated != "error" || w.Err == nil {
		t.Fatalf("stuck walk: %d regions, truncated %q, err %v/%v", len(w.Regions), w.Truncated, err, w.Err)
	}
	// A size that wraps the address space ends the walk instead of
	// starting it over at 0.
	wrap := func(addr uint64) (Region, error) {
		if addr != 0 {
			t.Fatalf("walk continued at %#x after a region reaching the top", addr)
		}
		return Region{Address: 0x1000, Size: ^uint64(0)}, nil
	}
	w, err = walk(wrap, Limits{}, time.Now)
	if err != nil || len(w.Regions) != 1 || w.Truncated != "" {
		t.Fatalf("wrapping walk: %d regions, truncated %q, err %v", len(w.Regions), w.Truncated, err)
	}
	zero := func(addr uint64) (Region, error) { return Region{Address: addr + 0x1000, Size: 0}, nil }
	if w, _ = walk(zero, Limits{}, time.Now); w.Truncated != "error" || len(w.Regions) != 0 {
		t.Fatalf("empty region accepted: %+v", w)
	}
}

func TestWalkErrors(t *testing.T) {
	denied := func(uint64) (Region, error) { return Region{}, NewProcError(7, "proc_pidinfo", syscall.EPERM) }
	_, err := walk(denied, Limits{}, time.Now)
	if !errors.Is(err, ErrNotPermitted) || !errors.Is(err, syscall.EPERM) || !Expected(err) {
		t.Fatalf("first-call EPERM: %v", err)
	}
	var pe *ProcError
	if !errors.As(err, &pe) || pe.PID != 7 {
		t.Fatalf("not a ProcError for pid 7: %#v", err)
	}
	empty := func(uint64) (Region, error) { return Region{}, errEndOfMap }
	if w, err := walk(empty, Limits{}, time.Now); !errors.Is(err, ErrNoRegions) || !Expected(err) || len(w.Regions) != 0 {
		t.Fatalf("empty map: %v", err)
	}
	n := 0
	gone := func(addr uint64) (Region, error) {
		if n++; n > 3 {
			return Region{}, NewProcError(7, "proc_pidinfo", syscall.ESRCH)
		}
		return Region{Address: addr, Size: 0x4000}, nil
	}
	w, err := walk(gone, Limits{}, time.Now)
	if err != nil || len(w.Regions) != 3 || w.Truncated != "error" || !errors.Is(w.Err, ErrNoProcess) {
		t.Fatalf("exit mid-walk: %d regions, truncated %q, err %v/%v", len(w.Regions), w.Truncated, err, w.Err)
	}
}

func TestProcErrorClasses(t *testing.T) {
	for _, tc := range []struct {
		errno    syscall.Errno
		class    error
		expected bool
	}{
		{syscall.EPERM, ErrNotPermitted, true},
		{syscall.EACCES, ErrNotPermitted, true},
		{syscall.ESRCH, ErrNoProcess, true},
		{syscall.EINVAL, nil, false},
		{syscall.ENOMEM, nil, false},
	} {
		err := NewProcError(1, "op", tc.errno)
		if Expected(err) != tc.expected || (tc.class != nil && !errors.Is(err, tc.class)) || !errors.Is(err, tc.errno) {
			t.Errorf("%v: expected %v, class %v: %v", tc.errno, Expected(err), tc.class, err)
		}
	}
}

func TestProcArgsErrorClasses(t *testing.T) {
	err := ProcArgsError(3, syscall.EINVAL)
	if !errors.Is(err, ErrArgsUnreadable) || !errors.Is(err, syscall.EINVAL) || !Expected(err) {
		t.Fatalf("EINVAL: %v", err)
	}
	if err := ProcArgsError(3, syscall.EPERM); !errors.Is(err, ErrNotPermitted) || errors.Is(err, ErrArgsUnreadable) {
		t.Fatalf("EPERM: %v", err)
	}
	if err := ProcArgsError(3, syscall.ENOMEM); Expected(err) {
		t.Fatalf("ENOMEM taken for an expected refusal: %v", err)
	}
}

func TestFoldSharedRegionBounds(t *testing.T) {
	regs := []Region{
		// x86_64 shared region (a Rosetta or Intel process).
		{Address: 0x7ff800000000, Size: 0x100000000, Flags: regionSubmap},
		// x86_64 commpage: a submap outside the shared region.
		{Address: 0x7fffffe00000, Size: 0x1000, Flags: regionSubmap},
		// A file named like the cache but mapped outside the shared
		// region (dlopen of a look-alike) is a module, not the cache.
		{Address: 0x10000000, Size: 0x1000, Protection: 1, Vnode: Vnode{Inode: 5, Path: "/System/Library/dyld/dyld_shared_cache_x86_64h"}},
		// An unnamed file (no path from vn_getpath) is still a module.
		{Address: 0x20000000, Size: 0x1000, Protection: 5, Vnode: Vnode{Dev: 1, Inode: 9}},
	}
	mods, sr := Fold(regs)
	if !sr.Present || sr.Address != 0x7ff800000000 || sr.Size != 0x100000000 || len(sr.Files) != 0 {
		t.Errorf("shared region %+v", sr)
	}
	sort.Slice(mods, func(i, j int) bool { return mods[i].Base < mods[j].Base })
	if len(mods) != 2 || mods[0].SharedCache || mods[1].Path != "" || mods[1].Inode != 9 {
		t.Errorf("modules %+v", mods)
	}
	if _, sr := Fold([]Region{{Address: 0x7fffffe00000, Size: 0x1000, Flags: regionSubmap}}); sr.Present {
		t.Errorf("commpage taken for the shared region: %+v", sr)
	}
}
