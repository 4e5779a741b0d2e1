package loadsource

import (
	"context"
	"errors"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"

	"golang.org/x/sys/unix"
)

// checkUnavailable asserts the whole contract of a source that cannot run:
// an *UnavailableError with the reason, the same reason in Stats, Events
// closed, Close quiet.
func checkUnavailable(t *testing.T, s *Source, err error, reason string) {
	t.Helper()
	var ue *UnavailableError
	if !errors.As(err, &ue) || !errors.Is(err, ErrUnavailable) {
		t.Fatalf("Start: %v, want an *UnavailableError", err)
	}
	st := s.Stats()
	if st.State != StateUnavailable || st.Reason != ue.Reason || !strings.Contains(st.Reason, reason) {
		t.Fatalf("stats %q %q, want unavailable because of %q", st.State, st.Reason, reason)
	}
	if _, open := <-s.Events(); open {
		t.Fatal("Events delivered an event from an unavailable source")
	}
	if err := s.Close(); err != nil {
		t.Fatalf("Close: %v", err)
	}
}

func TestUnavailableRingSize(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("not root: the capability check answers first")
	}
	s := New(Config{RingBytes: 3 << 12})
	checkUnavailable(t, s, s.Start(context.Background()), "not a power of two")
}

// Without CAP_BPF, CAP_PERFMON or CAP_SYS_ADMIN the source says so instead
// of failing somewhere in the loader. The test binary runs itself as
// nobody for that.
func TestUnavailableWithoutCapabilities(t *testing.T) {
	if os.Getenv("LOADSOURCE_HELPER") == "unprivileged" {
		s := New(Config{})
		checkUnavailable(t, s, s.Start(context.Background()), "missing capabilities")
		return
	}
	if os.Geteuid() != 0 {
		t.Skip("not root: cannot switch to nobody")
	}
	self, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	// Not t.TempDir: its parent is private to root, and nobody must
	// reach the binary.
	dir, err := os.MkdirTemp("", "modhunt-loadsource-nobody-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := os.RemoveAll(dir); err != nil {
			t.Error(err)
		}
	})
	if err := os.Chmod(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	bin := filepath.Join(dir, "loadsource.test")
	in, err := os.Open(self)
	if err != nil {
		t.Fatal(err)
	}
	defer in.Close()
	out, err := os.OpenFile(bin, os.O_CREATE|os.O_WRONLY, 0o755)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := io.Copy(out, in); err != nil {
		t.Fatal(err)
	}
	if err := out.Close(); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(bin, "-test.run=^TestUnavailableWithoutCapabilities$", "-test.v")
	cmd.Dir = dir
	cmd.Env = []string{"LOADSOURCE_HELPER=unprivileged", "PATH=/usr/bin:/bin"}
	cmd.SysProcAttr = &syscall.SysProcAttr{Credential: &syscall.Credential{Uid: 65534, Gid: 65534}}
	res, err := cmd.CombinedOutput()
	if err != nil || !strings.Contains(string(res), "--- PASS") {
		t.Fatalf("as nobody: %v\n%s", err, res)
	}
}

// With no tracefs to read tracepoint ids from, the source mounts one in a
// private mount namespace of one thread; and on kernels without BPF links
// for perf events it attaches through the perf ioctl. Both paths deliver,
// and the host's mount table is the same afterwards.
func TestPrivateTracefsAndIoctlAttach(t *testing.T) {
	before, nsBefore := tracefsMountsNow(t), mountNS(t)
	c := startSource(t, Config{forcePrivateTracefs: true, forceIoctl: true}, false)
	for _, h := range c.src.Stats().Hooks {
		if h.Required && !h.Attached {
			t.Fatalf("hook %s: %s", h.Name, h.Err)
		}
	}
	lib := copyLib(t, t.TempDir(), "libmh_ioctl.so")
	pid, id := run(t, nil, "load", lib)
	ev := c.wait(t, "the dlopen", func(e *Event) bool { return e.Kind == KindMmap && int(e.PID) == pid && string(e.Path) == lib })
	checkFile(t, ev, id)
	if after := tracefsMountsNow(t); after != before {
		t.Errorf("the host's tracefs mounts changed:\nbefore\n%s\nafter\n%s", before, after)
	}
	// /proc/self is the main thread: it must still be in the process's
	// namespace, whichever thread the private mount ran on.
	if after := mountNS(t); after != nsBefore {
		t.Errorf("the process's mount namespace (/proc/self/ns/mnt) went from %d to %d", nsBefore, after)
	}
}

func mountNS(t *testing.T) uint64 {
	t.Helper()
	var st unix.Stat_t
	if err := unix.Stat("/proc/self/ns/mnt", &st); err != nil {
		t.Fatal(err)
	}
	return st.Ino
}

// tracefsMountsNow lists the tracefs mounts this process's namespace sees
// (not the whole table: other tests on the host may mount things).
func tracefsMountsNow(t *testing.T) string {
	t.Helper()
	b, err := os.ReadFile("/proc/self/mountinfo")
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for l := range strings.Lines(string(b)) {
		if strings.Contains(l, " - tracefs ") {
			out = append(out, l)
		}
	}
	return strings.Join(out, "")
}

func TestParseCapEff(t *testing.T) {
	eff, err := parseCapEff(strings.NewReader("Name:\tx\nCapInh:\t0000000000000000\nCapEff:\t000001ffffffffff\n"))
	if err != nil || eff != 0x1ffffffffff {
		t.Fatalf("%#x %v", eff, err)
	}
	if _, err := parseCapEff(strings.NewReader("Name:\tx\n")); err == nil {
		t.Fatal("no CapEff line parsed")
	}
}
