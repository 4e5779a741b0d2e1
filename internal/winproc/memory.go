package winproc

import (
	"sort"
	"time"
)

// Memory types, states and the protection bits of MEMORY_BASIC_INFORMATION
// (winnt.h).
const (
	MemImage   = 0x1000000 // MEM_IMAGE: a view of an executable image section
	MemMapped  = 0x40000   // MEM_MAPPED: a view of a data section (file or pagefile)
	MemPrivate = 0x20000   // MEM_PRIVATE: process-private memory
	MemCommit  = 0x1000    // MEM_COMMIT
	MemReserve = 0x2000    // MEM_RESERVE
	MemFree    = 0x10000   // MEM_FREE
)

// Region is one VirtualQueryEx region: a run of pages with the same state,
// protection and type inside one allocation.
type Region struct {
	Base           uint64
	Size           uint64
	AllocationBase uint64
	// AllocationProtect is the protection the allocation was made with,
	// Protect the region's current one (PAGE_* bits).
	AllocationProtect uint32
	Protect           uint32
	State             uint32 // MemCommit or MemReserve (free regions are not reported)
	Type              uint32 // MemImage, MemMapped or MemPrivate
	// NTPath is GetMappedFileNameW's answer for image and mapped regions, as
	// the kernel gives it (\Device\HarddiskVolume3\..., Wine: \??\C:\...);
	// Path is its drive-letter or UNC form, empty when it has none.
	NTPath string
	Path   string
}

// TypeName is the region type as a word: image, mapped, private.
func TypeName(t uint32) string {
	switch t {
	case MemImage:
		return "image"
	case MemMapped:
		return "mapped"
	case MemPrivate:
		return "private"
	default:
		return ""
	}
}

// Limits bound one process's memory walk: an address space can hold hundreds
// of thousands of regions (a JIT, a leak), and osquery's watchdog does not
// wait.
type Limits struct {
	MaxRegions int           // stop after this many regions; 0 means DefaultMaxRegions
	MaxTime    time.Duration // stop after this long; 0 means DefaultMaxTime
}

// Defaults for Limits: a large Chrome or Visual Studio process has about
// 10,000 regions.
const (
	DefaultMaxRegions = 65536
	DefaultMaxTime    = 2 * time.Second
)

func (l Limits) withDefaults() Limits {
	if l.MaxRegions <= 0 {
		l.MaxRegions = DefaultMaxRegions
	}
	if l.MaxTime <= 0 {
		l.MaxTime = DefaultMaxTime
	}
	return l
}

// MemoryView is one process's walk: its regions in address order, and
// whether a limit cut it short (the regions then cover only the low part of
// the address space).
type MemoryView struct {
	Regions   []Region
	Truncated bool
}

// ImageMapping is one executable image mapped into a process: the regions of
// one MEM_IMAGE allocation.
type ImageMapping struct {
	Base   uint64 // the allocation base, where the image's headers are
	Size   uint64 // from Base to the end of its last region
	NTPath string
	Path   string
	// InLoaderList: the loader's module list (what Toolhelp and
	// EnumProcessModules read) has a module at Base. An image mapping the
	// loader does not know is an unlinked module or one mapped by hand
	// (reflective and manual-mapping loaders leave exactly this trace).
	InLoaderList bool
}

// ImageMappings groups the image regions of a walk by allocation base and
// marks which the loader list (loader, from Modules) knows. A module is
// matched by base, never by path: the same DLL mapped a second time by hand
// has the loaded one's path. A mapping whose file the kernel did not name
// (Wine past MAX_PATH) takes the loader's path for it.
func ImageMappings(regions []Region, loader []Module) []ImageMapping {
	inLoader := make(map[uint64]*Module, len(loader))
	for i := range loader {
		inLoader[loader[i].Base] = &loader[i]
	}
	byBase := map[uint64]*ImageMapping{}
	var order []uint64
	for _, r := range regions {
		if r.Type != MemImage {
			continue
		}
		m := byBase[r.AllocationBase]
		if m == nil {
			m = &ImageMapping{Base: r.AllocationBase, InLoaderList: inLoader[r.AllocationBase] != nil}
			byBase[r.AllocationBase] = m
			order = append(order, r.AllocationBase)
		}
		if end := r.Base + r.Size; end > m.Base+m.Size {
			m.Size = end - m.Base
		}
		if m.NTPath == "" && r.NTPath != "" {
			m.NTPath, m.Path = r.NTPath, r.Path
		}
	}
	sort.Slice(order, func(i, j int) bool { return order[i] < order[j] })
	out := make([]ImageMapping, 0, len(order))
	for _, b := range order {
		m := byBase[b]
		if mod := inLoader[b]; m.Path == "" && mod != nil {
			m.Path = mod.Path
		}
		out = append(out, *m)
	}
	return out
}

// Page protection bits of MEMORY_BASIC_INFORMATION.Protect (winnt.h).
const (
	pageNoAccess         = 0x01
	pageReadOnly         = 0x02
	pageReadWrite        = 0x04
	pageWriteCopy        = 0x08
	pageExecute          = 0x10
	pageExecuteRead      = 0x20
	pageExecuteReadWrite = 0x40
	pageExecuteWriteCopy = 0x80
	pageGuard            = 0x100
)

// Access is what a PAGE_* protection allows. A guard page allows nothing
// until its first touch, which raises an exception in the process and
// fails a ReadProcessMemory: it counts as no access. Copy-on-write pages
// are writable (the process may write them; the file is not changed).
func Access(protect uint32) (read, write, exec bool) {
	if protect&pageGuard != 0 || protect&pageNoAccess != 0 {
		return false, false, false
	}
	switch protect & 0xff {
	case pageReadOnly:
		return true, false, false
	case pageReadWrite, pageWriteCopy:
		return true, true, false
	case pageExecute:
		return false, false, true
	case pageExecuteRead:
		return true, false, true
	case pageExecuteReadWrite, pageExecuteWriteCopy:
		return true, true, true
	}
	return false, false, false
}
