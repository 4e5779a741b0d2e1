package untrusted

import (
	"context"
	"errors"
	"io/fs"
	"os"
	"path"
	"time"

	"github.com/modhunt/modhunt/tables/inventory"
	"github.com/modhunt/modhunt/tables/mounts"
	"github.com/modhunt/modhunt/tables/trust"
)

// Mode bits (Linux's st_mode values; this code only runs on Linux).
const (
	modeType   = 0o170000
	modeDir    = 0o040000
	modeSticky = 0o001000
	modeSetuid = 0o004000
	// writableByOthers: group or other may write.
	writableByOthers = 0o022
	worldWritable    = 0o002
)

// rootKey tells apart the file system views processes have: the same
// mount namespace and the same root directory see the same files.
type rootKey struct {
	mntNS    uint64
	dev, ino uint64
}

// view caches, for one scan, what processes sharing a file system view
// (mount namespace and root) have in common.
type view struct {
	preload preloadList
	mounts  []mounts.Mount
	dirs    map[string]dirFacts
	stats   map[string]statResult
	// named caches what the kernel's paths lead to under the view's path
	// base (see inventory.PathBase).
	named map[string]namedResult
}

type namedResult struct {
	n  inventory.Named
	ok bool
}

type dirFacts struct {
	known         bool
	userWritable  bool
	worldWritable bool
}

type statResult struct {
	fi inventory.FileInfo
	ok bool
}

// osScan is what one scan knows of the Linux host: the file system views
// of its processes, and our own.
type osScan struct {
	views map[rootKey]*view
	files map[fileKey]statResult
	// hostFiles caches, per path, the identity of the host's file there.
	hostFiles map[string]hostID
	// host is our own root directory; a process whose root is another
	// directory (a container) sees other files under the same names.
	host      rootKey
	knownHost bool
	// boot is the host's boot time (/proc/stat btime), read once.
	boot     time.Time
	bootRead bool
	// ourNamed caches what the kernel's paths lead to under our own root.
	ourNamed map[string]namedResult
}

// begin prepares a scan of this host.
func (sc *scan) begin() {
	sc.views, sc.files = map[rootKey]*view{}, map[fileKey]statResult{}
	sc.hostFiles, sc.ourNamed = map[string]hostID{}, map[string]namedResult{}
	if self, err := openRoot(sc.cfg.ProcFS, os.Getpid()); err == nil {
		sc.host, sc.knownHost = self.key, true
		self.close()
	}
}

// maxEnviron bounds the environment read per process. It must cover all
// of it: the loader honours LD_PRELOAD wherever it sits, so a process that
// pads its environment past a smaller bound would hide its preload. execve
// caps argv and envp together at 3/4 of _STK_LIM (6 MiB) whatever the stack
// rlimit (fs/exec.c), and only CAP_SYS_RESOURCE can point environ at more.
const maxEnviron = 6<<20 + 4096

type hostID struct {
	dev, ino uint64
	size     int64
	mtime    time.Time
	ok       bool
}

// process judges process proc as a Linux process: its file system view
// (root, mount namespace, mountinfo), its loader's instructions
// (LD_PRELOAD, LD_AUDIT, /etc/ld.so.preload, LD_LIBRARY_PATH) and its
// modules' files.
func (sc *scan) process(ctx context.Context, proc int) {
	p := &sc.res.Processes[proc]
	// An allowlisted path vouches for a program only when the path leads
	// to the file the process runs.
	if sc.policy.AllowsProcess("", p.Name) || (sc.policy.AllowsProcess(p.Path, "") && sc.exeNamed(p)) {
		return
	}
	var mods []int
	for i := range p.Modules {
		if Judged(p, &p.Modules[i]) {
			mods = append(mods, i)
		}
	}
	if len(mods) == 0 {
		return
	}
	root, err := openRoot(sc.cfg.ProcFS, p.PID)
	if err != nil {
		sc.log.DebugContext(ctx, "process root unreadable", "pid", p.PID, "err", err)
		root = nil
	} else {
		defer root.close()
	}
	v := sc.view(ctx, root, p.PID)
	base := sc.pathBase(root)
	defer func() {
		if root == nil || base != root.fd {
			closeBase(base)
		}
	}()

	list, libPath, vars := sc.loaderLists(ctx, p, v)
	var startup map[fileKey]bool
	if !sc.cfg.noStartupEvidence {
		startup = sc.startupOnly(ctx, p, root, vars)
	}

	// The host's package databases say nothing about a container's files:
	// in a foreign root, package ownership is unknown, never "unowned".
	foreign := root != nil && sc.knownHost && (root.key.dev != sc.host.dev || root.key.ino != sc.host.ino)
	for _, i := range mods {
		if ctx.Err() != nil {
			break // the walk reports it
		}
		sc.module(proc, i, root, base, v, list, libPath, startup, foreign)
	}
}

