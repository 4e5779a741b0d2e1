// Package elfdyn reads what the dynamic loader reads of an ELF file: its
// program headers (PT_LOAD, PT_INTERP, PT_DYNAMIC) and, through the dynamic
// segment, DT_NEEDED, DT_SONAME and DT_AUDIT/DT_DEPAUDIT. Section headers
// are never used (ld.so does not use them, and a stripped file has none).
//
// The input is a file a process mapped, so it is hostile: every read is
// bounded and every offset checked, and Parse never panics (fuzzed).
package elfdyn

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
)

// Bounds on what is read. ld.so itself accepts more, but a real module stays
// far below each: glibc's own libraries have a dozen program headers, a few
// dozen dynamic entries and names of tens of bytes.
const (
	maxPhnum    = 512
	maxDynBytes = 256 << 10
	maxName     = 4096 // PATH_MAX: ld.so cannot open a longer name
	maxNeeded   = 4096
)

// Info is the loader-relevant part of an ELF file.
type Info struct {
	Class   int // 32 or 64
	Dynamic bool
	// Interp is PT_INTERP: the program interpreter a dynamically linked
	// executable names; "" for a shared object or a static program.
	Interp string
	// Needed is DT_NEEDED in order; Soname is DT_SONAME.
	Needed []string
	Soname string
	// Audit is DT_AUDIT and DT_DEPAUDIT, as ld.so reads them.
	Audit []string
	// MapLength is the span of the PT_LOAD segments from the first's page
	// to the last's end, rounded up to pages: the bytes ld.so reserves for
	// the object (_dl_map_segments' maplength). MaxAlign is the largest
	// PT_LOAD p_align, the alignment ld.so reserves extra room for.
	MapLength uint64
	MaxAlign  uint64
}

// Errors Parse wraps.
var (
	ErrNotELF  = errors.New("not an ELF file")
	ErrCorrupt = errors.New("corrupt ELF file")
)

const (
	ptLoad    = 1
	ptDynamic = 2
	ptInterp  = 3

	dtNull     = 0
	dtNeeded   = 1
	dtStrtab   = 5
	dtStrsz    = 10
	dtSoname   = 14
	dtAudit    = 0x6ffffefc
	dtDepaudit = 0x6ffffefb
)

type phdr struct {
	typ                           uint32
	off, vaddr, filesz, memsz, al uint64
}

// Parse reads the ELF file r of size bytes. pageSize rounds MapLength.
func Parse(r io.ReaderAt, size int64, pageSize uint64) (*Info, error) {
	var ident [16]byte
	if _, err := r.ReadAt(ident[:], 0); err != nil {
		return nil, fmt.Errorf("%w: %w", ErrNotELF, err)
	}
	if !bytes.Equal(ident[:4], []byte("\x7fELF")) {
		return nil, ErrNotELF
	}
	var bo binary.ByteOrder
	switch ident[5] {
	case 1:
		bo = binary.LittleEndian
	case 2:
		bo = binary.BigEndian
	default:
		return nil, fmt.Errorf("%w: data encoding %d", ErrCorrupt, ident[5])
	}
	info := &Info{}
	var phoff uint64
	var phentsize, phnum int
	switch ident[4] {
	case 1:
		info.Class = 32
		var h [52]byte
		if _, err := r.ReadAt(h[:], 0); err != nil {
			return nil, fmt.Errorf("%w: header: %w", ErrCorrupt, err)
		}
		phoff = uint64(bo.Uint32(h[28:]))
		phentsize, phnum = int(bo.Uint16(h[42:])), int(bo.Uint16(h[44:]))
		if phentsize != 32 && phnum > 0 {
			return nil, fmt.Errorf("%w: program header size %d", ErrCorrupt, phentsize)
		}
	case 2:
		info.Class = 64
		var h [64]byte
		if _, err := r.ReadAt(h[:], 0); err != nil {
			return nil, fmt.Errorf("%w: header: %w", ErrCorrupt, err)
		}
		phoff = bo.Uint64(h[32:])
		phentsize, phnum = int(bo.Uint16(h[54:])), int(bo.Uint16(h[56:]))
		if phentsize != 56 && phnum > 0 {
			return nil, fmt.Errorf("%w: program header size %d", ErrCorrupt, phentsize)
		}
	default:
		return nil, fmt.Errorf("%w: class %d", ErrCorrupt, ident[4])
	}
	if phnum > maxPhnum {
		return nil, fmt.Errorf("%w: %d program headers", ErrCorrupt, phnum)
	}
	if phnum == 0 {
		return info, nil
	}
	if !within(phoff, uint64(phentsize*phnum), size) {
		return nil, fmt.Errorf("%w: program headers outside the file", ErrCorrupt)
	}
	raw := make([]byte, phentsize*phnum)
	if _, err := r.ReadAt(raw, int64(phoff)); err != nil {
		return nil, fmt.Errorf("%w: program headers: %w", ErrCorrupt, err)
	}
	phs := make([]phdr, phnum)
	for i := range phs {
		b := raw[i*phentsize:]
		if info.Class == 32 {
			phs[i] = phdr{typ: bo.Uint32(b), off: uint64(bo.Uint32(b[4:])), vaddr: uint64(bo.Uint32(b[8:])),
				filesz: uint64(bo.Uint32(b[16:])), memsz: uint64(bo.Uint32(b[20:])), al: uint64(bo.Uint32(b[28:]))}
		} else {
			phs[i] = phdr{typ: bo.Uint32(b), off: bo.Uint64(b[8:]), vaddr: bo.Uint64(b[16:]),
				filesz: bo.Uint64(b[32:]), memsz: bo.Uint64(b[40:]), al: bo.Uint64(b[48:])}
		}
	}
	info.MapLength, info.MaxAlign = loadSpan(phs, pageSize)
	for _, ph := range phs {
		switch ph.typ {
		case ptInterp:
			s, err := readString(r, size, ph.off, min(ph.filesz, maxName))
			if err != nil {
				return nil, fmt.Errorf("%w: PT_INTERP: %w", ErrCorrupt, err)
			}
			info.Interp = s
		case ptDynamic:
			info.Dynamic = true
			if err := readDynamic(r, size, bo, info, ph, phs); err != nil {
				return nil, err
			}
		}
	}
	return info, nil
}

