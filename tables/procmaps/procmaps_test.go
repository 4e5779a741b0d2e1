package procmaps

import (
	"bytes"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

type want struct {
	start, end, offset uint64
	perms              string
	major, minor       uint32
	dev                string
	inode              uint64
	path               string
	file, deleted      bool
}

func readFixture(t *testing.T, name string) []byte {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("testdata", name))
	require.NoError(t, err)
	return b
}

func TestScanGoodFixture(t *testing.T) {
	t.Parallel()
	wants := []want{
		{0x55d9c8553000, 0x55d9c8555000, 0, "r--p", 0xfe, 0, "fe:00", 247026, "/usr/bin/cat", true, false},
		{0x55d9c8555000, 0x55d9c855a000, 0x2000, "r-xp", 0xfe, 0, "fe:00", 247026, "/usr/bin/cat", true, false},
		{0x55da00ff1000, 0x55da01012000, 0, "rw-p", 0, 0, "00:00", 0, "[heap]", false, false},
		{0x7eff22faa000, 0x7eff22fcc000, 0, "rw-p", 0, 0, "00:00", 0, "", false, false},
		{0x7eff2302f000, 0x7eff23055000, 0, "r--p", 0xfe, 0, "fe:00", 326269, "/usr/lib/x86_64-linux-gnu/libc.so.6", true, false},
		{0x7eff23212000, 0x7eff23219000, 0, "r--s", 0xfe, 0, "fe:00", 325737, "/usr/lib/x86_64-linux-gnu/gconv/gconv-modules.cache", true, false},
		{0x7f0000000000, 0x7f0000001000, 0x1000, "r-xp", 0x103, 2, "103:02", 1234567, "/tmp/dir with  two  spaces/lib x.so", true, false},
		{0x7f0000001000, 0x7f0000002000, 0, "r--p", 0xfd, 1, "fd:01", 42, "/tmp/gone.so (deleted)", true, true},
		{0x7f0000002000, 0x7f0000003000, 0, "r-xp", 0, 1, "00:01", 2049, "/memfd:payload (deleted)", true, true},
		{0x7f0000003000, 0x7f0000004000, 0, "rw-s", 0, 1, "00:01", 7, "/dev/zero (deleted)", true, true},
		{0x7f0000004000, 0x7f0000005000, 0, "rw-s", 0, 1, "00:01", 32769, "/SYSV0000abcd (deleted)", true, true},
		{0x7f0000005000, 0x7f0000006000, 0, "r--p", 0, 0, "00:00", 0, "[anon:glibc: malloc arena]", false, false},
		{0x7ffd5f9d1000, 0x7ffd5f9f2000, 0, "rw-p", 0, 0, "00:00", 0, "[stack]", false, false},
		{0x7ffd5f9f6000, 0x7ffd5f9f8000, 0, "r-xp", 0, 0, "00:00", 0, "[vdso]", false, false},
		{0xffffffffff600000, 0xffffffffff601000, 0, "--xp", 0, 0, "00:00", 0, "[vsyscall]", false, false},
		{0x7f0000006000, 0x7f0000007000, 0, "rw-p", 0, 0xe, "00:0e", 11, "anon_inode:[perf_event]", false, false},
		{0x7f0000008000, 0x7f0000009000, 0, "r-xp", 0xfe, 0, "fe:00", 99, "/srv/trailing space ", true, false},
	}
	s := NewScanner(readFixture(t, "good.maps"))
	i := 0
	for s.Scan() {
		require.NoError(t, s.Err())
		require.Less(t, i, len(wants), "more lines than expected")
		w, m := wants[i], s.Mapping()
		assert.Equal(t, i+1, s.Line())
		assert.Equal(t, w.start, m.Start, "line %d start", i+1)
		assert.Equal(t, w.end, m.End, "line %d end", i+1)
		assert.Equal(t, w.end-w.start, m.Size(), "line %d size", i+1)
		assert.Equal(t, w.offset, m.Offset, "line %d offset", i+1)
		assert.Equal(t, w.perms, m.Perms.String(), "line %d perms", i+1)
		assert.Equal(t, w.major, m.Major, "line %d major", i+1)
		assert.Equal(t, w.minor, m.Minor, "line %d minor", i+1)
		assert.Equal(t, w.dev, string(m.Device), "line %d device", i+1)
		assert.Equal(t, w.inode, m.Inode, "line %d inode", i+1)
		assert.Equal(t, w.path, string(m.Path), "line %d path", i+1)
		assert.Equal(t, w.file, m.IsFile(), "line %d is file", i+1)
		assert.Equal(t, w.deleted, m.DeletedCandidate(), "line %d deleted candidate", i+1)
		i++
	}
	assert.Equal(t, len(wants), i)
}

