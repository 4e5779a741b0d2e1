package sim

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// TestNeedExecSkipsOnNoexec re-runs itself in a private mount namespace
// with a noexec tmpfs over a temp dir, where NeedExec must skip; here, on
// the temp dir as it is, it must not.
func TestNeedExecSkipsOnNoexec(t *testing.T) {
	if dir := os.Getenv(noexecEnv); dir != "" {
		NeedExec(t, dir)
		t.Fatalf("NeedExec did not skip on %s", dir)
	}
	t.Parallel()
	NeedRoot(t)
	NeedTool(t, "unshare", "util-linux")
	dir := t.TempDir()
	NeedExec(t, dir) // the host's temp dir: a skip here would end this test
	exe, err := os.Executable()
	require.NoError(t, err)
	cmd := exec.Command("unshare", "--mount", "--propagation", "private", "sh", "-c",
		`mount -t tmpfs -o noexec tmpfs "$1" && exec "$2" -test.run='^TestNeedExecSkipsOnNoexec$' -test.v`, "sh", dir, exe)
	cmd.Env = append(os.Environ(), noexecEnv+"="+dir)
	out, err := cmd.CombinedOutput()
	require.NoError(t, err, "%s", out)
	assert.Contains(t, string(out), dir+" is mounted noexec here, so nothing can be loaded from it")
	assert.Contains(t, string(out), "--- SKIP: TestNeedExecSkipsOnNoexec")
}

const noexecEnv = "MODHUNT_SIM_NOEXEC_DIR"

func TestPlantedLoaderSeesWhatTheHostDoesNot(t *testing.T) {
	t.Parallel()
	NeedRoot(t)
	p, planted, lib := StartPlantedLoader(t, "/usr/lib", "libmodhunt-sim-planted.so")
	assert.Equal(t, "/usr/lib/libmodhunt-sim-planted.so", planted)
	assert.Contains(t, mapsOf(t, p.PID), planted)
	_, err := os.Stat(planted)
	assert.ErrorIs(t, err, os.ErrNotExist, "the host's /usr/lib is untouched")
	st, err := os.Stat(lib)
	require.NoError(t, err)
	assert.Equal(t, os.FileMode(0o644), st.Mode().Perm())
	assert.NotEqual(t, "/usr/lib", filepath.Dir(lib))
}

func TestStartPreloaded(t *testing.T) {
	t.Parallel()
	lib := BuildLib(t, filepath.Join(t.TempDir(), "libpre.so"))
	p := StartPreloaded(t, lib)
	// The dynamic loader maps the preload a moment after sleep's execve.
	maps := filepath.Join("/proc", itoa(p.PID), "maps")
	assert.Eventually(t, func() bool {
		b, err := os.ReadFile(maps)
		return err == nil && strings.Contains(string(b), lib)
	}, ReadyTimeout, 5*time.Millisecond, "sleep maps %s", lib)
}
