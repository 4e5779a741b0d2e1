package mounts

import (
	"os"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestParseThisHost(t *testing.T) {
	t.Parallel()
	data, err := os.ReadFile("/proc/self/mountinfo")
	require.NoError(t, err)
	ms, err := Parse(data)
	require.NoError(t, err)
	root, ok := Find(ms, "/usr/bin/env", 0, 0, false)
	require.True(t, ok)
	assert.Equal(t, "/", root.MountPoint)
}
