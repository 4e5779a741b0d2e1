package darwinproc

import (
	"sort"

	"github.com/modhunt/modhunt/internal/darwinpath"
)

// Shared region bases from XNU osfmk/mach/shared_region.h. Only the start is
// compared: the region's size has grown across releases, and a submap never
// starts inside it by accident. Both are checked whatever the host's
// architecture, since a Rosetta process on arm64 has the x86_64 layout.
const (
	sharedRegionBaseARM64  = 0x180000000
	sharedRegionSizeARM64  = 0x100000000 // at least; later releases map more
	sharedRegionBaseX86_64 = 0x00007FF800000000
	sharedRegionSizeX86_64 = 0x00000007FE000000
)

// InSharedRegion reports whether addr lies in the dyld shared region of an
// arm64 or x86_64 process.
func InSharedRegion(addr uint64) bool {
	return (addr >= sharedRegionBaseARM64 && addr < sharedRegionBaseARM64+sharedRegionSizeARM64) ||
		(addr >= sharedRegionBaseX86_64 && addr < sharedRegionBaseX86_64+sharedRegionSizeX86_64)
}

// Module is one file mapped into a process: every region backed by the same
// (device, inode, path) folded together.
type Module struct {
	Path  string
	Dev   uint32
	Inode uint64
	// Vnode is the file's facts from the lowest-addressed region.
	Vnode Vnode
	// Base is the lowest region address, End the highest region end.
	Base, End uint64
	// Regions counts the folded regions, Mapped sums their sizes.
	Regions int
	Mapped  uint64
	// Protection is the union of the regions' protections (VM_PROT_*).
	Protection uint32
	// SharedCache is set for the dyld shared cache file itself: every
	// region has a cache file's name and lies in the shared region (entries
	// unnested from it). A file named like the cache and mapped anywhere
	// else, as dlopen would map it, is not the cache.
	SharedCache bool
}

// Executable reports whether any region of the module is executable.
func (m Module) Executable() bool { return m.Protection&ProtExecute != 0 }

// SharedRegion is what a walk shows of the dyld shared cache. The shared
// region is a nested submap: proc_pidinfo reports it as one entry with
// PROC_REGION_SUBMAP and no file, and does not descend into it, so the images
// inside the cache (libSystem, Foundation, ...) are not visible one by one.
// dyld's list of them (all_image_infos) lives in the process's memory and
// needs task_for_pid, which this package does not use. What is visible: that
// the process maps the shared region, where, and which cache file backs any
// part of it that was unnested (copy-on-write or protection changes split
// such entries off the submap, and then they carry the cache file's vnode).
type SharedRegion struct {
	Present bool
	// Address and Size span the submap entries and unnested cache entries
	// seen in the shared region.
	Address, Size uint64
	// Files are the cache files seen backing unnested entries, sorted.
	Files []string
}

// Fold groups the file-backed regions of one walk into modules, ordered by
// base address, and summarises the shared region. Regions without a file
// (anonymous memory, submaps) are not modules; the memory-region view keeps
// them. A file whose path the kernel could not name is still a module (empty
// Path), keyed by its identity, so that it is reported rather than lost.
func Fold(regions []Region) ([]Module, SharedRegion) {
	type key struct {
		dev   uint32
		inode uint64
		path  string
	}
	idx := make(map[key]int)
	var mods []Module
	var sr SharedRegion
	var lo, hi uint64
	span := func(r Region) {
		if !sr.Present || r.Address < lo {
			lo = r.Address
		}
		hi = max(hi, r.End())
		sr.Present = true
	}
	files := make(map[string]bool)
	for _, r := range regions {
		if r.Submap() {
			if InSharedRegion(r.Address) {
				span(r)
			}
			continue
		}
		if !r.Vnode.HasFile() {
			continue
		}
		cache := darwinpath.IsSharedCache(r.Vnode.Path) && InSharedRegion(r.Address)
		if cache {
			files[r.Vnode.Path] = true
			span(r)
		}
		k := key{r.Vnode.Dev, r.Vnode.Inode, r.Vnode.Path}
		i, ok := idx[k]
		if !ok {
			idx[k] = len(mods)
			mods = append(mods, Module{
				Path: r.Vnode.Path, Dev: r.Vnode.Dev, Inode: r.Vnode.Inode,
				Vnode: r.Vnode, Base: r.Address, End: r.End(), SharedCache: cache,
			})
			i = len(mods) - 1
		}
		m := &mods[i]
		if r.Address < m.Base {
			m.Base, m.Vnode = r.Address, r.Vnode
		}
		m.End = max(m.End, r.End())
		m.Regions++
		m.Mapped += r.Size
		m.Protection |= r.Protection
		m.SharedCache = m.SharedCache && cache
	}
	sort.SliceStable(mods, func(a, b int) bool { return mods[a].Base < mods[b].Base })
	for f := range files {
		sr.Files = append(sr.Files, f)
	}
	sort.Strings(sr.Files)
	if sr.Present {
		sr.Address, sr.Size = lo, hi-lo
	}
	return mods, sr
}
