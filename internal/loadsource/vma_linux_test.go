package loadsource

import (
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"

	"github.com/cilium/ebpf"
	"github.com/cilium/ebpf/btf"

	"github.com/modhunt/modhunt/internal/loadsource/loadtest"
)

// mmapWays are the ways the source sees mmap: maple_tree:ma_write where
// the kernel has it (through a BTF-typed program, or the raw one older
// kernels load), the mmap system call tracepoints elsewhere.
var mmapWays = []struct {
	name string
	cfg  Config
}{{"ma_write", Config{}}, {"ma_write_raw", Config{fallbackVMA: true}}, {"syscalls", Config{noVMA: true}}}

// Where maple_tree:ma_write works it carries mmap and the system call
// tracepoints stand by; told not to use it, the source attaches them.
func TestHooksPreferMapleTree(t *testing.T) {
	for _, w := range mmapWays {
		t.Run(w.name, func(t *testing.T) {
			c := startSource(t, w.cfg, false)
			got := map[string]Hook{}
			for _, h := range c.src.Stats().Hooks {
				got[h.Name] = h
			}
			vma, enter := got[vmaHook], got["syscalls:sys_enter_mmap"]
			if w.cfg.noVMA {
				if vma.Attached || vma.Err == "" || !enter.Attached || enter.Spare {
					t.Fatalf("ma_write %+v, sys_enter_mmap %+v", vma, enter)
				}
				return
			}
			if err := checkMaWrite(btf.NewCache()); err != nil {
				t.Skipf("this kernel cannot use %s: %s", vmaHook, err.Reason)
			}
			if !vma.Attached || vma.Err != "" || enter.Attached || !enter.Spare {
				t.Fatalf("ma_write %+v, sys_enter_mmap %+v", vma, enter)
			}
			// The typed program wherever the kernel has what it needs.
			want := ebpf.RawTracepoint
			if !w.cfg.fallbackVMA && kernelHasFunc(t, "bpf_rdonly_cast") {
				want = ebpf.Tracing
			}
			if got := c.src.bound[slices.IndexFunc(hookSpecs, func(h hookSpec) bool { return h.tracepoint == vmaHook })].Type(); got != want {
				t.Errorf("%s runs a %v program, want %v", vmaHook, got, want)
			}
		})
	}
}

func kernelHasFunc(t *testing.T, name string) bool {
	t.Helper()
	spec, err := btf.LoadKernelSpec()
	if err != nil {
		t.Fatal(err)
	}
	var fn *btf.Func
	return spec.TypeByName(name, &fn) == nil
}

// An executable file mapping is stored again whenever it is split, cut,
// moved or mapped around, and none of that is a load: the reshaping
// scenario makes exactly two loads, one of each file, and each way of
// seeing mmap reports exactly those two, with the ranges mmap made.
func TestReshapedMappingsAreNotLoads(t *testing.T) {
	for _, w := range mmapWays {
		t.Run(w.name, func(t *testing.T) {
			c := startSource(t, w.cfg, false)
			dir := t.TempDir()
			lib, lib2 := copyLib(t, dir, "libmh_reshape.so"), copyLib(t, dir, "libmh_reshape2.so")
			pid, id := run(t, nil, "reshape", lib, lib2)
			pg := uint64(os.Getpagesize())
			first := c.wait(t, "the first load", func(e *Event) bool { return int(e.PID) == pid && string(e.Path) == lib })
			second := c.wait(t, "the second load", func(e *Event) bool { return int(e.PID) == pid && string(e.Path) == lib2 })
			c.settle(t)
			if first.Kind != KindMmap || first.Addr != id.addr || first.Len != 6*pg || first.Offset != 0 || first.Prot&protExec == 0 {
				t.Errorf("first load: %v at %#x+%d offset %d prot %#x; want mmap at %#x+%d", first.Kind, first.Addr, first.Len, first.Offset, first.Prot, id.addr, 6*pg)
			}
			if second.Kind != KindMmap || second.Addr != id.addr2 || second.Len != pg {
				t.Errorf("second load: %v at %#x+%d; want mmap at %#x+%d", second.Kind, second.Addr, second.Len, id.addr2, pg)
			}
			checkFile(t, first, id)
			var n int
			for _, e := range c.all() {
				if int(e.PID) == pid && (string(e.Path) == lib || string(e.Path) == lib2) {
					n++
					t.Logf("%v %s at %#x+%d prot %#x", e.Kind, e.Path, e.Addr, e.Len, e.Prot)
				}
			}
			if n != 2 {
				t.Errorf("%d events of the two libraries, want the 2 loads", n)
			}
		})
	}
}

