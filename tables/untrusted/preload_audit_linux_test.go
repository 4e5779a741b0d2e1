package untrusted

import (
	"context"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/modhunt/modhunt/tables/table"
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
	gcc, err := exec.LookPath("gcc")
	if err != nil {
		t.Skip("preload test needs gcc: apt-get install gcc")
	}
	unshare, err := exec.LookPath("unshare")
	if err != nil {
		t.Skip("preload test needs unshare: apt-get install util-linux")
	}
	if os.Geteuid() != 0 {
		t.Skip("preload test needs root to mount in a private mount namespace")
	}
	dir := t.TempDir()
	src := filepath.Join(dir, "c.c")
	lib := filepath.Join(dir, "libcommented.so")
	require.NoError(t, os.WriteFile(src, []byte("int commented_marker(void) { return 7; }\n"), 0o644))
	out, err := exec.Command(gcc, "-shared", "-fPIC", "-o", lib, src).CombinedOutput()
	require.NoError(t, err, string(out))

	tbl, err := New(Config{})
	require.NoError(t, err)
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
	cmd := exec.Command(unshare, "-m", "--propagation", "private", "sh", "-c", script, "sh", preload)
	require.NoError(t, cmd.Start())
	t.Cleanup(func() {
		_ = cmd.Process.Kill()
		_ = cmd.Wait()
	})
	pid := cmd.Process.Pid
	mapsFile := "/proc/" + strconv.Itoa(pid) + "/maps"
	require.Eventually(t, func() bool {
		b, err := os.ReadFile(mapsFile)
		return err == nil && strings.Contains(string(b), lib)
	}, 10*time.Second, 10*time.Millisecond, "the loader never mapped %s", lib)

	q := table.Query{Constraints: map[string][]table.Constraint{
		"pid": {{Op: table.OpEquals, Expr: strconv.Itoa(pid)}},
	}}
	rows, err := tbl.Generate(context.Background(), q)
	require.NoError(t, err)
	colPath, colReasons := tbl.ColumnIndex("path"), tbl.ColumnIndex("reasons")
	for _, r := range rows {
		if r[colPath] == lib {
			return strings.Split(r[colReasons], ",")
		}
	}
	t.Fatalf("no row for %s in %v", lib, rows)
	return nil
}