// view returns the shared facts of the root's file system view, reading
// ld.so.preload and mountinfo the first time the view is seen in this scan.
func (sc *scan) view(ctx context.Context, root *procRoot, pid int) *view {
	if root != nil {
		if v, ok := sc.views[root.key]; ok {
			return v
		}
	}
	v := &view{dirs: map[string]dirFacts{}, stats: map[string]statResult{}, named: map[string]namedResult{}}
	if root != nil {
		sc.views[root.key] = v
		// Read relative to the process's root: a private mount namespace
		// may bind its own /etc/ld.so.preload over the host's.
		f, err := root.openFile("/etc/ld.so.preload")
		if err == nil {
			var fi os.FileInfo
			if fi, err = f.Stat(); err == nil {
				err = readPreloadFile(f, fi.Size(), &v.preload)
			}
			_ = f.Close() // read only: nothing to lose
		}
		if err != nil && !isNotExist(err) {
			sc.log.DebugContext(ctx, "ld.so.preload unreadable", "pid", pid, "err", err)
		}
	}
	ms, err := sc.mountInfo(pid)
	if err != nil {
		sc.log.DebugContext(ctx, "mountinfo unreadable", "pid", pid, "err", err)
	}
	v.mounts = ms
	return v
}

// isHostFile reports whether the mapped file is the very file the host's
// view has at its path, the one the package database speaks for. Through
// an overlay (a container's root, or a namespace's overlay over a system
// directory) a lower layer's file keeps its inode, size and times but shows
// the overlay's device, while a file laid over it in the upper layer is
// another inode. A mapped file that cannot be statted is given the benefit
// of the doubt (its other reasons still stand); a path the host does not
// have is not its file.
func (sc *scan) isHostFile(m *inventory.Module, mapped inventory.FileInfo, statOK bool) bool {
	if !statOK {
		return true
	}
	id, seen := sc.hostFiles[m.Path]
	if !seen {
		id = hostFile(sc.cfg.HostRoot, m.Path)
		sc.hostFiles[m.Path] = id
	}
	if !id.ok || id.ino != mapped.Ino {
		return false
	}
	return id.dev == mapped.Dev || (id.size == mapped.Size && id.mtime.Equal(mapped.ModTime))
}

func (sc *scan) statModule(pid int, m *inventory.Module) (inventory.FileInfo, bool) {
	k := fileKey{m.Linux.Major, m.Linux.Minor, m.Linux.Inode}
	if r, ok := sc.files[k]; ok && !m.Memfd {
		return r.fi, r.ok
	}
	fi, err := sc.src.StatModule(pid, m)
	r := statResult{fi: fi, ok: err == nil}
	if !m.Memfd {
		sc.files[k] = r // memfds share a device, and inodes are reused
	}
	return r.fi, r.ok
}

// module judges module mod of process proc and appends its verdict, if
// the load breaks the policy. Its sha256 comes from the cache when the
// file was hashed before; otherwise the verdict waits for the hashing pass.
func (sc *scan) module(proc, mod int, root *procRoot, base int, v *view, list *preloadList, libPath *libDirs, startup map[fileKey]bool, foreign bool) {
	p := &sc.res.Processes[proc]
	m := &p.Modules[mod]
	fi, statOK := sc.statModule(p.PID, m)
	mismatch := sc.pathMismatch(v, base, m, fi, statOK)
	facts := trust.Module{Path: m.Path, Deleted: m.Deleted, Memfd: m.Memfd, PathMismatch: mismatch}
	facts.Preloaded = sc.preloaded(root, v, list, libPath, m, statOK && fi.Mode&modeSetuid != 0) ||
		startup[fileKey{m.Linux.Major, m.Linux.Minor, m.Linux.Inode}]
	pkg := ""
	fsType := ""
	if !m.Memfd {
		if statOK && (fi.UID != 0 || fi.Mode&writableByOthers != 0) {
			facts.UserWritable = true
		}
		if mismatch {
			// The path names some other file, or none: its directories,
			// its mount and its package say nothing about this one. The
			// file system is the mapped file's own.
			fsType, facts.Remote = sc.deviceFS(v, p.PID, m)
		} else {
			d := sc.dirFacts(root, v, path.Dir(m.Path))
			facts.UserWritable = facts.UserWritable || d.userWritable
			facts.WorldWritableDir = d.worldWritable
			if mt, ok := mounts.Find(v.mounts, m.Path, m.Linux.Major, m.Linux.Minor, true); ok {
				facts.Remote = mt.Remote()
				facts.MountPoint, facts.MountNoexec = mt.MountPoint, mt.Noexec()
				fsType = mt.FSType
			}
		}
	}
	owner := func() {
		pkg, facts.PackagesKnown = sc.pkgs.Owner(m.Path)
		if pkg != "" && (mismatch || (!m.Deleted && !sc.isHostFile(m, fi, statOK))) {
			// A package owns the name, not this file: a private mount
			// namespace can lay its own library over a packaged one; and
			// a path that does not lead to the file vouches for nothing.
			pkg = ""
		}
		facts.Package = pkg
	}
	lookup := !m.Memfd && !foreign
	if lookup && sc.ownership {
		owner()
	}
	reasons := sc.policy.Evaluate(facts)
	if lookup && !sc.ownership && reasons.Empty() {
		// Ownership only ever adds not_package_owned: with another reason
		// the row stands whoever owns the file, without one it decides.
		owner()
		reasons = sc.policy.Evaluate(facts)
	}
	if reasons.Empty() || (!mismatch && sc.policy.AllowsModule(m.Path, "", pkg)) {
		return
	}
	sc.add(proc, mod, reasons, fi, statOK, pkg, fsType)
}

