package untrusted

import (
	"context"
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
		l.add(ldSoPreloadText([]byte(c.in)), sepPreloadFile)
		assert.Equal(t, c.names, l.paths, "%q", c.in)
	}
}

// A live process whose /etc/ld.so.preload (in its own mount namespace)
// names a library followed by a comment: the loader loads it, so the row
// must say preloaded.
func TestPreloadFileWithComment(t *testing.T) {
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

	// A tmpfs over /etc in a private mount namespace: the host's /etc is
	// never touched, and the loader finds libc in its default directories.
	script := "mount -t tmpfs none /etc && printf '%s#not part of the name\\n' \"$1\" > /etc/ld.so.preload && exec sleep 60"
	cmd := exec.Command(unshare, "-m", "--propagation", "private", "sh", "-c", script, "sh", lib)
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

	tbl, err := New(Config{})
	require.NoError(t, err)
	q := table.Query{Constraints: map[string][]table.Constraint{
		"pid": {{Op: table.OpEquals, Expr: strconv.Itoa(pid)}},
	}}
	rows, err := tbl.Generate(context.Background(), q)
	require.NoError(t, err)
	colPath, colReasons := tbl.ColumnIndex("path"), tbl.ColumnIndex("reasons")
	var reasons []string
	for _, r := range rows {
		if r[colPath] == lib {
			reasons = strings.Split(r[colReasons], ",")
		}
	}
	require.NotNil(t, reasons, "no row for %s in %v", lib, rows)
	assert.Contains(t, reasons, "preloaded")
}
