package loadedmodules

import (
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/modhunt/modhunt/test/sim"
)

// Issue 8: an unprivileged user must not be able to hide a module from
// this table. These tests load real libraries the ways an attacker would.

// publicLib builds the probe library where a user namespace's Nobody can
// read it.
func publicLib(t *testing.T) string {
	t.Helper()
	return sim.BuildLib(t, filepath.Join(sim.PublicDir(t, "modhunt-lm-"), "libsrc.so"))
}

// A library on a user's own tmpfs, named like the kernel's shared memory
// ("/SYSV00001129 (deleted)", "/dev/zero (deleted)") or like a memfd, is
// a module like any other: only the device of the kernel's own memory
// mount makes shared memory or a memfd, never the name. Nor does a
// " (deleted)" the name really ends with make it deleted, where the path
// (from a detached tmpfs) leads nowhere.
func TestLiveKernelLookalikeNamesAreModules(t *testing.T) {
	t.Parallel()
	tbl := liveSetup(t)
	lib := publicLib(t)
	for _, c := range []struct {
		name   string
		unlink bool
	}{
		{"SYSV00001129", true},
		{"dev/zero", true},
		{"memfd:x", true},
		{"memfd:kept", false},
		// Its path resolves nowhere: only the file can say it is live.
		{"live.so (deleted)", false},
	} {
		l := sim.StartTmpfsLoader(t, sim.TmpfsLoadOpts{Lib: lib, Name: c.name, Unlink: c.unlink})
		l.Detach(t)
		kernelPath := "/" + c.name
		if c.unlink {
			kernelPath += " (deleted)"
		}
		k := kernelFacts(t, l.PID, kernelPath)
		require.NotEqual(t, "00:00", k.device)
		r := rowFor(t, rowsOf(t, tbl, l.PID), "/"+c.name)
		assert.Equal(t, k.device, r["device"], c.name)
		assert.Equal(t, k.inode, r["inode"], c.name)
		assert.Equal(t, "0", r["memfd"], "%s: a tmpfs file is no memfd", c.name)
		assert.Equal(t, map[bool]string{true: "1", false: "0"}[c.unlink], r["deleted"], c.name)
		assert.Equal(t, "1", r["executable"], c.name)
		assert.Equal(t, "elf", r["file_type"], c.name)
		if l.Unprivileged {
			assert.Equal(t, strconv.Itoa(sim.Nobody), r["uid"], c.name)
		}
	}
}

// kernelMemoryScript maps the kernel's own shared memory executable in a
// real process: shared anonymous memory, a SysV segment (SHM_EXEC, removed
// at once so it goes with the process) and a real memfd, which it loads.
const kernelMemoryScript = `import ctypes, mmap, os, sys, time
libc = ctypes.CDLL(None, use_errno=True)
anon = mmap.mmap(-1, 4096, mmap.MAP_SHARED, mmap.PROT_READ | mmap.PROT_WRITE | mmap.PROT_EXEC)
libc.shmget.restype = ctypes.c_int
libc.shmat.restype = ctypes.c_void_p
libc.shmat.argtypes = [ctypes.c_int, ctypes.c_void_p, ctypes.c_int]
libc.shmctl.argtypes = [ctypes.c_int, ctypes.c_int, ctypes.c_void_p]
seg = libc.shmget(0, 4096, 0o1600)
assert seg >= 0, ctypes.get_errno()
assert libc.shmat(seg, None, 0o100000) not in (None, ctypes.c_void_p(-1).value), ctypes.get_errno()
libc.shmctl(seg, 0, None)
fd = os.memfd_create("modhunt-real")
with open(sys.argv[1], "rb") as f:
    os.write(fd, f.read())
lib = ctypes.CDLL("/proc/self/fd/%d" % fd)
assert lib.modhunt_probe() == 42
print("ready", flush=True)
time.sleep(3600)
`

