// Package loadtest holds what every live eBPF load test shares: the
// gcc-built loader (mhload: dlopen()s, memfd-loads or storms, then _exits
// at once) and the library it loads, and the rule for running or skipping.
package loadtest

import (
	"bytes"
	"debug/elf"
	_ "embed"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"
)

var (
	//go:embed testdata/mhload.c
	loaderSource []byte
	//go:embed testdata/mhlib.c
	libSource []byte
)

// Helpers are the built C helpers.
type Helpers struct {
	// Loader is mhload.c built; Lib is mhlib.c as a shared object.
	Loader, Lib string
}

var (
	once    sync.Once
	built   Helpers
	dir     string
	buildEr error
)

// Build builds the helpers once per test binary (Cleanup removes them) and
// fails the test when gcc cannot.
func Build(t testing.TB) Helpers {
	t.Helper()
	once.Do(func() { built, buildEr = build() })
	if buildEr != nil {
		t.Fatalf("building the C helpers: %v", buildEr)
	}
	return built
}

func build() (Helpers, error) {
	if _, err := exec.LookPath("gcc"); err != nil {
		return Helpers{}, errors.New("gcc is not installed")
	}
	d, err := os.MkdirTemp("", "modhunt-loadtest-")
	if err != nil {
		return Helpers{}, err
	}
	dir = d
	h := Helpers{Loader: filepath.Join(d, "mhload"), Lib: filepath.Join(d, "libmh_probe.so")}
	if err := compileLoader(h.Loader); err != nil {
		return Helpers{}, err
	}
	return h, compileLib(h.Lib)
}

// compileLoader and compileLib build the embedded loader and library to
// out, with extra gcc arguments (its source is written beside it).
func compileLoader(out string, extra ...string) error {
	return gcc(loaderSource, out, append([]string{"-O2", "-Wall"}, extra...), "-ldl")
}

func compileLib(out string, extra ...string) error {
	return gcc(libSource, out, append([]string{"-O2", "-shared", "-fPIC"}, extra...))
}

// gcc compiles src to out: flags before the source, libs after it (the
// linker takes a library only for the objects before it).
func gcc(src []byte, out string, flags []string, libs ...string) error {
	c := out + ".c"
	if err := os.WriteFile(c, src, 0o600); err != nil {
		return err
	}
	args := append(append(flags, "-o", out, c), libs...)
	if b, err := exec.Command("gcc", args...).CombinedOutput(); err != nil {
		return fmt.Errorf("gcc %v: %w\n%s", args, err, b)
	}
	return nil
}

// BuildLoader builds another copy of the loader into dir with extra gcc
// arguments (a test's own program interpreter, say) and returns its path.
func BuildLoader(t testing.TB, dir, name string, extra ...string) string {
	t.Helper()
	out := filepath.Join(dir, name)
	if err := compileLoader(out, extra...); err != nil {
		t.Fatal(err)
	}
	return out
}

// Build32 builds the loader and the library as 32-bit x86 programs (gcc
// -m32) into dir. Without a 32-bit toolchain (gcc-multilib) the test is
// skipped, or fails in CI (MustRun).
func Build32(t testing.TB, dir string) (loader, lib string) {
	t.Helper()
	loader, lib = filepath.Join(dir, "mhload32"), filepath.Join(dir, "libmh32.so")
	if err := compileLoader(loader, "-m32"); err != nil {
		MustRun(t, "no 32-bit toolchain (gcc-multilib): "+err.Error())
	}
	if err := compileLib(lib, "-m32"); err != nil {
		MustRun(t, "no 32-bit toolchain (gcc-multilib): "+err.Error())
	}
	return loader, lib
}

// Interpreter is an ELF program's PT_INTERP, resolved as the kernel names
// the file it maps (symlinks followed).
func Interpreter(t testing.TB, prog string) string {
	t.Helper()
	f, err := elf.Open(prog)
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = f.Close() }()
	for _, p := range f.Progs {
		if p.Type != elf.PT_INTERP {
			continue
		}
		b := make([]byte, p.Filesz)
		if _, err := p.ReadAt(b, 0); err != nil {
			t.Fatal(err)
		}
		real, err := filepath.EvalSymlinks(strings.TrimRight(string(b), "\x00"))
		if err != nil {
			t.Fatal(err)
		}
		return real
	}
	t.Fatalf("%s has no PT_INTERP", prog)
	return ""
}

// Run runs prog to completion with env added to this process's
// environment (the process is reaped when Run returns) and returns its pid
// and what it wrote to stdout; a failure fails the test with its stderr.
func Run(t testing.TB, prog string, env []string, args ...string) (int, []byte) {
	t.Helper()
	cmd := exec.Command(prog, args...)
	cmd.Env = append(os.Environ(), env...)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	start := time.Now()
	if err := cmd.Run(); err != nil {
		t.Fatalf("%s %v: %v\n%s", filepath.Base(prog), args, err, stderr.String())
	}
	t.Logf("%s %v: pid %d ran %v", filepath.Base(prog), args, cmd.Process.Pid, time.Since(start).Round(time.Millisecond))
	return cmd.Process.Pid, stdout.Bytes()
}

// Gone asserts that /proc has nothing left of pid: whatever a reader of
// /proc would learn about the load after the fact, it learns nothing.
func Gone(t testing.TB, pid int) {
	t.Helper()
	for _, f := range []string{"maps", "exe", "cmdline"} {
		p := fmt.Sprintf("/proc/%d/%s", pid, f)
		if _, err := os.ReadFile(p); !errors.Is(err, os.ErrNotExist) {
			t.Fatalf("%s is still readable (err %v): the test cannot show the process was gone", p, err)
		}
	}
}

// Cleanup removes what Build built; TestMain calls it after m.Run.
func Cleanup() {
	if dir != "" {
		if err := os.RemoveAll(dir); err != nil {
			fmt.Fprintln(os.Stderr, err)
		}
	}
}

// MustRun is how a live test decides between running and skipping: it
// skips (saying why) where eBPF cannot run, except under CI, where the
// live tests are the proof and must run.
func MustRun(t testing.TB, why string) {
	t.Helper()
	if os.Getenv("CI") != "" {
		t.Fatalf("CI must run the live eBPF tests, but %s", why)
	}
	t.Skipf("skipping live eBPF test: %s", why)
}
