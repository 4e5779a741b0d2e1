package sim

import (
	"os"
	"path/filepath"
	"strconv"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.uber.org/goleak"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

func mapsOf(t *testing.T, pid int) string {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("/proc", itoa(pid), "maps"))
	require.NoError(t, err)
	return string(b)
}

func itoa(n int) string { return strconv.Itoa(n) }

func TestLoaderLoadsAndUnlinks(t *testing.T) {
	lib := BuildLib(t, filepath.Join(t.TempDir(), "libsim.so"))
	p := StartLoader(t, LoaderOpts{Lib: lib, Unlink: true})
	assert.Contains(t, mapsOf(t, p.PID), lib+" (deleted)")
	_, err := os.Stat(lib)
	assert.True(t, os.IsNotExist(err), "loader unlinked the module")
}

func TestLoaderMemfd(t *testing.T) {
	lib := BuildLib(t, filepath.Join(t.TempDir(), "libsim.so"))
	p := StartLoader(t, LoaderOpts{Lib: lib, Memfd: true, MemfdName: "simfd"})
	assert.Contains(t, mapsOf(t, p.PID), "/memfd:simfd (deleted)")
}

func TestPythonCtypes(t *testing.T) {
	lib := BuildLib(t, filepath.Join(t.TempDir(), "libpy.so"))
	p := StartPythonCtypes(t, lib)
	assert.Contains(t, mapsOf(t, p.PID), lib)
}

func TestStartFailsFastWhenChildDies(t *testing.T) {
	lib := BuildLib(t, filepath.Join(t.TempDir(), "libsim.so"))
	require.NoError(t, os.Remove(lib))
	p := StartNoWait(t, BuildLoader(t), LoaderArgs(LoaderOpts{Lib: lib})...)
	err := p.waitReady()
	require.Error(t, err)
	assert.Contains(t, err.Error(), "exited before ready")
}

func TestSleepersAreCleanedUp(t *testing.T) {
	var pids []int
	t.Run("start", func(t *testing.T) {
		pids = StartSleepers(t, 5)
		for _, pid := range pids {
			_, err := os.Stat(filepath.Join("/proc", itoa(pid)))
			require.NoError(t, err)
		}
	})
	for _, pid := range pids {
		_, err := os.Stat(filepath.Join("/proc", itoa(pid)))
		assert.True(t, os.IsNotExist(err), "sleeper %d reaped after its test", pid)
	}
}
