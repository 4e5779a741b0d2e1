package untrusted

import (
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/modhunt/modhunt/tables/table"
	"github.com/modhunt/modhunt/test/sim"
)

// What glibc 2.36's ld.so (elf/rtld.c dl_main) acts on in
// /etc/ld.so.preload. Every case follows from its code, cited per case;
// TestLiveLdSoPreloadAgreesWithLdSo runs them through the real loader.
func TestLdSoPreloadText(t *testing.T) {
	t.Parallel()
	cases := []struct {
		in    string
		names []string // the entries ld.so tries to load, in order
	}{
		// A comment runs from '#' to the end of its line, NULs included
		// ("do *comment = ' '; while (--rest > 0 && *++comment != '\n')").
		{"/tmp/x.so#comment\n", []string{"/tmp/x.so"}},
		{"# /tmp/x.so\n/lib/y.so\n", []string{"/lib/y.so"}},
		{"#\x00\n/tmp/x.so\n", []string{"/tmp/x.so"}},
		// The comment loop searches memchr (runp, '#', rest) with runp
		// never moved off the file's start, while rest shrinks by each
		// comment's offset and length: a '#' at an offset >= rest is a
		// byte of a name. Here rest is 20-10 = 10 after the first comment,
		// and the second '#' sits at 16.
		{"/a.so # c1\n/b.so#c2", []string{"/a.so", "/b.so#c2"}},
		{"/a.so #x\n#/b.so\n", []string{"/a.so", "#/b.so"}},
		// An early comment leaves rest large enough for the next.
		{"#c\n/a.so #c2\n/b.so\n", []string{"/a.so", "/b.so"}},
		// rest runs out inside a comment: the rest of its line is names.
		// Size 14; the first comment (at 3) leaves rest = 14-5 = 9, the
		// second '#' (at 7) leaves 9-7 = 2: "#c" is blanked, "defgh" stays.
		{"/a #1\nb#cdefgh", []string{"/a", "b", "defgh"}},
		// strsep (&runp, ": \t\n"): only these four split; '\r', '\v'
		// and every other byte stay in the name.
		{"/a.so:/b.so\t/c.so \n", []string{"/a.so", "/b.so", "/c.so"}},
		{"/x.so\r\n", []string{"/x.so\r"}},
		{"/a.so\v/b.so\n", []string{"/a.so\v/b.so"}},
		{"/x\xff.so\n", []string{"/x\xff.so"}},
		// The list is a C string: the first NUL ends it ...
		{"/a.so\x00/tmp/x.so\n", []string{"/a.so"}},
		{"/a.so\x00 /tmp/x.so\n", []string{"/a.so"}},
		// ... except that a file not ending in ' ', '\t', '\n' or ':' has
		// its last field cut off ("the problematic case") and loaded on its
		// own, up to its first NUL (strndupa), whatever came before.
		{"/a.so\x00 /tmp/x.so", []string{"/a.so", "/tmp/x.so"}},
		{"/a.so\n/b.so\x00/c.so", []string{"/a.so", "/b.so"}},
		{"/a.so\x00/tmp/x.so", []string{"/a.so"}}, // no separator: all one field
		{"/tmp/x.so", []string{"/tmp/x.so"}},
		{"/a.so # c1\n/b.so", []string{"/a.so", "/b.so"}},
		// Empty fields load nothing ("if (p[0] != '\0')").
		{"::\n\t \n", nil},
		{"", nil},
	}
	for _, c := range cases {
		var l preloadList
		require.NoError(t, readPreloadFile(strings.NewReader(c.in), int64(len(c.in)), &l))
		assert.Equal(t, c.names, l.entries(), "%q", c.in)
	}
}

// The loader reads all of ld.so.preload: padding (blanks, a long comment)
// must not push an entry out of sight. The read is still bounded: an
// endless file ends in an error, with the entries before the bound kept.
func TestPreloadFilePaddingAndBound(t *testing.T) {
	t.Parallel()
	for name, pad := range map[string]string{
		"blanks":  strings.Repeat(" \n\t:", 256<<10),
		"comment": "#" + strings.Repeat("x", 1<<20) + "\n",
	} {
		var l preloadList
		in := pad + "/tmp/evil.so\n"
		require.NoError(t, readPreloadFile(strings.NewReader(in), int64(len(in)), &l), name)
		assert.Equal(t, []string{"/tmp/evil.so"}, l.paths, name)
	}

	var l preloadList
	endless := io.MultiReader(strings.NewReader("/tmp/first.so "), endlessBlanks{})
	err := readPreloadFile(endless, 1<<40, &l)
	require.Error(t, err)
	assert.Contains(t, err.Error(), "larger than")
	assert.Equal(t, []string{"/tmp/first.so"}, l.paths)
}

type endlessBlanks struct{}

func (endlessBlanks) Read(p []byte) (int, error) {
	for i := range p {
		p[i] = ' '
	}
	return len(p), nil
}

// Live processes whose /etc/ld.so.preload (in their own mount namespace)
// name a library followed by a comment, or behind 1 MiB of blanks: the
// loader loads it either way, so the row must say preloaded.
func TestPreloadFileLive(t *testing.T) {
	sim.NeedRoot(t)
	unshare := sim.NeedTool(t, "unshare", "util-linux")
	dir := t.TempDir()
	lib := sim.BuildLib(t, filepath.Join(dir, "libcommented.so"))

	tbl := newTable(t, Config{})
	for name, content := range map[string]string{
		"comment": lib + "#not part of the name\n",
		"padding": strings.Repeat(" ", 1<<20) + lib + "\n",
	} {
		t.Run(name, func(t *testing.T) {
			preload := filepath.Join(dir, name+".preload")
			require.NoError(t, os.WriteFile(preload, []byte(content), 0o644))
			assert.Contains(t, livePreloadReasons(t, tbl, unshare, preload, lib), "preloaded")
		})
	}
}

// livePreloadReasons starts a process whose /etc/ld.so.preload is the file
// preload and returns the reasons of lib's row. A tmpfs over /etc in a
// private mount namespace: the host's /etc is never touched, and the loader
// finds libc in its default directories.
func livePreloadReasons(t *testing.T, tbl *table.Table, unshare, preload, lib string) []string {
	script := `mount -t tmpfs none /etc && cp "$1" /etc/ld.so.preload && exec sleep 60`
	p := sim.StartNoWait(t, unshare, "-m", "--propagation", "private", "sh", "-c", script, "sh", preload)
	row, _ := waitRow(t, tbl, p.PID, lib)
	return strings.Split(row[col("reasons")], ",")
}
