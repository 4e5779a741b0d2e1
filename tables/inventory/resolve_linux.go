package inventory

import (
	"errors"
	"strings"
	"time"

	"golang.org/x/sys/unix"
)

// OpenInRoot opens path as the process whose root directory is the open
// handle root sees it: openat2 with RESOLVE_IN_ROOT, so an absolute symlink
// inside a container resolves inside that container and nothing ever
// escapes to the host, and without magic links; resolve adds RESOLVE_*
// flags. A real (not O_PATH) open is non-blocking and never takes a tty.
func OpenInRoot(root int, path string, flags, resolve uint64) (int, error) {
	flags |= unix.O_CLOEXEC
	if flags&unix.O_PATH == 0 {
		// openat2 refuses these with O_PATH (EINVAL); a real open needs
		// them so a FIFO or a tty can neither block nor become ours.
		flags |= unix.O_NOCTTY | unix.O_NONBLOCK
	}
	for {
		fd, err := unix.Openat2(root, path, &unix.OpenHow{
			Flags:   flags,
			Resolve: unix.RESOLVE_IN_ROOT | unix.RESOLVE_NO_MAGICLINKS | resolve,
		})
		if err == unix.EAGAIN || err == unix.EINTR {
			continue // RESOLVE_IN_ROOT asks for a retry when a rename raced
		}
		return fd, err
	}
}

// maxClimb bounds PathBase's walk up: a chroot nested deeper than this is
// not worth the syscalls, and the caller treats the paths as unresolvable.
const maxClimb = 4096

var errClimb = errors.New("path base: too deep")

