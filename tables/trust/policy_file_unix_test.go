//go:build !windows

package trust

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/modhunt/modhunt/test/sim"
)

// A policy file that is a FIFO is refused at once with its name: the
// extension must never wait at start-up for a writer that may not come.
func TestPolicyFIFORefused(t *testing.T) {
	t.Parallel()
	fifo := filepath.Join(t.TempDir(), "policy.yaml")
	sim.FIFO(t, fifo)
	err := sim.Prompt(t, "LoadFile on a FIFO", func() error { return (&Policy{}).LoadFile(Host{}, fifo) })
	require.Error(t, err)
	assert.Equal(t, "policy "+fifo+": not a regular file", err.Error())
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
