package sim

import (
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"testing"

	"golang.org/x/sys/unix"
)

// NeedExec skips the test when dir is on a noexec mount: nothing can be
// loaded from it there.
func NeedExec(tb testing.TB, dir string) {
	tb.Helper()
	var st unix.Statfs_t
	if err := unix.Statfs(dir, &st); err != nil {
		tb.Fatalf("statfs %s: %v", dir, err)
	}
	if st.Flags&unix.ST_NOEXEC != 0 {
		tb.Skipf("%s is mounted noexec here, so nothing can be loaded from it", dir)
	}
}

// ExecDirIn is TempDirIn for a directory modules are loaded from: it skips
// the test when parent is mounted noexec.
func ExecDirIn(tb testing.TB, parent, pattern string) string {
	tb.Helper()
	NeedExec(tb, parent)
	return TempDirIn(tb, parent, pattern)
}

// NeedOverlay skips the test unless this kernel lets it stack an overlay in
// a private mount namespace (what OverlayNS does).
func NeedOverlay(tb testing.TB) {
	tb.Helper()
	NeedTool(tb, "unshare", "util-linux")
	lower, upper, work, mnt := tb.TempDir(), tb.TempDir(), tb.TempDir(), tb.TempDir()
	out, err := exec.Command("unshare", "--mount", "--propagation", "private", "sh", "-c",
		overlayMount(lower, upper, work, mnt)).CombinedOutput()
	if err != nil {
		tb.Skipf("needs overlayfs in a private mount namespace (unshare -m; mount -t overlay): %v: %s", err, out)
	}
}

// OverlayNS returns a command line that, in a private mount namespace,
// lays an overlay over target whose upper layer is upper, then execs argv
// (so the pid stays the started one's). A process it starts sees upper's
// files in target; the host's target is never written. Call NeedOverlay
// first.
func OverlayNS(tb testing.TB, target, upper string, argv ...string) []string {
	tb.Helper()
	NeedTool(tb, "unshare", "util-linux")
	work := TempDirIn(tb, "/tmp", "modhunt-ovl-work-")
	script := overlayMount(target, upper, work, target) + ` && exec "$@"`
	return append([]string{"unshare", "--mount", "--propagation", "private", "sh", "-c", script, "sh"}, argv...)
}

func overlayMount(lower, upper, work, mnt string) string {
	return fmt.Sprintf("mount -t overlay overlay -o lowerdir=%s,upperdir=%s,workdir=%s %s", lower, upper, work, mnt)
}

// StartPlantedLoader plants a library named name in dir (a system
// directory such as /usr/lib) through an overlay in a private mount
// namespace, and starts the loader there, dlopen()ing it: the loader sees
// dir/name, the host's dir is untouched. It returns the process, the path
// the loader loaded, and the library's file in the overlay's upper layer
// (mode 0644, as a packaged library's). It skips without overlayfs, and
// fails if the host already has dir/name.
func StartPlantedLoader(tb testing.TB, dir, name string) (p *Proc, planted, lib string) {
	tb.Helper()
	planted = filepath.Join(dir, name)
	if _, err := os.Stat(planted); !errors.Is(err, os.ErrNotExist) {
		tb.Fatalf("%s must not exist on the host to be planted: %v", planted, err)
	}
	return startOverlayLoader(tb, dir, name)
}

// StartShadowingLoader is StartPlantedLoader over a file the host has:
// inside the namespace the test library takes the place of dir/name, the
// way an attacker with a private mount namespace would swap a packaged
// library for their own under its packaged name.
func StartShadowingLoader(tb testing.TB, dir, name string) (p *Proc, shadowed, lib string) {
	tb.Helper()
	shadowed = filepath.Join(dir, name)
	if fi, err := os.Lstat(shadowed); err != nil || !fi.Mode().IsRegular() {
		tb.Fatalf("%s must be a regular file on the host to be shadowed: %v", shadowed, err)
	}
	return startOverlayLoader(tb, dir, name)
}

func startOverlayLoader(tb testing.TB, dir, name string) (p *Proc, planted, lib string) {
	tb.Helper()
	NeedOverlay(tb)
	planted = filepath.Join(dir, name)
	upper := TempDirIn(tb, "/tmp", "modhunt-ovl-upper-")
	if err := os.Chmod(upper, 0o755); err != nil {
		tb.Fatal(err)
	}
	lib = BuildLib(tb, filepath.Join(upper, name))
	if err := os.Chmod(lib, 0o644); err != nil {
		tb.Fatal(err)
	}
	argv := OverlayNS(tb, dir, upper, BuildLoader(tb), "dlopen", planted)
	return Start(tb, argv[0], argv[1:]...), planted, lib
}
