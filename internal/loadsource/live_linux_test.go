package loadsource

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

const (
	protExec   = unix.PROT_EXEC
	mapPrivate = unix.MAP_PRIVATE
)

// copyLib puts a fresh copy of the test library at dir/name.
func copyLib(t *testing.T, dir, name string) string {
	t.Helper()
	b, err := os.ReadFile(mhlib)
	if err != nil {
		t.Fatal(err)
	}
	p := filepath.Join(dir, name)
	if err := os.WriteFile(p, b, 0o755); err != nil {
		t.Fatal(err)
	}
	return p
}

// maxTick is the longest kernel tick (HZ=100): how far before an event
// its time may be, and how far out of order two events on two CPUs.
const maxTick = 10 * time.Millisecond

func checkFile(t *testing.T, ev Event, id fileID) {
	t.Helper()
	if ev.Inode != id.ino || ev.Device != (Device{id.major, id.minor}) {
		t.Errorf("event names inode %d on %s; the loader's fstat says inode %d on %d:%d", ev.Inode, ev.Device, id.ino, id.major, id.minor)
	}
}

// A loader that dlopen()s a library from /tmp and exits at once: the event
// arrives with the process context and the file exactly as the kernel named
// it, although the process is gone (and /proc knows nothing of it) before
// the consumer reads a single event.
func TestShortLivedDlopenResolvedInKernel(t *testing.T) {
	c := startSource(t, Config{}, true)
	lib := copyLib(t, t.TempDir(), "libmh_short.so")
	var sys unix.Stat_t
	if err := unix.Stat(lib, &sys); err != nil {
		t.Fatal(err)
	}
	before := time.Now()
	pid, id := run(t, nil, "load", lib)
	after := time.Now()
	gone(t, pid)
	c.resume()

	ev := c.wait(t, "the dlopen", func(e *Event) bool {
		return e.Kind == KindMmap && int(e.PID) == pid && e.Prot&protExec != 0 && strings.HasSuffix(string(e.Path), "libmh_short.so")
	})
	if string(ev.Path) != lib {
		t.Errorf("path %q, want %q", ev.Path, lib)
	}
	checkFile(t, ev, id)
	if ev.Inode != sys.Ino || ev.Device.Major != unix.Major(sys.Dev) || ev.Device.Minor != unix.Minor(sys.Dev) {
		t.Errorf("event inode %d dev %s, stat says inode %d dev %d:%d", ev.Inode, ev.Device, sys.Ino, unix.Major(sys.Dev), unix.Minor(sys.Dev))
	}
	if int(ev.PPID) != os.Getpid() || ev.UID != 0 || ev.EUID != 0 || ev.Comm != "mhload" || string(ev.Exe) != mhload {
		t.Errorf("process context: ppid %d (want %d) uid %d euid %d comm %q exe %q (want %q)", ev.PPID, os.Getpid(), ev.UID, ev.EUID, ev.Comm, ev.Exe, mhload)
	}
	if ev.Flags&mapPrivate == 0 || ev.Memfd || ev.Internal || ev.Deleted || ev.PathTruncated || ev.NoFile {
		t.Errorf("flags %#x memfd %v internal %v deleted %v truncated %v nofile %v", ev.Flags, ev.Memfd, ev.Internal, ev.Deleted, ev.PathTruncated, ev.NoFile)
	}
	// The time is the tick's first reading on that CPU: never later than
	// the load, and at most a tick before it.
	if ev.Time.Before(before.Add(-maxTick)) || ev.Time.After(after) || ev.IsExec() {
		t.Errorf("time %v, the loader ran from %v to %v; exec %v", ev.Time, before, after, ev.IsExec())
	}
	var self unix.Stat_t
	if err := unix.Stat("/proc/self/ns/mnt", &self); err != nil || uint64(ev.MountNS) != self.Ino {
		t.Errorf("mount namespace %d, /proc/self/ns/mnt is %d (%v)", ev.MountNS, self.Ino, err)
	}
	// The exec that started the loader came first, with its argv.
	exe := c.wait(t, "the loader's exec", func(e *Event) bool { return e.Kind == KindExec && int(e.PID) == pid })
	if string(exe.Path) != mhload || len(exe.Argv) != 3 || string(exe.Argv[2]) != lib || exe.BootNS > ev.BootNS+uint64(maxTick) {
		t.Errorf("exec event: path %q argv %q boot %d (load at %d)", exe.Path, exe.Argv, exe.BootNS, ev.BootNS)
	}
}

