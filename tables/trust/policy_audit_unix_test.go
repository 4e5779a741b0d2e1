//go:build !windows

package trust

import (
	"os"
	"path/filepath"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// A policy file that is a FIFO is refused at once with its name: the
// extension must never wait at start-up for a writer that may not come.
func TestPolicyFIFORefused(t *testing.T) {
	t.Parallel()
	fifo := filepath.Join(t.TempDir(), "policy.yaml")
	require.NoError(t, syscall.Mkfifo(fifo, 0o600))
	t.Cleanup(func() {
		// Releases a reader still blocked in open when the check fails.
		if f, err := os.OpenFile(fifo, os.O_RDWR|syscall.O_NONBLOCK, 0); err == nil {
			_ = f.Close()
		}
	})

	done := make(chan error, 1)
	go func() {
		p := &Policy{}
		done <- p.LoadFile(Host{}, fifo)
	}()
	select {
	case err := <-done:
		require.Error(t, err)
		assert.Equal(t, "policy "+fifo+": not a regular file", err.Error())
	case <-time.After(10 * time.Second):
		t.Fatalf("LoadFile(%s) blocked on a FIFO", fifo)
	}
}

// A policy over the bound is refused by name, not read into memory.
func TestPolicyTooLarge(t *testing.T) {
	t.Parallel()
	file := filepath.Join(t.TempDir(), "policy.yaml")
	require.NoError(t, os.WriteFile(file, make([]byte, maxPolicyBytes+1), 0o600))
	err := (&Policy{}).LoadFile(Host{}, file)
	require.Error(t, err)
	assert.Contains(t, err.Error(), "policy "+file+": larger than")
}
