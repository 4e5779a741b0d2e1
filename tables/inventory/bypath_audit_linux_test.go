package inventory

import (
	"context"
	"fmt"
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
)

func auditWchan(pid int) string {
	b, _ := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/wchan")
	return strings.TrimSpace(string(b))
}

// Without map_files the file type is read through the module's name in the
// process's root. A process can put something else under that name; the
// inventory must check it before opening it for reading, since opening a
// device or FIFO as root acts on it. The FIFO here has a writer blocked in
// open: any read-open by the inventory would let it through.
func TestFileTypeByPathNeverOpensANonRegularFile(t *testing.T) {
	procRoot := t.TempDir()
	pidDir := filepath.Join(procRoot, "500")
	require.NoError(t, os.MkdirAll(filepath.Join(pidDir, "root"), 0o755))
	fifo := filepath.Join(pidDir, "root", "x.so")
	require.NoError(t, syscall.Mkfifo(fifo, 0o600))
	var st syscall.Stat_t
	require.NoError(t, syscall.Stat(fifo, &st))
	maps := fmt.Sprintf("7f0000010000-7f0000020000 r-xp 00000000 fe:00 %d                         /x.so\n", st.Ino)
	for name, data := range map[string]string{
		"stat":    "500 (victim) S 1 500 500 0 -1 0\n",
		"maps":    maps,
		"cmdline": "victim\x00",
	} {
		require.NoError(t, os.WriteFile(filepath.Join(pidDir, name), []byte(data), 0o644))
	}

	writer := exec.Command("sh", "-c", "echo x > "+fifo)
	require.NoError(t, writer.Start())
	t.Cleanup(func() {
		// Let the writer through, then reap it.
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

	inv := New(Config{ProcRoot: procRoot})
	procs, err := inv.Processes(context.Background(), []int{500})
	require.NoError(t, err)
	require.Len(t, procs, 1)
	require.Len(t, procs[0].Modules, 1)
	assert.Equal(t, FileUnknown, procs[0].Modules[0].FileType)
	assert.Equal(t, "wait_for_partner", auditWchan(pid), "the inventory opened the FIFO for reading")
}
