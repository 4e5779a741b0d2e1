package untrusted

import (
	"fmt"
	"os"
	"strconv"

	"golang.org/x/sys/unix"

	"github.com/modhunt/modhunt/tables/inventory"
)

// procRoot is a process's root directory (its mount namespace and chroot),
// opened once. Every lookup below it goes through openat2 with
// RESOLVE_IN_ROOT, so an absolute symlink inside a container resolves
// inside that container and nothing ever escapes to the host.
type procRoot struct {
	fd  int
	key rootKey
}

func openRoot(procFS string, pid int) (*procRoot, error) {
	dir := procFS + "/" + strconv.Itoa(pid)
	fd, err := unix.Open(dir+"/root", unix.O_PATH|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
	if err != nil {
		return nil, fmt.Errorf("open root of pid %d: %w", pid, err)
	}
	var st, ns unix.Stat_t
	if err := unix.Fstat(fd, &st); err != nil {
		_ = unix.Close(fd)
		return nil, fmt.Errorf("stat root of pid %d: %w", pid, err)
	}
	if err := unix.Stat(dir+"/ns/mnt", &ns); err != nil {
		_ = unix.Close(fd)
		return nil, fmt.Errorf("stat mount namespace of pid %d: %w", pid, err)
	}
	return &procRoot{fd: fd, key: rootKey{mntNS: ns.Ino, dev: st.Dev, ino: st.Ino}}, nil
}

func (r *procRoot) close() { _ = unix.Close(r.fd) }

func (r *procRoot) open(p string, flags, resolve uint64) (int, error) {
	return inventory.OpenInRoot(r.fd, p, flags, resolve)
}

func (r *procRoot) statWith(p string, flags, resolve uint64) (inventory.FileInfo, error) {
	fd, err := r.open(p, unix.O_PATH|flags, resolve)
	if err != nil {
		return inventory.FileInfo{}, err
	}
	defer func() { _ = unix.Close(fd) }()
	var st unix.Stat_t
	if err := unix.Fstat(fd, &st); err != nil {
		return inventory.FileInfo{}, err
	}
	return inventory.FileInfoOf(&st), nil
}

// lstat stats p without following any symlink at all: a link anywhere on
// the path is an error (ELOOP), except the last component, which is
// reported as the link itself.
func (r *procRoot) lstat(p string) (inventory.FileInfo, error) {
	return r.statWith(p, unix.O_NOFOLLOW, unix.RESOLVE_NO_SYMLINKS)
}

// stat stats p following symlinks, all inside the root.
func (r *procRoot) stat(p string) (inventory.FileInfo, error) {
	return r.statWith(p, 0, 0)
}

// openFile opens a regular file for reading; anything else (a FIFO, a
// device) is refused without ever being opened for reading.
func (r *procRoot) openFile(p string) (*os.File, error) {
	// The root is the process's, and so may be its owner's to fill: the
	// name is checked through an O_PATH handle first, since opening a
	// device for reading as root acts on it even with O_NONBLOCK (a
	// watchdog starts counting down, a tape rewinds).
	pfd, err := r.open(p, unix.O_PATH, 0)
	if err != nil {
		return nil, err
	}
	defer func() { _ = unix.Close(pfd) }()
	var st unix.Stat_t
	if err := unix.Fstat(pfd, &st); err != nil {
		return nil, err
	}
	if st.Mode&unix.S_IFMT != unix.S_IFREG {
		return nil, fmt.Errorf("%s: not a regular file", p)
	}
	// Reopening the handle reaches the very inode just checked.
	fd, err := unix.Open("/proc/self/fd/"+strconv.Itoa(pfd), unix.O_RDONLY|unix.O_CLOEXEC|unix.O_NOCTTY|unix.O_NONBLOCK, 0)
	if err != nil {
		return nil, err
	}
	return os.NewFile(uintptr(fd), p), nil
}

// pathBase opens where the kernel's paths for this process's files start
// (inventory.PathBase), or returns -1. The caller closes it.
func (r *procRoot) pathBase() int {
	fd, err := inventory.PathBase(r.fd)
	if err != nil {
		return -1
	}
	return fd
}

// ourRoot opens this process's own root directory, where the kernel's
// paths of files on mounts we can reach start; -1 if it cannot.
func ourRoot() int {
	fd, err := unix.Open("/", unix.O_PATH|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
	if err != nil {
		return -1
	}
	return fd
}

func closeBase(fd int) {
	if fd >= 0 {
		_ = unix.Close(fd)
	}
}

// statNamed resolves a path the kernel printed under dir (see
// inventory.StatPath).
func statNamed(dir int, p string) (inventory.Named, error) { return inventory.StatPath(dir, p) }

// statExe stats the file pid runs (through /proc/PID/exe).
func statExe(procFS string, pid int) (inventory.FileInfo, error) {
	return inventory.StatFile(procFS + "/" + strconv.Itoa(pid) + "/exe")
}

func sameFile(n inventory.Named, fi inventory.FileInfo) bool { return inventory.SameFile(n, fi) }
