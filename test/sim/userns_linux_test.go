package sim

import (
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// The tmpfs loader really loads from a tmpfs only its namespace has, and
// after Detach the kernel names the library from the detached tmpfs: a
// path that reads like a kernel pseudo file.
func TestTmpfsLoaderDetaches(t *testing.T) {
	t.Parallel()
	lib := BuildLib(t, filepath.Join(PublicDir(t, "modhunt-simlib-"), "lib.so"))
	l := StartTmpfsLoader(t, TmpfsLoadOpts{Lib: lib, Name: "SYSV00001129", Unlink: true})
	entries, err := os.ReadDir(l.Mount)
	require.NoError(t, err)
	assert.Empty(t, entries, "the host never sees the tmpfs")
	maps := func() string {
		b, err := os.ReadFile("/proc/" + strconv.Itoa(l.PID) + "/maps")
		require.NoError(t, err)
		return string(b)
	}
	assert.Contains(t, maps(), l.Mount+"/SYSV00001129 (deleted)")
	l.Detach(t)
	assert.NotContains(t, maps(), l.Mount)
	assert.Contains(t, maps(), " /SYSV00001129 (deleted)\n")
	if l.Unprivileged {
		status, err := os.ReadFile("/proc/" + strconv.Itoa(l.PID) + "/status")
		require.NoError(t, err)
		assert.Contains(t, string(status), "Uid:\t"+strconv.Itoa(Nobody)+"\t", "runs as nobody")
	}
	assert.True(t, strings.HasPrefix(l.Mount, "/tmp/"))
}
