package fileinfo

import (
	"errors"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// A file whose identity changed (rewritten in place: same inode, new size,
// mtime or ctime) has none of its old facts served, and takes the old
// entry's slot rather than a second one.
func TestCacheDropsFactsOfAChangedFile(t *testing.T) {
	t.Parallel()
	c := New(0, 0)
	id := ID{Key: Key{Dev: 1, Ino: 2}, Size: 10, MTime: 100, CTime: 100}
	c.SetType(id, ELF)
	c.SetSHA256(id, "aa")
	for _, changed := range []ID{
		{Key: id.Key, Size: 11, MTime: 100, CTime: 100},
		{Key: id.Key, Size: 10, MTime: 101, CTime: 100},
		// Same size and mtime put back with touch -d: only ctime moved.
		{Key: id.Key, Size: 10, MTime: 100, CTime: 101},
	} {
		_, ok := c.Type(changed)
		assert.False(t, ok, "%+v", changed)
		_, ok = c.SHA256(changed)
		assert.False(t, ok, "%+v", changed)
	}
	_, ok := c.SHA256(id)
	assert.False(t, ok, "the old version was dropped when a new one was seen")
	c.SetType(ID{Key: id.Key, Size: 12}, Script)
	assert.Equal(t, 1, c.Len())
	typ, ok := c.Type(ID{Key: id.Key, Size: 12})
	assert.True(t, ok)
	assert.Equal(t, Script, typ)
}

func TestCacheBoundedInEntries(t *testing.T) {
	t.Parallel()
	c := New(8, 1<<30)
	for i := range 100 {
		c.SetType(ID{Key: Key{Ino: uint64(i)}}, ELF)
		assert.LessOrEqual(t, c.Len(), 8)
	}
	// The most recent file survives eviction.
	_, ok := c.Type(ID{Key: Key{Ino: 99}})
	assert.True(t, ok)
}

// Facts with long strings (PE version strings, assembly names) are bounded
// by bytes as well as by count.
func TestCacheBoundedInBytes(t *testing.T) {
	t.Parallel()
	const maxBytes = 64 << 10
	c := New(1<<20, maxBytes)
	long := NewFact[string]("long")
	for i := range 1000 {
		v, err := Get(c, ID{Key: Key{Ino: uint64(i)}}, long, func() (string, int, error) {
			s := strings.Repeat("x", 4096)
			return s, len(s), nil
		})
		require.NoError(t, err)
		require.Len(t, v, 4096)
		assert.LessOrEqual(t, c.Bytes(), maxBytes)
	}
	assert.Less(t, c.Len(), 1000)
}

// A later fact is computed once per identity, and again when the file
// changes; a failure is not cached.
func TestFactComputedOncePerIdentity(t *testing.T) {
	t.Parallel()
	c := New(0, 0)
	f := NewFact[int]("imphash-like")
	calls := 0
	compute := func() (int, int, error) { calls++; return 42, 8, nil }
	id := ID{Key: Key{Ino: 1}, Size: 5}
	for range 3 {
		v, err := Get(c, id, f, compute)
		require.NoError(t, err)
		assert.Equal(t, 42, v)
	}
	assert.Equal(t, 1, calls)
	_, err := Get(c, ID{Key: Key{Ino: 1}, Size: 6}, f, compute)
	require.NoError(t, err)
	assert.Equal(t, 2, calls)

	boom := errors.New("unreadable")
	fails := 0
	_, err = Get(c, ID{Key: Key{Ino: 2}}, f, func() (int, int, error) { fails++; return 0, 0, boom })
	require.ErrorIs(t, err, boom)
	_, err = Get(c, ID{Key: Key{Ino: 2}}, f, func() (int, int, error) { fails++; return 0, 0, boom })
	require.ErrorIs(t, err, boom)
	assert.Equal(t, 2, fails)
}

func TestDetect(t *testing.T) {
	t.Parallel()
	assert.Equal(t, ELF, Detect([]byte("\x7fELF\x02\x01")))
	assert.Equal(t, Script, Detect([]byte("#!/bin/sh\n")))
	assert.Equal(t, Data, Detect([]byte("MZ")))
	assert.Equal(t, MachO, Detect([]byte{0xcf, 0xfa, 0xed, 0xfe, 0, 0, 0, 0}))
	assert.Equal(t, MachO, Detect([]byte("dyld_v1  arm64e\x00")), "the dyld shared cache holds code")
	assert.Equal(t, Data, Detect([]byte("dyld_v10")))
}
