package untrusted

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/modhunt/modhunt/tables/fileinfo"
	"github.com/modhunt/modhunt/tables/inventory"
)

// The hashing pass takes an opened file for the judged one only when its
// volume serial number and whole 128-bit file id are the stated ones: the
// same file opened again passes, another file at any path does not, nor
// does a key no stat gave (zero).
func TestIsFileComparesVolumeAndFileID(t *testing.T) {
	dir := t.TempDir()
	open := func(name string) *os.File {
		p := filepath.Join(dir, name)
		require.NoError(t, os.WriteFile(p, []byte(name), 0o644))
		f, err := os.Open(p)
		require.NoError(t, err)
		t.Cleanup(func() { _ = f.Close() })
		return f
	}
	a, b := open("a.dll"), open("b.dll")
	ka, err := inventory.FileKey(a)
	require.NoError(t, err)
	require.NotEqual(t, fileinfo.Key{}, ka)

	again, err := os.Open(a.Name())
	require.NoError(t, err)
	defer again.Close()
	assert.True(t, isFile(again, ka), "the same file, opened again")
	assert.False(t, isFile(b, ka), "another file")
	assert.False(t, isFile(a, fileinfo.Key{}), "no stated identity")
	other := ka
	other.Dev++
	assert.False(t, isFile(a, other), "another volume")
	other = ka
	other.InoHi++
	assert.False(t, isFile(a, other), "the high half of the file id counts (ReFS)")
}
