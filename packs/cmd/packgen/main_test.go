package main

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/modhunt/modhunt/packs"
)

func TestWriteThenCheck(t *testing.T) {
	dir := t.TempDir()
	assert.Equal(t, 1, run(dir, true), "an empty directory is stale")
	require.Equal(t, 0, run(dir, false))
	for _, rel := range packs.OutputFiles() {
		assert.FileExists(t, filepath.Join(dir, filepath.FromSlash(rel)))
	}
	assert.Equal(t, 0, run(dir, true), "freshly written outputs are current")

	require.NoError(t, os.WriteFile(filepath.Join(dir, "modhunt-linux.conf"), []byte("{}\n"), 0o644))
	assert.Equal(t, 1, run(dir, true), "an edited output is stale")
}
