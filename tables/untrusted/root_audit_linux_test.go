package untrusted

import (
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"golang.org/x/sys/unix"
)

func auditWchan(pid int) string {
	b, _ := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/wchan")
	return strings.TrimSpace(string(b))
}

// A process's root may be its owner's to fill (a container, or a user's
// own chroot in a user namespace): its /etc/ld.so.preload can name a
// device or a FIFO, and opening one for reading as root acts on it. The
// FIFO here has a writer blocked in open: a read-open lets it through.
func TestOpenFileNeverOpensANonRegularFile(t *testing.T) {
	dir := t.TempDir()
	require.NoError(t, os.Mkdir(filepath.Join(dir, "etc"), 0o755))
	fifo := filepath.Join(dir, "etc", "ld.so.preload")
	require.NoError(t, syscall.Mkfifo(fifo, 0o600))

	writer := exec.Command("sh", "-c", "echo /tmp/evil.so > "+fifo)
	require.NoError(t, writer.Start())
	t.Cleanup(func() {
		if f, err := os.OpenFile(fifo, os.O_RDONLY|syscall.O_NONBLOCK, 0); err == nil {
			_ = f.Close()
		}
		_ = writer.Process.Kill()
		_ = writer.Wait()
	})
	pid := writer.Process.Pid
	deadline := time.Now().Add(10 * time.Second)
	for auditWchan(pid) != "wait_for_partner" {
		if time.Now().After(deadline) {
			t.Skipf("the FIFO writer never showed as waiting (wchan %q): this kernel does not report it", auditWchan(pid))
		}
		time.Sleep(5 * time.Millisecond)
	}

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
	assert.Equal(t, "wait_for_partner", auditWchan(pid), "the FIFO was opened for reading")
}
