package untrusted

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"io"
	"os"
	"sync"
	"time"
)

// DefaultHashMax is the default sha256 size cap: 128 MiB covers every
// shared library a distribution ships but the few giants (libxul,
// libLLVM), which live in trusted directories and so are rarely rows here.
const DefaultHashMax = 128 << 20

// hashCacheMax bounds the hash cache (entries); it is emptied when full.
const hashCacheMax = 4096

// Why sha256 is empty, in the sha256_skipped column.
const (
	skipOverCap    = "over_size_cap"
	skipUnreadable = "unreadable"
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

// sum is sumContext without a deadline.
func (h *hasher) sum(id fileID, open func() (*os.File, error)) (sum, skipped string) {
	return h.sumContext(context.Background(), id, open)
}

// sumContext returns the sha256 of the file open() yields, or "" and why
// not. The size from stat decides the cap before any byte is read; the read
// is bounded too, since a memfd can grow between stat and read. It stops
// when ctx is done: a process can map thousands of files just under the
// cap, and a scan past its deadline must not go on hashing them.
func (h *hasher) sumContext(ctx context.Context, id fileID, open func() (*os.File, error)) (sum, skipped string) {
	if id.size > h.max {
		return "", skipOverCap
	}
	h.mu.Lock()
	s, ok := h.cache[id]
	h.mu.Unlock()
	if ok {
		return s, ""
	}
	f, err := open()
	if err != nil {
		return "", skipUnreadable
	}
	defer f.Close()
	d := sha256.New()
	n, err := io.Copy(d, io.LimitReader(ctxReader{ctx, f}, h.max+1))
	if err != nil {
		return "", skipUnreadable
	}
	if n > h.max {
		return "", skipOverCap
	}
	s = hex.EncodeToString(d.Sum(nil))
	h.mu.Lock()
	if len(h.cache) >= hashCacheMax {
		clear(h.cache)
	}
	h.cache[id] = s
	h.mu.Unlock()
	return s, ""
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
