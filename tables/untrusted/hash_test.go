package untrusted

import (
	"context"
	"os"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// Hashing stops when the scan's context is done: a module that takes long
// to read (here an endless pipe under a cap it never reaches) must not keep
// an abandoned scan running, its cut-short sum is not cached, and the row
// says the scan's time ran out.
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
	id := fileID{dev: 1, ino: 9}

	done := make(chan [2]string, 1)
	go func() {
		sum, skipped, _ := h.sumContext(ctx, id, func() (*os.File, error) { return r, nil }, 1<<50)
		done <- [2]string{sum, skipped}
	}()
	select {
	case got := <-done:
		assert.Equal(t, [2]string{"", skipBudget}, got)
	case <-time.After(10 * time.Second):
		t.Fatal("hashing went on after the context was done")
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	assert.Empty(t, h.cache)
}
