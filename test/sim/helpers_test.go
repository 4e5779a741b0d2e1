package sim

import (
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestSyncBufferConcurrentWrites(t *testing.T) {
	t.Parallel()
	b := &SyncBuffer{}
	var wg sync.WaitGroup
	for range 8 {
		wg.Go(func() {
			for range 100 {
				_, _ = b.Write([]byte("x"))
				_ = b.String()
			}
		})
	}
	wg.Wait()
	assert.Equal(t, strings.Repeat("x", 800), b.String())
}

func TestSyncBufferLimitKeepsTheHead(t *testing.T) {
	t.Parallel()
	b := &SyncBuffer{Limit: 4}
	for _, s := range []string{"ab", "cd", "ef", "gh"} {
		n, err := b.Write([]byte(s))
		require.NoError(t, err)
		assert.Equal(t, 2, n, "a dropped write still reports it was written")
	}
	// The write that crosses the limit is kept whole; later ones are dropped.
	assert.Equal(t, "abcdef", b.String())
}

func TestTempDirInIsRemoved(t *testing.T) {
	t.Parallel()
	parent := t.TempDir()
	var dir string
	t.Run("use", func(t *testing.T) {
		dir = TempDirIn(t, parent, "sim-")
		assert.Equal(t, parent, filepath.Dir(dir))
		require.NoError(t, os.WriteFile(filepath.Join(dir, "f"), []byte("x"), 0o600))
	})
	_, err := os.Stat(dir)
	assert.ErrorIs(t, err, os.ErrNotExist)
}

func TestSHA256File(t *testing.T) {
	t.Parallel()
	p := filepath.Join(t.TempDir(), "abc")
	require.NoError(t, os.WriteFile(p, []byte("abc"), 0o600))
	// FIPS 180-2's test vector for "abc".
	assert.Equal(t, "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad", SHA256File(t, p))
}
