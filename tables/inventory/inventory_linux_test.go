package inventory

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"golang.org/x/sys/unix"

	"github.com/modhunt/modhunt/tables/fileinfo"
	"github.com/modhunt/modhunt/test/sim"
)

type fakeProc struct {
	stat, maps, cmdline, exe string
	uid                      int // owner of the fixture's files, as procfs owns them by euid
}

// fakeRoot lays out a procfs look-alike: status, maps, cmdline and an exe
// symlink per pid (there is no map_files, as without CAP_SYS_ADMIN).
func fakeRoot(t *testing.T, procs map[int]fakeProc) string {
	t.Helper()
	root := t.TempDir()
	for pid, p := range procs {
		dir := filepath.Join(root, strconv.Itoa(pid))
		require.NoError(t, os.Mkdir(dir, 0o755))
		require.NoError(t, os.WriteFile(filepath.Join(dir, "stat"), []byte(p.stat), 0o644))
		require.NoError(t, os.WriteFile(filepath.Join(dir, "maps"), []byte(p.maps), 0o644))
		if p.uid != 0 && os.Geteuid() == 0 {
			require.NoError(t, os.Chown(filepath.Join(dir, "maps"), p.uid, p.uid))
		}
		require.NoError(t, os.WriteFile(filepath.Join(dir, "cmdline"), []byte(p.cmdline), 0o644))
		if p.exe != "" {
			require.NoError(t, os.Symlink(p.exe, filepath.Join(dir, "exe")))
		}
	}
	require.NoError(t, os.WriteFile(filepath.Join(root, "self"), nil, 0o644)) // not a pid: ignored
	return root
}

// fakeMaps100 has, besides files, the kernel's own shared memory on the
// device this kernel really keeps it on (learned as the inventory learns
// it), and files that only carry those names, on a tmpfs.
var fakeMaps100 = `5600000a0000-5600000a2000 r--p 00000000 fe:00 11                         /usr/bin/fake
5600000a2000-5600000a5000 r-xp 00002000 fe:00 11                         /usr/bin/fake
5600000b0000-5600000b1000 rw-p 00000000 00:00 0                          [heap]
7f0000010000-7f0000020000 r-xp 00010000 fe:00 22                         /lib/a b.so
7f0000000000-7f0000010000 r--p 00000000 fe:00 22                         /lib/a b.so
7f0000020000-7f0000021000 rw-p 00020000 fe:00 22                         /lib/a b.so
7f0000030000-7f0000031000 r--p 00000000 fe:00 22                         /lib/hardlink.so
7f0000040000-7f0000041000 rw-s 00000000 KMEM 5                          /dev/zero (deleted)
7f0000042000-7f0000043000 rwxs 00000000 KMEM 32769                      /SYSV00001129 (deleted)
7f0000044000-7f0000045000 r-xp 00000000 KMEM 0                          /SYSV00000000 (deleted)
7f0000046000-7f0000047000 r-xp 00000000 KMEM 77                         /memfd:jit (deleted)
7f0000048000-7f0000049000 r-xp 00000000 00:2a 3                          /SYSV00001129 (deleted)
7f000004a000-7f000004b000 r-xp 00000000 00:2a 4                          /dev/zero (deleted)
7f000004c000-7f000004d000 r-xp 00000000 00:2a 5                          /memfd:x (deleted)
7f000004e000-7f000004f000 r-xp 00000000 00:2b 0                          /fuse/inode-zero.so
7f0000050000-7f0000051000 rw-p 00000000 00:00 0 
this line is broken
7ffd00000000-7ffd00001000 r-xp 00000000 00:00 0                          [vdso]
ffffffffff600000-ffffffffff601000 --xp 00000000 00:00 0                  [vsyscall]
`

// kmemDevice is the first of this kernel's memory devices, in maps'
// notation.
func kmemDevice(t *testing.T) (devNum, string) {
	t.Helper()
	devs := kernelMem()
	require.NotEmpty(t, devs, "this kernel's memory devices")
	return devs[0], fmt.Sprintf("%02x:%02x", devs[0].major, devs[0].minor)
}

