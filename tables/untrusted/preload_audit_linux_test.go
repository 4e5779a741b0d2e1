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

// What glibc's loader (elf/rtld.c) acts on in /etc/ld.so.preload: '#'
// comments are blanked to the end of their line (NULs in them too), and
// the list ends at the first NUL left. Each case was checked against
// Debian 12's glibc 2.36 by loading a library with a constructor.
func TestLdSoPreloadText(t *testing.T) {
	t.Parallel()
	cases := []struct {
		in    string
		names []string // what the list holds once split
	}{
		{"/tmp/x.so#comment\n", []string{"/tmp/x.so"}},       // loaded
		{"# /tmp/x.so\n/lib/y.so\n", []string{"/lib/y.so"}},  // x is not loaded
		{"/a.so\x00/tmp/x.so\n", []string{"/a.so"}},          // x is not loaded
		{"#\x00\n/tmp/x.so\n", []string{"/tmp/x.so"}},        // loaded: the NUL was in a comment
		{"/tmp/x.so", []string{"/tmp/x.so"}},                 // no final newline
		{"/a.so # c1\n/b.so#c2", []string{"/a.so", "/b.so"}}, // comment at the end of the file
		{"/a.so:/b.so\t/c.so\r\n", []string{"/a.so", "/b.so", "/c.so"}},
	}
	for _, c := range cases {
		var l preloadList
		require.NoError(t, readPreloadFile(strings.NewReader(c.in), &l))
		assert.Equal(t, c.names, l.paths, "%q", c.in)
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
		require.NoError(t, readPreloadFile(strings.NewReader(pad+"/tmp/evil.so\n"), &l), name)
		assert.Equal(t, []string{"/tmp/evil.so"}, l.paths, name)
	}

	var l preloadList
	endless := io.MultiReader(strings.NewReader("/tmp/first.so "), endlessBlanks{})
	err := readPreloadFile(endless, &l)
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
