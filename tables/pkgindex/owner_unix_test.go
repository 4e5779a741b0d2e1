//go:build !windows

package pkgindex

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// A package list decides which files are package-owned (and so what an
// allow_modules package entry covers): one that others could have written
// claims nothing, and the error names it.
func TestListOthersCouldWriteIsRefused(t *testing.T) {
	t.Parallel()
	root := fakeRoot(t)
	list := filepath.Join(root, "var/lib/dpkg/info/evil.list")
	require.NoError(t, os.WriteFile(list, []byte("/tmp/evil.so\n"), 0o644))
	require.NoError(t, os.Chmod(list, 0o666))
	ix, err := Build(root)
	require.Error(t, err)
	assert.Contains(t, err.Error(), list+": unsafe: world-writable file (mode 0666)")
	p, _ := ix.lookup("/tmp/evil.so")
	assert.Empty(t, p)
	p, _ = ix.lookup("/usr/lib/x86_64-linux-gnu/libc.so.6")
	assert.Equal(t, "libc6", p, "the other lists are still read")
}
