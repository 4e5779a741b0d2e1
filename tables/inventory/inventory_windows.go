package inventory

import (
	"context"
	"errors"
	"fmt"
	"os"
	"slices"
	"strings"

	"github.com/modhunt/modhunt/internal/winproc"
	"github.com/modhunt/modhunt/tables/fileinfo"
)

// Inventory reads this host's processes through internal/winproc: a
// Toolhelp process snapshot (which opens no process), then per process its
// loader list (Toolhelp module snapshot, full paths past MAX_PATH), its
// memory view (VirtualQueryEx) for image mappings the loader list does not
// have, and its context (image, command line, token). Safe for concurrent
// use.
type Inventory struct {
	cfg      Config
	accounts winproc.Accounts
}

// New returns an inventory of this host.
func New(cfg Config) *Inventory { return &Inventory{cfg: cfg.withDefaults()} }

// Walk calls fn for each process in pids (nil: every process; empty: none)
// with everything read. p and its modules are reused after fn returns:
// keep a Clone.
func (inv *Inventory) Walk(ctx context.Context, pids []int, fn func(*Process) error) error {
	return inv.WalkDetail(ctx, pids, DetailAll, fn)
}

// WalkDetail is Walk reading only the detail asked for besides the loader
// list and the memory view: the process context (DetailCmdline, DetailExe,
// DetailUser) is one read of the token and the PEB; DetailFileType opens
// each distinct module file once per walk. The snapshot gives name and
// parent for free. Only the pids asked for are opened. A process that
// cannot be read (access denied, protected, exited) is skipped and logged
// at debug level, never given a row of blanks.
func (inv *Inventory) WalkDetail(ctx context.Context, pids []int, detail Detail, fn func(*Process) error) error {
	if pids != nil && len(pids) == 0 {
		return nil
	}
	snap, err := winproc.Processes()
	if err != nil {
		return err
	}
	if pids != nil {
		want := make(map[uint32]bool, len(pids))
		for _, pid := range pids {
			if pid > 0 && int64(pid) <= int64(^uint32(0)) {
				want[uint32(pid)] = true
			}
		}
		snap = slices.DeleteFunc(snap, func(p winproc.Process) bool { return !want[p.PID] })
	}
	devices, err := winproc.Devices()
	if err != nil {
		// Without drive letters, image mappings keep their NT paths;
		// the loader list still has drive-letter ones.
		inv.cfg.Log.DebugContext(ctx, "drive letters unknown", "err", err)
	}
	w := &walk{inv: inv, ctx: ctx, devices: devices, detail: detail, files: map[string]fileFacts{}}
	for _, sp := range snap {
		if err := ctx.Err(); err != nil {
			return err
		}
		if sp.PID == 0 {
			continue // the idle process: a snapshot entry, not a process
		}
		if inv.cfg.OnProcess != nil {
			inv.cfg.OnProcess(int(sp.PID))
		}
		p, err := w.process(sp)
		if err != nil {
			inv.cfg.Log.DebugContext(ctx, "process skipped", "pid", sp.PID, "err", err)
			continue
		}
		if inv.cfg.ModulesOnly && len(p.Modules) == 0 {
			continue
		}
		if err := fn(p); err != nil {
			return err
		}
	}
	return nil
}

// Processes is Walk collecting deep copies.
func (inv *Inventory) Processes(ctx context.Context, pids []int) ([]Process, error) {
	var out []Process
	err := inv.Walk(ctx, pids, func(p *Process) error {
		out = append(out, p.Clone())
		return nil
	})
	return out, err
}

// walk is one WalkDetail: what it shares across the processes it reads.
type walk struct {
	inv     *Inventory
	ctx     context.Context
	devices winproc.DeviceMap
	detail  Detail
	// files holds each module file's identity and type, opened once per
	// walk however many processes map it.
	files map[string]fileFacts
	proc  Process
}

type fileFacts struct {
	key fileinfo.Key
	typ FileType
}

