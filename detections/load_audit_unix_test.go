//go:build !windows

package detections

import (
	"os"
	"path/filepath"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// The walk of a rule folder keeps only regular files, but the name it found
// can be swapped for a FIFO before the read opens it: the read must refuse
// it at once, not wait for a writer and stall the extension's start-up.
func TestReadBoundedFIFORefused(t *testing.T) {
	t.Parallel()
	fifo := filepath.Join(t.TempDir(), "swapped.yml")
	require.NoError(t, syscall.Mkfifo(fifo, 0o600))
	t.Cleanup(func() {
		// Releases a reader still blocked in open when the check fails.
		if f, err := os.OpenFile(fifo, os.O_RDWR|syscall.O_NONBLOCK, 0); err == nil {
			_ = f.Close()
		}
	})

	done := make(chan error, 1)
	go func() {
		_, err := readBounded(fifo)
		done <- err
	}()
	select {
	case err := <-done:
		require.Error(t, err)
		assert.Contains(t, err.Error(), "not a regular file")
	case <-time.After(10 * time.Second):
		t.Fatalf("readBounded(%s) blocked on a FIFO", fifo)
	}
}

// A rule file replaced by a symlink after the walk saw it is not followed:
// the link could lead to a device.
func TestReadBoundedSymlinkRefused(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	target := filepath.Join(dir, "real.txt")
	require.NoError(t, os.WriteFile(target, []byte("title: x\n"), 0o644))
	link := filepath.Join(dir, "swapped.yml")
	require.NoError(t, os.Symlink(target, link))
	_, err := readBounded(link)
	require.Error(t, err)
	assert.ErrorIs(t, err, syscall.ELOOP)
}
