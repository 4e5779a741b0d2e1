// Package sim holds helpers for live attack simulations: real processes
// that really load a module (gcc-built C loaders, python3 ctypes), built at
// test time and always cleaned up. Tables' live tests and later detection
// suites share them.
package sim

import (
	"bufio"
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"
)

// ReadyTimeout bounds how long a started process may take to print "ready".
var ReadyTimeout = 20 * time.Second

// NeedTool returns the path of a command, or skips the test with one line
// naming the package to install.
func NeedTool(tb testing.TB, name, pkg string) string {
	tb.Helper()
	p, err := exec.LookPath(name)
	if err != nil {
		tb.Skipf("live simulation needs %s: apt-get install %s", name, pkg)
	}
	return p
}

// NeedGCC skips unless gcc is installed.
func NeedGCC(tb testing.TB) string { return NeedTool(tb, "gcc", "gcc") }

// NeedPython skips unless python3 is installed.
func NeedPython(tb testing.TB) string { return NeedTool(tb, "python3", "python3") }

// NeedRoot skips unless the test runs as root (mount namespaces,
// map_files).
func NeedRoot(tb testing.TB) {
	tb.Helper()
	if os.Geteuid() != 0 {
		tb.Skip("live simulation needs root: run the tests as root (CI does)")
	}
}

// NeedDpkg skips unless the host has a dpkg database (a Debian-family
// host), which package-ownership checks read.
func NeedDpkg(tb testing.TB) {
	tb.Helper()
	if _, err := os.Stat("/var/lib/dpkg/info"); err != nil {
		tb.Skip("needs a dpkg database (Debian-family host)")
	}
}

// libSource is the tiny module BuildLib compiles. Its exported symbol lets a
// loader prove the module really is linked in.
const libSource = `int modhunt_probe(void) { return 42; }
`

// loaderSource is the C loader BuildLoader compiles. Usage:
//
//	loader dlopen PATH [unlink]   dlopen PATH, optionally unlink it after
//	loader memfd SRC NAME         copy SRC into memfd_create(NAME) and
//	                              dlopen /proc/self/fd/N
//
// It prints "ready" once the module is loaded and the probe returned 42,
// then sleeps until killed.
const loaderSource = `#define _GNU_SOURCE
#include <dlfcn.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

static void *load(const char *path) {
	void *h = dlopen(path, RTLD_NOW);
	if (!h) { fprintf(stderr, "dlopen %s: %s\n", path, dlerror()); exit(2); }
	int (*probe)(void) = (int (*)(void))dlsym(h, "modhunt_probe");
	if (!probe || probe() != 42) { fprintf(stderr, "probe missing in %s\n", path); exit(3); }
	return h;
}

int main(int argc, char **argv) {
	if (argc >= 3 && strcmp(argv[1], "dlopen") == 0) {
		load(argv[2]);
		if (argc >= 4 && strcmp(argv[3], "unlink") == 0 && unlink(argv[2]) != 0) { perror("unlink"); return 4; }
	} else if (argc >= 4 && strcmp(argv[1], "memfd") == 0) {
		int src = open(argv[2], O_RDONLY);
		if (src < 0) { perror("open"); return 5; }
		int fd = memfd_create(argv[3], 0);
		if (fd < 0) { perror("memfd_create"); return 6; }
		char buf[65536];
		ssize_t n;
		while ((n = read(src, buf, sizeof buf)) > 0) {
			if (write(fd, buf, n) != n) { perror("write"); return 7; }
		}
		close(src);
		char path[64];
		snprintf(path, sizeof path, "/proc/self/fd/%d", fd);
		load(path);
	} else {
		fprintf(stderr, "usage: loader dlopen PATH [unlink] | loader memfd SRC NAME\n");
		return 1;
	}
	printf("ready\n");
	fflush(stdout);
	for (;;) pause();
}
`

// TempDirIn makes a directory under parent (for a module that must live in
// /tmp, /dev/shm or a home directory, where t.TempDir cannot put it) and
// removes it when the test ends.
func TempDirIn(tb testing.TB, parent, pattern string) string {
	tb.Helper()
	d, err := os.MkdirTemp(parent, pattern)
	if err != nil {
		tb.Fatalf("make a directory in %s: %v", parent, err)
	}
	tb.Cleanup(func() {
		if err := os.RemoveAll(d); err != nil {
			tb.Errorf("remove %s: %v", d, err)
		}
	})
	return d
}

// SHA256File is the hex SHA-256 of the file at path, as the tables report
// it.
func SHA256File(tb testing.TB, path string) string {
	tb.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		tb.Fatalf("hash %s: %v", path, err)
	}
	s := sha256.Sum256(data)
	return hex.EncodeToString(s[:])
}

// BuildLib compiles libSource into a shared object at exactly path (which
// may hold spaces, " (deleted)" or bytes that are not UTF-8) and returns it.
func BuildLib(tb testing.TB, path string) string {
	tb.Helper()
	cc := NeedGCC(tb)
	src := filepath.Join(tb.TempDir(), "lib.c")
	if err := os.WriteFile(src, []byte(libSource), 0o644); err != nil {
		tb.Fatalf("write C source: %v", err)
	}
	if out, err := exec.Command(cc, "-shared", "-fPIC", "-O0", "-o", path, src).CombinedOutput(); err != nil {
		tb.Fatalf("gcc -shared -o %q: %v\n%s", path, err, out)
	}
	return path
}

