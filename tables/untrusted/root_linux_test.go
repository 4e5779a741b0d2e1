package untrusted

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/modhunt/modhunt/test/sim"
	"golang.org/x/sys/unix"
)

// A process's root may be its owner's to fill (a container, or a user's
// own chroot in a user namespace): its /etc/ld.so.preload can name a
// device or a FIFO, and opening one for reading as root acts on it. The
// FIFO here has a writer blocked in open: a read-open lets it through.
func TestOpenFileNeverOpensANonRegularFile(t *testing.T) {
	dir := t.TempDir()
	require.NoError(t, os.Mkdir(filepath.Join(dir, "etc"), 0o755))
	fifo := filepath.Join(dir, "etc", "ld.so.preload")
	sim.FIFO(t, fifo)

	stillBlocked := sim.BlockedWriter(t, fifo, "/tmp/evil.so")

	fd, err := unix.Open(dir, unix.O_PATH|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
	require.NoError(t, err)
	r := &procRoot{fd: fd}
	defer r.close()
	f, err := r.openFile("/etc/ld.so.preload")
	if err == nil {
		_ = f.Close()
	}
	require.Error(t, err)
	assert.Contains(t, err.Error(), "/etc/ld.so.preload: not a regular file")
	assert.True(t, stillBlocked(), "the FIFO was opened for reading")
}
