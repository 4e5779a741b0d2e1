package pkgindex

import (
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// A directory symlink whose target passes back through itself (a user's
// /tmp/a -> /tmp/a/b/c, seen from a process that maps /tmp/a/b/x.so in its
// own mount namespace) must end the resolution, not recurse until the stack
// is exhausted and the runtime kills the extension.
func TestResolverSelfReferentialLinkEnds(t *testing.T) {
	t.Parallel()
	root := t.TempDir()
	require.NoError(t, os.Mkdir(filepath.Join(root, "tmp"), 0o755))
	require.NoError(t, os.Symlink("/tmp/a/b/c", filepath.Join(root, "tmp/a")))
	require.NoError(t, os.Symlink("b/c", filepath.Join(root, "tmp/l")))

	r := newResolver(root)
	for _, p := range []string{"/tmp/a/b/x.so", "/tmp/l/c/x.so", "/tmp/a/x.so"} {
		got := r.canonical(p)
		assert.NotEmpty(t, got, p)
		assert.Equal(t, "x.so", filepath.Base(got), p)
	}
}

// The directory cache is keyed by the directories of mapped files, which
// any user chooses: deep paths near PATH_MAX put one entry per ancestor in
// it, so its bound must be in bytes as well as entries.
func TestResolverCacheBoundedInBytes(t *testing.T) {
	t.Parallel()
	r := newResolver(t.TempDir())
	comp := strings.Repeat("d", 200)
	for i := range 500 {
		// 19 components of 200 bytes under a unique first one.
		p := "/u" + strconv.Itoa(i) + strings.Repeat("/"+comp, 19) + "/x.so"
		require.Equal(t, p, r.canonical(p))
		size := 0
		for k, v := range r.cache {
			size += len(k) + len(v)
		}
		require.LessOrEqual(t, size, maxResolverBytes+2*len(p)*20, "after %d paths", i+1)
	}
}
