package untrusted

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"io"
	"math"
	"os"
	"sync"
	"time"
)

// DefaultHashMax is the default sha256 size cap: 128 MiB covers every
// shared library a distribution ships but the few giants (libxul,
// libLLVM), which live in trusted directories and so are rarely rows here.
const DefaultHashMax = 128 << 20

// DefaultHashBudget is how many bytes one scan may read to hash files the
// cache does not know yet. A host's untrusted modules are a few MiB each;
// the budget is there for the process that maps gigabytes of them to make
// every scan hash for minutes. Files hashed by earlier scans cost nothing,
// so successive scans fill in what one scan had to skip.
const DefaultHashBudget = 1 << 30

// DefaultHashTime is how long one scan may spend hashing: well inside
// osqueryd's watchdog window (a CPU-bound extension is stopped after 12 s
// over its share) and the 60 s table deadline.
const DefaultHashTime = 5 * time.Second

// hashCacheMax bounds the hash cache (entries); it is emptied when full.
const hashCacheMax = 4096

// copyBufs are the read buffers of hashing: io.Copy would allocate 32 KiB
// per file, and a process can map thousands of small files.
var copyBufs = sync.Pool{New: func() any { return new([64 << 10]byte) }}

// Why sha256 is empty, in the sha256_skipped column.
const (
	skipOverCap    = "over_size_cap"
	skipUnreadable = "unreadable"
	// skipBudget: the scan's hashing budget (bytes or time) ran out first.
	skipBudget = "budget"
)

// fileID identifies file contents cheaply: a file with the same device,
// inode, size and mtime is taken to have the same bytes.
type fileID struct {
	dev, ino uint64
	size     int64
	mtime    time.Time
}

type hasher struct {
	max   int64
	mu    sync.Mutex
	cache map[fileID]string
}

func newHasher(max int64) *hasher {
	if max <= 0 {
		max = DefaultHashMax
	}
	return &hasher{max: max, cache: map[fileID]string{}}
}

// cached returns the sum of a file hashed before, for free.
func (h *hasher) cached(id fileID) (string, bool) {
	if id.size > h.max {
		return "", false
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	s, ok := h.cache[id]
	return s, ok
}

// sum is sumContext without a deadline or a budget.
func (h *hasher) sum(id fileID, open func() (*os.File, error)) (sum, skipped string) {
	sum, skipped, _ = h.sumContext(context.Background(), id, open, math.MaxInt64)
	return sum, skipped
}

// sumContext returns the sha256 of the file open() yields, or "" and why
// not, and how many bytes it read. The size from stat decides the cap and
// the budget (at most budget bytes may be read) before any byte is read;
// the read is bounded too, since a memfd can grow between stat and read.
// A cached sum costs nothing. Once ctx is done the read stops and the file
// counts as over budget: the scan's time for hashing has run out.
func (h *hasher) sumContext(ctx context.Context, id fileID, open func() (*os.File, error), budget int64) (sum, skipped string, read int64) {
	if id.size > h.max {
		return "", skipOverCap, 0
	}
	if s, ok := h.cached(id); ok {
		return s, "", 0
	}
	if id.size > budget || ctx.Err() != nil {
		return "", skipBudget, 0
	}
	f, err := open()
	if err != nil {
		return "", skipUnreadable, 0
	}
	defer f.Close()
	d := sha256.New()
	limit := min(h.max, budget)
	buf := copyBufs.Get().(*[64 << 10]byte)
	n, err := io.CopyBuffer(d, io.LimitReader(ctxReader{ctx, f}, limit+1), buf[:])
	copyBufs.Put(buf)
	switch {
	case err != nil && ctx.Err() != nil:
		return "", skipBudget, n
	case err != nil:
		return "", skipUnreadable, n
	case n > h.max:
		return "", skipOverCap, n
	case n > limit:
		return "", skipBudget, n
	}
	s := hex.EncodeToString(d.Sum(nil))
	h.mu.Lock()
	if len(h.cache) >= hashCacheMax {
		clear(h.cache)
	}
	h.cache[id] = s
	h.mu.Unlock()
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