func fixture(t *testing.T) string {
	_, kmem := kmemDevice(t)
	return fakeRoot(t, map[int]fakeProc{
		100: {
			stat:    "100 (fa) ke (x) S 1 100 100 0 -1 4194560 95 0 0 0 0 0 0 0 20 0 1 0 36 2347008 200 18446744073709551615\n",
			uid:     1000,
			maps:    strings.ReplaceAll(fakeMaps100, "KMEM", kmem),
			cmdline: "/usr/bin/fake\x00--flag\x00two words\x00",
			exe:     "/usr/bin/fake",
		},
		300: {
			stat: "300 (kworker/0:1) I 2 0 0 0 -1 69238880\n",
		},
		200: {
			stat:    "200 (other) R 100 200 200 0 -1 0\n",
			maps:    "5600000a0000-5600000a2000 r-xp 00000000 fe:00 33                         /usr/bin/other\n",
			cmdline: "other\x00",
			exe:     "/usr/bin/other",
		},
	})
}

func TestWalkFixture(t *testing.T) {
	t.Parallel()
	inv := New(Config{ProcRoot: fixture(t)})
	procs, err := inv.Processes(context.Background(), nil)
	require.NoError(t, err)
	require.Len(t, procs, 3)
	kthread := procs[2]
	assert.Equal(t, 300, kthread.PID)
	assert.Equal(t, "kworker/0:1", kthread.Name)
	assert.Equal(t, 2, kthread.PPID)
	assert.Empty(t, kthread.Modules)

	p := procs[0]
	assert.Equal(t, 100, p.PID)
	assert.Equal(t, 1, p.PPID)
	assert.Equal(t, "fa) ke (x", p.Name, "comm ends at the last parenthesis")
	if os.Geteuid() == 0 {
		assert.Equal(t, int64(1000), p.UID, "owner of the process's procfs files")
	}
	assert.Equal(t, "/usr/bin/fake --flag two words", p.Cmdline)
	assert.Equal(t, "/usr/bin/fake", p.Path)
	assert.False(t, p.PathDeleted)

	dev, kmem := kmemDevice(t)
	want := []Module{
		// The fixture's exe link leads nowhere: only the name can say.
		{Path: "/usr/bin/fake", Name: "fake", Base: 0x5600000a0000, Size: 0x5000,
			Executable: true, FileType: FileUnknown, Exe: true, Linux: LinuxMapping{Perms: "r-xp", Inode: 11, Device: "fe:00", Major: 0xfe, MapStart: 0x5600000a0000, MapEnd: 0x5600000a2000}},
		{Path: "/lib/a b.so", Name: "a b.so", Base: 0x7f0000000000, Size: 0x21000,
			Executable: true, FileType: FileUnknown, Linux: LinuxMapping{Perms: "rwxp", Inode: 22, Device: "fe:00", Major: 0xfe, MapStart: 0x7f0000000000, MapEnd: 0x7f0000010000}},
		{Path: "/lib/hardlink.so", Name: "hardlink.so", Base: 0x7f0000030000, Size: 0x1000,
			FileType: FileUnknown, Linux: LinuxMapping{Perms: "r--p", Inode: 22, Device: "fe:00", Major: 0xfe, MapStart: 0x7f0000030000, MapEnd: 0x7f0000031000}},
		// On the kernel's memory device only the memfd is a module; the
		// kernel made its name, and its file is unlinked by nature.
		{Path: "/memfd:jit", Name: "memfd:jit", Base: 0x7f0000046000, Size: 0x1000,
			Executable: true, FileType: FileUnknown,
			Memfd: true, Deleted: true, Linux: LinuxMapping{Perms: "r-xp", Inode: 77, Device: kmem, Major: dev.major, Minor: dev.minor, MapStart: 0x7f0000046000, MapEnd: 0x7f0000047000}},
		// The same names on a tmpfs are files like any other (without
		// map_files, the suffix is believed when the name resolves to
		// nothing, and a memfd name alone makes no memfd).
		{Path: "/SYSV00001129", Name: "SYSV00001129", Base: 0x7f0000048000, Size: 0x1000,
			Executable: true, FileType: FileUnknown, Deleted: true, Linux: LinuxMapping{Perms: "r-xp", Inode: 3, Device: "00:2a", Minor: 0x2a, MapStart: 0x7f0000048000, MapEnd: 0x7f0000049000}},
		{Path: "/dev/zero", Name: "zero", Base: 0x7f000004a000, Size: 0x1000,
			Executable: true, FileType: FileUnknown, Deleted: true, Linux: LinuxMapping{Perms: "r-xp", Inode: 4, Device: "00:2a", Minor: 0x2a, MapStart: 0x7f000004a000, MapEnd: 0x7f000004b000}},
		{Path: "/memfd:x", Name: "memfd:x", Base: 0x7f000004c000, Size: 0x1000,
			Executable: true, FileType: FileUnknown, Deleted: true, Linux: LinuxMapping{Perms: "r-xp", Inode: 5, Device: "00:2a", Minor: 0x2a, MapStart: 0x7f000004c000, MapEnd: 0x7f000004d000}},
		// Inode 0 is a number a FUSE server may give a file.
		{Path: "/fuse/inode-zero.so", Name: "inode-zero.so", Base: 0x7f000004e000, Size: 0x1000,
			Executable: true, FileType: FileUnknown, Linux: LinuxMapping{Perms: "r-xp", Inode: 0, Device: "00:2b", Minor: 0x2b, MapStart: 0x7f000004e000, MapEnd: 0x7f000004f000}},
	}
	// Every mapped file but a memfd is taken for the loader's on Linux,
	// and is known by its device and inode.
	for i := range want {
		want[i].InLoaderList = !want[i].Memfd
		want[i].File = fileinfo.Key{Dev: unix.Mkdev(want[i].Linux.Major, want[i].Linux.Minor), Ino: want[i].Linux.Inode}
	}
	assert.Equal(t, want, p.Modules)

	assert.Equal(t, 200, procs[1].PID)
	assert.Equal(t, 100, procs[1].PPID)
	assert.Equal(t, int64(0), procs[1].UID)
	require.Len(t, procs[1].Modules, 1)
	assert.Equal(t, "/usr/bin/other", procs[1].Modules[0].Path)
}