func TestNonUTF8PathIsVerbatim(t *testing.T) {
	t.Parallel()
	ms, errs := ParseAll(readFixture(t, "nonutf8.maps"))
	require.Empty(t, errs)
	require.Len(t, ms, 1)
	assert.Equal(t, []byte("/tmp/caf\xe9/\xff\xfe.so"), ms[0].Path)
}

func TestBadLinesAreNamedAndSkipped(t *testing.T) {
	t.Parallel()
	wantErr := map[int]string{
		2: "bad start address",
		3: "end address below start address",
		4: "bad permissions",
		5: "expected space after offset",
		6: "expected ':' in device",
		7: "bad inode",
		8: "expected space after inode",
	}
	var got []string
	seenErr := map[int]string{}
	s := NewScanner(readFixture(t, "mixed.maps"))
	for s.Scan() {
		if err := s.Err(); err != nil {
			var pe *ParseError
			require.ErrorAs(t, err, &pe)
			assert.ErrorIs(t, err, ErrMalformed)
			assert.Equal(t, s.Line(), pe.Line)
			assert.Contains(t, err.Error(), "line "+itoa(s.Line()))
			seenErr[pe.Line] = pe.Reason
			assert.Zero(t, s.Mapping().Start, "a bad line leaves no half-parsed mapping")
			continue
		}
		got = append(got, string(s.Mapping().Path))
	}
	assert.Equal(t, wantErr, seenErr)
	assert.Equal(t, []string{"/ok/first.so", "/ok/last.so"}, got, "good lines around bad ones survive")
}

func itoa(n int) string {
	var b [20]byte
	i := len(b)
	for {
		i--
		b[i] = byte('0' + n%10)
		n /= 10
		if n == 0 {
			return string(b[i:])
		}
	}
}

func TestParseErrors(t *testing.T) {
	t.Parallel()
	cases := map[string]string{
		"":                       "bad start address",
		"1000":                   "expected '-' after start address",
		"1000-":                  "bad end address",
		"1000-2000":              "expected space after address range",
		"1000-2000 r-x":          "permissions must be four characters",
		"1000-2000 r-xq 0 0:0 0": "bad permissions",
		"1000-2000 r-xp":         "permissions must be four characters",
		"1000-2000 r-xp ":        "bad offset",
		"1000-2000 r-xp 0 :0 0":  "bad device major",
		"1000-2000 r-xp 0 0: 0":  "bad device minor",
		"1000-2000 r-xp 0 0:0":   "expected space after device",
		"1000-2000 r-xp 0 0:0 ":  "bad inode",
		"1000-2000 r-xp 0 0:0 99999999999999999999999 /x": "bad inode",
		"11111111111111111-2000 r-xp 0 0:0 0":             "bad start address",
		"1000-2000 r-xp 0 100000000:0 0":                  "bad device major",
	}
	for line, reason := range cases {
		_, err := Parse([]byte(line))
		var pe *ParseError
		if assert.ErrorAs(t, err, &pe, "line %q", line) {
			assert.Equal(t, reason, pe.Reason, "line %q", line)
			assert.Zero(t, pe.Line)
		}
	}
}

func TestErrorTextIsBounded(t *testing.T) {
	t.Parallel()
	line := "zz" + strings.Repeat("a", 10000)
	_, err := Parse([]byte(line))
	var pe *ParseError
	require.True(t, errors.As(err, &pe))
	assert.Len(t, pe.Text, MaxErrorText)
}

func TestFormatRoundTrip(t *testing.T) {
	t.Parallel()
	ms, errs := ParseAll(readFixture(t, "good.maps"))
	require.Empty(t, errs)
	orig := bytes.Split(bytes.TrimSuffix(readFixture(t, "good.maps"), []byte("\n")), []byte("\n"))
	require.Len(t, ms, len(orig))
	for i := range ms {
		assert.Equal(t, string(orig[i]), Format(&ms[i]), "line %d", i+1)
	}
}

