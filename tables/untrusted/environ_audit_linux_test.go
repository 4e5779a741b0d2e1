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

// A process that pads its environment before LD_PRELOAD (the loader honours
// the variable wherever it sits) must still be seen as preloaded: the
// environment is read whole, not cut at a prefix an attacker can fill.
func TestPreloadBehindPaddedEnvironment(t *testing.T) {
	gcc, err := exec.LookPath("gcc")
	if err != nil {
		t.Skip("preload test needs gcc: apt-get install gcc")
	}
	sleep, err := exec.LookPath("sleep")
	require.NoError(t, err)
	dir := t.TempDir()
	src := filepath.Join(dir, "pad.c")
	lib := filepath.Join(dir, "libpad.so")
	require.NoError(t, os.WriteFile(src, []byte("int pad_marker(void) { return 42; }\n"), 0o644))
	out, err := exec.Command(gcc, "-shared", "-fPIC", "-o", lib, src).CombinedOutput()
	require.NoError(t, err, string(out))

	cmd := exec.Command(sleep, "60")
	// 100 KiB of padding: more than the 64 KiB that used to be read, less
	// than the 128 KiB the kernel allows one variable.
	cmd.Env = []string{"PAD=" + strings.Repeat("x", 100<<10), "LD_PRELOAD=" + lib}
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