// A program whose interpreter (PT_INTERP) lives in a temporary directory:
// the kernel maps that interpreter during exec, with no mmap system call,
// and the source reports it as the process's load, after the process is
// gone, right after the exec event; the main image is the exec event only.
func TestInterpreterMappedByExec(t *testing.T) {
	c := startSource(t, Config{}, true)
	if err := checkMaWrite(btf.NewCache()); err != nil {
		t.Skipf("exec's own mappings are seen through %s only: %s", vmaHook, err.Reason)
	}
	dir := t.TempDir()
	interp := filepath.Join(dir, "ld-mh.so")
	b, err := os.ReadFile(loadtest.Interpreter(t, mhload))
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(interp, b, 0o755); err != nil {
		t.Fatal(err)
	}
	loader := loadtest.BuildLoader(t, dir, "mhload-interp", "-Wl,--dynamic-linker="+interp)
	lib := copyLib(t, dir, "libmh_interp.so")
	cmd, _ := loadtest.Run(t, loader, nil, "load", lib)
	gone(t, cmd)
	c.resume()
	ev := c.wait(t, "the interpreter's mapping", func(e *Event) bool { return int(e.PID) == cmd && string(e.Path) == interp })
	if ev.Kind != KindMmap || !ev.Interpreter || ev.Prot&protExec == 0 || string(ev.Exe) != loader || ev.NoFile {
		t.Errorf("interpreter event: %v interpreter %v prot %#x exe %q nofile %v", ev.Kind, ev.Interpreter, ev.Prot, ev.Exe, ev.NoFile)
	}
	dl := c.wait(t, "the library the interpreter loaded", func(e *Event) bool { return int(e.PID) == cmd && string(e.Path) == lib })
	if dl.Interpreter {
		t.Error("a dlopen()ed library is flagged as the interpreter")
	}
	c.settle(t)
	var interps, images int
	execAt, interpAt := -1, -1
	for i, e := range c.all() {
		if int(e.PID) != cmd {
			continue
		}
		switch {
		case e.Kind == KindExec && execAt < 0:
			execAt = i
		case string(e.Path) == interp && interpAt < 0:
			interpAt = i
		}
		switch {
		case string(e.Path) == interp:
			interps++
		case string(e.Path) == loader && e.Kind != KindExec:
			images++
		}
	}
	// Its event follows the exec's, whose argv the process's later
	// events are given.
	if execAt < 0 || interpAt < execAt {
		t.Errorf("the exec event is #%d, the interpreter's #%d: the exec must come first", execAt, interpAt)
	}
	if interps != 1 || images != 0 {
		t.Errorf("%d interpreter events (want 1), %d mmap events of the main image (want 0: exec reports it)", interps, images)
	}
}

var (
	interpOnce sync.Once
	interpPath string
)

// isInterp says whether e is the kernel's mapping of the test loader's
// program interpreter during exec.
func isInterp(t testing.TB, e Event) bool {
	interpOnce.Do(func() { interpPath = loadtest.Interpreter(t, mhload) })
	return string(e.Path) == interpPath
}

// A library on a filesystem mounted below another is named across the
// mount, from its namespace's root, as maps names it: the walk climbs the
// tmpfs to its root, crosses to the mount point and goes on up the parent
// mount. The loader makes the mount in a namespace of its own, which the
// event names. Every way of seeing mmap walks the same path.
func TestPathAcrossMounts(t *testing.T) {
	for _, w := range mmapWays {
		t.Run(w.name, func(t *testing.T) {
			c := startSource(t, w.cfg, false)
			dir := t.TempDir()
			pid, id := run(t, nil, "mountload", mhlib, dir)
			want := filepath.Join(dir, "sub", "libmh_mounted.so")
			ev := c.wait(t, "the mounted library's load", func(e *Event) bool {
				return e.Kind == KindMmap && int(e.PID) == pid && e.Prot&protExec != 0 && e.Inode == id.ino
			})
			if string(ev.Path) != want {
				t.Errorf("path %q, want %q", ev.Path, want)
			}
			checkFile(t, ev, id)
			if ev.FSMagic != 0x01021994 || ev.Memfd || ev.Internal || ev.Deleted || ev.PathTruncated {
				t.Errorf("fs magic %#x memfd %v internal %v deleted %v truncated %v", ev.FSMagic, ev.Memfd, ev.Internal, ev.Deleted, ev.PathTruncated)
			}
			if id.mntns == 0 || uint64(ev.MountNS) != id.mntns {
				t.Errorf("mount namespace %d, the loader's is %d", ev.MountNS, id.mntns)
			}
		})
	}
}