// process reads one process of the snapshot.
func (w *walk) process(sp winproc.Process) (*Process, error) {
	inv := w.inv
	p := &w.proc
	*p = Process{PID: int(sp.PID), PPID: int(sp.PPID), Name: sp.Exe, UID: -1, Modules: p.Modules[:0]}
	if w.detail&(DetailCmdline|DetailExe|DetailUser) != 0 {
		inv.onRead(p.PID, "context")
		c, err := winproc.ReadContext(sp.PID, &inv.accounts)
		if err != nil {
			return nil, err
		}
		p.Path = c.Image
		p.Cmdline = cut(c.CommandLine, inv.cfg.CmdlineMax)
		p.User = c.User
		p.Windows = WindowsProcess{Integrity: c.Integrity, Session: c.Session}
	}
	inv.onRead(p.PID, "modules")
	loader, err := winproc.Modules(sp.PID)
	if err != nil {
		return nil, err
	}
	inv.onRead(p.PID, "memory")
	view, err := winproc.ReadMemory(sp.PID, w.devices, inv.memoryLimits())
	if err != nil {
		if errors.Is(err, winproc.ErrGone) {
			return nil, err
		}
		// The loader list is still a fact; only the modules it hides
		// from cannot be seen.
		inv.cfg.Log.DebugContext(w.ctx, "memory view unreadable", "pid", sp.PID, "err", err)
	}
	if view.Truncated {
		// Images above the cut that the loader list lacks are missing:
		// in_loader_list = 0 rows of this process are not all there.
		p.MemoryViewTruncated = true
		inv.truncated(w.ctx, sp.PID, view)
	}
	p.Modules = appendModules(p.Modules, loader, view.Regions)
	for i := range p.Modules {
		m := &p.Modules[i]
		if w.detail&DetailExe != 0 && m.InLoaderList && p.Path != "" && winproc.SamePath(m.Path, p.Path) {
			m.Exe = true
		}
		if w.detail&DetailFileType != 0 {
			w.fileFacts(p.PID, m)
		}
	}
	return p, nil
}

// fileFacts fills m's identity and file type, opening its file at most once
// per walk.
func (w *walk) fileFacts(pid int, m *Module) {
	if m.PathTruncated || !IsAbs(m.Path) {
		m.FileType = FileUnknown
		return
	}
	k := strings.ToLower(m.Path)
	if ff, ok := w.files[k]; ok {
		m.File, m.FileType = ff.key, ff.typ
		return
	}
	ff := fileFacts{typ: FileUnknown}
	w.inv.onRead(pid, "module")
	if f, err := openFile(m.Path); err == nil {
		if fi, err := statHandle(f); err == nil {
			id := IDOf(fi)
			ff.key = id.Key
			if t, ok := w.inv.cfg.Files.Type(id); ok {
				ff.typ = t
			} else {
				ff.typ = sniff(f)
				w.inv.cfg.Files.SetType(id, ff.typ)
			}
		}
		_ = f.Close()
	}
	w.files[k] = ff
	m.File, m.FileType = ff.key, ff.typ
}

// sniff reads the first bytes of f for its type.
func sniff(f *os.File) FileType {
	head := make([]byte, SniffSize)
	n, _ := f.ReadAt(head, 0)
	return DetectFileType(head[:n])
}

func (inv *Inventory) onRead(pid int, what string) {
	if inv.cfg.OnRead != nil {
		inv.cfg.OnRead(pid, what)
	}
}

// cut bounds s to max bytes.
func cut(s string, max int) string {
	if len(s) > max {
		return s[:max]
	}
	return s
}

// Files is the file-facts cache.
func (inv *Inventory) Files() *fileinfo.Cache { return inv.cfg.Files }

// OpenModule opens the file mapped as m. Windows has no handle to the very
// mapped file (Linux's map_files): the path is opened, and when a walk with
// DetailFileType gave m its identity, a file that is no longer that one
// (replaced since) is refused.
func (inv *Inventory) OpenModule(_ int, m *Module) (*os.File, error) {
	if m.PathTruncated || !IsAbs(m.Path) {
		return nil, fmt.Errorf("module %q names no file", m.Path)
	}
	f, err := openFile(m.Path)
	if err != nil {
		return nil, err
	}
	if m.File != (fileinfo.Key{}) {
		fi, err := statHandle(f)
		if err != nil || (fileinfo.Key{Dev: fi.Dev, Ino: fi.Ino, InoHi: fi.InoHi}) != m.File {
			_ = f.Close()
			if err == nil {
				err = fmt.Errorf("%s: not the file that was mapped (replaced since)", m.Path)
			}
			return nil, err
		}
	}
	return f, nil
}