func TestTrimDeleted(t *testing.T) {
	t.Parallel()
	m, err := Parse([]byte("1000-2000 r-xp 0 fd:01 5 /a/lib (deleted).so (deleted)"))
	require.NoError(t, err)
	assert.True(t, m.DeletedCandidate())
	assert.Equal(t, "/a/lib (deleted).so", string(m.TrimDeleted()))
	m, err = Parse([]byte("1000-2000 r-xp 0 fd:01 5 /a/lib (deleted).so"))
	require.NoError(t, err)
	assert.False(t, m.DeletedCandidate())
}

// Whether a mapping is a file is the kernel's path syntax alone: a name
// anyone can give a file ("/SYSV…", "/dev/zero") or an inode a FUSE server
// chooses (0) decides nothing here. Telling the kernel's own shared memory
// apart takes its device, which only the inventory knows.
func TestIsFileIgnoresNamesAndInodes(t *testing.T) {
	t.Parallel()
	for line, file := range map[string]bool{
		"1000-2000 r-xp 0 00:2a 3 /SYSV00001129 (deleted)":         true,
		"1000-2000 r-xp 0 00:2a 3 /dev/zero (deleted)":             true,
		"1000-2000 r-xp 0 00:2a 3 /memfd:x":                        true,
		"1000-2000 r-xp 0 00:31 0 /home/u/fuse/lib.so":             true,
		"1000-2000 rw-s 0 00:01 0 /SYSV00000000 (deleted)":         true,
		"1000-2000 r-xp 0 00:00 0 [anon:/tmp/lib.so]":              false,
		"1000-2000 rw-s 0 00:01 9 [anon_shmem:/tmp/lib.so]":        false,
		"1000-2000 rw-p 0 00:0e 11 anon_inode:/tmp/x":              false,
		"1000-2000 rw-p 0 00:00 0":                                 false,
		"1000-2000 r-xp 0 fe:00 12 /usr/lib/x86_64-linux-gnu/a.so": true,
	} {
		m, err := Parse([]byte(line))
		require.NoError(t, err, line)
		assert.Equal(t, file, m.IsFile(), line)
	}
}

func TestEscapedEqual(t *testing.T) {
	t.Parallel()
	escape := func(name string) string { return strings.ReplaceAll(name, "\n", `\012`) }
	for _, name := range []string{"", "/a", "/a\nb.so (deleted)", "/\n", "/x\n\n", "/lit\\012.so", "/caf\xe9/\xff"} {
		assert.True(t, EscapedEqual([]byte(name), []byte(escape(name))), "%q", name)
		assert.False(t, EscapedEqual([]byte(name+"x"), []byte(escape(name))), "%q longer", name)
		assert.False(t, EscapedEqual([]byte(name), []byte(escape(name)+"x")), "%q shorter", name)
	}
	// The text is ambiguous; the name read elsewhere settles it.
	assert.True(t, EscapedEqual([]byte("/a\nb"), []byte(`/a\012b`)))
	assert.True(t, EscapedEqual([]byte(`/a\012b`), []byte(`/a\012b`)))
	assert.False(t, EscapedEqual([]byte("/a\nb"), []byte("/a\nb")), "maps never prints a raw newline")
	assert.False(t, EscapedEqual([]byte("/a\nb"), []byte(`/a\01`)))
}

func TestScannerReuseAndNoTrailingNewline(t *testing.T) {
	t.Parallel()
	var s Scanner
	assert.False(t, s.Scan(), "zero Scanner is empty")
	s.Reset([]byte("1000-2000 r-xp 0 fd:01 5 /a\n\n\n3000-4000 r--p 0 fd:01 6 /b"))
	var paths []string
	for s.Scan() {
		require.NoError(t, s.Err())
		paths = append(paths, string(s.Mapping().Path))
	}
	assert.Equal(t, []string{"/a", "/b"}, paths)
	assert.Equal(t, 4, s.Line())
}

var sink Mapping

func TestScanDoesNotAllocate(t *testing.T) {
	data := readFixture(t, "good.maps")
	var s Scanner
	allocs := testing.AllocsPerRun(100, func() {
		s.Reset(data)
		for s.Scan() {
			sink = *s.Mapping()
		}
	})
	assert.Zero(t, allocs)
}

func BenchmarkScan(b *testing.B) {
	data, err := os.ReadFile(filepath.Join("testdata", "good.maps"))
	require.NoError(b, err)
	var s Scanner
	b.ReportAllocs()
	b.SetBytes(int64(len(data)))
	for b.Loop() {
		s.Reset(data)
		for s.Scan() {
			sink = *s.Mapping()
		}
	}
}