// BuildLoader compiles loaderSource into the test's temporary directory
// and returns its path.
func BuildLoader(tb testing.TB) string {
	tb.Helper()
	cc := NeedGCC(tb)
	dir := tb.TempDir()
	src := filepath.Join(dir, "loader.c")
	if err := os.WriteFile(src, []byte(loaderSource), 0o644); err != nil {
		tb.Fatalf("write loader source: %v", err)
	}
	out := filepath.Join(dir, "loader")
	if b, err := exec.Command(cc, "-O0", "-o", out, src, "-ldl").CombinedOutput(); err != nil {
		tb.Fatalf("gcc loader: %v\n%s", err, b)
	}
	return out
}

// Proc is a started simulation process. Cleanup kills and reaps it.
type Proc struct {
	Cmd    *exec.Cmd
	PID    int
	stderr *SyncBuffer
	ready  chan struct{}
	exited chan struct{}
}

// Stderr is what the process wrote to stderr so far.
func (p *Proc) Stderr() string { return p.stderr.String() }

// SyncBuffer is a bytes.Buffer that goroutines may write (a child's
// output, a logger's handler) while a test reads it.
type SyncBuffer struct {
	// Limit, when positive, is how many bytes it keeps: once past it,
	// writes are dropped (and reported written), keeping the head.
	Limit int

	mu sync.Mutex
	b  bytes.Buffer
}

func (l *SyncBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.Limit > 0 && l.b.Len() > l.Limit {
		return len(p), nil // a runaway writer must not eat memory
	}
	return l.b.Write(p)
}

