//go:build !windows

package main

import (
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/modhunt/modhunt/test/sim"
)

// A flag file that is a FIFO must be refused at once, naming the file:
// opening it for reading would wait for a writer forever and the extension
// would hang at start-up.
func TestFlagfileFIFORefused(t *testing.T) {
	t.Parallel()
	fifo := filepath.Join(t.TempDir(), "modhunt.flags")
	sim.FIFO(t, fifo)
	err := sim.Prompt(t, "readFlagfile on a FIFO", func() error { _, err := readFlagfile(fifo); return err })
	require.Error(t, err)
	assert.Contains(t, err.Error(), fifo)
	assert.Contains(t, err.Error(), "not a regular file")
}