// The kernel's shared memory, recognised by its device, is not a module,
// while a real memfd is one, with memfd = 1.
func TestLiveKernelSharedMemoryByDevice(t *testing.T) {
	t.Parallel()
	tbl := liveSetup(t)
	py := sim.NeedPython(t)
	lib := sim.BuildLib(t, filepath.Join(t.TempDir(), "libsrc.so"))
	p := sim.Start(t, py, "-c", kernelMemoryScript, lib)
	maps, err := os.ReadFile("/proc/" + strconv.Itoa(p.PID) + "/maps")
	require.NoError(t, err)
	require.Contains(t, string(maps), " /dev/zero (deleted)\n", "the process has shared anonymous memory")
	require.Regexp(t, `rwxs .* /SYSV[0-9a-f]{8} \(deleted\)\n`, string(maps), "and an executable SysV segment")
	rows := rowsOf(t, tbl, p.PID)
	for _, r := range rows {
		assert.NotEqual(t, "/dev/zero", r["path"])
		assert.False(t, strings.HasPrefix(r["path"], "/SYSV"), "row for %s", r["path"])
	}
	r := rowFor(t, rows, "/memfd:modhunt-real")
	assert.Equal(t, "1", r["memfd"])
	assert.Equal(t, "1", r["deleted"])
	assert.Equal(t, "elf", r["file_type"])
}

// A module 75,000 bytes deep (300 directories of 250 bytes, all legal)
// is listed with its whole path: maps lines longer than any read buffer
// are read whole.
func TestLiveVeryLongPath(t *testing.T) {
	t.Parallel()
	tbl := liveSetup(t)
	p, lib := sim.StartDeepLoader(t, t.TempDir(), 300)
	require.Greater(t, len(lib), 75000)
	r := rowFor(t, rowsOf(t, tbl, p.PID), lib)
	assert.Equal(t, "libdeep.so", r["name"])
	assert.Equal(t, "0", r["deleted"])
	assert.Equal(t, "elf", r["file_type"])
	k := kernelFacts(t, p.PID, lib)
	assert.Equal(t, k.inode, r["inode"])
	assert.Equal(t, "0x"+strconv.FormatUint(k.base, 16), r["base_address"])
}

// A live file whose name holds a newline and ends in " (deleted)" is not
// deleted: maps prints the newline as \012, the kernel's text names no
// file, and only the file itself (its link count) decides. The path is
// reported with its real bytes, as readlink of map_files gives them; an
// unlinked one is deleted and loses the suffix.
func TestLiveNewlineInName(t *testing.T) {
	t.Parallel()
	tbl := liveSetup(t)
	dir := t.TempDir()
	live := sim.BuildLib(t, filepath.Join(dir, "a\nb.so (deleted)"))
	p := sim.StartLoader(t, sim.LoaderOpts{Lib: live})
	r := rowFor(t, rowsOf(t, tbl, p.PID), live)
	assert.Equal(t, "0", r["deleted"])
	assert.Equal(t, "a\nb.so (deleted)", r["name"])
	k := kernelFacts(t, p.PID, strings.ReplaceAll(live, "\n", `\012`))
	assert.Equal(t, k.inode, r["inode"])

	gone := sim.BuildLib(t, filepath.Join(dir, "c\nd.so"))
	q := sim.StartLoader(t, sim.LoaderOpts{Lib: gone, Unlink: true})
	r = rowFor(t, rowsOf(t, tbl, q.PID), gone)
	assert.Equal(t, "1", r["deleted"])

	// The same for the program itself: its row is its executable's.
	exe := filepath.Join(dir, "x\nloader (deleted)")
	src, err := os.ReadFile(sim.BuildLoader(t))
	require.NoError(t, err)
	require.NoError(t, os.WriteFile(exe, src, 0o755))
	e := sim.Start(t, exe, sim.LoaderArgs(sim.LoaderOpts{Lib: sim.BuildLib(t, filepath.Join(dir, "libe.so"))})...)
	r = rowFor(t, rowsOf(t, tbl, e.PID), exe)
	assert.Equal(t, "0", r["deleted"])
	assert.Equal(t, exe, r["process_path"])
}