// LD_PRELOAD into a process that exits at once: the preloaded library's
// mapping is reported with the preloading process.
func TestLDPreloadInProcessThatExitsAtOnce(t *testing.T) {
	c := startSource(t, Config{}, true)
	lib := copyLib(t, t.TempDir(), "libmh_preload.so")
	var st unix.Stat_t
	if err := unix.Stat(lib, &st); err != nil {
		t.Fatal(err)
	}
	// The "load" of mhload's own file: a plain open and report, no dlopen
	// of lib: only the preload maps it.
	pid, _ := run(t, []string{"LD_PRELOAD=" + lib}, "load", mhlib)
	gone(t, pid)
	c.resume()
	ev := c.wait(t, "the preloaded library", func(e *Event) bool {
		return e.Kind == KindMmap && int(e.PID) == pid && string(e.Path) == lib
	})
	if ev.Inode != st.Ino || ev.Device.Major != unix.Major(st.Dev) || ev.Device.Minor != unix.Minor(st.Dev) || ev.Prot&protExec == 0 {
		t.Errorf("preload event: inode %d dev %s prot %#x; stat inode %d", ev.Inode, ev.Device, ev.Prot, st.Ino)
	}
	// The exec read the environment that named it, in the kernel (the
	// process is gone), and kept only the loader's variables: the test's
	// own environment (PATH, HOME, ...) is not in the event.
	exe := c.wait(t, "the exec", func(e *Event) bool { return e.Kind == KindExec && int(e.PID) == pid })
	found := false
	for _, kv := range exe.LoaderEnv {
		found = found || kv == "LD_PRELOAD="+lib
		if !strings.HasPrefix(kv, "LD_") {
			t.Errorf("the exec event kept %q", kv)
		}
	}
	if !found {
		t.Errorf("the exec event's loader variables %q lack LD_PRELOAD=%s", exe.LoaderEnv, lib)
	}
}

// memfd_create + write an ELF + dlopen("/proc/self/fd/N"), with the system
// call hooks on: both the memfd_create and the load are flagged memfd, named
// as the kernel names them, and carry the memfd's inode. (By default only
// the load comes: TestDefaultHasNoSyscallHooks.)
func TestMemfdLoadFlagged(t *testing.T) {
	c := startSource(t, Config{SyscallHooks: true}, true)
	pid, id := run(t, nil, "memfd", mhlib, "mh_payload")
	gone(t, pid)
	c.resume()
	created := c.wait(t, "memfd_create", func(e *Event) bool { return e.Kind == KindMemfdCreate && int(e.PID) == pid })
	load := c.wait(t, "the memfd load", func(e *Event) bool {
		return e.Kind == KindMmap && int(e.PID) == pid && e.Prot&protExec != 0 && e.Inode == id.ino
	})
	for _, ev := range []Event{created, load} {
		if string(ev.Path) != "/memfd:mh_payload" || !ev.Memfd || !ev.Internal || !ev.Deleted || ev.MountNS != 0 {
			t.Errorf("%s: path %q memfd %v internal %v deleted %v mntns %d", ev.Kind, ev.Path, ev.Memfd, ev.Internal, ev.Deleted, ev.MountNS)
		}
		checkFile(t, ev, id)
	}
	if created.FD != id.fd {
		t.Errorf("memfd_create event fd %d, the loader got %d", created.FD, id.fd)
	}
}

