//go:build !windows

package detections

import (
	"os"
	"path/filepath"
	"syscall"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/modhunt/modhunt/test/sim"
)

// The walk of a rule folder keeps only regular files, but the name it found
// can be swapped for a FIFO before the read opens it: the read must refuse
// it at once, not wait for a writer and stall the extension's start-up.
func TestReadBoundedFIFORefused(t *testing.T) {
	t.Parallel()
	fifo := filepath.Join(t.TempDir(), "swapped.yml")
	sim.FIFO(t, fifo)
	err := sim.Prompt(t, "readBounded on a FIFO", func() error { _, err := readBounded(fifo); return err })
	require.Error(t, err)
	assert.Contains(t, err.Error(), "not a regular file")
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