func TestPIDFilterReadsOnlyThose(t *testing.T) {
	t.Parallel()
	var mu sync.Mutex
	var read []int
	inv := New(Config{ProcRoot: fixture(t), OnProcess: func(pid int) {
		mu.Lock()
		defer mu.Unlock()
		read = append(read, pid)
	}})
	var got []int
	require.NoError(t, inv.Walk(context.Background(), []int{200, 200}, func(p *Process) error {
		got = append(got, p.PID)
		return nil
	}))
	assert.Equal(t, []int{200}, got)
	assert.Equal(t, []int{200}, read, "only the pinned pid is read, once")

	read = nil
	require.NoError(t, inv.Walk(context.Background(), []int{}, func(*Process) error {
		t.Fatal("an empty pid list means no process")
		return nil
	}))
	assert.Empty(t, read)
}

func TestVanishedProcessIsSkipped(t *testing.T) {
	t.Parallel()
	inv := New(Config{ProcRoot: fixture(t)})
	procs, err := inv.Processes(context.Background(), []int{100, 4242, -1, 200})
	require.NoError(t, err)
	require.Len(t, procs, 2)
	assert.Equal(t, 100, procs[0].PID)
	assert.Equal(t, 200, procs[1].PID)
}

func TestModulesOnlySkipsProcessesWithoutFiles(t *testing.T) {
	t.Parallel()
	inv := New(Config{ProcRoot: fixture(t), ModulesOnly: true})
	procs, err := inv.Processes(context.Background(), nil)
	require.NoError(t, err)
	var pids []int
	for _, p := range procs {
		pids = append(pids, p.PID)
	}
	assert.Equal(t, []int{100, 200}, pids)
}

func TestParseStat(t *testing.T) {
	t.Parallel()
	s := newScratch(Config{}.withDefaults())
	var p Process
	require.NoError(t, parseStat(s, &p, []byte("42 (a (b) c) S 7 42 42 0")))
	assert.Equal(t, "a (b) c", p.Name)
	assert.Equal(t, 7, p.PPID)
	require.NoError(t, parseStat(s, &p, []byte("42 () Z 0")))
	assert.Empty(t, p.Name)
	assert.Equal(t, 0, p.PPID)
	for _, bad := range []string{"", "42 comm S 1", "42 (x)", "42 (x) S", "42 (x) S y"} {
		assert.Error(t, parseStat(s, &p, []byte(bad)), bad)
	}
}

func TestWalkStopsOnCallbackErrorAndContext(t *testing.T) {
	t.Parallel()
	inv := New(Config{ProcRoot: fixture(t)})
	stop := errors.New("stop")
	n := 0
	err := inv.Walk(context.Background(), nil, func(*Process) error { n++; return stop })
	assert.ErrorIs(t, err, stop)
	assert.Equal(t, 1, n)

	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	err = inv.Walk(ctx, nil, func(*Process) error { t.Fatal("no process after cancel"); return nil })
	assert.ErrorIs(t, err, context.Canceled)
}