// String is everything kept so far.
func (l *SyncBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

// Start runs a command that prints a line "ready" when it has done its
// work, waits for that line (ReadyTimeout), and registers a cleanup that
// kills and reaps it. The test fails if the process exits or times out
// first.
func Start(tb testing.TB, name string, args ...string) *Proc {
	tb.Helper()
	p := StartNoWait(tb, name, args...)
	if err := p.waitReady(); err != nil {
		tb.Fatalf("%s %q: %v; stderr: %s", name, args, err, p.Stderr())
	}
	return p
}

// StartNoWait starts a command with cleanup but does not wait for "ready"
// (for plain programs such as sleep).
func StartNoWait(tb testing.TB, name string, args ...string) *Proc {
	tb.Helper()
	r, w, err := os.Pipe()
	if err != nil {
		tb.Fatalf("pipe: %v", err)
	}
	cmd := exec.Command(name, args...)
	cmd.Stdout = w
	p := &Proc{Cmd: cmd, stderr: &SyncBuffer{Limit: 64 << 10}}
	cmd.Stderr = p.stderr
	if err := cmd.Start(); err != nil {
		r.Close()
		w.Close()
		tb.Fatalf("start %s: %v", name, err)
	}
	w.Close()
	p.PID = cmd.Process.Pid
	ready := make(chan struct{})
	exited := make(chan struct{})
	p.ready, p.exited = ready, exited
	go func() {
		// Scan for "ready", then drain until the child's end of the pipe
		// closes (it dies), so this goroutine never outlives the test.
		sc := bufio.NewScanner(r)
		seen := false
		for sc.Scan() {
			if !seen && strings.TrimSpace(sc.Text()) == "ready" {
				seen = true
				close(ready)
			}
		}
		r.Close()
		close(exited)
	}()
	tb.Cleanup(func() {
		_ = cmd.Process.Kill()
		_ = cmd.Wait()
		<-exited
	})
	return p
}

func (p *Proc) waitReady() error {
	select {
	case <-p.ready:
		return nil
	case <-p.exited:
		// Closed stdout usually means the process died; it may have said
		// ready just before.
		select {
		case <-p.ready:
			return nil
		default:
		}
		return fmt.Errorf("exited before ready")
	case <-time.After(ReadyTimeout):
		return fmt.Errorf("not ready after %s", ReadyTimeout)
	}
}

// LoaderOpts says how StartLoader loads its module.
type LoaderOpts struct {
	Lib    string // the .so to load
	Unlink bool   // unlink Lib once it is loaded
	// Memfd copies Lib into memfd_create(MemfdName) and dlopens
	// /proc/self/fd/N instead of Lib itself.
	Memfd     bool
	MemfdName string
	// Wrap prefixes the loader's command line, e.g. {"unshare", "-m", ...}.
	// The wrapper must exec the loader so the pid stays the same.
	Wrap []string
}

// LoaderArgs is the loader's own argument list for opts.
func LoaderArgs(opts LoaderOpts) []string {
	if opts.Memfd {
		name := opts.MemfdName
		if name == "" {
			name = "modhunt-sim"
		}
		return []string{"memfd", opts.Lib, name}
	}
	args := []string{"dlopen", opts.Lib}
	if opts.Unlink {
		args = append(args, "unlink")
	}
	return args
}

// StartLoader builds the loader and starts it per opts, returning once the
// module is loaded (and unlinked, if asked).
func StartLoader(tb testing.TB, opts LoaderOpts) *Proc {
	tb.Helper()
	loader := BuildLoader(tb)
	argv := append([]string{loader}, LoaderArgs(opts)...)
	if len(opts.Wrap) > 0 {
		argv = append(append([]string{}, opts.Wrap...), argv...)
	}
	return Start(tb, argv[0], argv[1:]...)
}

// pythonCtypesSource loads argv[1] with ctypes, checks the probe, and says
// ready.
const pythonCtypesSource = `import ctypes, sys, time
lib = ctypes.CDLL(sys.argv[1])
assert lib.modhunt_probe() == 42
print("ready", flush=True)
time.sleep(3600)
`

// StartPythonCtypes starts python3 loading lib through ctypes.
func StartPythonCtypes(tb testing.TB, lib string) *Proc {
	tb.Helper()
	py := NeedPython(tb)
	return Start(tb, py, "-c", pythonCtypesSource, lib)
}

// StartPreloaded starts "sleep 3600" with LD_PRELOAD=lib, through env (so
// the module is mapped a moment after the process starts).
func StartPreloaded(tb testing.TB, lib string) *Proc {
	tb.Helper()
	sleep := NeedTool(tb, "sleep", "coreutils")
	return StartNoWait(tb, "env", "LD_PRELOAD="+lib, sleep, "3600")
}

// Sleepers starts n "sleep 3600" processes without a test (for TestMain
// or benchmark setup that outlives one benchmark) and returns their pids
// and a stop function that kills and reaps them all. On error the ones
// already started are stopped.
func Sleepers(n int) (pids []int, stop func(), err error) {
	sleep, err := exec.LookPath("sleep")
	if err != nil {
		return nil, func() {}, fmt.Errorf("sleepers need sleep: apt-get install coreutils")
	}
	cmds := make([]*exec.Cmd, 0, n)
	stop = func() {
		for _, c := range cmds {
			_ = c.Process.Kill()
		}
		for _, c := range cmds {
			_ = c.Wait()
		}
		cmds = nil
	}
	pids = make([]int, 0, n)
	for range n {
		// No pipes and no goroutines: a thousand sleepers cost a thousand
		// processes, not thousands of descriptors.
		c := exec.Command(sleep, "3600")
		if err := c.Start(); err != nil {
			stop()
			return nil, func() {}, fmt.Errorf("start sleeper %d of %d: %w", len(cmds)+1, n, err)
		}
		cmds = append(cmds, c)
		pids = append(pids, c.Process.Pid)
	}
	// Callers read these processes at once: wait until each is sleep, not
	// the forked parent that has yet to call execve.
	want, err := filepath.EvalSymlinks(sleep)
	if err != nil {
		stop()
		return nil, func() {}, err
	}
	deadline := time.Now().Add(30 * time.Second)
	for _, pid := range pids {
		for !execDone(pid, want) {
			if time.Now().After(deadline) {
				stop()
				return nil, func() {}, fmt.Errorf("sleeper %d did not exec %s", pid, want)
			}
			time.Sleep(time.Millisecond)
		}
	}
	return pids, stop, nil
}

// StartSleepers starts n "sleep 3600" processes (for benchmarks that need a
// populated process table) and returns their pids; cleanup kills them all.
func StartSleepers(tb testing.TB, n int) []int {
	tb.Helper()
	NeedTool(tb, "sleep", "coreutils")
	pids, stop, err := Sleepers(n)
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(stop)
	return pids
}

// WaitExec waits until pid runs exe: right after Start the child may still
// be the forked parent that has not called execve yet, whose environ, maps
// and exe link are not the program's.
func WaitExec(tb testing.TB, pid int, exe string) {
	tb.Helper()
	want, err := filepath.EvalSymlinks(exe)
	if err != nil {
		tb.Fatalf("resolve %s: %v", exe, err)
	}
	deadline := time.Now().Add(ReadyTimeout)
	for {
		if execDone(pid, want) {
			return
		}
		if time.Now().After(deadline) {
			tb.Fatalf("pid %d did not exec %s within %s", pid, want, ReadyTimeout)
		}
		time.Sleep(2 * time.Millisecond)
	}
}

// execDone reports whether pid has finished exec'ing exe: the exe link
// switches early in execve, but the new program's arguments and environment
// (env_end, field 51 of stat) are laid out only at its end.
func execDone(pid int, exe string) bool {
	if got, err := os.Readlink(fmt.Sprintf("/proc/%d/exe", pid)); err != nil || got != exe {
		return false
	}
	stat, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return false
	}
	i := bytes.LastIndexByte(stat, ')')
	if i < 0 {
		return false
	}
	// Fields after the name start at 3 (state); env_end is field 51.
	fields := strings.Fields(string(stat[i+1:]))
	const envEnd = 51 - 3
	return len(fields) > envEnd && fields[envEnd] != "0"
}
