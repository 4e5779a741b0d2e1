package mounts

import (
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// One mount whose line is longer than 64 KiB (an overlay with hundreds of
// long layer paths) must not hide the mounts listed after it.
func TestParseLongLineKeepsLaterMounts(t *testing.T) {
	t.Parallel()
	layers := make([]string, 300)
	for i := range layers {
		layers[i] = "/var/lib/layers/" + strings.Repeat("l", 240)
	}
	data := "22 1 0:21 / / rw,relatime shared:1 - ext4 /dev/root rw\n" +
		"23 22 0:40 / /merged rw,relatime - overlay overlay rw,lowerdir=" + strings.Join(layers, ":") + "\n" +
		"24 22 0:41 / /tmp rw,nosuid,nodev - tmpfs tmpfs rw\n"
	require.Greater(t, len(data), 64<<10)
	ms, err := Parse([]byte(data))
	require.NoError(t, err)
	require.Len(t, ms, 3)
	assert.Equal(t, "/tmp", ms[2].MountPoint)
}