// loadSpan is _dl_map_segments' maplength: from the first PT_LOAD's page to
// the end of the last's memory, in whole pages, and the largest alignment.
func loadSpan(phs []phdr, page uint64) (length, align uint64) {
	if page == 0 {
		page = 4096
	}
	var lo, hi uint64
	first := true
	for _, ph := range phs {
		if ph.typ != ptLoad {
			continue
		}
		end := ph.vaddr + ph.memsz
		if end < ph.vaddr {
			continue // wraps: corrupt, and ld.so refuses it
		}
		start := ph.vaddr &^ (page - 1)
		if first || start < lo {
			lo = start
		}
		if first || end > hi {
			hi = end
		}
		first = false
		align = max(align, ph.al)
	}
	if first {
		return 0, 0
	}
	length = hi - lo
	if r := length % page; r != 0 {
		length += page - r
	}
	return length, align
}

func within(off, n uint64, size int64) bool {
	return size >= 0 && off <= uint64(size) && n <= uint64(size)-off
}

// readDynamic reads DT_NEEDED, DT_SONAME and DT_AUDIT/DT_DEPAUDIT; their
// strings are in DT_STRTAB, a virtual address found through PT_LOAD.
func readDynamic(r io.ReaderAt, size int64, bo binary.ByteOrder, info *Info, dyn phdr, phs []phdr) error {
	n := min(dyn.filesz, maxDynBytes)
	if !within(dyn.off, n, size) {
		return fmt.Errorf("%w: PT_DYNAMIC outside the file", ErrCorrupt)
	}
	raw := make([]byte, n)
	if _, err := r.ReadAt(raw, int64(dyn.off)); err != nil {
		return fmt.Errorf("%w: PT_DYNAMIC: %w", ErrCorrupt, err)
	}
	ent := 16
	if info.Class == 32 {
		ent = 8
	}
	var strtab, strsz uint64
	var needed, audit []uint64
	soname, hasSoname := uint64(0), false
	for i := 0; i+ent <= len(raw); i += ent {
		var tag, val uint64
		if ent == 8 {
			tag, val = uint64(bo.Uint32(raw[i:])), uint64(bo.Uint32(raw[i+4:]))
		} else {
			tag, val = bo.Uint64(raw[i:]), bo.Uint64(raw[i+8:])
		}
		if tag == dtNull {
			break
		}
		switch tag {
		case dtNeeded:
			if len(needed) < maxNeeded {
				needed = append(needed, val)
			}
		case dtStrtab:
			strtab = val
		case dtStrsz:
			strsz = val
		case dtSoname:
			soname, hasSoname = val, true
		case dtAudit, dtDepaudit:
			audit = append(audit, val)
		}
	}
	if len(needed) == 0 && !hasSoname && len(audit) == 0 {
		return nil
	}
	off, ok := vaddrToOffset(phs, strtab)
	if !ok {
		return fmt.Errorf("%w: DT_STRTAB %#x is in no PT_LOAD", ErrCorrupt, strtab)
	}
	str := func(idx uint64) (string, error) {
		if idx >= strsz {
			return "", fmt.Errorf("%w: string %d past DT_STRSZ %d", ErrCorrupt, idx, strsz)
		}
		return readString(r, size, off+idx, min(strsz-idx, maxName))
	}
	for _, idx := range needed {
		s, err := str(idx)
		if err != nil {
			return err
		}
		info.Needed = append(info.Needed, s)
	}
	for _, idx := range audit {
		s, err := str(idx)
		if err != nil {
			return err
		}
		info.Audit = append(info.Audit, s)
	}
	if hasSoname {
		s, err := str(soname)
		if err != nil {
			return err
		}
		info.Soname = s
	}
	return nil
}

func vaddrToOffset(phs []phdr, v uint64) (uint64, bool) {
	for _, ph := range phs {
		if ph.typ == ptLoad && v >= ph.vaddr && v-ph.vaddr < ph.filesz {
			return ph.off + (v - ph.vaddr), true
		}
	}
	return 0, false
}

// readString reads a NUL-terminated string at off, at most limit bytes.
func readString(r io.ReaderAt, size int64, off, limit uint64) (string, error) {
	if off >= uint64(max(size, 0)) {
		return "", errors.New("string outside the file")
	}
	limit = min(limit, uint64(size)-off)
	buf := make([]byte, limit)
	n, err := r.ReadAt(buf, int64(off))
	if err != nil && !errors.Is(err, io.EOF) {
		return "", err
	}
	buf = buf[:n]
	i := bytes.IndexByte(buf, 0)
	if i < 0 {
		return "", errors.New("string not terminated")
	}
	return string(buf[:i]), nil
}
