//go:build !windows

package safefile

import (
	"os"
	"path/filepath"
	"syscall"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/modhunt/modhunt/test/sim"
)

func TestRead(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	file := filepath.Join(dir, "f")
	require.NoError(t, os.WriteFile(file, []byte("12345"), 0o600))

	data, err := Read(file, 5, false)
	require.NoError(t, err)
	assert.Equal(t, "12345", string(data))

	_, err = Read(file, 4, false)
	assert.EqualError(t, err, "larger than 4 bytes")

	_, err = Read(dir, 10, false)
	assert.ErrorIs(t, err, ErrNotRegular)

	_, err = Read(filepath.Join(dir, "absent"), 10, false)
	assert.ErrorIs(t, err, os.ErrNotExist)
	assert.NotContains(t, err.Error(), dir, "callers name the file")

	link := filepath.Join(dir, "link")
	require.NoError(t, os.Symlink(file, link))
	_, err = Read(link, 10, false)
	require.NoError(t, err)
	_, err = Read(link, 10, true)
	assert.ErrorIs(t, err, syscall.ELOOP)
}

func TestReadRefusesAFIFOWithoutBlocking(t *testing.T) {
	t.Parallel()
	fifo := filepath.Join(t.TempDir(), "fifo")
	sim.FIFO(t, fifo)
	err := sim.Prompt(t, "Read of a FIFO", func() error { _, err := Read(fifo, 10, false); return err })
	assert.ErrorIs(t, err, ErrNotRegular)
}
