// Package machofacts reads what the trust judgement needs from a Mach-O file:
// thin or fat, the architecture of each slice, whether it is a loadable
// library (MH_DYLIB, MH_BUNDLE), its install name (LC_ID_DYLIB), and whether
// it carries a code signature (LC_CODE_SIGNATURE). It is pure and OS-neutral:
// it reads an io.ReaderAt through the standard library's debug/macho and
// never opens a file, so the file-facts layer chooses the file and caches the
// result per file identity. Signature validity is not judged here; osquery's
// core `signature` table does that and a pack query can JOIN it.
package machofacts

import (
	"debug/macho"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"slices"
	"strings"
)

// Load commands read from the raw command bytes (debug/macho keeps commands
// it does not model as raw bytes).
const (
	lcIDDylib        = 0xd  // LC_ID_DYLIB
	lcCodeSignature  = 0x1d // LC_CODE_SIGNATURE
	fatMagic         = 0xcafebabe
	fatMagic64       = 0xcafebabf
	fatArchHeaderLen = 20
)

// Limits bound one parse.
type Limits struct {
	// MaxSize is the largest file accepted (DefaultMaxSize when 0); a
	// larger one is ErrTooLarge without a byte read past the fat header.
	MaxSize int64
	// MaxRead bounds the bytes debug/macho may read (DefaultMaxRead when 0):
	// it reads the symbol and string tables as well as the load commands,
	// and a hostile table size must not turn into work.
	MaxRead int64
	// MaxArches bounds the slices of a fat file (DefaultMaxArches when 0).
	MaxArches int
}

// Defaults for Limits. Real fat files have two or three slices; the largest
// dylibs on disk (Electron, Chromium frameworks) are a few hundred MiB.
const (
	DefaultMaxSize   = 1 << 30
	DefaultMaxRead   = 64 << 20
	DefaultMaxArches = 16
)

func (l Limits) norm() Limits {
	if l.MaxSize <= 0 {
		l.MaxSize = DefaultMaxSize
	}
	if l.MaxRead <= 0 {
		l.MaxRead = DefaultMaxRead
	}
	if l.MaxArches <= 0 {
		l.MaxArches = DefaultMaxArches
	}
	return l
}

// Errors wrapped by Parse. Any other error names what was malformed.
var (
	ErrNotMachO     = errors.New("not a Mach-O file")
	ErrTooLarge     = errors.New("Mach-O file over the size limit")
	ErrReadBudget   = errors.New("Mach-O parse over the read budget")
	ErrUnsupported  = errors.New("unsupported Mach-O variant")
	errBudgetReader = errors.New("read budget exhausted")
)

// Slice is one architecture's image.
type Slice struct {
	// Arch is the architecture as Apple's tools name it: "arm64",
	// "arm64e", "x86_64", "x86_64h", "i386", "arm", "ppc", "ppc64", or
	// "cpu_0x..." for anything else.
	Arch       string
	CPU        uint32
	CPUSubtype uint32
	// FileType is "execute", "dylib", "bundle", "object", ... from the
	// header's filetype.
	FileType string
	// IsDylib is set for MH_DYLIB and MH_BUNDLE: the images dlopen loads.
	IsDylib bool
	// Signed is set when the image carries LC_CODE_SIGNATURE (ad-hoc and
	// linker signatures included; validity is not checked).
	Signed bool
	// InstallName is LC_ID_DYLIB's name ("" when there is none).
	InstallName string
	// Offset and Size locate the image in the file (0 and the file size for
	// a thin file).
	Offset, Size int64
}

// Facts are the facts of one file.
type Facts struct {
	Fat    bool
	Slices []Slice
}

// Arches returns the slice architectures in file order.
func (f Facts) Arches() []string {
	out := make([]string, len(f.Slices))
	for i, s := range f.Slices {
		out[i] = s.Arch
	}
	return out
}

// IsDylib reports whether any slice is a dylib or bundle (a fat file's slices
// share one type; debug/macho rejects a mix).
func (f Facts) IsDylib() bool {
	return slices.ContainsFunc(f.Slices, func(s Slice) bool { return s.IsDylib })
}

// Signed reports whether every slice carries a code signature: the loader
// picks one slice, and an unsigned one is what would run unsigned.
func (f Facts) Signed() bool {
	return len(f.Slices) > 0 && !slices.ContainsFunc(f.Slices, func(s Slice) bool { return !s.Signed })
}

// Sniff reports whether b starts with a Mach-O or fat magic number, so a
// caller can skip Parse for other files. 0xcafebabe is also a Java class
// file's magic; Parse tells them apart.
func Sniff(b []byte) bool {
	if len(b) < 4 {
		return false
	}
	switch binary.BigEndian.Uint32(b) {
	case fatMagic, fatMagic64, macho.Magic32, macho.Magic64:
		return true
	}
	switch binary.LittleEndian.Uint32(b) {
	case macho.Magic32, macho.Magic64:
		return true
	}
	return false
}

