package pkgindex

import (
	"database/sql"
	"encoding/binary"
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

type hdrEntry struct {
	tag, typ uint32
	strs     []string
	ints     []uint32
}

// encodeHeader builds an rpm header blob the way rpmdb.sqlite stores it.
func encodeHeader(entries []hdrEntry) []byte {
	var data []byte
	index := make([]byte, 0, 16*len(entries))
	for _, e := range entries {
		off := len(data)
		cnt := len(e.strs)
		if e.typ == typeInt32 {
			for len(data)%4 != 0 {
				data = append(data, 0)
			}
			off = len(data)
			cnt = len(e.ints)
			for _, v := range e.ints {
				data = binary.BigEndian.AppendUint32(data, v)
			}
		} else {
			for _, s := range e.strs {
				data = append(append(data, s...), 0)
			}
		}
		index = binary.BigEndian.AppendUint32(index, e.tag)
		index = binary.BigEndian.AppendUint32(index, e.typ)
		index = binary.BigEndian.AppendUint32(index, uint32(off))
		index = binary.BigEndian.AppendUint32(index, uint32(cnt))
	}
	blob := binary.BigEndian.AppendUint32(nil, uint32(len(entries)))
	blob = binary.BigEndian.AppendUint32(blob, uint32(len(data)))
	return append(append(blob, index...), data...)
}

func opensslHeader() []byte {
	return encodeHeader([]hdrEntry{
		{tag: tagName, typ: typeString, strs: []string{"openssl-libs"}},
		{tag: tagDirIndexes, typ: typeInt32, ints: []uint32{0, 0, 1}},
		{tag: tagBaseNames, typ: typeStringArray, strs: []string{"libssl.so.3", "libcrypto.so.3", "openssl.cnf"}},
		{tag: tagDirNames, typ: typeStringArray, strs: []string{"/usr/lib64/", "/etc/pki/tls/"}},
	})
}

func TestParseHeader(t *testing.T) {
	t.Parallel()
	p, err := parseHeader(opensslHeader())
	require.NoError(t, err)
	assert.Equal(t, "openssl-libs", p.name)
	assert.Equal(t, []string{"/usr/lib64/libssl.so.3", "/usr/lib64/libcrypto.so.3", "/etc/pki/tls/openssl.cnf"}, p.files)

	old, err := parseHeader(encodeHeader([]hdrEntry{
		{tag: tagName, typ: typeString, strs: []string{"glibc"}},
		{tag: tagOldFilename, typ: typeStringArray, strs: []string{"/lib/libc.so.6"}},
	}))
	require.NoError(t, err)
	assert.Equal(t, []string{"/lib/libc.so.6"}, old.files, "pre-4.0 headers list whole paths")

	bad := map[string][]byte{
		"header shorter than 8 bytes": {0, 0, 0, 1},
		"header claims 0 entries":     make([]byte, 8),
		"cut short":                   opensslHeader()[:40],
		"no package name": encodeHeader([]hdrEntry{
			{tag: tagBaseNames, typ: typeStringArray, strs: []string{"x"}},
		}),
		"1 basenames but 0 dirindexes": encodeHeader([]hdrEntry{
			{tag: tagName, typ: typeString, strs: []string{"x"}},
			{tag: tagBaseNames, typ: typeStringArray, strs: []string{"x"}},
		}),
		"dirindex 5 outside 1 dirnames": encodeHeader([]hdrEntry{
			{tag: tagName, typ: typeString, strs: []string{"x"}},
			{tag: tagDirIndexes, typ: typeInt32, ints: []uint32{5}},
			{tag: tagBaseNames, typ: typeStringArray, strs: []string{"x"}},
			{tag: tagDirNames, typ: typeStringArray, strs: []string{"/d/"}},
		}),
	}
	for want, blob := range bad {
		_, err := parseHeader(blob)
		assert.ErrorContains(t, err, want)
	}
	unterminated := opensslHeader()
	unterminated = unterminated[:len(unterminated)-1]
	binary.BigEndian.PutUint32(unterminated[4:], binary.BigEndian.Uint32(unterminated[4:])-1)
	_, err = parseHeader(unterminated)
	assert.ErrorContains(t, err, "string runs past the data")
}

func FuzzParseHeader(f *testing.F) {
	f.Add(opensslHeader())
	f.Add([]byte{0, 0, 0, 1, 0, 0, 0, 0})
	f.Fuzz(func(t *testing.T, blob []byte) {
		p, err := parseHeader(blob)
		if err == nil && p.name == "" {
			t.Fatal("a header without a name was accepted")
		}
	})
}

// writeRPMDB creates rpm's SQLite layout with the given header blobs.
func writeRPMDB(t *testing.T, file string, blobs ...[]byte) {
	t.Helper()
	require.NoError(t, os.MkdirAll(filepath.Dir(file), 0o755))
	db, err := sql.Open("sqlite", file)
	require.NoError(t, err)
	defer func() { require.NoError(t, db.Close()) }()
	_, err = db.Exec("CREATE TABLE Packages (hnum INTEGER PRIMARY KEY AUTOINCREMENT, blob BLOB NOT NULL)")
	require.NoError(t, err)
	for _, b := range blobs {
		_, err = db.Exec("INSERT INTO Packages (blob) VALUES (?)", b)
		require.NoError(t, err)
	}
}

func TestRPMDatabase(t *testing.T) {
	t.Parallel()
	linuxOnly(t)
	root := t.TempDir()
	require.NoError(t, os.MkdirAll(filepath.Join(root, "usr/lib64"), 0o755))
	require.NoError(t, os.Symlink("usr/lib64", filepath.Join(root, "lib64")))
	glibc := encodeHeader([]hdrEntry{
		{tag: tagName, typ: typeString, strs: []string{"glibc"}},
		{tag: tagDirIndexes, typ: typeInt32, ints: []uint32{0}},
		{tag: tagBaseNames, typ: typeStringArray, strs: []string{"libc.so.6"}},
		{tag: tagDirNames, typ: typeStringArray, strs: []string{"/lib64/"}},
	})
	writeRPMDB(t, filepath.Join(root, "usr/lib/sysimage/rpm/rpmdb.sqlite"), opensslHeader(), glibc, []byte("garbage"))

	db := Open(root)
	err := db.Refresh()
	require.Error(t, err, "the broken header is reported")
	assert.Contains(t, err.Error(), "header shorter than 8 bytes")
	for p, want := range map[string]string{
		"/usr/lib64/libssl.so.3":  "openssl-libs",
		"/usr/lib64/libc.so.6":    "glibc", // listed as /lib64/libc.so.6, /lib64 -> usr/lib64
		"/usr/lib64/libevil.so.1": "",
	} {
		got, known := db.Owner(p)
		assert.True(t, known)
		assert.Equal(t, want, got, p)
	}
}

func TestUnreadableRPMDatabaseClaimsNothing(t *testing.T) {
	t.Parallel()
	root := t.TempDir()
	file := filepath.Join(root, "var/lib/rpm/rpmdb.sqlite")
	require.NoError(t, os.MkdirAll(filepath.Dir(file), 0o755))
	require.NoError(t, os.WriteFile(file, []byte("not a database"), 0o644))
	db := Open(root)
	assert.Error(t, db.Refresh())
	_, known := db.Owner("/usr/lib64/libc.so.6")
	assert.False(t, known, "no package read: nothing may be called unowned")
}
