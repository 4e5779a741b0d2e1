package inventory

// The macOS inventory, without a build tag: everything it decides (which
// regions are modules, the executable, deletion, the dyld shared cache,
// region types, the environment's bounds) is pure and tested on Linux with
// recorded region lists. The only OS calls are behind MacOS, which
// inventory_darwin.go fills with libproc (internal/darwinproc) and the
// tests with recordings.

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path"
	"slices"
	"strings"

	"github.com/modhunt/modhunt/internal/darwinproc"
	"github.com/modhunt/modhunt/tables/fileinfo"
)

// MacOS is what the macOS inventory asks of the OS. Pids are int32 as
// libproc has them.
type MacOS interface {
	ListPIDs() ([]int32, error)
	BSDInfo(pid int32) (darwinproc.BSDInfo, error)
	// ExePath is proc_pidpath: the executable's path, from its vnode.
	ExePath(pid int32) (string, error)
	ProcArgs(pid int32) (darwinproc.ProcArgs, error)
	// FileRegions walks only file-backed regions (PROC_PIDREGIONPATHINFO2),
	// Regions every region (PROC_PIDREGIONPATHINFO).
	FileRegions(pid int32, lim darwinproc.Limits) (darwinproc.Walk, error)
	Regions(pid int32, lim darwinproc.Limits) (darwinproc.Walk, error)
	// UserName names a uid ("" when no entry does).
	UserName(uid uint32) string
	// Lstat stats a path without following a final symlink; Open opens a
	// regular file without following a final symlink and without blocking
	// (O_NONBLOCK: a FIFO put in a module's place never hangs the scan),
	// and returns it with its fstat.
	Lstat(p string) (FileInfo, error)
	Open(p string) (*os.File, FileInfo, error)
	// FSType is the statfs f_fstypename of the file system p is on
	// ("apfs", "smbfs", "nfs", "afpfs", "webdav", ...).
	FSType(p string) (string, error)
}

// Darwin is the macOS inventory over a MacOS. No task_for_pid: what it sees
// is what proc_pidinfo shows root, so processes a MAC policy (SIP, the
// sandbox) hides from proc_pidinfo are skipped and logged at debug level.
type Darwin struct {
	cfg Config
	os  MacOS
	// Limits bound each region walk (darwinproc's defaults when zero:
	// 65,536 regions and 2 s, never osquery's 512).
	Limits darwinproc.Limits
}

var _ Source = (*Darwin)(nil)

// NewDarwin returns the macOS inventory over sys.
func NewDarwin(cfg Config, sys MacOS) *Darwin {
	return &Darwin{cfg: cfg.withDefaults(), os: sys}
}

// Walk is WalkDetail with every detail.
func (d *Darwin) Walk(ctx context.Context, pids []int, fn func(*Process) error) error {
	return d.WalkDetail(ctx, pids, DetailAll, fn)
}

// WalkDetail reads each process's BSD info (ppid, uid, name) and its
// file-backed regions, and the detail asked for besides. A process libproc
// will not show (SIP, sandbox, gone) is skipped, logged at debug level when
// the refusal is an expected one and at warn level otherwise.
func (d *Darwin) WalkDetail(ctx context.Context, pids []int, detail Detail, fn func(*Process) error) error {
	if pids == nil {
		all, err := d.os.ListPIDs()
		if err != nil {
			return fmt.Errorf("list processes: %w", err)
		}
		for _, p := range all {
			pids = append(pids, int(p))
		}
	}
	pids = slices.Compact(slices.Sorted(slices.Values(pids)))
	// pid 0 is the kernel_task: proc_pidinfo shows its regions only with
	// task_for_pid rights, and it loads no dylib.
	pids = slices.DeleteFunc(pids, func(pid int) bool { return pid <= 0 || pid > 1<<31-1 })
	users := map[uint32]string{}
	for _, pid := range pids {
		if err := ctx.Err(); err != nil {
			return err
		}
		if d.cfg.OnProcess != nil {
			d.cfg.OnProcess(pid)
		}
		p, err := d.readProcess(int32(pid), detail, users)
		if err != nil {
			d.logSkip(ctx, pid, err)
			continue
		}
		if d.cfg.ModulesOnly && len(p.Modules) == 0 {
			continue
		}
		if err := fn(p); err != nil {
			return err
		}
	}
	return nil
}