// lowestMapping reads /proc/PID/maps the plain way and returns the lowest
// start address and total size of path's mappings.
func lowestMapping(t *testing.T, pid int, path string) (base, size uint64) {
	t.Helper()
	f, err := os.Open("/proc/" + strconv.Itoa(pid) + "/maps")
	require.NoError(t, err)
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		line := sc.Text()
		if !strings.HasSuffix(line, " "+path) {
			continue
		}
		rng := strings.SplitN(strings.Fields(line)[0], "-", 2)
		s, err := strconv.ParseUint(rng[0], 16, 64)
		require.NoError(t, err)
		e, err := strconv.ParseUint(rng[1], 16, 64)
		require.NoError(t, err)
		if base == 0 || s < base {
			base = s
		}
		size += e - s
	}
	require.NotZero(t, base, "%s not mapped in %d", path, pid)
	return base, size
}

func TestLiveSelf(t *testing.T) {
	sim.NeedRoot(t)
	inv := New(Config{})
	exe, err := os.Executable()
	require.NoError(t, err)
	procs, err := inv.Processes(context.Background(), []int{os.Getpid()})
	require.NoError(t, err)
	require.Len(t, procs, 1)
	p := procs[0]
	assert.Equal(t, os.Getppid(), p.PPID)
	assert.Equal(t, exe, p.Path)
	assert.Equal(t, int64(os.Getuid()), p.UID)
	var main *Module
	for i := range p.Modules {
		if p.Modules[i].Path == exe {
			main = &p.Modules[i]
		}
		assert.NotEqual(t, byte('['), p.Modules[i].Path[0], "pseudo regions are not modules")
	}
	require.NotNil(t, main, "the main executable is a module")
	base, size := lowestMapping(t, os.Getpid(), exe)
	assert.Equal(t, base, main.Base)
	assert.Equal(t, size, main.Size)
	assert.Equal(t, FileELF, main.FileType)
	assert.True(t, main.Executable)

	f, err := inv.OpenModule(os.Getpid(), main)
	require.NoError(t, err)
	head := make([]byte, 4)
	_, err = f.Read(head)
	require.NoError(t, f.Close())
	require.NoError(t, err)
	assert.Equal(t, "\x7fELF", string(head))

	fi, err := inv.StatModule(os.Getpid(), main)
	require.NoError(t, err)
	st, err := os.Stat(exe)
	require.NoError(t, err)
	assert.Equal(t, st.Size(), fi.Size)
	assert.Equal(t, main.Linux.Inode, fi.Ino)
}

func TestCacheIsBounded(t *testing.T) {
	sim.NeedRoot(t)
	inv := New(Config{CacheSize: 2})
	procs, err := inv.Processes(context.Background(), []int{os.Getpid(), os.Getppid()})
	require.NoError(t, err)
	require.NotEmpty(t, procs)
	assert.LessOrEqual(t, inv.cacheLen(), 2)
	for _, m := range procs[0].Modules {
		if strings.HasSuffix(m.Name, ".so") || strings.Contains(m.Name, ".so.") {
			assert.Equal(t, FileELF, m.FileType, "%s typed correctly despite evictions", m.Path)
		}
	}
}

func TestEnvironOfChild(t *testing.T) {
	sim.NeedRoot(t)
	sleep, err := exec.LookPath("sleep")
	if err != nil {
		t.Skip("needs sleep: apt-get install coreutils")
	}
	cmd := exec.Command(sleep, "3600")
	cmd.Env = []string{"LD_PRELOAD=/tmp/evil.so", "PAD=" + strings.Repeat("x", 100)}
	require.NoError(t, cmd.Start())
	t.Cleanup(func() { _ = cmd.Process.Kill(); _ = cmd.Wait() })
	sim.WaitExec(t, cmd.Process.Pid, sleep)
	inv := New(Config{})
	env, truncated, err := inv.Environ(cmd.Process.Pid, 0)
	require.NoError(t, err)
	assert.False(t, truncated)
	assert.Equal(t, cmd.Env, env)
	env, truncated, err = inv.Environ(cmd.Process.Pid, 30)
	require.NoError(t, err)
	assert.True(t, truncated)
	assert.Equal(t, []string{"LD_PRELOAD=/tmp/evil.so"}, env)
}

