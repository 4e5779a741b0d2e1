package inventory

import (
	"fmt"
	"os"
	"os/user"
	"strconv"
	"time"

	"golang.org/x/sys/unix"

	"github.com/modhunt/modhunt/internal/darwinproc"
)

// Inventory is the macOS inventory: libproc (proc_listallpids,
// proc_pidinfo's region walk, proc_pidpath) and kern.procargs2, through
// internal/darwinproc, without cgo and without task_for_pid. What it
// decides is in Darwin (darwin.go), tested on Linux.
type Inventory struct{ *Darwin }

// New returns this host's inventory.
func New(cfg Config) *Inventory { return &Inventory{NewDarwin(cfg, libproc{})} }

// libproc is MacOS on a Mac.
type libproc struct{}

func (libproc) ListPIDs() ([]int32, error)                      { return darwinproc.ListPIDs() }
func (libproc) BSDInfo(pid int32) (darwinproc.BSDInfo, error)   { return darwinproc.ReadBSDInfo(pid) }
func (libproc) ExePath(pid int32) (string, error)               { return darwinproc.ReadPath(pid) }
func (libproc) ProcArgs(pid int32) (darwinproc.ProcArgs, error) { return darwinproc.ReadProcArgs(pid) }
func (libproc) FileRegions(pid int32, l darwinproc.Limits) (darwinproc.Walk, error) {
	return darwinproc.ReadFileRegions(pid, l)
}
func (libproc) Regions(pid int32, l darwinproc.Limits) (darwinproc.Walk, error) {
	return darwinproc.ReadRegions(pid, l)
}

// UserName asks the directory service through libc (os/user uses libSystem
// on darwin even without cgo): local accounts are not in /etc/passwd.
func (libproc) UserName(uid uint32) string {
	u, err := user.LookupId(strconv.FormatUint(uint64(uid), 10))
	if err != nil {
		return ""
	}
	return u.Username
}

func (libproc) Lstat(p string) (FileInfo, error) {
	var st unix.Stat_t
	if err := unix.Lstat(p, &st); err != nil {
		return FileInfo{}, &os.PathError{Op: "lstat", Path: p, Err: err}
	}
	return fileInfoOfDarwin(&st), nil
}

func (libproc) Open(p string) (*os.File, FileInfo, error) {
	fd, err := unix.Open(p, unix.O_RDONLY|unix.O_CLOEXEC|unix.O_NOCTTY|unix.O_NONBLOCK|unix.O_NOFOLLOW, 0)
	if err != nil {
		return nil, FileInfo{}, &os.PathError{Op: "open", Path: p, Err: err}
	}
	var st unix.Stat_t
	if err := unix.Fstat(fd, &st); err != nil || st.Mode&unix.S_IFMT != unix.S_IFREG {
		_ = unix.Close(fd)
		return nil, FileInfo{}, fmt.Errorf("%s is not a regular file", p)
	}
	return os.NewFile(uintptr(fd), p), fileInfoOfDarwin(&st), nil
}

func (libproc) FSType(p string) (string, error) {
	var sfs unix.Statfs_t
	if err := unix.Statfs(p, &sfs); err != nil {
		return "", &os.PathError{Op: "statfs", Path: p, Err: err}
	}
	return unix.ByteSliceToString(sfs.Fstypename[:]), nil
}

// fileInfoOfDarwin converts a darwin stat. st_dev is an int32 there; the
// kernel's vnode info gives it unsigned, and module identities compare so.
func fileInfoOfDarwin(st *unix.Stat_t) FileInfo {
	return FileInfo{
		Mode: uint32(st.Mode), UID: st.Uid, GID: st.Gid, Size: st.Size,
		ModTime: time.Unix(st.Mtim.Sec, st.Mtim.Nsec), ChangeTime: time.Unix(st.Ctim.Sec, st.Ctim.Nsec),
		Nlink: uint64(st.Nlink), Dev: uint64(uint32(st.Dev)), Ino: st.Ino, //nolint:gosec // the bits, not the value
	}
}
