package fileinfo

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func newHasher(max int64) Hasher { return Hasher{Cache: New(0, 0), Max: max} }

// Moved from tables/untrusted (TestHasherCapsAndCaches).
func TestHasherCapsAndCaches(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	small := filepath.Join(dir, "small")
	require.NoError(t, os.WriteFile(small, []byte("module bytes"), 0o600))
	want := sha256.Sum256([]byte("module bytes"))

	h := newHasher(16)
	opens := 0
	open := func() (*os.File, error) { opens++; return os.Open(small) }
	id := ID{Key: Key{Dev: 1, Ino: 2}, Size: 12, MTime: time.Unix(5, 0).UnixNano()}
	sum, skipped := h.Sum(id, open)
	assert.Equal(t, hex.EncodeToString(want[:]), sum)
	assert.Empty(t, skipped)
	sum2, _ := h.Sum(id, open)
	assert.Equal(t, sum, sum2)
	assert.Equal(t, 1, opens, "the same file identity is hashed once")

	// Over the cap by stat: not even opened.
	sum, skipped = h.Sum(ID{Key: Key{Dev: 1, Ino: 3}, Size: 17}, open)
	assert.Empty(t, sum)
	assert.Equal(t, SkipOverCap, skipped)
	assert.Equal(t, 1, opens)

	// Grew past the cap after stat (a memfd can): the bounded read notices.
	big := filepath.Join(dir, "big")
	require.NoError(t, os.WriteFile(big, make([]byte, 17), 0o600))
	sum, skipped = h.Sum(ID{Key: Key{Dev: 1, Ino: 4}, Size: 3}, func() (*os.File, error) { return os.Open(big) })
	assert.Empty(t, sum)
	assert.Equal(t, SkipOverCap, skipped)

	sum, skipped = h.Sum(ID{Key: Key{Dev: 1, Ino: 5}}, func() (*os.File, error) { return nil, errors.New("gone") })
	assert.Empty(t, sum)
	assert.Equal(t, SkipUnreadable, skipped)
}

// Moved from tables/untrusted (TestHasherBudget): the size from stat is
// checked against the budget before anything is read, and again against
// what the read finds (a memfd can grow); a cached sum costs nothing,
// whatever is left of the budget.
func TestHasherBudget(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	file := filepath.Join(dir, "lib.so")
	require.NoError(t, os.WriteFile(file, make([]byte, 100), 0o600))
	opens := 0
	open := func() (*os.File, error) { opens++; return os.Open(file) }
	h := newHasher(1 << 20)
	ctx := context.Background()

	sum, skipped, n := h.SumContext(ctx, ID{Key: Key{Ino: 1}, Size: 100}, open, 99)
	assert.Equal(t, [2]string{"", string(SkipBudget)}, [2]string{sum, string(skipped)})
	assert.Zero(t, n)
	assert.Zero(t, opens, "a file over the budget by its size is not opened")

	// Grew past the budget after stat: the read stops one byte past it.
	sum, skipped, n = h.SumContext(ctx, ID{Key: Key{Ino: 2}, Size: 10}, open, 50)
	assert.Equal(t, [2]string{"", string(SkipBudget)}, [2]string{sum, string(skipped)})
	assert.Equal(t, int64(51), n)

	sum, skipped, n = h.SumContext(ctx, ID{Key: Key{Ino: 3}, Size: 100}, open, 100)
	assert.Empty(t, skipped)
	assert.NotEmpty(t, sum)
	assert.Equal(t, int64(100), n)
	again, skipped, n := h.SumContext(ctx, ID{Key: Key{Ino: 3}, Size: 100}, open, 0)
	assert.Equal(t, [2]string{sum, ""}, [2]string{again, string(skipped)}, "a cache hit needs no budget")
	assert.Zero(t, n)
}

// Moved from tables/untrusted (TestHashStopsWithContext): hashing stops
// when the scan's context is done: a module that takes long to read (here
// an endless pipe under a cap it never reaches) must not keep an abandoned
// scan running, its cut-short sum is not cached, and the skip says the
// scan's time ran out.
func TestHashStopsWithContext(t *testing.T) {
	t.Parallel()
	r, w, err := os.Pipe()
	require.NoError(t, err)
	t.Cleanup(func() { _ = r.Close() })
	go func() {
		buf := make([]byte, 64<<10)
		for {
			if _, err := w.Write(buf); err != nil {
				_ = w.Close()
				return
			}
		}
	}()
	h := newHasher(1 << 50)
	ctx, cancel := context.WithCancel(context.Background())
	time.AfterFunc(50*time.Millisecond, cancel)
	id := ID{Key: Key{Dev: 1, Ino: 9}}

	done := make(chan [2]string, 1)
	go func() {
		sum, skipped, _ := h.SumContext(ctx, id, func() (*os.File, error) { return r, nil }, 1<<50)
		done <- [2]string{sum, string(skipped)}
	}()
	select {
	case got := <-done:
		assert.Equal(t, [2]string{"", string(SkipBudget)}, got)
	case <-time.After(10 * time.Second):
		t.Fatal("hashing went on after the context was done")
	}
	assert.Zero(t, h.Cache.Len())
}