func (d *Darwin) logSkip(ctx context.Context, pid int, err error) {
	if darwinproc.Expected(err) {
		d.cfg.Log.DebugContext(ctx, "process not visible", "pid", pid, "err", err)
		return
	}
	d.cfg.Log.WarnContext(ctx, "process skipped", "pid", pid, "err", err)
}

func (d *Darwin) onRead(pid int, what string) {
	if d.cfg.OnRead != nil {
		d.cfg.OnRead(pid, what)
	}
}

// Processes is Walk collecting deep copies.
func (d *Darwin) Processes(ctx context.Context, pids []int) ([]Process, error) {
	return Processes(ctx, d, pids)
}

func (d *Darwin) readProcess(pid int32, detail Detail, users map[uint32]string) (*Process, error) {
	d.onRead(int(pid), "stat")
	bsd, err := d.os.BSDInfo(pid)
	if err != nil {
		return nil, err
	}
	d.onRead(int(pid), "maps")
	w, err := d.os.FileRegions(pid, d.Limits)
	if err != nil {
		return nil, err
	}
	p := &Process{PID: int(pid), PPID: int(bsd.PPID), Name: bsd.Name, UID: int64(bsd.UID)}
	if p.Name == "" {
		p.Name = bsd.Comm
	}
	name, ok := users[bsd.UID]
	if !ok {
		name = d.os.UserName(bsd.UID)
		if name == "" {
			name = fmt.Sprint(bsd.UID)
		}
		users[bsd.UID] = name
	}
	p.User = name
	if w.Truncated != "" {
		d.cfg.Log.Debug("region walk cut short", "pid", pid, "why", w.Truncated, "err", w.Err, "regions", len(w.Regions))
	}
	mods, _ := darwinproc.Fold(w.Regions)
	p.Modules = modulesOf(mods)
	if detail&DetailCmdline != 0 {
		d.onRead(int(pid), "cmdline")
		// Unreadable arguments (a restricted target) leave the command
		// line empty; the process is still reported.
		if pa, err := d.os.ProcArgs(pid); err == nil {
			p.Cmdline = joinCut(pa.Argv, d.cfg.CmdlineMax)
		}
	}
	if detail&DetailExe != 0 {
		d.onRead(int(pid), "exe")
		if exe, err := d.os.ExePath(pid); err == nil {
			p.Path = exe
			markExeDarwin(p)
		}
	}
	if detail&DetailFileType != 0 {
		for i := range p.Modules {
			d.onRead(int(pid), "module")
			p.Modules[i].FileType = d.fileType(&p.Modules[i])
		}
	}
	return p, nil
}

// modulesOf turns darwinproc's folded regions into modules. Every mapped
// file is in the loader list: dyld's own list (all_image_infos) is in the
// target's memory, out of reach without task_for_pid, and on macOS a file is
// mapped executable by dyld alone in practice. Deleted is the vnode's link
// count, read by the kernel on the mapped file itself.
func modulesOf(mods []darwinproc.Module) []Module {
	out := make([]Module, 0, len(mods))
	for _, m := range mods {
		out = append(out, Module{
			Path: m.Path, Name: path.Base(m.Path), Base: m.Base, Size: m.Mapped,
			Deleted:      m.Vnode.Nlink == 0,
			InLoaderList: true,
			File:         fileinfo.Key{Dev: uint64(m.Dev), Ino: m.Inode},
			Executable:   m.Executable(),
		})
		if m.Path == "" {
			out[len(out)-1].Name = ""
		}
	}
	return out
}

