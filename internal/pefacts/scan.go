package pefacts

import (
	"bytes"
	"fmt"
	"io"
	"time"
)

// Found is a .NET assembly found in memory.
type Found struct {
	// Offset is where the assembly starts in the scanned input: its MZ
	// header, or its metadata root when no PE header was found with it.
	Offset int64
	// MetadataOffset is where its metadata root ("BSJB") lies.
	MetadataOffset int64
	// Size is how many bytes from Offset it spans: SizeOfImage in the image
	// layout, the end of the last section's data in the file layout, the
	// root and its streams for a bare metadata root.
	Size int64
	// HasPE is false for a metadata root found without PE headers.
	HasPE bool
	// Layout is how the PE lies in memory: LayoutFile for bytes kept as
	// read (Mono's Assembly.Load(byte[])), LayoutImage for an image laid
	// out by a loader (the CLR). Meaningless without HasPE.
	Layout   Layout
	Assembly Assembly
}

// ScanLimits bound one scan. The zero value means the defaults.
type ScanLimits struct {
	// PerCandidate bounds the parse of each signature hit (default: 1 MiB
	// read; its Timeout is ignored, the scan's own Timeout applies).
	PerCandidate Limits
	// MaxCandidates is how many signature hits are parsed at most
	// (default 4096); the scan stops with ErrLimit after that.
	MaxCandidates int
	// Timeout is the wall time of the whole scan (default 2 s).
	Timeout time.Duration
}

const (
	scanChunk    = 1 << 20
	scanLookback = 4096 // how far before "PE\0\0" its MZ header may be
)

var (
	sigBSJB = []byte("BSJB")
	sigPE   = []byte("PE\x00\x00")
)

// Scan searches buf (for instance a process's anonymous memory region)
// for .NET assemblies: PE headers (MZ ... PE\0\0) whose CLI metadata
// parses in the file or the image layout, and bare metadata roots
// ("BSJB") not already inside one of those. Each candidate is validated
// strictly (see README.md) so random bytes do not count as an assembly.
// An assembly present in both layouts (a flat copy and a laid-out image)
// is reported once per copy: the caller dedupes by MVID if it wants.
//
// When a limit stops the scan, what was found so far is returned with an
// error wrapping ErrLimit.
func Scan(buf []byte, lim ScanLimits) ([]Found, error) {
	sc := newScanner(lim)
	sc.newSource = func(l Limits) *source { return newBytesSource(buf, l) }
	return sc.run(int64(len(buf)), func(off, n int64) ([]byte, error) {
		return buf[off : off+n], nil
	})
}

// ScanReaderAt is Scan over size bytes of r (for instance a memory region
// through /proc/PID/mem or ReadProcessMemory), read in 1 MiB chunks.
func ScanReaderAt(r io.ReaderAt, size int64, lim ScanLimits) ([]Found, error) {
	sc := newScanner(lim)
	sc.newSource = func(l Limits) *source { return newReaderSource(r, size, l) }
	// A small region (most of a process's are) needs no 1 MiB buffer.
	chunk := make([]byte, min(size, scanLookback+scanChunk+8))
	return sc.run(size, func(off, n int64) ([]byte, error) {
		b := chunk[:n]
		got, err := r.ReadAt(b, off)
		if int64(got) < n {
			return nil, fmt.Errorf("read %d bytes at %#x: %w", n, off, err)
		}
		return b, nil
	})
}

type scanner struct {
	lim       ScanLimits
	deadline  time.Time
	newSource func(Limits) *source
	found     []Found
	seenMD    map[int64]bool // metadata roots already reported through a PE
	parsed    int
}

func newScanner(lim ScanLimits) *scanner {
	if lim.PerCandidate.MaxRead <= 0 {
		lim.PerCandidate.MaxRead = 1 << 20
	}
	if lim.MaxCandidates <= 0 {
		lim.MaxCandidates = 4096
	}
	if lim.Timeout <= 0 {
		lim.Timeout = DefaultTimeout
	}
	return &scanner{lim: lim, deadline: time.Now().Add(lim.Timeout), seenMD: map[int64]bool{}}
}

// run walks the input in chunks; each chunk carries scanLookback bytes
// before it (to find an MZ header before a PE signature) and the few bytes
// after it that a signature straddling the boundary needs.
func (sc *scanner) run(size int64, read func(off, n int64) ([]byte, error)) (found []Found, err error) {
	defer recoverInto(&err, "scan")
	for start := int64(0); start < size; start += scanChunk {
		if time.Now().After(sc.deadline) {
			return sc.found, fmt.Errorf("%w: scan deadline passed at offset %#x", ErrLimit, start)
		}
		lo := max(0, start-scanLookback)
		hi := min(size, start+scanChunk+int64(len(sigPE))-1)
		b, err := read(lo, hi-lo)
		if err != nil {
			return sc.found, err
		}
		if err := sc.chunk(b, lo, start); err != nil {
			return sc.found, err
		}
	}
	return sc.found, nil
}