func TestReadFileRejectsEscapes(t *testing.T) {
	t.Parallel()
	inv := New(Config{})
	for _, name := range []string{"", ".", "..", "/etc/passwd", "../1/maps", "task/../../x", "root/etc/shadow", "cwd/x", "fd/0"} {
		_, _, err := inv.ReadFile(os.Getpid(), name, 10)
		assert.Error(t, err, name)
	}
	_, _, err := inv.ReadFile(os.Getpid(), "maps", 0)
	assert.Error(t, err)
}

// The guard runs up to four generates at once over one Inventory: walks
// share the file-type cache and must agree with each other.
func TestConcurrentWalksAgree(t *testing.T) {
	sim.NeedRoot(t)
	inv := New(Config{CacheSize: 8})
	pids := []int{os.Getpid(), os.Getppid()}
	want, err := inv.Processes(context.Background(), pids)
	require.NoError(t, err)
	require.NotEmpty(t, want)
	var wg sync.WaitGroup
	results := make([][]Process, 4)
	for i := range results {
		wg.Go(func() {
			for range 10 {
				got, err := inv.Processes(context.Background(), pids)
				if err != nil {
					t.Error(err)
					return
				}
				results[i] = got
			}
		})
	}
	wg.Wait()
	for _, got := range results {
		require.Len(t, got, len(want))
		for i := range want {
			assert.Equal(t, want[i].Modules, got[i].Modules)
		}
	}
	assert.LessOrEqual(t, inv.cacheLen(), 8)
}

// OpenModule and StatModule reach the mapped bytes through map_files even
// when no path names the file any more.
func TestLiveOpenModuleOfUnlinkedAndMemfd(t *testing.T) {
	sim.NeedRoot(t)
	sim.NeedGCC(t)
	lib := sim.BuildLib(t, filepath.Join(t.TempDir(), "libopen.so"))
	want, err := os.ReadFile(lib)
	require.NoError(t, err)
	gone := sim.StartLoader(t, sim.LoaderOpts{Lib: sim.BuildLib(t, filepath.Join(t.TempDir(), "libopen.so")), Unlink: true})
	mem := sim.StartLoader(t, sim.LoaderOpts{Lib: lib, Memfd: true, MemfdName: "open-test"})
	inv := New(Config{})
	procs, err := inv.Processes(context.Background(), []int{gone.PID, mem.PID})
	require.NoError(t, err)
	require.Len(t, procs, 2)
	for _, p := range procs {
		var m *Module
		for i := range p.Modules {
			if p.Modules[i].Deleted && strings.Contains(p.Modules[i].Path, "open") {
				m = &p.Modules[i]
			}
		}
		require.NotNil(t, m, "pid %d: no deleted module", p.PID)
		f, err := inv.OpenModule(p.PID, m)
		require.NoError(t, err)
		got, err := io.ReadAll(io.LimitReader(f, int64(len(want))+1))
		require.NoError(t, f.Close())
		require.NoError(t, err)
		assert.Equal(t, want, got, "pid %d %s: the mapped bytes", p.PID, m.Path)
		fi, err := inv.StatModule(p.PID, m)
		require.NoError(t, err)
		assert.Zero(t, fi.Nlink)
		assert.Equal(t, int64(len(want)), fi.Size)
		assert.Equal(t, m.Linux.Inode, fi.Ino)
	}
}

func TestSniffReadsAFullPage(t *testing.T) {
	t.Parallel()
	head := make([]byte, 8192)
	copy(head, "MZ")
	head[0x3c], head[0x3d] = 0x00, 0x09 // e_lfanew = 0x900, past 2 KiB
	copy(head[0x900:], "PE\x00\x00")
	path := filepath.Join(t.TempDir(), "late-header.dll")
	require.NoError(t, os.WriteFile(path, head, 0o644))
	f, err := os.Open(path)
	require.NoError(t, err)
	defer f.Close()
	s := newScratch(Config{}.withDefaults())
	assert.Equal(t, FilePE, sniffFD(int(f.Fd()), s.small))

	dir, err := os.Open(t.TempDir())
	require.NoError(t, err)
	defer dir.Close()
	assert.Equal(t, FileUnknown, sniffFD(int(dir.Fd()), s.small), "only regular files are read")
}
