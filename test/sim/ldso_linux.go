package sim

import (
	"bytes"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
	"time"
)

// launchSource execs a program with exactly the environment it is given,
// duplicates and all (env(1) and os/exec keep one entry per name):
//
//	launch ENTRY... -- PROGRAM ARG...
const launchSource = `#include <stdio.h>
#include <string.h>
#include <unistd.h>

int main(int argc, char **argv) {
	int i = 1;
	while (i < argc && strcmp(argv[i], "--") != 0) i++;
	if (i + 1 >= argc) { fprintf(stderr, "usage: launch ENTRY... -- PROGRAM ARG...\n"); return 1; }
	argv[i] = NULL;
	execve(argv[i + 1], argv + i + 1, argv + 1);
	perror("execve");
	return 127;
}
`

// multiLoaderSource dlopens every argument, says ready and sleeps.
const multiLoaderSource = `#include <dlfcn.h>
#include <stdio.h>
#include <unistd.h>

int main(int argc, char **argv) {
	for (int i = 1; i < argc; i++) {
		if (!dlopen(argv[i], RTLD_NOW)) { fprintf(stderr, "dlopen %s: %s\n", argv[i], dlerror()); return 2; }
	}
	printf("ready\n");
	fflush(stdout);
	for (;;) pause();
}
`

// AuditLibSource is an LD_AUDIT module: ld.so keeps an audit module only
// if it exports la_version (and unloads it again otherwise).
const AuditLibSource = `unsigned int la_version(unsigned int version) { return version; }
int modhunt_probe(void) { return 42; }
`

// WipingPreloadSource is a preload that, from its constructor, blanks the
// LD_PRELOAD entry in the memory of the environment the process was
// started with: /proc/PID/environ shows NULs where the variable was, while
// the module stays mapped. glibc passes ELF constructors argc, argv and
// envp; envp points into that very memory.
const WipingPreloadSource = `#include <string.h>

int modhunt_probe(void) { return 42; }

__attribute__((constructor)) static void wipe(int argc, char **argv, char **envp) {
	(void)argc; (void)argv;
	for (char **e = envp; *e; e++)
		if (strncmp(*e, "LD_PRELOAD=", 11) == 0) memset(*e, 0, strlen(*e));
}
`

// BuildC compiles a C program from source into dir/name and returns its
// path.
func BuildC(tb testing.TB, dir, name, source string, flags ...string) string {
	tb.Helper()
	cc := NeedGCC(tb)
	src := filepath.Join(tb.TempDir(), name+".c")
	if err := os.WriteFile(src, []byte(source), 0o644); err != nil {
		tb.Fatalf("write C source: %v", err)
	}
	out := filepath.Join(dir, name)
	args := append(append([]string{"-O0", "-o", out, src}, flags...), "-ldl")
	if b, err := exec.Command(cc, args...).CombinedOutput(); err != nil {
		tb.Fatalf("gcc %s: %v\n%s", name, err, b)
	}
	return out
}

// BuildLibFrom compiles source into a shared object at exactly path.
func BuildLibFrom(tb testing.TB, path, source string) string {
	tb.Helper()
	cc := NeedGCC(tb)
	src := filepath.Join(tb.TempDir(), "lib.c")
	if err := os.WriteFile(src, []byte(source), 0o644); err != nil {
		tb.Fatalf("write C source: %v", err)
	}
	if out, err := exec.Command(cc, "-shared", "-fPIC", "-O0", "-o", path, src).CombinedOutput(); err != nil {
		tb.Fatalf("gcc -shared -o %q: %v\n%s", path, err, out)
	}
	return path
}

// BuildLaunch compiles launchSource into dir.
func BuildLaunch(tb testing.TB, dir string) string {
	tb.Helper()
	return BuildC(tb, dir, "launch", launchSource)
}

// BuildMultiLoader compiles multiLoaderSource into dir: "multiloader
// LIB..." dlopens each LIB, prints ready and sleeps until killed.
func BuildMultiLoader(tb testing.TB, dir string) string {
	tb.Helper()
	return BuildC(tb, dir, "multiloader", multiLoaderSource)
}

// MappedFiles is the set of file paths in /proc/PID/maps, each as the
// kernel prints it (a name holding a newline shows it as \012).
func MappedFiles(tb testing.TB, pid int) map[string]bool {
	tb.Helper()
	data, err := os.ReadFile(fmt.Sprintf("/proc/%d/maps", pid))
	if err != nil {
		tb.Fatalf("read maps of %d: %v", pid, err)
	}
	out := map[string]bool{}
	for _, line := range bytes.Split(data, []byte("\n")) {
		// Five fields separated by single spaces, then padding, then the
		// path, which may itself hold spaces.
		rest := line
		for range 5 {
			i := bytes.IndexByte(rest, ' ')
			if i < 0 {
				rest = nil
				break
			}
			rest = rest[i+1:]
		}
		if p := bytes.TrimLeft(rest, " "); len(p) > 0 && p[0] == '/' {
			out[string(p)] = true
		}
	}
	return out
}

// WaitSleeping waits until pid runs exe and has gone to sleep (state S in
// /proc/PID/stat): for a program such as sleep, only after the dynamic
// loader finished, so its maps show every module it loaded.
func WaitSleeping(tb testing.TB, pid int, exe string) {
	tb.Helper()
	WaitExec(tb, pid, exe)
	deadline := time.Now().Add(ReadyTimeout)
	for {
		stat, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
		if err != nil {
			tb.Fatalf("read stat of %d: %v", pid, err)
		}
		if i := bytes.LastIndexByte(stat, ')'); i > 0 && i+2 < len(stat) && stat[i+2] == 'S' {
			return
		}
		if time.Now().After(deadline) {
			tb.Fatalf("pid %d never went to sleep", pid)
		}
		time.Sleep(2 * time.Millisecond)
	}
}

// RenamingPreloadSource is a preload that renames LD_PRELOAD in the memory
// of the environment the process started with (to XD_PRELOAD), keeping
// its value: /proc/PID/environ then names no preload at all.
const RenamingPreloadSource = `#include <string.h>

int modhunt_probe(void) { return 42; }

__attribute__((constructor)) static void rename_it(int argc, char **argv, char **envp) {
	(void)argc; (void)argv;
	for (char **e = envp; *e; e++)
		if (strncmp(*e, "LD_PRELOAD=", 11) == 0) (*e)[0] = 'X';
}
`

// Environ is the process's environment as /proc/PID/environ shows it.
func Environ(tb testing.TB, pid int) []string {
	tb.Helper()
	data, err := os.ReadFile(fmt.Sprintf("/proc/%d/environ", pid))
	if err != nil {
		tb.Fatalf("read environ of %d: %v", pid, err)
	}
	var out []string
	for _, e := range bytes.Split(data, []byte{0}) {
		if len(e) > 0 {
			out = append(out, string(e))
		}
	}
	return out
}
