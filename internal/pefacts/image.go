package pefacts

import (
	"errors"
	"fmt"

	pe "github.com/saferwall/pe"
	pelog "github.com/saferwall/pe/log"
)

const (
	imageFileDLL = 0x2000

	dirImport   = 1
	dirResource = 2
	dirCLR      = 14

	// The Windows loader's own ceilings: it refuses more sections than
	// this, and e_lfanew beyond 256 MiB.
	maxSections = 96 * 1024 / 40 // keeps the section table within 96 KiB
	maxLfanew   = 256 << 20
)

type section struct {
	va, vsize  uint32 // virtual extent (vsize already defaulted to SizeOfRawData when 0)
	raw, rsize uint32 // file extent, raw already rounded down as the loader does
}

// image is one PE in a source: at base, in a layout.
type image struct {
	s      *source
	base   int64
	layout Layout

	machine         uint16
	characteristics uint16
	is64            bool
	sizeOfImage     uint32
	sizeOfHeaders   uint32
	fileAlign       uint32
	dirs            []pe.DataDirectory // only the NumberOfRvaAndSizes the header declares
	sections        []section
	lastHit         int // index of the section the last lookup found
}

// nopLogger keeps saferwall from writing to stdout, which it does by
// default at error level.
type nopLogger struct{}

func (nopLogger) Log(pelog.Level, ...any) error { return nil }

// openImage reads the DOS and NT headers at base. The DOS and NT header
// structures are decoded by saferwall/pe over a buffer that holds only the
// headers (so its work is bounded by that buffer); the section table is
// read here, because saferwall drops sections it finds anomalous against
// the buffer's size and translates RVAs with pefile's heuristics rather
// than the loader's rules, and it knows no memory layout.
func openImage(s *source, base int64, layout Layout) (*image, error) {
	dos, err := s.slice(base, 64)
	if err != nil {
		return nil, fmt.Errorf("%w: DOS header: %w", ErrNotPE, err)
	}
	if dos[0] != 'M' || dos[1] != 'Z' {
		return nil, fmt.Errorf("%w: no MZ signature", ErrNotPE)
	}
	lfanew := int64(le32(dos[0x3c:]))
	if lfanew < 4 || lfanew > maxLfanew {
		return nil, fmt.Errorf("%w: e_lfanew %#x out of range", ErrNotPE, lfanew)
	}
	fh, err := s.slice(base+lfanew, 24)
	if err != nil {
		return nil, fmt.Errorf("%w: NT headers: %w", ErrNotPE, err)
	}
	if le32(fh) != 0x00004550 {
		return nil, fmt.Errorf("%w: no PE signature at e_lfanew %#x", ErrNotPE, lfanew)
	}
	nsec := int64(le16(fh[6:]))
	optSize := int64(le16(fh[20:]))
	if nsec > maxSections {
		return nil, fmt.Errorf("%w: %d sections", ErrNotPE, nsec)
	}
	secOff := lfanew + 24 + optSize
	// saferwall decodes the whole optional header structure (240 bytes for
	// PE32+) whatever SizeOfOptionalHeader says, so the buffer spans at
	// least that much where the input has it.
	hdrLen := max(secOff+nsec*40, lfanew+24+240)
	hdrLen = min(hdrLen, s.size-base)
	if hdrLen < secOff+nsec*40 {
		return nil, fmt.Errorf("%w: section table beyond input", ErrNotPE)
	}
	hdr, err := s.slice(base, hdrLen)
	if err != nil {
		return nil, fmt.Errorf("%w: headers: %w", ErrNotPE, err)
	}

	img := &image{s: s, base: base, layout: layout}
	if err := img.decodeNT(hdr); err != nil {
		return nil, err
	}
	for i := range nsec {
		b := hdr[secOff+i*40:]
		sec := section{va: le32(b[12:]), vsize: le32(b[8:]), rsize: le32(b[16:]), raw: le32(b[20:])}
		if sec.vsize == 0 {
			sec.vsize = sec.rsize
		}
		img.sections = append(img.sections, sec)
	}
	img.alignRaw()
	return img, nil
}

// decodeNT lets saferwall decode the DOS and NT headers, then keeps what
// this package uses. A panic in saferwall is recovered by the caller.
func (img *image) decodeNT(hdr []byte) error {
	f, err := pe.NewBytes(hdr, &pe.Options{Fast: true, Logger: nopLogger{}, DisableCertValidation: true, DisableSignatureValidation: true})
	if err != nil {
		return fmt.Errorf("%w: %w", ErrNotPE, err)
	}
	if err := f.ParseDOSHeader(); err != nil {
		return fmt.Errorf("%w: DOS header: %w", ErrNotPE, err)
	}
	// saferwall rejects an ImageBase that is not 64 KiB aligned. The Windows
	// loader does too, but Mono loads such assemblies, so the header (which
	// saferwall stores before that check) is kept.
	if err := f.ParseNTHeader(); err != nil && !errors.Is(err, pe.ErrImageBaseNotAligned) {
		return fmt.Errorf("%w: NT headers: %w", ErrNotPE, err)
	}
	img.machine = uint16(f.NtHeader.FileHeader.Machine)
	img.characteristics = uint16(f.NtHeader.FileHeader.Characteristics)
	var n uint32
	var dirs [16]pe.DataDirectory
	switch oh := f.NtHeader.OptionalHeader.(type) {
	case pe.ImageOptionalHeader64:
		img.is64 = true
		img.sizeOfImage, img.sizeOfHeaders = oh.SizeOfImage, oh.SizeOfHeaders
		n, dirs = oh.NumberOfRvaAndSizes, oh.DataDirectory
		img.fileAlign = oh.FileAlignment
	case pe.ImageOptionalHeader32:
		img.sizeOfImage, img.sizeOfHeaders = oh.SizeOfImage, oh.SizeOfHeaders
		n, dirs = oh.NumberOfRvaAndSizes, oh.DataDirectory
		img.fileAlign = oh.FileAlignment
	default:
		return fmt.Errorf("%w: no optional header", ErrNotPE)
	}
	// Directories past NumberOfRvaAndSizes do not exist for the loader,
	// whatever bytes sit there.
	img.dirs = dirs[:min(n, 16)]
	return nil
}

