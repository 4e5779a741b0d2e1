package pefacts

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"time"
)

// ErrLimit is wrapped by every error that a read budget or the deadline
// caused, so callers can tell a hostile or oversized input from a part
// that is simply absent or malformed.
var ErrLimit = errors.New("parse limit reached")

// errTruncated reports data that a structure points at but the input does
// not hold.
var errTruncated = errors.New("truncated")

const pageSize = 4096

// source is the one way every parser reads its input. It enforces the
// byte budget and the deadline on each access, so no structure in a
// hostile file can make a parse read or loop without bound: every loop in
// this package reads through a source.
type source struct {
	size     int64 // bytes addressable in the input
	budget   int64 // bytes still allowed to be read
	deadline time.Time

	buf []byte // in-memory input: read without copying

	r     io.ReaderAt // other input: read in pages, cached
	pages map[int64][]byte
}

func newBytesSource(b []byte, lim Limits) *source {
	return &source{size: int64(len(b)), budget: lim.maxRead(), deadline: lim.deadline(), buf: b}
}

func newReaderSource(r io.ReaderAt, size int64, lim Limits) *source {
	return &source{size: size, budget: lim.maxRead(), deadline: lim.deadline(), r: r, pages: map[int64][]byte{}}
}

// check charges n bytes to the budget and tests the deadline.
func (s *source) check(n int64) error {
	if n > s.budget {
		return fmt.Errorf("%w: read budget exhausted", ErrLimit)
	}
	s.budget -= n
	if !s.deadline.IsZero() && time.Now().After(s.deadline) {
		return fmt.Errorf("%w: deadline passed", ErrLimit)
	}
	return nil
}

// slice returns n bytes at off. The result may alias the input or the page
// cache: callers must not modify it.
func (s *source) slice(off, n int64) ([]byte, error) {
	if off < 0 || n < 0 || off > s.size || n > s.size-off {
		return nil, fmt.Errorf("%w: %d bytes at offset %#x beyond input of %d bytes", errTruncated, n, off, s.size)
	}
	if s.buf != nil {
		// Charged like a read, so a structure that makes us look at the
		// same bytes again and again still runs out of budget.
		if err := s.check(n); err != nil {
			return nil, err
		}
		return s.buf[off : off+n : off+n], nil
	}
	first, last := off/pageSize, (off+n-1)/pageSize
	if n == 0 {
		return nil, nil
	}
	if first == last {
		p, err := s.page(first)
		if err != nil {
			return nil, err
		}
		start := off - first*pageSize
		if start+n > int64(len(p)) {
			return nil, fmt.Errorf("%w: short read at offset %#x", errTruncated, off)
		}
		return p[start : start+n : start+n], nil
	}
	out := make([]byte, 0, n)
	for pg := first; pg <= last; pg++ {
		p, err := s.page(pg)
		if err != nil {
			return nil, err
		}
		lo, hi := int64(0), int64(len(p))
		if pg == first {
			lo = off - first*pageSize
		}
		if pg == last {
			hi = off + n - last*pageSize
		}
		if lo > hi || hi > int64(len(p)) {
			return nil, fmt.Errorf("%w: short read at offset %#x", errTruncated, off)
		}
		out = append(out, p[lo:hi]...)
	}
	return out, nil
}

// page reads (once) the pageSize block idx; only the first read of a page
// is charged, so re-reading cached bytes is free and the budget bounds the
// memory the cache holds.
func (s *source) page(idx int64) ([]byte, error) {
	if p, ok := s.pages[idx]; ok {
		if !s.deadline.IsZero() && time.Now().After(s.deadline) {
			return nil, fmt.Errorf("%w: deadline passed", ErrLimit)
		}
		return p, nil
	}
	off := idx * pageSize
	n := min(int64(pageSize), s.size-off)
	if err := s.check(n); err != nil {
		return nil, err
	}
	p := make([]byte, n)
	got, err := s.r.ReadAt(p, off)
	if got < len(p) {
		if err == nil || errors.Is(err, io.EOF) {
			err = errTruncated
		}
		return nil, fmt.Errorf("read %d bytes at offset %#x: %w", n, off, err)
	}
	s.pages[idx] = p
	return p, nil
}

// cstring reads a NUL-terminated byte string of at most max bytes at off,
// stopping at the end of the input. ok is false when no NUL was found
// within max bytes.
func (s *source) cstring(off, max int64) (str []byte, ok bool, err error) {
	if off < 0 || off >= s.size {
		return nil, false, fmt.Errorf("%w: string at offset %#x beyond input", errTruncated, off)
	}
	n := min(max, s.size-off)
	b, err := s.slice(off, n)
	if err != nil {
		return nil, false, err
	}
	str, ok = cutNUL(b)
	return str, ok, nil
}

// cutNUL returns b up to its first NUL; ok is false when b holds none.
func cutNUL(b []byte) (str []byte, ok bool) {
	if i := bytes.IndexByte(b, 0); i >= 0 {
		return b[:i], true
	}
	return b, false
}

func le16(b []byte) uint16 { return uint16(b[0]) | uint16(b[1])<<8 }
func le32(b []byte) uint32 {
	return uint32(b[0]) | uint32(b[1])<<8 | uint32(b[2])<<16 | uint32(b[3])<<24
}
func le64(b []byte) uint64 { return uint64(le32(b)) | uint64(le32(b[4:]))<<32 }