// PathBase opens (O_PATH) the directory that the paths the kernel prints
// for a process's files (maps, map_files and exe links) start from, given
// the process's root directory (an open /proc/PID/root).
//
// d_path, which makes those paths, walks up from a file to the reader's
// (our) root directory or, when that is not on the way, to the top of the
// file's mount tree. So for a process in our mount namespace the paths
// start at our root even when the process is chrooted (a jail's libraries
// read /srv/jail/lib/..., not /lib/...), and for a process in another
// namespace (a container) at the top of that namespace's tree, which is
// usually, but not always, its root. Walking ".." up from the process's
// root finds exactly that place: ".." stops at our root and at the top of
// a mount tree, as d_path does. A file reached through a mount that is in
// neither tree (detached, or another namespace's) has a path that starts
// at that mount's own top: nothing here resolves it, and callers must not
// trust it.
func PathBase(root int) (int, error) {
	cur, err := unix.Openat(root, ".", unix.O_PATH|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
	if err != nil {
		return -1, err
	}
	curID, err := dirID(cur)
	if err != nil {
		closeFD(cur)
		return -1, err
	}
	for range maxClimb {
		up, err := unix.Openat(cur, "..", unix.O_PATH|unix.O_DIRECTORY|unix.O_NOFOLLOW|unix.O_CLOEXEC, 0)
		if err != nil {
			closeFD(cur)
			return -1, err
		}
		upID, err := dirID(up)
		if err != nil {
			closeFD(up)
			closeFD(cur)
			return -1, err
		}
		if upID == curID {
			closeFD(up)
			return cur, nil
		}
		closeFD(cur)
		cur, curID = up, upID
	}
	closeFD(cur)
	return -1, errClimb
}

// dirID names a directory as a place in the mount tree: the same directory
// bind-mounted twice is two places, told apart by the mount id (where the
// kernel has statx's STATX_MNT_ID, 5.8 and later).
type dirIdentity struct{ dev, ino, mnt uint64 }

func dirID(fd int) (dirIdentity, error) {
	var stx unix.Statx_t
	if err := unix.Statx(fd, "", unix.AT_EMPTY_PATH, unix.STATX_INO|unix.STATX_MNT_ID, &stx); err != nil {
		return dirIdentity{}, err
	}
	id := dirIdentity{dev: unix.Mkdev(stx.Dev_major, stx.Dev_minor), ino: stx.Ino}
	if stx.Mask&unix.STATX_MNT_ID != 0 {
		id.mnt = stx.Mnt_id
	}
	return id, nil
}

// StatPath resolves a path as the kernel printed it (absolute, from
// PathBase's directory) under base and stats what it leads to, without
// following any symlink (a d_path has none) and without leaving base. A
// path longer than PATH_MAX, which no single open takes, is walked a piece
// at a time.
func StatPath(base int, path string) (Named, error) { return statPath(base, path) }

func statPath(base int, path string) (Named, error) {
	if base < 0 {
		return Named{}, unix.EBADF
	}
	const resolve = unix.RESOLVE_NO_SYMLINKS
	dir, owned := base, false
	defer func() {
		if owned {
			closeFD(dir)
		}
	}()
	rest := path
	for len(rest) >= unix.PathMax {
		// A piece ends at a slash inside PATH_MAX; components are at most
		// NAME_MAX (255) bytes, so there is always one.
		cut := strings.LastIndexByte(rest[:unix.PathMax-1], '/')
		if cut <= 0 {
			return Named{}, unix.ENAMETOOLONG
		}
		fd, err := OpenInRoot(dir, rest[:cut], unix.O_PATH|unix.O_DIRECTORY, resolve)
		if err != nil {
			return Named{}, err
		}
		if owned {
			closeFD(dir)
		}
		dir, owned = fd, true
		rest = rest[cut:] // keeps its leading slash: absolute under the piece's directory
	}
	fd, err := OpenInRoot(dir, rest, unix.O_PATH|unix.O_NOFOLLOW, resolve)
	if err != nil {
		return Named{}, err
	}
	defer closeFD(fd)
	fi, err := statxFD(fd)
	if err != nil {
		return Named{}, err
	}
	n := Named{FileInfo: fi}
	// Only SameFile's overlayfs exception needs the type, and overlayfs
	// (like every file system without a block device) has major 0: a file
	// on a disk costs no statfs.
	if unix.Major(fi.Dev) == 0 {
		var sfs unix.Statfs_t
		if err := unix.Fstatfs(fd, &sfs); err != nil {
			return Named{}, err
		}
		n.FSMagic = int64(sfs.Type) & 0xffffffff //nolint:unconvert // int32 on some architectures
	}
	return n, nil
}

func statxFD(fd int) (FileInfo, error) {
	return statxAt(fd, "", unix.AT_EMPTY_PATH)
}

func statxAt(dir int, name string, flags int) (FileInfo, error) {
	var stx unix.Statx_t
	mask := unix.STATX_BASIC_STATS | unix.STATX_MNT_ID
	if err := unix.Statx(dir, name, flags, mask, &stx); err != nil {
		return FileInfo{}, err
	}
	fi := FileInfo{
		Mode: uint32(stx.Mode), UID: stx.Uid, GID: stx.Gid, Size: int64(stx.Size), //nolint:gosec // sizes fit
		ModTime: timeOf(stx.Mtime), ChangeTime: timeOf(stx.Ctime), Nlink: uint64(stx.Nlink),
		Dev: unix.Mkdev(stx.Dev_major, stx.Dev_minor), Ino: stx.Ino,
	}
	if stx.Mask&unix.STATX_MNT_ID != 0 {
		fi.MountID = stx.Mnt_id
	}
	return fi, nil
}

func timeOf(ts unix.StatxTimestamp) time.Time { return time.Unix(ts.Sec, int64(ts.Nsec)) }

// fsMagics name the statfs types of the file systems a module may come
// from; ext2 and ext3 are mounted by the ext4 driver and share its magic.
var fsMagics = map[int64]string{
	0xef53: "ext4", 0x58465342: "xfs", 0x9123683e: "btrfs", 0x01021994: "tmpfs",
	0x858458f6: "ramfs", 0x958458f6: "hugetlbfs", OverlayFSMagic: "overlay", 0x73717368: "squashfs",
	0xe0f5e1e2: "erofs", 0x2fc12fc1: "zfs", 0xf2f52010: "f2fs", 0x4d44: "vfat", 0x2011bab0: "exfat",
	0x5346544e: "ntfs", 0x9660: "iso9660", 0x15013346: "udf", 0x65735546: "fuse",
	0x6969: "nfs", 0xff534d42: "cifs", 0xfe534d42: "smb3", 0x01021997: "9p", 0x00c36400: "ceph",
	0x5346414f: "afs", 0x47504653: "gpfs", 0x0bd00bd0: "lustre", 0x7461636f: "ocfs2", 0x01161970: "gfs2",
	0x9fa0: "proc", 0x62656572: "sysfs", 0x1373: "devfs", 0x64626720: "debugfs",
}

func fsTypeName(magic int64) string { return fsMagics[magic] }

// StatFile stats the file at path, following it (a /proc magic link such
// as /proc/PID/exe reaches the very file), with the mount it was reached
// through.
func StatFile(path string) (FileInfo, error) { return statxAt(unix.AT_FDCWD, path, 0) }
