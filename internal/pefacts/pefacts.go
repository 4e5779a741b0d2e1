// Package pefacts reads what a hunter needs to know about a Windows PE
// file, or a .NET assembly found in memory, from its bytes alone: the
// version resource strings Sysmon reports, the imphash, machine, DLL and
// .NET flags, and the CLI assembly identity (name, version, culture,
// public key token, module MVID).
//
// It is OS-neutral and pure: it reads an io.ReaderAt or a byte slice and
// never opens files itself, so the file-facts layer decides which file and
// caches the result per file identity. Every parse is bounded in bytes
// read and in wall time (Limits), recovers from panics, and reports a
// broken part as an error while keeping the parts it could read.
//
// See README.md for what is parsed, how the file and memory layouts are
// handled, and which parts of github.com/saferwall/pe are used.
package pefacts

import (
	"errors"
	"fmt"
	"io"
	"runtime/debug"
	"time"
)

// Layout says how the bytes of a PE are arranged.
type Layout uint8

const (
	// LayoutFile is the PE as stored on disk: an RVA is translated to a file
	// offset through the section table.
	LayoutFile Layout = iota
	// LayoutImage is the PE as the Windows loader (or the CLR) lays it out
	// in memory: each section at its RVA, so RVA == offset.
	LayoutImage
)

func (l Layout) String() string {
	if l == LayoutImage {
		return "image"
	}
	return "file"
}

// Limits bound one parse. The zero value means the defaults.
type Limits struct {
	// MaxInputSize refuses inputs larger than this (default 1 GiB). Only the
	// structures parsed are read, not the whole input.
	MaxInputSize int64
	// MaxRead is the most bytes one parse may read (default 8 MiB).
	MaxRead int64
	// Timeout is the wall time one parse may take (default 2 s). It is
	// checked before every read; a single read is at most one 4 KiB page.
	Timeout time.Duration
}

// Defaults. A normal DLL reads well under 100 KiB in well under a
// millisecond; the limits only stop hostile or absurd inputs.
const (
	DefaultMaxInputSize = 1 << 30
	DefaultMaxRead      = 8 << 20
	DefaultTimeout      = 2 * time.Second
)

func (l Limits) maxInput() int64 {
	if l.MaxInputSize > 0 {
		return l.MaxInputSize
	}
	return DefaultMaxInputSize
}

func (l Limits) maxRead() int64 {
	if l.MaxRead > 0 {
		return l.MaxRead
	}
	return DefaultMaxRead
}

func (l Limits) deadline() time.Time {
	if l.Timeout > 0 {
		return time.Now().Add(l.Timeout)
	}
	return time.Now().Add(DefaultTimeout)
}

// Facts are what one PE says about itself. A part that could not be read
// has its error set and its fields empty; the other parts are still good.
type Facts struct {
	Machine     uint16 // IMAGE_FILE_HEADER.Machine
	MachineName string // "x86", "x64", "arm64", ... or "0x%04x"
	Is64        bool   // PE32+
	IsDLL       bool   // IMAGE_FILE_DLL
	IsDotNet    bool   // a CLR (COR20) header is present

	// From the VS_VERSIONINFO resource, the string table chosen as
	// README.md describes.
	Version    VersionInfo
	VersionErr error // nil also when the file has no version resource

	// Imphash as pefile computes it; empty when the file imports nothing.
	Imphash    string
	ImportsErr error

	// Assembly is set when IsDotNet and the CLI metadata holds an
	// Assembly row; AssemblyErr says why it is missing otherwise.
	Assembly    *Assembly
	AssemblyErr error
}

// VersionInfo holds the StringFileInfo values Sysmon reports.
type VersionInfo struct {
	OriginalFileName string
	CompanyName      string
	ProductName      string
	FileDescription  string
	FileVersion      string // the string value, e.g. "10.0.19041.1 (WinBuild.160101.0800)"
	ProductVersion   string
	// FixedFileVersion is VS_FIXEDFILEINFO's binary file version "a.b.c.d".
	FixedFileVersion string
	// Translation is the string table used, "llllcccc" in lower-case hex
	// (language, code page), e.g. "040904b0"; empty when none was found.
	Translation string
}

// Assembly is a CLI assembly identity, read from the metadata's own
// Assembly and Module tables (never from a file name).
type Assembly struct {
	Name           string
	Version        string // "major.minor.build.revision"
	Culture        string // empty for culture-neutral
	PublicKeyToken string // 16 lower-case hex digits, empty when unsigned
	PublicKey      []byte
	Flags          uint32 // AssemblyFlags
	HashAlgID      uint32
	ModuleName     string // Module table name, e.g. "Foo.dll"
	MVID           string // module version id, lower-case "xxxxxxxx-xxxx-xxxx-xxxx-xxxxxxxxxxxx"
	RuntimeVersion string // metadata root version string, e.g. "v4.0.30319"
}