// Fileless exec: fexecve of a memfd. The exec event's image is the memfd.
func TestMemfdExecFlagged(t *testing.T) {
	c := startSource(t, Config{}, false)
	pid, id := run(t, nil, "memfd-exec", "/bin/true")
	ev := c.wait(t, "the fexecve", func(e *Event) bool { return e.Kind == KindExec && int(e.PID) == pid && e.Inode == id.ino })
	if string(ev.Path) != "/memfd:mh_exec" || !ev.Memfd || !ev.Deleted || len(ev.Argv) != 1 || string(ev.Argv[0]) != "mh_fileless" {
		t.Errorf("exec of a memfd: path %q memfd %v deleted %v argv %q", ev.Path, ev.Memfd, ev.Deleted, ev.Argv)
	}
}

// A tmpfs file called memfd:x, its kernel name exactly "/memfd:x" (its
// mount detached), is not a memfd: the name and the filesystem type alone
// do not make one.
func TestTmpfsFileNamedMemfdIsNotMemfd(t *testing.T) {
	c := startSource(t, Config{}, false)
	pid, id := run(t, nil, "fakememfd", mhlib, t.TempDir())
	ev := c.wait(t, "the fake memfd's load", func(e *Event) bool {
		return e.Kind == KindMmap && int(e.PID) == pid && e.Prot&protExec != 0 && e.Inode == id.ino
	})
	if string(ev.Path) != "/memfd:x" || ev.FSMagic != unix.TMPFS_MAGIC {
		t.Fatalf("the scenario did not build: path %q fs magic %#x", ev.Path, ev.FSMagic)
	}
	if ev.Memfd || ev.Internal || ev.Deleted {
		t.Errorf("a tmpfs file named memfd:x: memfd %v internal %v deleted %v", ev.Memfd, ev.Internal, ev.Deleted)
	}
	checkFile(t, ev, id)
}

// A library opened, unlinked and then loaded by fd: deleted at load time,
// with the name it had.
func TestDeletedAtLoad(t *testing.T) {
	c := startSource(t, Config{}, true)
	lib := copyLib(t, t.TempDir(), "libmh_gone.so")
	pid, id := run(t, nil, "deleted", lib)
	gone(t, pid)
	c.resume()
	ev := c.wait(t, "the deleted library's load", func(e *Event) bool {
		return e.Kind == KindMmap && int(e.PID) == pid && e.Prot&protExec != 0 && e.Inode == id.ino
	})
	if string(ev.Path) != lib || !ev.Deleted || ev.Nlink != 0 || ev.Memfd || ev.Internal {
		t.Errorf("path %q (want %q) deleted %v nlink %d memfd %v internal %v", ev.Path, lib, ev.Deleted, ev.Nlink, ev.Memfd, ev.Internal)
	}
	checkFile(t, ev, id)
}

// mprotect adding PROT_EXEC to a file mapping is a load; making an already
// executable mapping executable again is not, nor is anonymous memory.
func TestMprotectAddingExec(t *testing.T) {
	c := startSource(t, Config{SyscallHooks: true}, false)
	for _, h := range c.src.Stats().Hooks {
		if h.Name == "syscalls:sys_enter_mprotect" && !h.Attached {
			// Optional: bpf_find_vma is 5.17+. Where it is missing the
			// source runs without it and says why.
			t.Skipf("mprotect hook not attached here: %s", h.Err)
		}
	}
	lib := copyLib(t, t.TempDir(), "libmh_mprotect.so")
	pid, id := run(t, nil, "mprotect", lib)
	ev := c.wait(t, "the mprotect", func(e *Event) bool { return e.Kind == KindMprotect && int(e.PID) == pid })
	if string(ev.Path) != lib || ev.Addr != id.addr || ev.Prot != unix.PROT_READ|unix.PROT_EXEC {
		t.Errorf("mprotect event: path %q addr %#x (want %#x) prot %#x", ev.Path, ev.Addr, id.addr, ev.Prot)
	}
	checkFile(t, ev, id)
	c.settle(t)
	var n int
	for _, e := range c.all() {
		if int(e.PID) == pid && e.Kind != KindExec && !bytes.Contains(e.Path, []byte("libc.so")) && !isInterp(t, e) {
			n++
		}
	}
	if n != 1 {
		t.Errorf("%d load events from the mprotect scenario, want exactly the one mprotect", n)
	}
}