// Parse reads the facts of the Mach-O file r of size bytes. It never panics:
// a panic inside debug/macho on hostile input is returned as an error.
func Parse(r io.ReaderAt, size int64, lim Limits) (f Facts, err error) {
	lim = lim.norm()
	defer func() {
		if p := recover(); p != nil {
			f, err = Facts{}, fmt.Errorf("%w: debug/macho panicked: %v", ErrNotMachO, p)
		}
	}()
	if size > lim.MaxSize {
		return Facts{}, fmt.Errorf("%w: %d bytes, limit %d", ErrTooLarge, size, lim.MaxSize)
	}
	br := &budgetReader{r: io.NewSectionReader(r, 0, size), left: lim.MaxRead}
	var hdr [8]byte
	if n, _ := br.ReadAt(hdr[:], 0); n < 4 {
		return Facts{}, fmt.Errorf("%w: %d bytes", ErrNotMachO, size)
	}
	switch binary.BigEndian.Uint32(hdr[:]) {
	case fatMagic64:
		return Facts{}, fmt.Errorf("%w: 64-bit fat header (debug/macho reads only the 32-bit one)", ErrUnsupported)
	case fatMagic:
		narch := binary.BigEndian.Uint32(hdr[4:])
		if int64(narch) > int64(lim.MaxArches) || 8+int64(narch)*fatArchHeaderLen > size {
			return Facts{}, fmt.Errorf("%w: fat header claims %d architectures (limit %d, file %d bytes)", ErrNotMachO, narch, lim.MaxArches, size)
		}
		ff, err := macho.NewFatFile(br)
		if err != nil {
			return Facts{}, wrap(br, err)
		}
		f.Fat = true
		for _, a := range ff.Arches {
			s := slice(a.File)
			s.Offset, s.Size = int64(a.Offset), int64(a.Size)
			f.Slices = append(f.Slices, s)
		}
		return f, nil
	}
	mf, err := macho.NewFile(br)
	if err != nil {
		return Facts{}, wrap(br, err)
	}
	s := slice(mf)
	s.Size = size
	f.Slices = []Slice{s}
	return f, nil
}

// wrap classifies a debug/macho error: the budget, a foreign file, or a
// malformed Mach-O (debug/macho's FormatError names the offset and field).
func wrap(br *budgetReader, err error) error {
	if br.exhausted {
		return fmt.Errorf("%w: %w", ErrReadBudget, err)
	}
	var fe *macho.FormatError
	if errors.As(err, &fe) && strings.Contains(err.Error(), "invalid magic number") {
		return fmt.Errorf("%w: %w", ErrNotMachO, err)
	}
	return fmt.Errorf("malformed Mach-O: %w", err)
}

func slice(mf *macho.File) Slice {
	s := Slice{
		Arch:       archName(mf.Cpu, mf.SubCpu),
		CPU:        uint32(mf.Cpu),
		CPUSubtype: mf.SubCpu,
		FileType:   typeName(mf.Type),
		IsDylib:    mf.Type == macho.TypeDylib || mf.Type == macho.TypeBundle,
	}
	for _, l := range mf.Loads {
		raw := l.Raw()
		if len(raw) < 8 {
			continue
		}
		switch mf.ByteOrder.Uint32(raw) {
		case lcCodeSignature:
			s.Signed = true
		case lcIDDylib:
			if s.InstallName == "" && len(raw) >= 12 {
				if off := mf.ByteOrder.Uint32(raw[8:]); off >= 12 && int64(off) < int64(len(raw)) {
					s.InstallName = cString(raw[off:])
				}
			}
		}
	}
	return s
}

func cString(b []byte) string {
	if i := slices.Index(b, 0); i >= 0 {
		b = b[:i]
	}
	return string(b)
}

// cpuSubtypeMask strips the capability bits (CPU_SUBTYPE_MASK, e.g. arm64e's
// pointer-authentication ABI version) from a subtype.
const cpuSubtypeMask = 0x00ffffff

func archName(cpu macho.Cpu, sub uint32) string {
	sub &= cpuSubtypeMask
	switch cpu {
	case macho.CpuArm64:
		if sub == 2 { // CPU_SUBTYPE_ARM64E
			return "arm64e"
		}
		return "arm64"
	case macho.CpuAmd64:
		if sub == 8 { // CPU_SUBTYPE_X86_64_H
			return "x86_64h"
		}
		return "x86_64"
	case macho.Cpu386:
		return "i386"
	case macho.CpuArm:
		return "arm"
	case macho.CpuPpc:
		return "ppc"
	case macho.CpuPpc64:
		return "ppc64"
	}
	return fmt.Sprintf("cpu_%#x", uint32(cpu))
}

func typeName(t macho.Type) string {
	switch t {
	case macho.TypeObj:
		return "object"
	case macho.TypeExec:
		return "execute"
	case macho.TypeDylib:
		return "dylib"
	case macho.TypeBundle:
		return "bundle"
	}
	return fmt.Sprintf("type_%d", uint32(t))
}

// budgetReader fails reads once left bytes have been read, so a hostile
// symbol-table size costs at most the budget.
type budgetReader struct {
	r         io.ReaderAt
	left      int64
	exhausted bool
}

func (b *budgetReader) ReadAt(p []byte, off int64) (int, error) {
	if int64(len(p)) > b.left {
		b.exhausted = true
		return 0, errBudgetReader
	}
	n, err := b.r.ReadAt(p, off)
	b.left -= int64(n)
	return n, err
}
