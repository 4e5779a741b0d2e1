package sim

import (
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

// Nobody is the unprivileged user the namespace simulations run as.
const Nobody = 65534

// UserNS returns the command prefix that runs what follows as an
// unprivileged user (Nobody) in a user and mount namespace of its own,
// which is all an attacker needs to mount a tmpfs; unprivileged reports
// whether that is what it is. Where the kernel forbids unprivileged user
// namespaces it falls back to root in a private mount namespace (and says
// so in the test log). Skips without root or util-linux.
func UserNS(tb testing.TB) (wrap []string, unprivileged bool) {
	tb.Helper()
	NeedRoot(tb)
	NeedTool(tb, "unshare", "util-linux")
	NeedTool(tb, "setpriv", "util-linux")
	user := []string{"setpriv", "--reuid=" + strconv.Itoa(Nobody), "--regid=" + strconv.Itoa(Nobody), "--clear-groups", "--",
		"unshare", "--user", "--map-root-user", "--mount", "--"}
	probe := append(append([]string{}, user...), "sh", "-c", "mount -t tmpfs modhunt-probe /mnt")
	if out, err := exec.Command(probe[0], probe[1:]...).CombinedOutput(); err != nil {
		tb.Logf("unprivileged user namespaces are not allowed here (%v: %s): running as root in a private mount namespace", err, out)
		return []string{"unshare", "--mount", "--propagation", "private", "--"}, false
	}
	return user, true
}

// PublicDir is TempDirIn(/tmp) readable by every user (mode 0755), for
// files a process running as Nobody must read or run.
func PublicDir(tb testing.TB, pattern string) string {
	tb.Helper()
	NeedExec(tb, "/tmp")
	d := TempDirIn(tb, "/tmp", pattern)
	if err := os.Chmod(d, 0o755); err != nil {
		tb.Fatal(err)
	}
	return d
}

// TmpfsLoadOpts says what StartTmpfsLoader loads, and how.
type TmpfsLoadOpts struct {
	Lib string // a .so every user can read (BuildLib into a PublicDir)
	// Name is the library's path inside the tmpfs, e.g. "SYSV00001129",
	// "dev/zero" or "usr/lib/x86_64-linux-gnu/libc.so.6". Empty means the
	// loader's own path, so that once detached the library's path reads
	// exactly like the program's.
	Name   string
	Unlink bool // unlink it once loaded
	// Exe, when set, is a path inside the tmpfs where the loader itself is
	// copied and run from, e.g. "usr/bin/java".
	Exe string
	// Bind, when set, is a host directory bind-mounted in the tmpfs's
	// place (the library is copied into it, so it must be writable by
	// Nobody): a mount of the very file system the host's own files are
	// on, detached all the same.
	Bind string
}

// TmpfsLoader is a loader that runs in its own namespace (UserNS) and has
// a library loaded from a tmpfs mounted there, at Mount (a directory the
// host also has, empty there).
type TmpfsLoader struct {
	*Proc
	Mount string
	// Loader is the loader program's path (on the host, readable by all).
	Loader string
	// Unprivileged reports that the loader runs as Nobody in a user
	// namespace (see UserNS).
	Unprivileged bool
	opts         TmpfsLoadOpts
	release      string
}

// tmpfsScript mounts the tmpfs, plants the library (and the loader, for
// Exe), and execs the loader, so the pid stays the one started. A
// background shell detaches the tmpfs (umount -l) once the release file
// appears, and gives up when the loader is gone.
const tmpfsScript = `set -e
D=$1 LIB=$2 NAME=$3 RELEASE=$4 LOADER=$5 EXE=$6 BIND=$7 UNLINK=$8
if [ -n "$BIND" ]; then
	mount --bind "$BIND" "$D"
else
	mount -t tmpfs modhunt-test "$D"
fi
mkdir -p "$D/$(dirname "$NAME")"
cp "$LIB" "$D/$NAME"
if [ -n "$EXE" ]; then
	mkdir -p "$D/$(dirname "$EXE")"
	cp "$LOADER" "$D/$EXE"
	LOADER="$D/$EXE"
fi
(
	while [ ! -e "$RELEASE" ] && kill -0 $$ 2>/dev/null; do sleep 0.02; done
	[ -e "$RELEASE" ] && umount -l "$D"
) &
exec "$LOADER" dlopen "$D/$NAME" $UNLINK
`

// StartTmpfsLoader starts a loader in its own namespace (UserNS) that
// mounts a fresh tmpfs, copies opts.Lib into it as opts.Name, and loads it
// (unlinking it if asked). The host's view of the same directory stays
// empty. Detach then takes the tmpfs away (umount -l) while the library
// stays mapped: the kernel shows its path relative to the detached tmpfs,
// e.g. "/SYSV00001129 (deleted)" or "/usr/lib/.../libc.so.6".
func StartTmpfsLoader(tb testing.TB, opts TmpfsLoadOpts) *TmpfsLoader {
	tb.Helper()
	wrap, unprivileged := UserNS(tb)
	pub := PublicDir(tb, "modhunt-tmpfs-")
	loader := filepath.Join(pub, "loader")
	src, err := os.ReadFile(BuildLoader(tb))
	if err != nil {
		tb.Fatal(err)
	}
	if err := os.WriteFile(loader, src, 0o755); err != nil {
		tb.Fatal(err)
	}
	mnt := filepath.Join(pub, "mnt")
	if err := os.Mkdir(mnt, 0o755); err != nil {
		tb.Fatal(err)
	}
	if opts.Name == "" {
		opts.Name = strings.TrimPrefix(loader, "/")
	}
	l := &TmpfsLoader{Mount: mnt, Loader: loader, Unprivileged: unprivileged, opts: opts, release: filepath.Join(pub, "release")}
	unlink := ""
	if opts.Unlink {
		unlink = "unlink"
	}
	argv := append(append([]string{}, wrap...), "sh", "-c", tmpfsScript, "sh",
		mnt, opts.Lib, opts.Name, l.release, loader, opts.Exe, opts.Bind, unlink)
	l.Proc = Start(tb, argv[0], argv[1:]...)
	return l
}

// Detach takes the tmpfs away (umount -l in the loader's namespace) and
// waits until the kernel shows the library under its detached path.
func (l *TmpfsLoader) Detach(tb testing.TB) {
	tb.Helper()
	if err := os.WriteFile(l.release, nil, 0o644); err != nil {
		tb.Fatal(err)
	}
	mounted := l.Mount + "/" + l.opts.Name
	want := " /" + l.opts.Name
	if l.opts.Unlink {
		want += " (deleted)"
	}
	deadline := time.Now().Add(ReadyTimeout)
	for {
		maps, err := os.ReadFile("/proc/" + strconv.Itoa(l.PID) + "/maps")
		if err != nil {
			tb.Fatal(err)
		}
		if !strings.Contains(string(maps), mounted) && hasLineSuffix(string(maps), want) {
			return
		}
		if time.Now().After(deadline) {
			tb.Fatalf("pid %d: the tmpfs was not detached within %s; maps:\n%s", l.PID, ReadyTimeout, maps)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func hasLineSuffix(text, suffix string) bool {
	for line := range strings.SplitSeq(text, "\n") {
		if strings.HasSuffix(line, suffix) {
			return true
		}
	}
	return false
}

// StartDeepLoader plants a library depth directories of 250 bytes below
// parent (each level legal, the whole far past PATH_MAX: 300 levels make
// 75,000 bytes) and starts the loader there, changing into the directory a
// piece at a time and dlopen()ing "./libdeep.so". It returns the process
// and the library's full path.
func StartDeepLoader(tb testing.TB, parent string, depth int) (p *Proc, lib string) {
	tb.Helper()
	src, err := os.ReadFile(BuildLib(tb, filepath.Join(tb.TempDir(), "libdeep.so")))
	if err != nil {
		tb.Fatal(err)
	}
	fd, err := unix.Open(parent, unix.O_PATH|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
	if err != nil {
		tb.Fatal(err)
	}
	dir := parent
	script := "cd -P -- '" + parent + "'"
	for i := range depth {
		// Directories are opened one by one: no single path may exceed
		// PATH_MAX. The shell changes into 12 levels (~3 KiB) at a time.
		name := strings.Repeat(string(rune('a'+i%26)), 250)
		if err := unix.Mkdirat(fd, name, 0o755); err != nil {
			tb.Fatal(err)
		}
		next, err := unix.Openat(fd, name, unix.O_PATH|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
		_ = unix.Close(fd)
		if err != nil {
			tb.Fatal(err)
		}
		fd = next
		dir += "/" + name
		if i%12 == 0 {
			script += " && cd -P -- '"
		} else {
			script += "/"
		}
		script += name
		if i%12 == 11 || i == depth-1 {
			script += "'"
		}
	}
	out, err := unix.Openat(fd, "libdeep.so", unix.O_WRONLY|unix.O_CREAT|unix.O_EXCL|unix.O_CLOEXEC, 0o755)
	_ = unix.Close(fd)
	if err != nil {
		tb.Fatal(err)
	}
	f := os.NewFile(uintptr(out), "libdeep.so")
	if _, err := f.Write(src); err != nil {
		tb.Fatal(err)
	}
	if err := f.Close(); err != nil {
		tb.Fatal(err)
	}
	p = StartLoader(tb, LoaderOpts{Lib: "./libdeep.so", Wrap: []string{"sh", "-c", script + ` && exec "$@"`, "sh"}})
	return p, dir + "/libdeep.so"
}