// FullName is the display name the runtime uses, e.g.
// "System.Xml, Version=4.0.0.0, Culture=neutral, PublicKeyToken=b77a5c561934e089".
func (a *Assembly) FullName() string {
	culture, token := a.Culture, a.PublicKeyToken
	if culture == "" {
		culture = "neutral"
	}
	if token == "" {
		token = "null"
	}
	return fmt.Sprintf("%s, Version=%s, Culture=%s, PublicKeyToken=%s", a.Name, a.Version, culture, token)
}

// ErrNotPE is wrapped by Parse's error when the input has no valid DOS and
// NT headers.
var ErrNotPE = errors.New("not a PE image")

// Parse reads the facts of the PE held by r (size bytes) in the given
// layout. It fails only when the headers cannot be read; a broken import
// table, version resource or CLI metadata is reported in Facts.
func Parse(r io.ReaderAt, size int64, layout Layout, lim Limits) (f *Facts, err error) {
	if size > lim.maxInput() {
		return nil, fmt.Errorf("%w: input of %d bytes is larger than %d", ErrLimit, size, lim.maxInput())
	}
	return parse(newReaderSource(r, size, lim), layout)
}

// ParseBytes is Parse over an in-memory buffer, without copying it.
func ParseBytes(b []byte, layout Layout, lim Limits) (*Facts, error) {
	if int64(len(b)) > lim.maxInput() {
		return nil, fmt.Errorf("%w: input of %d bytes is larger than %d", ErrLimit, len(b), lim.maxInput())
	}
	return parse(newBytesSource(b, lim), layout)
}

func parse(s *source, layout Layout) (f *Facts, err error) {
	defer recoverInto(&err, "pe")
	img, err := openImage(s, 0, layout)
	if err != nil {
		return nil, err
	}
	f = &Facts{
		Machine:     img.machine,
		MachineName: machineName(img.machine),
		Is64:        img.is64,
		IsDLL:       img.characteristics&imageFileDLL != 0,
	}
	f.Imphash, f.ImportsErr = guard("imports", func() (string, error) { return img.imphash() })
	var v *VersionInfo
	v, f.VersionErr = guard("version resource", func() (*VersionInfo, error) { return img.versionInfo() })
	if v != nil {
		f.Version = *v
	}
	if dir, ok := img.dir(dirCLR); ok && dir.VirtualAddress != 0 && dir.Size != 0 {
		f.IsDotNet = true
		f.Assembly, f.AssemblyErr = guard("cli metadata", func() (*Assembly, error) { return img.assembly(false) })
	}
	return f, nil
}

// ReadAssembly reads only the CLI assembly identity of the PE held by r.
func ReadAssembly(r io.ReaderAt, size int64, layout Layout, lim Limits) (a *Assembly, err error) {
	if size > lim.maxInput() {
		return nil, fmt.Errorf("%w: input of %d bytes is larger than %d", ErrLimit, size, lim.maxInput())
	}
	defer recoverInto(&err, "pe")
	img, err := openImage(newReaderSource(r, size, lim), 0, layout)
	if err != nil {
		return nil, err
	}
	return img.assembly(false)
}

// ReadMetadata reads the assembly identity from a bare CLI metadata root
// ("BSJB") at off in r, as found in memory without its PE headers. The
// metadata is validated strictly (see README.md), since such roots are
// found by searching memory.
func ReadMetadata(r io.ReaderAt, size, off int64, lim Limits) (a *Assembly, err error) {
	defer recoverInto(&err, "cli metadata")
	return readMetadata(newReaderSource(r, size, lim), off, size-off, true)
}

// guard runs one part of a parse, turning a panic into that part's error.
func guard[T any](part string, fn func() (T, error)) (v T, err error) {
	defer recoverInto(&err, part)
	v, err = fn()
	if err != nil {
		err = fmt.Errorf("%s: %w", part, err)
	}
	return v, err
}

// recoverInto turns a panic in a parser into an error, so that no input,
// however hostile, takes the extension down with it.
func recoverInto(err *error, part string) {
	if p := recover(); p != nil {
		*err = fmt.Errorf("%s: parser panic: %v\n%s", part, p, debug.Stack())
	}
}

func machineName(m uint16) string {
	switch m {
	case 0x014c:
		return "x86"
	case 0x8664:
		return "x64"
	case 0xaa64:
		return "arm64"
	case 0xa641:
		return "arm64ec"
	case 0x01c4:
		return "arm"
	case 0x0200:
		return "ia64"
	}
	return fmt.Sprintf("0x%04x", m)
}