// markExeDarwin marks the module that is the executable. proc_pidpath and
// the region paths both come from the kernel's vnode name cache, so the same
// vnode prints the same path; the lowest-addressed one wins when a file is
// mapped twice under one name (it cannot be: Fold keys by identity and path).
// The executable itself is marked deleted when its module is.
func markExeDarwin(p *Process) {
	for i := range p.Modules {
		if m := &p.Modules[i]; m.Path == p.Path && m.Path != "" {
			m.Exe = true
			p.PathDeleted = m.Deleted
			return
		}
	}
}

// joinCut joins argv with spaces and cuts the result to limit bytes.
func joinCut(argv []string, limit int) string {
	s := strings.Join(argv, " ")
	if len(s) > limit {
		s = s[:limit]
	}
	return s
}

// fileType reads the first bytes of the very file mapped, cached by its
// identity.
func (d *Darwin) fileType(m *Module) FileType {
	f, fi, err := d.openMapped(m)
	if err != nil {
		return FileUnknown
	}
	defer f.Close()
	id := IDOf(fi)
	if t, ok := d.cfg.Files.Type(id); ok {
		return t
	}
	head := make([]byte, SniffSize)
	n, _ := io.ReadFull(f, head)
	t := DetectFileType(head[:n])
	d.cfg.Files.SetType(id, t)
	return t
}

// errNotMapped: the path no longer leads to the mapped file (replaced,
// renamed, deleted), so nothing read there is about the module.
var errNotMapped = errors.New("path does not lead to the mapped file")

// openMapped opens m's path and checks it is the mapped file (device and
// inode as the kernel gave them for the region).
func (d *Darwin) openMapped(m *Module) (*os.File, FileInfo, error) {
	if !strings.HasPrefix(m.Path, "/") {
		return nil, FileInfo{}, fmt.Errorf("module %q: %w", m.Path, errNotMapped)
	}
	f, fi, err := d.os.Open(m.Path)
	if err != nil {
		return nil, FileInfo{}, err
	}
	if !sameKey(fi, m.File) {
		_ = f.Close() // read nothing
		return nil, FileInfo{}, fmt.Errorf("%s: %w", m.Path, errNotMapped)
	}
	return f, fi, nil
}

func sameKey(fi FileInfo, k fileinfo.Key) bool { return fi.Dev == k.Dev && fi.Ino == k.Ino }

// OpenModule opens the file mapped as m, by its path, refusing a path that
// leads to another file (or a symlink, or anything but a regular file).
func (d *Darwin) OpenModule(_ int, m *Module) (*os.File, error) {
	f, _, err := d.openMapped(m)
	return f, err
}

// StatModule stats m's path and checks it is the mapped file.
func (d *Darwin) StatModule(_ int, m *Module) (FileInfo, error) {
	if !strings.HasPrefix(m.Path, "/") {
		return FileInfo{}, fmt.Errorf("module %q: %w", m.Path, errNotMapped)
	}
	fi, err := d.os.Lstat(m.Path)
	if err != nil {
		return FileInfo{}, err
	}
	if !sameKey(fi, m.File) {
		return FileInfo{}, fmt.Errorf("%s: %w", m.Path, errNotMapped)
	}
	return fi, nil
}

// StatPath stats a path as the process sees it: macOS has no mount
// namespaces, so the host's view is every process's.
func (d *Darwin) StatPath(_ int, p string) (FileInfo, error) { return d.os.Lstat(p) }

// ModuleFSType names the file system m's path is on (statfs's
// f_fstypename), once the path is checked to lead to the mapped file.
func (d *Darwin) ModuleFSType(pid int, m *Module) (string, error) {
	if _, err := d.StatModule(pid, m); err != nil {
		return "", err
	}
	return d.os.FSType(m.Path)
}

