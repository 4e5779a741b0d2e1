package pkgindex

import (
	"os"
	"path/filepath"
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