// preloaded reports whether the loader was told to load m before anything
// else: an LD_PRELOAD/LD_AUDIT/ld.so.preload entry names it (by path, by
// token glob, by bare name, or by resolving inside the process's root to
// the very file mapped), or it came from an LD_LIBRARY_PATH directory that
// the policy does not trust.
func (sc *scan) preloaded(root *procRoot, v *view, list *preloadList, libPath *libDirs, m *inventory.Module, setuid bool) bool {
	if list.matchName(m.Path, setuid) {
		return true
	}
	if root == nil {
		return false
	}
	// Each entry is statted once per process, not once per module: a list
	// can hold thousands.
	if list.files == nil {
		list.files = make(map[fileKey]bool, len(list.paths))
		for _, e := range list.paths {
			if r := v.stat(root, e); r.ok {
				list.files[fileKey{devMajor(r.fi.Dev), devMinor(r.fi.Dev), r.fi.Ino}] = true
			}
		}
	}
	if list.files[fileKey{m.Linux.Major, m.Linux.Minor, m.Linux.Inode}] {
		return true
	}
	if len(libPath.dirs) == 0 || m.Memfd || sc.policy.Trusted(m.Path) {
		return false
	}
	if libPath.ids == nil {
		libPath.names = make(map[string]bool, len(libPath.dirs))
		libPath.ids = make(map[[2]uint64]bool, len(libPath.dirs))
		for _, d := range libPath.dirs {
			libPath.names[d] = true
			if r := v.stat(root, d); r.ok {
				libPath.ids[[2]uint64{r.fi.Dev, r.fi.Ino}] = true
			}
		}
	}
	dir := path.Dir(m.Path)
	if libPath.names[dir] {
		return true
	}
	r := v.stat(root, dir)
	return r.ok && libPath.ids[[2]uint64{r.fi.Dev, r.fi.Ino}]
}

// libDirs is a process's LD_LIBRARY_PATH, with the sets preloaded builds
// from it on first use.
type libDirs struct {
	dirs  []string
	names map[string]bool
	ids   map[[2]uint64]bool // device and inode of each directory
}

func (v *view) stat(root *procRoot, p string) statResult {
	if r, ok := v.stats[p]; ok {
		return r
	}
	fi, err := root.stat(p)
	r := statResult{fi: fi, ok: err == nil}
	v.stats[p] = r
	return r
}

// Linux's dev_t encoding (glibc's gnu_dev_major/minor).
func devMajor(dev uint64) uint32 { return uint32((dev>>8)&0xfff) | uint32((dev>>32)&0xfffff000) }
func devMinor(dev uint64) uint32 { return uint32(dev&0xff) | uint32((dev>>12)&0xffffff00) }

// dirFacts walks dir and its ancestors inside the process's root, never
// following a symlink: a directory is user-writable when a user other than
// root owns it, or group/other may write it without the sticky bit (in a
// sticky directory such as /tmp only an entry's owner may replace it, and
// the entry's own owner is checked in turn). Any o+w directory on the way
// makes the module a temp_dir one. A component that cannot be statted (the
// directory is gone, or is a symlink) leaves it and everything below unknown.
func (sc *scan) dirFacts(root *procRoot, v *view, dir string) dirFacts {
	if root == nil {
		return dirFacts{}
	}
	if f, ok := v.dirs[dir]; ok {
		return f
	}
	var parent dirFacts
	if dir != "/" {
		parent = sc.dirFacts(root, v, path.Dir(dir))
		if !parent.known {
			v.dirs[dir] = parent
			return parent
		}
	}
	f := dirFacts{}
	if fi, err := root.lstat(dir); err == nil && fi.Mode&modeType == modeDir {
		f.known = true
		f.userWritable = parent.userWritable || fi.UID != 0 ||
			(fi.Mode&writableByOthers != 0 && fi.Mode&modeSticky == 0)
		f.worldWritable = parent.worldWritable || fi.Mode&worldWritable != 0
	}
	v.dirs[dir] = f
	return f
}