// Environ is the environment from kern.procargs2, at most limit bytes of
// it (limit <= 0: DefaultEnvironMax). The kernel leaves it out for
// restricted processes (darwinproc.ProcArgs.EnvOmitted): then the answer is
// empty, not an error, as dyld ignores DYLD_* variables there anyway.
func (d *Darwin) Environ(pid int, limit int) ([]string, bool, error) {
	if limit <= 0 {
		limit = DefaultEnvironMax
	}
	if pid <= 0 || pid > 1<<31-1 {
		return nil, false, fmt.Errorf("pid %d: %w", pid, darwinproc.ErrNoProcess)
	}
	pa, err := d.os.ProcArgs(int32(pid))
	if err != nil {
		return nil, false, err
	}
	return cutEnv(pa.Env, limit), envBytes(pa.Env) > limit || pa.Truncated, nil
}

func envBytes(env []string) int {
	n := 0
	for _, e := range env {
		n += len(e) + 1
	}
	return n
}

// cutEnv keeps the entries that fit in limit bytes (each counted with its
// NUL, as the kernel lays them out); a cut entry is dropped.
func cutEnv(env []string, limit int) []string {
	n := 0
	for i, e := range env {
		if n += len(e) + 1; n > limit {
			return env[:i]
		}
	}
	return env
}

// Regions is every VM region of pid in address order: every region of a
// file some region maps executable is an image region (as on Linux), other
// files' regions are mapped ones, anonymous memory
// private (or anonymous when shared), and the dyld shared region and other
// submaps anonymous with the submap's protection (the kernel does not
// descend into them).
func (d *Darwin) Regions(ctx context.Context, pid int) ([]Region, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	if pid <= 0 || pid > 1<<31-1 {
		return nil, fmt.Errorf("pid %d: %w", pid, darwinproc.ErrNoProcess)
	}
	w, err := d.os.Regions(int32(pid), d.Limits)
	if err != nil {
		return nil, err
	}
	return regionsOf(w.Regions), w.Err
}

func regionsOf(rs []darwinproc.Region) []Region {
	type key struct {
		dev   uint32
		inode uint64
		path  string
	}
	code := map[key]bool{}
	for _, r := range rs {
		if r.Kind() == "file" && r.Protection&darwinproc.ProtExecute != 0 {
			code[key{r.Vnode.Dev, r.Vnode.Inode, r.Vnode.Path}] = true
		}
	}
	out := make([]Region, 0, len(rs))
	for _, r := range rs {
		var prot Protection
		if r.Protection&darwinproc.ProtRead != 0 {
			prot |= ProtRead
		}
		if r.Protection&darwinproc.ProtWrite != 0 {
			prot |= ProtWrite
		}
		if r.Protection&darwinproc.ProtExecute != 0 {
			prot |= ProtExec
		}
		shared := false
		switch r.ShareMode {
		case darwinproc.ShareShared, darwinproc.ShareTrueShared, darwinproc.ShareSharedAliased:
			shared = true
			prot |= ProtShared
		}
		reg := Region{Start: r.Address, Size: r.Size, Prot: prot, Offset: r.Offset}
		switch r.Kind() {
		case "file":
			reg.Type = RegionMapped
			if code[key{r.Vnode.Dev, r.Vnode.Inode, r.Vnode.Path}] {
				reg.Type = RegionImage
			}
			reg.File = fileinfo.Key{Dev: uint64(r.Vnode.Dev), Ino: r.Vnode.Inode}
			reg.Path = r.Vnode.Path
		case "submap":
			reg.Type = RegionAnonymous
			if darwinproc.InSharedRegion(r.Address) {
				reg.Path = "[dyld shared region]"
			}
		default:
			reg.Type = RegionPrivate
			if shared {
				reg.Type = RegionAnonymous
			}
		}
		out = append(out, reg)
	}
	return out
}

// OpenMemory is unsupported: reading another process's memory on macOS
// takes task_for_pid, which this inventory does not use (it needs an
// entitlement and is refused for hardened and SIP-protected processes).
func (d *Darwin) OpenMemory(int) (Memory, error) {
	return nil, fmt.Errorf("%w: reading process memory on macOS needs task_for_pid", ErrUnsupported)
}

// Files is the file-facts cache.
func (d *Darwin) Files() *fileinfo.Cache { return d.cfg.Files }

// Platform is darwin, whichever OS runs the code.
func (d *Darwin) Platform() string { return "darwin" }
