package untrusted

import (
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestPreloadListMatching(t *testing.T) {
	t.Parallel()
	var l preloadList
	l.addPreloadEnv("/tmp/a.so libb.so:/opt/$LIB/libc.so  ")
	l.addAuditEnv("/usr/lib/audit.so:libaudit2.so")
	require.NoError(t, readPreloadFile(strings.NewReader(fileText), int64(len(fileText)), &l))
	cases := map[string]bool{
		"/tmp/a.so":                           true,
		"/tmp/a.so.1":                         false,
		"/usr/lib/x86_64-linux-gnu/libb.so":   true, // bare name: searched by the loader
		"/opt/lib64/libc.so":                  true, // $LIB token
		"/opt/lib64/sub/libc.so":              false,
		"/usr/lib/audit.so":                   true,
		"/anywhere/libaudit2.so":              true,
		"/srv/x.so":                           true, // cleaned
		"/lib/haswell/p.so":                   true,
		"/usr/lib/x86_64-linux-gnu/libc.so.6": false,
	}
	for p, want := range cases {
		assert.Equal(t, want, l.matchName(p, false), p)
	}
}

const fileText = "/tmp/../srv/x.so\t/lib/${PLATFORM}/p.so\n"

func TestLibraryPath(t *testing.T) {
	t.Parallel()
	assert.Equal(t, []string{"/tmp/x", "/opt/lib", "/a/b"}, libraryPath("/tmp/x/::relative;/opt/lib/;/a//b"))
	assert.Empty(t, libraryPath(""))
}

func TestDevNumbers(t *testing.T) {
	t.Parallel()
	// makedev(259, 1048577) as glibc encodes it.
	dev := uint64(259&0xfff)<<8 | uint64(259&^0xfff)<<32 | uint64(1048577&0xff) | uint64(1048577&^0xff)<<12
	assert.Equal(t, uint32(259), devMajor(dev))
	assert.Equal(t, uint32(1048577), devMinor(dev))
	assert.Equal(t, uint32(254), devMajor(0xfe00))
	assert.Equal(t, uint32(0), devMinor(0xfe00))
}

func TestHasherCapsAndCaches(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	small := filepath.Join(dir, "small")
	require.NoError(t, os.WriteFile(small, []byte("module bytes"), 0o600))
	want := sha256.Sum256([]byte("module bytes"))

	h := newHasher(16)
	opens := 0
	open := func() (*os.File, error) { opens++; return os.Open(small) }
	id := fileID{dev: 1, ino: 2, size: 12, mtime: time.Unix(5, 0)}
	sum, skipped := h.sum(id, open)
	assert.Equal(t, hex.EncodeToString(want[:]), sum)
	assert.Empty(t, skipped)
	sum2, _ := h.sum(id, open)
	assert.Equal(t, sum, sum2)
	assert.Equal(t, 1, opens, "the same file identity is hashed once")

	// Over the cap by stat: not even opened.
	sum, skipped = h.sum(fileID{dev: 1, ino: 3, size: 17}, open)
	assert.Empty(t, sum)
	assert.Equal(t, skipOverCap, skipped)
	assert.Equal(t, 1, opens)

	// Grew past the cap after stat (a memfd can): the bounded read notices.
	big := filepath.Join(dir, "big")
	require.NoError(t, os.WriteFile(big, make([]byte, 17), 0o600))
	sum, skipped = h.sum(fileID{dev: 1, ino: 4, size: 3}, func() (*os.File, error) { return os.Open(big) })
	assert.Empty(t, sum)
	assert.Equal(t, skipOverCap, skipped)

	sum, skipped = h.sum(fileID{dev: 1, ino: 5}, func() (*os.File, error) { return nil, errors.New("gone") })
	assert.Empty(t, sum)
	assert.Equal(t, skipUnreadable, skipped)

	assert.Equal(t, int64(DefaultHashMax), newHasher(0).max)
}
