package untrusted

// What a preload leaves behind when its name is gone.
//
// The environment the table reads (/proc/PID/environ) is memory the
// process owns: after ld.so acted on LD_PRELOAD at exec, the process can
// overwrite it, and the name is gone. The effect stays: a module ld.so
// mapped at start-up that no DT_NEEDED of the program explains. Two facts
// decide it, both read from the kernel and the mapped files, never from the
// process's memory:
//
//  1. The DT_NEEDED closure of the executable, from the files themselves
//     (through map_files): a module that no closure member needs is a
//     preload, an audit module, or something dlopen()ed later.
//  2. The order ld.so mapped things in, from the addresses. With the
//     kernel's top-down mmap layout, ld.so maps preloads (and audit
//     modules) before any DT_NEEDED library, so they sit above all of them,
//     just below ld.so. A dlopen()ed module normally lands below everything
//     too, but it can land up there as well, in a hole ld.so left: the
//     /etc/ld.so.cache mapping it unmaps at the end of start-up, the copy of
//     /etc/ld.so.preload, the alignment slack of a library mapped with a
//     p_align above the page size, or the 2 MiB alignment the kernel gives
//     a large mapping. So a module up there is called a preload only when
//     it cannot be such a filler: when its span is larger than the room
//     those holes can have left for fillers (their sizes, bounded from the
//     files, minus the gaps still free and the data files that took some).
//
// Everything is conservative: when any assumption is not met (a static or
// non-glibc program, ld.so run as a command, a bottom-up layout, a
// DT_NEEDED name that resolves to no mapped module, a cache or preload file
// changed since the process started, an LD_AUDIT module ld.so may have
// loaded and dropped, an unparsable module) no claim is made, and the
// environment alone decides, as before. See the README for the limits.

import (
	"path"
	"sort"
	"strings"

	"github.com/modhunt/modhunt/tables/elfdyn"
	"github.com/modhunt/modhunt/tables/fileinfo"
	"github.com/modhunt/modhunt/tables/inventory"
)

// elfFact is a module file's ELF dynamic facts (nil for a file that is
// not ELF or does not parse), kept per file identity in the file-facts
// cache across scans.
var elfFact = fileinfo.NewFact[*elfdyn.Info]("elfdyn")

// elfInfoSize is what an elfdyn.Info costs the cache, roughly.
func elfInfoSize(info *elfdyn.Info) int {
	if info == nil {
		return 0
	}
	n := 128 + len(info.Interp) + len(info.Soname)
	for _, s := range info.Needed {
		n += 16 + len(s)
	}
	for _, s := range info.Audit {
		n += 16 + len(s)
	}
	return n
}

// vma is one line of /proc/PID/maps, as the layout check needs it.
type vma struct {
	start, end uint64
	key        fileKey // of a file mapping
	file       bool
	special    bool // [vdso], [vvar], ...: placed by the kernel at exec
}

// exeModule is the process's own executable among its mapped files.
func exeModule(p *inventory.Process) *inventory.Module {
	if p.Path == "" {
		return nil
	}
	for i := range p.Modules {
		m := &p.Modules[i]
		if !m.Memfd && m.Path == p.Path && m.Deleted == p.PathDeleted {
			return m
		}
	}
	return nil
}

// glibcInterp reports whether an interpreter path names glibc's ld.so,
// whose start-up order the check models (musl's loader maps differently).
func glibcInterp(interp string) bool {
	b := path.Base(interp)
	return strings.HasPrefix(b, "ld-linux") || b == "ld64.so.1" || b == "ld64.so.2" || b == "ld.so.1"
}

// moduleNames are the names a DT_NEEDED entry can match a loaded module
// by: its SONAME (ld.so records it) and its file name.
func moduleNames(m *inventory.Module, info *elfdyn.Info) []string {
	names := []string{m.Name}
	if info != nil && info.Soname != "" && info.Soname != m.Name {
		names = append(names, info.Soname)
	}
	return names
}

// neededMatches reports whether the DT_NEEDED entry name can be m. A name
// with a slash is a path; matching it by file name too errs on the side of
// "explained".
func neededMatches(name string, m *inventory.Module, info *elfdyn.Info) bool {
	if strings.Contains(name, "/") {
		return m.Path == path.Clean(name) || m.Name == path.Base(name)
	}
	for _, n := range moduleNames(m, info) {
		if n == name {
			return true
		}
	}
	return false
}

// closure is the DT_NEEDED closure of the executable over the mapped ELF
// modules (each with its parsed info). complete is false when some
// DT_NEEDED of a member matches no mapped module: then the closure is not
// known, and nothing may be called unexplained.
func closure(exeInfo *elfdyn.Info, interp *inventory.Module, mods []*inventory.Module, infos map[*inventory.Module]*elfdyn.Info) (in map[*inventory.Module]bool, complete bool) {
	byName := map[string][]*inventory.Module{}
	all := append([]*inventory.Module{interp}, mods...)
	for _, m := range all {
		for _, n := range moduleNames(m, infos[m]) {
			byName[n] = append(byName[n], m)
		}
	}
	in = map[*inventory.Module]bool{interp: true}
	queue := append([]string(nil), exeInfo.Needed...)
	for len(queue) > 0 {
		name := queue[0]
		queue = queue[1:]
		var found []*inventory.Module
		if strings.Contains(name, "/") {
			for _, m := range all {
				if neededMatches(name, m, infos[m]) {
					found = append(found, m)
				}
			}
		} else {
			found = byName[name]
		}
		if len(found) == 0 {
			return nil, false
		}
		for _, m := range found {
			if in[m] {
				continue
			}
			in[m] = true
			if info := infos[m]; info != nil {
				queue = append(queue, info.Needed...)
			}
		}
	}
	return in, true
}