// pathBase opens where the kernel's paths for the process's files start:
// our own root for a process that shares it (no syscall), else the place
// inventory.PathBase climbs to; -1 when unknown. It is root.fd itself in
// the first case, so the caller closes it only when it differs.
func (sc *scan) pathBase(root *procRoot) int {
	if root == nil {
		return -1
	}
	if sc.knownHost && root.key == sc.host {
		return root.fd
	}
	return root.pathBase()
}

// maxDeletedClimb bounds how far up a deleted module's path pathMismatch
// looks for a directory that still exists.
const maxDeletedClimb = 8

// pathMismatch reports whether m's path fails to lead to the mapped file
// (mapped, a stat through map_files), so that nothing resting on the path
// can be believed. The kernel printed the path from our root, or from the
// top of the file's mount tree when our root is not above it: it is tried
// under the process's path base, then under our root. A path leads to the
// file when it resolves to the same device and inode. A deleted file has
// no name to resolve: its path leads to it when the nearest directory on
// it that still exists is on the mount the file was opened through (the
// same device where the kernel gives no mount id), as a library replaced
// by an upgrade is, and a file from a detached or foreign mount is not. A
// path cut short names nothing. Without the mapped file's stat (no
// map_files), the inode must match and a deleted file is not judged.
func (sc *scan) pathMismatch(v *view, base int, m *inventory.Module, mapped inventory.FileInfo, statOK bool) bool {
	switch {
	case m.Memfd:
		return false
	case m.PathTruncated:
		return true
	case !statOK && m.Deleted:
		return false
	}
	leads := func(p string) bool {
		n, ok := sc.named(v, base, p)
		switch {
		case !ok:
			return false
		case !statOK:
			return n.Ino == m.Linux.Inode
		case m.Deleted:
			if n.Mode&modeType != modeDir {
				return false
			}
			if n.MountID != 0 && mapped.MountID != 0 {
				return n.MountID == mapped.MountID
			}
			return n.Dev == mapped.Dev
		default:
			return sameFile(n, mapped)
		}
	}
	if !m.Deleted {
		return !leads(m.Path)
	}
	dir := path.Dir(m.Path)
	for range maxDeletedClimb {
		if _, ok := sc.named(v, base, dir); ok {
			return !leads(dir)
		}
		if dir == "/" {
			break
		}
		dir = path.Dir(dir)
	}
	return true
}

// named resolves a path the kernel printed: under the process's path base
// first, then under our own root, returning the first that resolves to
// something. Results are cached per view and per scan.
func (sc *scan) named(v *view, base int, p string) (inventory.Named, bool) {
	if base >= 0 {
		r, seen := v.named[p]
		if !seen {
			n, err := statNamed(base, p)
			r = namedResult{n: n, ok: err == nil}
			v.named[p] = r
		}
		if r.ok {
			return r.n, true
		}
	}
	r, seen := sc.ourNamed[p]
	if !seen {
		if fd := ourRoot(); fd >= 0 {
			n, err := statNamed(fd, p)
			r = namedResult{n: n, ok: err == nil}
			closeBase(fd)
		}
		sc.ourNamed[p] = r
	}
	return r.n, r.ok
}

// deviceFS names the file system of m from its device: a mount of that
// device in the process's mountinfo, else the mapped file's own statfs (a
// detached mount is in no mountinfo).
func (sc *scan) deviceFS(v *view, pid int, m *inventory.Module) (fsType string, remote bool) {
	if mt, ok := mounts.ByDevice(v.mounts, m.Linux.Major, m.Linux.Minor); ok {
		return mt.FSType, mt.Remote()
	}
	t, err := sc.src.ModuleFSType(pid, m)
	if err != nil {
		return "", false
	}
	return t, mounts.IsNetworkFS(t)
}

// exeNamed reports whether the process's path leads to the file it runs,
// resolved as pathMismatch resolves a module's path.
func (sc *scan) exeNamed(p *inventory.Process) bool {
	exe, err := statExe(sc.cfg.ProcFS, p.PID)
	if err != nil {
		return false
	}
	root, err := openRoot(sc.cfg.ProcFS, p.PID)
	if err != nil {
		return false
	}
	defer root.close()
	base := sc.pathBase(root)
	if base != root.fd {
		defer closeBase(base)
	}
	v := &view{named: map[string]namedResult{}}
	m := &inventory.Module{Path: p.Path, Deleted: p.PathDeleted, Linux: inventory.LinuxMapping{Inode: exe.Ino}}
	return !sc.pathMismatch(v, base, m, exe, true)
}

func isNotExist(err error) bool { return errors.Is(err, fs.ErrNotExist) }
