//go:build darwin

package darwinproc

import (
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"syscall"
	"testing"
)

// These tests run only on a Mac (none was available when they were written:
// they are compiled for darwin in CI, not run). They check the binding
// against the running test process itself.

func TestSelfInfo(t *testing.T) {
	pid := int32(os.Getpid())
	pids, err := ListPIDs()
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Contains(pids, pid) || !slices.Contains(pids, 1) {
		t.Fatalf("%d pids, self %d or launchd missing", len(pids), pid)
	}
	bi, err := ReadBSDInfo(pid)
	if err != nil {
		t.Fatal(err)
	}
	if int(bi.PID) != os.Getpid() || int(bi.PPID) != os.Getppid() || int(bi.UID) != os.Geteuid() {
		t.Fatalf("bsdinfo %+v", bi)
	}
	exe, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	exe, _ = filepath.EvalSymlinks(exe)
	p, err := ReadPath(pid)
	if err != nil || p != exe {
		t.Fatalf("proc_pidpath %q (%v), want %q", p, err, exe)
	}
	pa, err := ReadProcArgs(pid)
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(pa.Argv, os.Args) {
		t.Fatalf("argv %q, want %q", pa.Argv, os.Args)
	}
	for _, kv := range os.Environ() {
		if !slices.Contains(pa.Env, kv) {
			t.Fatalf("environment entry %q missing from %d entries", kv, len(pa.Env))
		}
	}
}

func TestSelfRegions(t *testing.T) {
	// Map a file of our own so the walk has a known file to find.
	f, err := os.CreateTemp("", "darwinproc-*.bin")
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = os.Remove(f.Name()) }()
	defer f.Close()
	if _, err := f.Write(make([]byte, 1<<16)); err != nil {
		t.Fatal(err)
	}
	m, err := syscall.Mmap(int(f.Fd()), 0, 1<<16, syscall.PROT_READ, syscall.MAP_SHARED)
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = syscall.Munmap(m) }()
	var st syscall.Stat_t
	if err := syscall.Fstat(int(f.Fd()), &st); err != nil {
		t.Fatal(err)
	}
	exe, _ := os.Executable()
	exe, _ = filepath.EvalSymlinks(exe)
	real, _ := filepath.EvalSymlinks(f.Name())

	pid := int32(os.Getpid())
	for name, read := range map[string]func(int32, Limits) (Walk, error){"all": ReadRegions, "files": ReadFileRegions} {
		w, err := read(pid, Limits{})
		if err != nil || w.Truncated != "" {
			t.Fatalf("%s: %v truncated %q (%v)", name, err, w.Truncated, w.Err)
		}
		mods, sr := Fold(w.Regions)
		var sawExe, sawFile bool
		for _, md := range mods {
			sawExe = sawExe || md.Path == exe
			if md.Path == real {
				sawFile = md.Inode == st.Ino && md.Dev == uint32(st.Dev)
			}
		}
		if !sawExe || !sawFile {
			t.Errorf("%s: executable %v, mapped file %v (identity checked) among %d modules", name, sawExe, sawFile, len(mods))
		}
		if name == "all" && !sr.Present {
			t.Errorf("no shared region among %d regions", len(w.Regions))
		}
	}
}

func TestGoneProcess(t *testing.T) {
	cmd := exec.Command("/usr/bin/true")
	if err := cmd.Run(); err != nil {
		t.Fatal(err)
	}
	pid := int32(cmd.Process.Pid)
	_, err := ReadBSDInfo(pid)
	if !errors.Is(err, ErrNoProcess) || !Expected(err) {
		t.Fatalf("reaped pid %d: %v", pid, err)
	}
	if _, err := ReadRegions(pid, Limits{}); !errors.Is(err, ErrNoProcess) {
		t.Fatalf("regions of reaped pid %d: %v", pid, err)
	}
}
