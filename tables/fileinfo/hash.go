package fileinfo

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"io"
	"math"
	"os"
	"sync"
)

// HashSkip says why a file has no sha256; "" when it has one.
type HashSkip string

// Why a sha256 is missing, as the sha256_skipped column spells it.
const (
	SkipOverCap    HashSkip = "over_size_cap"
	SkipUnreadable HashSkip = "unreadable"
	// SkipBudget: the scan's hashing budget (bytes or time) ran out first.
	SkipBudget HashSkip = "budget"
)

// copyBufs are the read buffers of hashing: io.Copy would allocate 32 KiB
// per file, and a process can map thousands of small files.
var copyBufs = sync.Pool{New: func() any { return new([64 << 10]byte) }}

// Hasher computes sha256 sums of files up to Max bytes, through a Cache:
// a file hashed once costs nothing until it changes.
type Hasher struct {
	Cache *Cache
	Max   int64
}

// Cached returns the sum of a file hashed before, for free.
func (h Hasher) Cached(id ID) (string, bool) {
	if id.Size > h.Max {
		return "", false
	}
	return h.Cache.SHA256(id)
}

// Sum is SumContext without a deadline or a budget.
func (h Hasher) Sum(id ID, open func() (*os.File, error)) (string, HashSkip) {
	sum, skipped, _ := h.SumContext(context.Background(), id, open, math.MaxInt64)
	return sum, skipped
}

// SumContext returns the sha256 of the file open() yields, or "" and why
// not, and how many bytes it read. The size in id decides the cap and the
// budget (at most budget bytes may be read) before any byte is read; the
// read is bounded too, since a memfd can grow between stat and read. A
// cached sum costs nothing. Once ctx is done the read stops and the file
// counts as over budget: the scan's time for hashing has run out.
func (h Hasher) SumContext(ctx context.Context, id ID, open func() (*os.File, error), budget int64) (sum string, skipped HashSkip, read int64) {
	if id.Size > h.Max {
		return "", SkipOverCap, 0
	}
	if s, ok := h.Cached(id); ok {
		return s, "", 0
	}
	if id.Size > budget || ctx.Err() != nil {
		return "", SkipBudget, 0
	}
	f, err := open()
	if err != nil {
		return "", SkipUnreadable, 0
	}
	defer f.Close()
	d := sha256.New()
	limit := min(h.Max, budget)
	buf := copyBufs.Get().(*[64 << 10]byte)
	n, err := io.CopyBuffer(d, io.LimitReader(ctxReader{ctx, f}, limit+1), buf[:])
	copyBufs.Put(buf)
	switch {
	case err != nil && ctx.Err() != nil:
		return "", SkipBudget, n
	case err != nil:
		return "", SkipUnreadable, n
	case n > h.Max:
		return "", SkipOverCap, n
	case n > limit:
		return "", SkipBudget, n
	}
	s := hex.EncodeToString(d.Sum(nil))
	h.Cache.SetSHA256(id, s)
	return s, "", n
}

// ctxReader fails its next read once ctx is done.
type ctxReader struct {
	ctx context.Context
	r   io.Reader
}

func (c ctxReader) Read(p []byte) (int, error) {
	if err := c.ctx.Err(); err != nil {
		return 0, err
	}
	return c.r.Read(p)
}
