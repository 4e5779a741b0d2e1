//go:build !windows

package safefile

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// osqueryd's rule for what a root process may trust: owned by root or the
// running user, not world-writable (group write tolerated).
func TestCheckTrusted(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	mk := func(name string, mode os.FileMode) (string, os.FileInfo) {
		p := filepath.Join(dir, name)
		require.NoError(t, os.WriteFile(p, []byte("x"), 0o600))
		require.NoError(t, os.Chmod(p, mode))
		fi, err := os.Stat(p)
		require.NoError(t, err)
		return p, fi
	}
	_, ok := mk("ok", 0o644)
	assert.NoError(t, CheckTrusted(ok))
	_, group := mk("group", 0o664)
	assert.NoError(t, CheckTrusted(group))
	_, world := mk("world", 0o666)
	assert.EqualError(t, CheckTrusted(world), "unsafe: world-writable file (mode 0666)")

	sub := filepath.Join(dir, "sub")
	require.NoError(t, os.Mkdir(sub, 0o755))
	require.NoError(t, os.Chmod(sub, 0o777|os.ModeSticky))
	fi, err := os.Stat(sub)
	require.NoError(t, err)
	assert.EqualError(t, CheckTrusted(fi), "unsafe: world-writable folder (mode 1777)")

	if os.Geteuid() == 0 {
		p, _ := mk("other", 0o644)
		require.NoError(t, os.Chown(p, 65534, 65534))
		fi, err := os.Stat(p)
		require.NoError(t, err)
		assert.EqualError(t, CheckTrusted(fi), "unsafe: owned by uid 65534, neither root nor the running user (uid 0)")

		_, _, err = OpenTrusted(p, false)
		assert.ErrorContains(t, err, "owned by uid 65534")
		_, err = ReadTrusted(filepath.Join(dir, "world"), 10, false)
		assert.ErrorContains(t, err, "world-writable")
	}
}