// alignRaw applies the loader's rounding of PointerToRawData (down to 512
// bytes when FileAlignment is at least that), as pefile does too.
func (img *image) alignRaw() {
	if img.fileAlign < 0x200 {
		return
	}
	for i := range img.sections {
		img.sections[i].raw &^= 0x1ff
	}
}

// dir returns data directory i when the header declares it.
func (img *image) dir(i int) (pe.DataDirectory, bool) {
	if i >= len(img.dirs) {
		return pe.DataDirectory{}, false
	}
	return img.dirs[i], true
}

// find returns the section holding rva, or -1.
func (img *image) find(rva uint32) int {
	if i := img.lastHit; i < len(img.sections) && img.sections[i].contains(rva) {
		return i
	}
	for i := range img.sections {
		if img.sections[i].contains(rva) {
			img.lastHit = i
			return i
		}
	}
	return -1
}

func (s section) contains(rva uint32) bool {
	return rva >= s.va && uint64(rva) < uint64(s.va)+uint64(s.vsize)
}

// extent returns how many bytes from rva on belong to the same mapped
// region (a section, or the headers), capped at max.
func (img *image) extent(rva, max uint32) (uint32, error) {
	if img.layout == LayoutImage {
		off := img.base + int64(rva)
		if off >= img.s.size {
			return 0, fmt.Errorf("%w: RVA %#x beyond image", errTruncated, rva)
		}
		return uint32(min(int64(max), img.s.size-off)), nil
	}
	if i := img.find(rva); i >= 0 {
		sec := img.sections[i]
		return uint32(min(uint64(max), uint64(sec.va)+uint64(sec.vsize)-uint64(rva))), nil
	}
	if rva < img.sizeOfHeaders {
		return min(max, img.sizeOfHeaders-rva), nil
	}
	return 0, fmt.Errorf("RVA %#x is in no section", rva)
}

// at returns n bytes at rva as the loader presents them: in the file
// layout through the section table, with the part of a section beyond its
// raw data reading as zeros.
func (img *image) at(rva, n uint32) ([]byte, error) {
	if img.layout == LayoutImage {
		return img.s.slice(img.base+int64(rva), int64(n))
	}
	i := img.find(rva)
	if i < 0 {
		if uint64(rva)+uint64(n) <= uint64(img.sizeOfHeaders) {
			return img.s.slice(img.base+int64(rva), int64(n))
		}
		return nil, fmt.Errorf("RVA %#x is in no section", rva)
	}
	sec := img.sections[i]
	d := rva - sec.va
	if uint64(d)+uint64(n) > uint64(sec.vsize) {
		return nil, fmt.Errorf("%w: %d bytes at RVA %#x cross the end of their section", errTruncated, n, rva)
	}
	rawLen := min(sec.rsize, sec.vsize)
	switch {
	case uint64(d)+uint64(n) <= uint64(rawLen):
		return img.s.slice(img.base+int64(sec.raw)+int64(d), int64(n))
	case d >= rawLen:
		if err := img.s.check(int64(n)); err != nil {
			return nil, err
		}
		return make([]byte, n), nil
	default:
		head, err := img.s.slice(img.base+int64(sec.raw)+int64(d), int64(rawLen-d))
		if err != nil {
			return nil, err
		}
		out := make([]byte, n)
		copy(out, head)
		return out, nil
	}
}

// cstringAt reads a NUL-terminated string of at most max bytes at rva,
// within its region. ok is false when no NUL ends it within max.
func (img *image) cstringAt(rva, max uint32) (str []byte, ok bool, err error) {
	n, err := img.extent(rva, max)
	if err != nil {
		return nil, false, err
	}
	b, err := img.at(rva, n)
	if err != nil {
		return nil, false, err
	}
	str, ok = cutNUL(b)
	return str, ok, nil
}

// fileExtent is where the last section's raw data ends: the size of the
// file without any overlay. It sizes an assembly found in memory in the
// file layout.
func (img *image) fileExtent() int64 {
	end := int64(img.sizeOfHeaders)
	for _, sec := range img.sections {
		end = max(end, int64(sec.raw)+int64(sec.rsize))
	}
	return end
}