// StatModule stats the file mapped as m (see OpenModule), with its
// identity: volume serial number and 128-bit file id.
func (inv *Inventory) StatModule(pid int, m *Module) (FileInfo, error) {
	f, err := inv.OpenModule(pid, m)
	if err != nil {
		return FileInfo{}, err
	}
	defer f.Close()
	return statHandle(f)
}

// ModuleFSType is the file system of m's volume (NTFS, ReFS, FAT32, ...).
func (inv *Inventory) ModuleFSType(pid int, m *Module) (string, error) {
	f, err := inv.OpenModule(pid, m)
	if err != nil {
		return "", err
	}
	defer f.Close()
	return fsName(f)
}

// Environ is not read on Windows yet: another process's environment is in
// its PEB, and nothing judged on Windows needs it.
func (inv *Inventory) Environ(int, int) ([]string, bool, error) { return nil, false, ErrUnsupported }

// ReadFile returns ErrUnsupported: Windows has no per-process file tree.
func (inv *Inventory) ReadFile(int, string, int) ([]byte, bool, error) {
	return nil, false, ErrUnsupported
}

// Regions is the process's memory view: every committed or reserved
// region, image and mapped ones with the file behind them (drive-letter or
// UNC path; the NT path when no drive links to its device). A view cut
// short at its limits is returned with an error wrapping ErrViewTruncated.
func (inv *Inventory) Regions(_ context.Context, pid int) ([]Region, error) {
	if pid <= 0 || int64(pid) > int64(^uint32(0)) {
		return nil, fmt.Errorf("pid %d: no such process", pid)
	}
	devices, _ := winproc.Devices()
	view, err := winproc.ReadMemory(uint32(pid), devices, inv.memoryLimits())
	if err != nil {
		return nil, err
	}
	out := make([]Region, 0, len(view.Regions))
	for _, r := range view.Regions {
		out = append(out, regionOf(r))
	}
	if view.Truncated {
		// The caller logs it, knowing what it then cannot claim.
		truncatedViews.Add(1)
		return out, truncatedError(pid, view)
	}
	return out, nil
}

func (inv *Inventory) memoryLimits() winproc.Limits {
	return winproc.Limits{MaxRegions: inv.cfg.MemoryMaxRegions, MaxTime: inv.cfg.MemoryMaxTime}
}

// truncated counts and logs a walk's memory view cut short: at warn, since
// what the view misses is where a hidden image would be.
func (inv *Inventory) truncated(ctx context.Context, pid uint32, view winproc.MemoryView) {
	truncatedViews.Add(1)
	inv.cfg.Log.WarnContext(ctx, "memory view cut short at its limit: images mapped above it outside the loader list are not seen",
		"pid", pid, "regions", len(view.Regions), "up_to", viewEnd(view))
}

func truncatedError(pid int, view winproc.MemoryView) error {
	return fmt.Errorf("pid %d: %w after %d regions, up to %#x", pid, ErrViewTruncated, len(view.Regions), viewEnd(view))
}

// viewEnd is the address where a view stopped: the end of its last region.
func viewEnd(view winproc.MemoryView) uint64 {
	if len(view.Regions) == 0 {
		return 0
	}
	r := view.Regions[len(view.Regions)-1]
	return r.Base + r.Size
}

// OpenMemory opens the process's memory for ReadProcessMemory.
func (inv *Inventory) OpenMemory(pid int) (Memory, error) {
	if pid <= 0 || int64(pid) > int64(^uint32(0)) {
		return nil, fmt.Errorf("pid %d: no such process", pid)
	}
	return winproc.OpenMemory(uint32(pid))
}

// Platform is windows.
func (inv *Inventory) Platform() string { return "windows" }
