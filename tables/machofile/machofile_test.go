package machofile

import (
	"bytes"
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/modhunt/modhunt/tables/inventory"
	"github.com/modhunt/modhunt/tables/inventory/fakeinv"
)

func TestParse(t *testing.T) {
	t.Parallel()
	b, err := os.ReadFile(filepath.Join("..", "..", "internal", "machofacts", "testdata", "samples", "fat_half_signed.dylib"))
	require.NoError(t, err)
	info := Parse(bytes.NewReader(b), int64(len(b)))
	require.NotNil(t, info.Facts)
	assert.True(t, info.Unsigned(), "one slice without LC_CODE_SIGNATURE")
	assert.Equal(t, []string{"x86_64", "arm64"}, info.Facts.Arches())

	elf := []byte("\x7fELF\x02\x01\x01\x00")
	assert.Equal(t, Info{}, Parse(bytes.NewReader(elf), int64(len(elf))))
	bad := []byte("\xcf\xfa\xed\xfe truncated")
	info = Parse(bytes.NewReader(bad), int64(len(bad)))
	assert.Error(t, info.Err)
	assert.False(t, info.Unsigned(), "nothing is known of an unreadable header's signature")
}

// TestOfCachesByIdentity: the facts are read once per file identity, and
// not at all for a module the walk already typed as something else.
func TestOfCachesByIdentity(t *testing.T) {
	t.Parallel()
	p := filepath.Join(t.TempDir(), "libx.dylib")
	b, err := os.ReadFile(filepath.Join("..", "..", "internal", "machofacts", "testdata", "samples", "arm64_signed.dylib"))
	require.NoError(t, err)
	require.NoError(t, os.WriteFile(p, b, 0o600))
	inv := fakeinv.MacOS(p)
	m := inv.Procs[1].Modules[2]
	require.Equal(t, "/private/tmp/libinject.dylib", m.Path)
	info, err := Of(inv, fakeinv.PID, &m)
	require.NoError(t, err)
	require.NotNil(t, info.Facts)
	assert.False(t, info.Unsigned())
	// Same inode, size and mtime (the fake gives no ctime): the same
	// identity, so the cached facts stand although the bytes changed.
	st, err := os.Stat(p)
	require.NoError(t, err)
	require.NoError(t, os.WriteFile(p, bytes.Repeat([]byte{'x'}, len(b)), 0o600))
	require.NoError(t, os.Chtimes(p, st.ModTime(), st.ModTime()))
	info, err = Of(inv, fakeinv.PID, &m)
	require.NoError(t, err)
	assert.NotNil(t, info.Facts, "read once per identity")
	require.NoError(t, os.WriteFile(p, []byte("not read again"), 0o600)) // new size: new identity
	info, err = Of(inv, fakeinv.PID, &m)
	require.NoError(t, err)
	assert.Nil(t, info.Facts, "a new identity is read anew")

	m.FileType = inventory.FileELF
	require.NoError(t, os.Remove(p))
	info, err = Of(inv, fakeinv.PID, &m)
	require.NoError(t, err, "an ELF module is not even statted")
	assert.Nil(t, info.Facts)
}
