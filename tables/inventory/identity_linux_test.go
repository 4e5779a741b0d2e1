package inventory

import (
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// A file rewritten in place with bytes of the same size and its mtime put
// back (touch -d) is a new identity: the file-facts cache must not serve
// the old file's sha256 or type for it. Only the change time, which no one
// can set back, tells.
func TestIdentityChangesWhenAFileIsRewrittenAndRedated(t *testing.T) {
	t.Parallel()
	p := filepath.Join(t.TempDir(), "lib.so")
	require.NoError(t, os.WriteFile(p, []byte("good bytes"), 0o644))
	old := time.Unix(1_600_000_000, 0)
	require.NoError(t, os.Chtimes(p, old, old))
	before, err := StatFile(p)
	require.NoError(t, err)

	time.Sleep(20 * time.Millisecond) // a ctime tick apart on coarse clocks
	require.NoError(t, os.WriteFile(p, []byte("evil bytes"), 0o644))
	require.NoError(t, os.Chtimes(p, old, old))
	after, err := StatFile(p)
	require.NoError(t, err)

	require.Equal(t, before.Ino, after.Ino, "the same inode")
	require.Equal(t, before.Size, after.Size)
	require.True(t, before.ModTime.Equal(after.ModTime), "the same mtime")
	assert.NotEqual(t, IDOf(before), IDOf(after))
}