// The process context names the thread that loaded, not only its process:
// a second thread, named mh-worker, dlopens the library. Every way of
// seeing mmap reports that thread's id and name, and the process's id and
// parent.
func TestProcessContextOfALoadingThread(t *testing.T) {
	for _, w := range mmapWays {
		t.Run(w.name, func(t *testing.T) {
			c := startSource(t, w.cfg, false)
			lib := copyLib(t, t.TempDir(), "libmh_thread.so")
			pid, id := run(t, nil, "threadload", lib)
			ev := c.wait(t, "the thread's load", func(e *Event) bool {
				return e.Kind == KindMmap && int(e.PID) == pid && e.Prot&protExec != 0 && string(e.Path) == lib
			})
			if id.tid == 0 || id.tid == pid || int(ev.TID) != id.tid || ev.Comm != "mh-worker" {
				t.Errorf("thread %d %q, want %d %q (process %d)", ev.TID, ev.Comm, id.tid, "mh-worker", pid)
			}
			if int(ev.PPID) != os.Getpid() {
				t.Errorf("ppid %d, want %d", ev.PPID, os.Getpid())
			}
		})
	}
}

// Container images are mounted with overlayfs, which maps the file of the
// layer below instead of its own: the mapping's file is not the fd's, and
// lies on a private mount of the layer. The load is reported all the same,
// named by the path the process opened, with the inode and device
// /proc/PID/maps gives the mapping (the overlay's, which keeps the layer's
// inode number), and not as a file on a kernel-internal mount.
func TestOverlayfsLoad(t *testing.T) {
	for _, w := range mmapWays {
		t.Run(w.name, func(t *testing.T) {
			c := startSource(t, w.cfg, false)
			dir := t.TempDir()
			pid, id := run(t, nil, "ovlload", mhlib, dir)
			want := filepath.Join(dir, "merged", "libmh_ovl.so")
			ev := c.wait(t, "the overlayfs library's load", func(e *Event) bool {
				return e.Kind == KindMmap && int(e.PID) == pid && e.Prot&protExec != 0 && strings.HasSuffix(string(e.Path), "libmh_ovl.so")
			})
			if string(ev.Path) != want || ev.Internal || ev.Memfd || ev.Deleted || ev.PathTruncated {
				t.Errorf("path %q (want %q) internal %v memfd %v deleted %v truncated %v", ev.Path, want, ev.Internal, ev.Memfd, ev.Deleted, ev.PathTruncated)
			}
			checkFile(t, ev, id)
		})
	}
}

// A program and its interpreter on an overlayfs (every dynamically linked
// program in a container): exec maps the layer's files, with no fd to
// compare. The interpreter's event names the path the program asked for,
// not the layer's, and it is the only one: the main image, though its
// mapping's file is not the executable's, is the exec event.
func TestOverlayfsInterpreter(t *testing.T) {
	for _, w := range mmapWays[:2] { // exec's own mappings are seen through maple_tree:ma_write only
		t.Run(w.name, func(t *testing.T) {
			c := startSource(t, w.cfg, false)
			if err := checkMaWrite(btf.NewCache()); err != nil {
				t.Skipf("exec's own mappings are seen through %s only: %s", vmaHook, err.Reason)
			}
			dir := t.TempDir()
			interp := filepath.Join(dir, "merged", "ld-mh.so")
			loader := loadtest.BuildLoader(t, t.TempDir(), "mhload-ovl", "-Wl,--dynamic-linker="+interp)
			pid, _ := run(t, nil, "ovlload", mhlib, dir, loadtest.Interpreter(t, mhload), loader)
			ev := c.wait(t, "the interpreter's mapping", func(e *Event) bool {
				return int(e.PID) == pid && e.Interpreter && strings.HasSuffix(string(e.Path), "ld-mh.so")
			})
			if string(ev.Path) != interp || ev.Internal || ev.Memfd || ev.Deleted || ev.PathTruncated || ev.NoFile {
				t.Errorf("interpreter path %q (want %q) internal %v memfd %v deleted %v truncated %v nofile %v", ev.Path, interp, ev.Internal, ev.Memfd, ev.Deleted, ev.PathTruncated, ev.NoFile)
			}
			lib := c.wait(t, "the library the interpreter loaded", func(e *Event) bool {
				return int(e.PID) == pid && e.Kind == KindMmap && strings.HasSuffix(string(e.Path), "libmh_ovl.so")
			})
			if want := filepath.Join(dir, "merged", "libmh_ovl.so"); string(lib.Path) != want {
				t.Errorf("library path %q, want %q", lib.Path, want)
			}
			prog := filepath.Join(dir, "merged", "mhload-ovl")
			c.settle(t)
			var execs, interps int
			for _, e := range c.all() {
				switch {
				case int(e.PID) != pid:
				case e.Kind == KindExec && string(e.Path) == prog:
					execs++
				case e.Interpreter:
					interps++
				case strings.Contains(string(e.Path), "mhload-ovl"):
					t.Errorf("the main image as a %s event: %q", e.Kind, e.Path)
				}
			}
			// Two execs made the process: mhload's (with the system's
			// interpreter) and the overlay program's.
			if execs != 1 || interps != 2 {
				t.Errorf("%d exec events of %s (want 1), %d interpreter events (want 2: the system's, then ld-mh.so)", execs, prog, interps)
			}
		})
	}
}
