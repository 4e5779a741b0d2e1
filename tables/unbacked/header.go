package unbacked

import "encoding/binary"

// Header is what a region's first bytes are.
type Header string

// Header values, as the header column spells them. An empty Header means
// the bytes were not read (unreadable memory, or past a read bound).
const (
	HeaderPE   Header = "pe"
	HeaderELF  Header = "elf"
	HeaderNone Header = "none"
)

// PE header offsets (PE/COFF specification).
const (
	peLfanewAt     = 0x3c
	coffHeaderSize = 20
	optMagicPE32   = 0x10b
	optMagicPE32P  = 0x20b
	// The data directories start this far into the optional header.
	dirsAtPE32  = 96
	dirsAtPE32P = 112
	// The CLR runtime header (COM descriptor) is data directory 14.
	dirCLR = 14
)

// Classify says what the first bytes of a region hold: an ELF header
// (magic, a known class, byte order and version), an MZ/PE header (MZ, an
// e_lfanew inside b pointing at "PE\0\0" and a COFF header), or neither.
// dotnet is true for a PE whose optional header names a CLR runtime header
// (data directory 14): a .NET assembly. It reads only b, which may be
// anything: it is what a process put in its memory.
func Classify(b []byte) (h Header, dotnet bool) {
	switch {
	case len(b) >= 7 && b[0] == 0x7f && b[1] == 'E' && b[2] == 'L' && b[3] == 'F':
		// EI_CLASS 1 or 2, EI_DATA 1 or 2, EI_VERSION 1.
		if (b[4] == 1 || b[4] == 2) && (b[5] == 1 || b[5] == 2) && b[6] == 1 {
			return HeaderELF, false
		}
	case len(b) >= peLfanewAt+4 && b[0] == 'M' && b[1] == 'Z':
		off := uint64(binary.LittleEndian.Uint32(b[peLfanewAt:]))
		if off < 0x40 || off+4+coffHeaderSize > uint64(len(b)) {
			return HeaderNone, false
		}
		if b[off] != 'P' || b[off+1] != 'E' || b[off+2] != 0 || b[off+3] != 0 {
			return HeaderNone, false
		}
		return HeaderPE, clrHeader(b, off+4)
	}
	return HeaderNone, false
}

// clrHeader reports whether the PE whose COFF header starts at coff in b
// has a non-empty CLR runtime header directory.
func clrHeader(b []byte, coff uint64) bool {
	optSize := uint64(binary.LittleEndian.Uint16(b[coff+16:]))
	opt := coff + coffHeaderSize
	if opt+2 > uint64(len(b)) || optSize < 2 {
		return false
	}
	var dirs uint64
	switch binary.LittleEndian.Uint16(b[opt:]) {
	case optMagicPE32:
		dirs = dirsAtPE32
	case optMagicPE32P:
		dirs = dirsAtPE32P
	default:
		return false
	}
	// NumberOfRvaAndSizes is the field right before the directories.
	if optSize < dirs+(dirCLR+1)*8 || opt+dirs+(dirCLR+1)*8 > uint64(len(b)) {
		return false
	}
	if binary.LittleEndian.Uint32(b[opt+dirs-4:]) <= dirCLR {
		return false
	}
	d := opt + dirs + dirCLR*8
	return binary.LittleEndian.Uint32(b[d:]) != 0 && binary.LittleEndian.Uint32(b[d+4:]) != 0
}
