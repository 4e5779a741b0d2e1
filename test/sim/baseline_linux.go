package sim

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// StartBaseInterpreters starts, where the host has them, Debian's python3
// with C extensions (lib-dynload, libssl, libsqlite3, libffi) and perl
// with XS modules: base-system programs that load many packaged native
// modules, so that a clean-baseline test judges more than this host's few
// daemons. It returns their pids; a baseline counts them as base system,
// not as test processes, although the test started them.
func StartBaseInterpreters(tb testing.TB) map[int]bool {
	tb.Helper()
	started := map[int]bool{}
	if py, err := exec.LookPath("/usr/bin/python3"); err == nil {
		p := Start(tb, py, "-c", "import ssl, sqlite3, ctypes, hashlib, decimal, json, socket, select, zlib, time\n"+
			"print('ready', flush=True)\ntime.sleep(3600)")
		started[p.PID] = true
	}
	if perl, err := exec.LookPath("/usr/bin/perl"); err == nil {
		p := Start(tb, perl, "-MPOSIX", "-MSocket", "-MFcntl", "-MList::Util", "-e", "$| = 1; print \"ready\\n\"; sleep 3600")
		started[p.PID] = true
	}
	return started
}

// goTooling reports whether exe is a Go toolchain or test binary (self is
// this test binary). Those run from outside the trusted directories by
// design (/usr/local/go, ~/go, go-build temp dirs, *.test binaries), and
// what they start is planted on purpose: a suite's simulations and those of
// other packages' tests running on the same machine at the same time
// (loaders dlopen()ing from /tmp, LD_PRELOAD'ed sleeps, memfd loads).
func goTooling(exe, self string) bool {
	return exe == self || strings.HasSuffix(exe, ".test") || strings.Contains(exe, "/go-build") ||
		strings.HasPrefix(exe, "/usr/local/go/") || strings.HasPrefix(exe, filepath.Join(os.Getenv("HOME"), "go")+"/")
}

// FromTests indexes procs by pid (id gives a process's pid, parent pid
// and executable) and returns that index with a function that says whether
// a process is, or descends from, a Go toolchain or test binary
// (goTooling, with this test binary as self), so that a baseline can leave
// out what tests planted. The pids in started (StartBaseInterpreters')
// count as not from the tests. A process that is itself missing from procs
// exited between the scan and the snapshot: its ancestry cannot be known,
// and a test's planted loader killed by its cleanup at that moment is the
// usual case, so it counts as from the tests (a base-system daemon does not
// vanish mid-baseline). A process whose parent is missing is judged from
// what the snapshot knows: not from the tests.
func FromTests[P any](tb testing.TB, started map[int]bool, procs []P, id func(P) (pid, ppid int, exe string)) (byPID map[int]P, fromTests func(pid int) bool) {
	tb.Helper()
	self, err := os.Executable()
	if err != nil {
		tb.Fatalf("this test binary's path: %v", err)
	}
	byPID = make(map[int]P, len(procs))
	for _, p := range procs {
		pid, _, _ := id(p)
		byPID[pid] = p
	}
	return byPID, func(pid int) bool {
		if started[pid] {
			return false
		}
		if _, ok := byPID[pid]; !ok {
			return true
		}
		for hops := 0; pid > 0 && hops < 64; hops++ {
			p, ok := byPID[pid]
			if !ok {
				return false
			}
			_, ppid, exe := id(p)
			if goTooling(exe, self) {
				return true
			}
			pid = ppid
		}
		return false
	}
}