// By default the system call hooks are off, and nothing puts system calls on
// the slow path: the mprotect and memfd_create hooks say why they are off,
// their kinds of event do not come, and a load of memfd code still does,
// through mmap, flagged memfd.
func TestDefaultHasNoSyscallHooks(t *testing.T) {
	c := startSource(t, Config{}, false)
	for _, h := range c.src.Stats().Hooks {
		if strings.HasPrefix(h.Name, "syscalls:") && h.Attached {
			t.Errorf("%s attached with the system call hooks off", h.Name)
		}
		if strings.Contains(h.Name, "mprotect") || strings.Contains(h.Name, "memfd_create") {
			if h.Err != SyscallHooksOff {
				t.Errorf("%s: reason %q, want %q", h.Name, h.Err, SyscallHooksOff)
			}
		}
	}
	pid, id := run(t, nil, "memfd", mhlib, "mh_payload")
	load := c.wait(t, "the memfd load", func(e *Event) bool {
		return e.Kind == KindMmap && int(e.PID) == pid && e.Prot&protExec != 0 && e.Inode == id.ino
	})
	if string(load.Path) != "/memfd:mh_payload" || !load.Memfd || !load.Deleted {
		t.Errorf("memfd load: path %q memfd %v deleted %v", load.Path, load.Memfd, load.Deleted)
	}
	lib := copyLib(t, t.TempDir(), "libmh_mprotect.so")
	mpid, _ := run(t, nil, "mprotect", lib)
	c.settle(t)
	for _, e := range c.all() {
		if (int(e.PID) == pid || int(e.PID) == mpid) && (e.Kind == KindMemfdCreate || e.Kind == KindMprotect) {
			t.Errorf("a %s event with the system call hooks off", e.Kind)
		}
	}
}

// Under the READ_IMPLIES_EXEC personality the kernel makes a PROT_READ
// mapping of a file executable, in mmap and in mprotect alike: code with
// PROT_EXEC nowhere is still a load, for every way of seeing mmap (and the
// mprotect hook, when it is on).
func TestReadImpliesExec(t *testing.T) {
	for _, w := range mmapWays {
		t.Run(w.name, func(t *testing.T) {
			cfg := w.cfg
			cfg.SyscallHooks = true
			c := startSource(t, cfg, false)
			mprotectHook := false
			for _, h := range c.src.Stats().Hooks {
				mprotectHook = mprotectHook || h.Name == "syscalls:sys_enter_mprotect" && h.Attached
			}
			lib := copyLib(t, t.TempDir(), "libmh_readexec.so")
			pid, id := run(t, nil, "readexec", lib)
			ev := c.wait(t, "the mmap(PROT_READ)", func(e *Event) bool {
				return e.Kind == KindMmap && int(e.PID) == pid && e.Addr == id.addr
			})
			if string(ev.Path) != lib || ev.Prot&unix.PROT_EXEC == 0 || ev.FD != id.fd {
				t.Errorf("mmap event: path %q prot %#x fd %d", ev.Path, ev.Prot, ev.FD)
			}
			checkFile(t, ev, id)
			if !mprotectHook {
				t.Logf("mprotect hook not attached: its half is not checked")
				return
			}
			mp := c.wait(t, "the mprotect(PROT_READ)", func(e *Event) bool {
				return e.Kind == KindMprotect && int(e.PID) == pid && e.Addr == id.addr2
			})
			if string(mp.Path) != lib || mp.Prot&unix.PROT_EXEC == 0 {
				t.Errorf("mprotect event: path %q prot %#x", mp.Path, mp.Prot)
			}
			// The mapping made before the personality was read-only: no load.
			c.settle(t)
			for _, e := range c.all() {
				if int(e.PID) == pid && e.Kind == KindMmap && e.Addr == id.addr2 {
					t.Errorf("the read-only mapping made before the personality is a load: %+v", e)
				}
			}
		})
	}
}