// chunk handles the hits that start at or after start (the bytes before it
// are lookback only). PE candidates go first, so that the metadata root of
// a PE is reported with its PE and not again on its own.
func (sc *scanner) chunk(b []byte, base, start int64) error {
	from := int(start - base)
	for i := from; ; {
		j := bytes.Index(b[i:], sigPE)
		if j < 0 {
			break
		}
		p := i + j
		i = p + 1
		if err := sc.candidatePE(b, base, p); err != nil {
			return err
		}
	}
	for i := from; ; {
		j := bytes.Index(b[i:], sigBSJB)
		if j < 0 {
			break
		}
		p := i + j
		i = p + 1
		if sc.seenMD[base+int64(p)] || !plausibleRoot(b[p:]) {
			continue
		}
		if err := sc.candidateRoot(base + int64(p)); err != nil {
			return err
		}
	}
	return nil
}

// plausibleRoot rejects, without charging a candidate, a "BSJB" whose next
// twelve bytes no runtime writes: version 1.1, a zero reserved word, a
// version string length that is a multiple of 4 up to 256. Sprayed
// signatures thus cannot use up MaxCandidates.
func plausibleRoot(b []byte) bool {
	if len(b) < 16 {
		return true // the rest lies in the next chunk: let the parse decide
	}
	n := le32(b[12:])
	return le16(b[4:]) == 1 && le16(b[6:]) == 1 && le32(b[8:]) == 0 && n > 0 && n <= maxVersionLen && n%4 == 0
}

func (sc *scanner) charge() error {
	sc.parsed++
	if sc.parsed > sc.lim.MaxCandidates {
		return fmt.Errorf("%w: more than %d candidates", ErrLimit, sc.lim.MaxCandidates)
	}
	if time.Now().After(sc.deadline) {
		return fmt.Errorf("%w: scan deadline passed", ErrLimit)
	}
	return nil
}

func (sc *scanner) candidateLimits() Limits {
	l := sc.lim.PerCandidate
	l.Timeout = time.Until(sc.deadline)
	return l
}

// candidatePE looks for the MZ header whose e_lfanew points at the PE
// signature at p, then tries the file layout and the image layout.
func (sc *scanner) candidatePE(b []byte, base int64, p int) error {
	for m := p - 4; m >= 0 && m >= p-scanLookback; m-- {
		if b[m] != 'M' || m+0x40 > len(b) || b[m+1] != 'Z' || int(le32(b[m+0x3c:])) != p-m {
			continue
		}
		if err := sc.charge(); err != nil {
			return err
		}
		for _, layout := range []Layout{LayoutFile, LayoutImage} {
			f, ok := sc.tryPE(base+int64(m), layout)
			if ok {
				sc.found = append(sc.found, f)
				sc.seenMD[f.MetadataOffset] = true
				break
			}
		}
		return nil
	}
	return nil
}

func (sc *scanner) tryPE(off int64, layout Layout) (f Found, ok bool) {
	defer func() {
		if recover() != nil {
			ok = false
		}
	}()
	img, err := openImage(sc.newSource(sc.candidateLimits()), off, layout)
	if err != nil {
		return f, false
	}
	a, mdOff, _, err := img.assemblyAt(true)
	if err != nil {
		return f, false
	}
	size := int64(img.sizeOfImage)
	if layout == LayoutFile {
		size = img.fileExtent()
	}
	if off+size > img.s.size {
		// Not all of it is here: report only its metadata, as a bare root.
		return f, false
	}
	return Found{Offset: off, MetadataOffset: mdOff, Size: size, HasPE: true, Layout: layout, Assembly: *a}, true
}

// candidateRoot parses a bare metadata root at off.
func (sc *scanner) candidateRoot(off int64) error {
	if err := sc.charge(); err != nil {
		return err
	}
	func() {
		defer func() { _ = recover() }()
		s := sc.newSource(sc.candidateLimits())
		a, extent, err := readMetadataExtent(s, off, s.size-off, true)
		if err != nil {
			return
		}
		sc.found = append(sc.found, Found{Offset: off, MetadataOffset: off, Size: extent, Assembly: *a})
	}()
	return nil
}