// layoutFacts is what layoutClaims weighs for one process.
type layoutFacts struct {
	vmas       []vma // ascending
	interp     fileKey
	top        fileKey // the closure member mapped highest: the first DT_NEEDED ld.so mapped
	candidates map[fileKey]bool
	// elf says whether a file mapping is an ELF module (a data file, one
	// ld.so never leaves mapped at start-up, is not); slack bounds the
	// alignment holes an ELF module's mapping can leave (ok false: unknown).
	elf   func(fileKey) bool
	slack func(k fileKey, base uint64) (uint64, bool)
	// holes is the room ld.so's unmapped files can have left: the page
	// rounded sizes of /etc/ld.so.cache and /etc/ld.so.preload (and the
	// kernel's huge-page alignment of a large one).
	holes uint64
	pmd   uint64
}

// layoutClaims returns the candidates that cannot be fillers of ld.so's
// holes, and so were mapped by ld.so at start-up above its first DT_NEEDED
// library: preloads. The region weighed is R, from the top of that library
// up to the lowest of ld.so and the kernel's special mappings above the
// candidates. At start-up R held ld.so's own anonymous memory, preloads
// and holes of at most H bytes (holes plus every slack of an object there);
// anything mapped later went into those holes. So candidates that are
// fillers add up to at most H minus the gaps still free minus the data
// files there (every one of those came later), and a candidate larger than
// that is no filler.
func layoutClaims(f *layoutFacts) map[fileKey]bool {
	var cMin, cMax uint64
	seen := false
	for _, v := range f.vmas {
		if v.file && f.candidates[v.key] {
			if !seen || v.start < cMin {
				cMin = v.start
			}
			cMax = max(cMax, v.end)
			seen = true
		}
	}
	if !seen {
		return nil
	}
	var lo, hi uint64
	hasLo, hasHi := false, false
	for _, v := range f.vmas {
		if v.file && v.key == f.top && v.end <= cMin && v.end > lo {
			lo, hasLo = v.end, true
		}
		if (v.special || (v.file && v.key == f.interp)) && v.start >= cMax && (!hasHi || v.start < hi) {
			hi, hasHi = v.start, true
		}
	}
	if !hasLo || !hasHi || lo >= hi {
		return nil
	}
	budget := f.holes
	topBase, hasTop := uint64(0), false
	for _, v := range f.vmas {
		if v.file && v.key == f.top && (!hasTop || v.start < topBase) {
			topBase, hasTop = v.start, true
		}
	}
	topSlack, ok := f.slack(f.top, topBase)
	if !ok {
		return nil
	}
	budget += topSlack
	var used, fill uint64
	slackSeen := map[fileKey]bool{}
	span := map[fileKey][2]uint64{}
	for _, v := range f.vmas {
		if v.end <= lo || v.start >= hi {
			if v.file && f.candidates[v.key] {
				// A candidate with a mapping outside R is not laid out as
				// ld.so lays out a preload: no claim for it.
				span[v.key] = [2]uint64{1, 0}
			}
			continue
		}
		used += v.end - v.start
		switch {
		case !v.file:
			if v.end-v.start >= f.pmd {
				budget += f.pmd // the kernel's huge-page alignment gap above it
			}
		case !f.elf(v.key):
			fill += v.end - v.start // a data file: mapped after start-up
		case !slackSeen[v.key]:
			slackSeen[v.key] = true
			s, ok := f.slack(v.key, v.start)
			if !ok {
				return nil
			}
			budget += s
		}
		if v.file && f.candidates[v.key] {
			s, found := span[v.key]
			switch {
			case !found:
				span[v.key] = [2]uint64{v.start, v.end}
			case s[0] <= s[1]:
				span[v.key] = [2]uint64{min(s[0], v.start), max(s[1], v.end)}
			}
		}
	}
	gaps := (hi - lo) - used
	if gaps+fill > budget {
		// More room is free than start-up can have left: something the
		// model does not know unmapped memory here. No claim.
		return nil
	}
	room := budget - gaps - fill
	out := map[fileKey]bool{}
	for k, s := range span {
		if s[0] < s[1] && s[1]-s[0] > room {
			out[k] = true
		}
	}
	return out
}

// elfSlack bounds the holes one object's mapping can leave around it:
// glibc's _dl_map_segment reserves maplength + p_align (or 2 * p_align)
// for an object aligned beyond the page and unmaps what alignment does not
// use (elf/dl-map-segments.h), and the kernel aligns a mapping of 2 MiB or
// more to 2 MiB (thp_get_unmapped_area) when it can, which leaves the rest
// of that 2 MiB free; it did so when base sits on such a boundary.
func elfSlack(info *elfdyn.Info, base, page, pmd uint64) uint64 {
	var s uint64
	reserved := info.MapLength
	if info.MaxAlign > page {
		if info.MapLength >= info.MaxAlign {
			reserved = info.MapLength + info.MaxAlign
		} else {
			reserved = 2 * info.MaxAlign
		}
		s = reserved - info.MapLength + page
	}
	if reserved >= pmd && base%pmd == 0 {
		s += pmd
	}
	return s
}

// sortedBelow returns the executable ELF modules mapped below limit, other
// than skip, highest first.
func sortedBelow(p *inventory.Process, limit uint64, skip ...*inventory.Module) []*inventory.Module {
	var out []*inventory.Module
next:
	for i := range p.Modules {
		m := &p.Modules[i]
		if !m.Executable || m.FileType != inventory.FileELF || m.Base >= limit {
			continue
		}
		for _, s := range skip {
			if m == s {
				continue next
			}
		}
		out = append(out, m)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Base > out[j].Base })
	return out
}
