// Package unbacked defines unbacked_executable_memory: one row per
// executable memory region that no image file backs (reflectively loaded
// DLLs, shellcode, stagers, memfd and deleted ELF images), with the region's
// first bytes classified and hashed, and the same regions as detection
// events (events.go) so rules can combine them with module loads.
//
// What "not backed by an image file" means per OS is Qualify's: on Linux
// anonymous memory, memfd files and files unlinked while mapped; on Windows
// MEM_PRIVATE and non-image MEM_MAPPED memory. What is read, and its bounds,
// is Limits'.
package unbacked

import (
	"context"
	"fmt"
	"log/slog"
	"slices"
	"strconv"

	"github.com/modhunt/modhunt/detections"
	"github.com/modhunt/modhunt/tables/deps"
	"github.com/modhunt/modhunt/tables/inventory"
	"github.com/modhunt/modhunt/tables/table"
	"github.com/modhunt/modhunt/tables/trust"
)

// Name is the table's name.
const Name = "unbacked_executable_memory"

// Description is the table's one-paragraph summary.
const Description = "Executable memory that no image file backs, one row per region: on Linux anonymous memory, memfd files and files unlinked while mapped; on Windows MEM_PRIVATE and non-image MEM_MAPPED memory with an execute protection. " +
	"Each region's first page is read (bounded per region, per process and per scan) to say whether it holds a PE or ELF header and to hash it for stacking across a fleet. " +
	"Reflective DLL injection, Cobalt Strike beacons, fork-and-run jobs and fileless ELF loaders run from such memory; JIT runtimes do too, and are flagged (jit_host)."

// Columns in row order.
var Columns = []table.Column{
	{Name: "pid", Type: table.BigInt, Index: true, Description: "Process id. `pid = N` and `pid IN (...)` read only those processes (and, for a clone of its parent, the parent)."},
	{Name: "process_name", Type: table.Text, Description: "The process's short name (Linux comm, Windows image name)."},
	{Name: "process_path", Type: table.Text, Description: "The process's executable."},
	{Name: "cmdline", Type: table.Text, Description: "Command line, arguments joined by spaces, cut to 16 KiB."},
	{Name: "parent", Type: table.BigInt, Description: "Parent process id."},
	{Name: "address", Type: table.Text, Description: "Start address of the region, lower-case hex with 0x."},
	{Name: "size", Type: table.BigInt, Description: "Size of the region in bytes."},
	{Name: "protection", Type: table.Text, Description: "The region's protection as r, w, x: rwx, r-x, --x, ... (Windows PAGE_EXECUTE_READWRITE is rwx; PAGE_EXECUTE_WRITECOPY rwx too)."},
	{Name: "region_type", Type: table.Text, Description: "What the region is. Linux: anonymous (no file: anonymous mmap, an executable heap or stack, shared anonymous memory; the kernel's [vdso] and [vsyscall] are not rows), memfd (a memfd_create file: it exists only in memory), deleted-file (a file unlinked while mapped: no name on disk holds it, e.g. a loader that deletes its payload, or a library replaced by an upgrade while in use). Windows: private (MEM_PRIVATE, VirtualAlloc'd), mapped-non-image (MEM_MAPPED: a section mapped as data and made executable). A mapping of a file that is still on disk is an image, not a row: it can be read and hashed where it lies (process_loaded_modules)."},
	{Name: "path", Type: table.Text, Description: "The backing file for memfd (/memfd:NAME) and deleted-file regions (its name before it was unlinked); a name the process gave its anonymous memory ([anon:NAME]); else empty."},
	{Name: "header", Type: table.Text, Description: "What the region's first bytes are: pe (an MZ header whose e_lfanew points at PE\\0\\0 within the first page), elf (ELF magic, class, byte order and version), none. Empty when not read: unreadable memory, or past a read bound (4 KiB per region, 256 regions per process, 16 MiB and 5 s per scan, 2 s per read)."},
	{Name: "is_dotnet", Type: table.Integer, Description: "1 when header is pe and its optional header names a CLR runtime header (data directory 14): a .NET assembly in memory."},
	{Name: "sha256", Type: table.Text, Description: "SHA-256 of the region's first page (4 KiB, or the whole region when smaller), for stacking across a fleet: the same stager or beacon hashes the same on every host. Empty when not read."},
	{Name: "jit_host", Type: table.Integer, Description: "1 when the process's executable is a known JIT runtime (JVM, node/V8, .NET, browsers, LuaJIT, PCRE JIT users): trust.DefaultJITHosts by base name, plus the policy file's jit_hosts. A name is only a name: hunts for PE or ELF headers should not exclude JIT hosts."},
	{Name: "clone_of_parent", Type: table.Integer, Description: "1 when the process runs the same executable with the same command line as its parent (paths without regard to case on Windows): the shape RtlCreateProcessReflection leaves (Dirty Vanity). Derived from process facts only; on Linux and macOS every fork without exec has this shape, so it means little there."},
	{Name: "shared_with_parent", Type: table.Integer, Description: "1 when clone_of_parent is 1 and the parent holds an unbacked executable region at the same address, of the same size, whose first page hashes the same: memory a reflection clone inherited."},
}

// Examples are hunt queries, in the order the documentation lists them.
var Examples = []string{
	// Reflectively loaded images: a PE or ELF header in memory no file backs.
	"SELECT pid, process_name, address, size, protection, region_type, header, is_dotnet, sha256 FROM unbacked_executable_memory WHERE header IN ('pe', 'elf');",
	// Writable and executable memory outside JIT runtimes (shellcode, stagers).
	"SELECT pid, process_name, cmdline, address, size, region_type FROM unbacked_executable_memory WHERE protection = 'rwx' AND jit_host = 0;",
	// Fileless ELF execution and payloads deleted after loading.
	"SELECT pid, process_path, path, region_type, header FROM unbacked_executable_memory WHERE region_type IN ('memfd', 'deleted-file');",
	// Stack first pages across the fleet: rare hashes are worth a look.
	"SELECT sha256, COUNT(*) AS regions, COUNT(DISTINCT pid) AS processes FROM unbacked_executable_memory WHERE sha256 != '' AND jit_host = 0 GROUP BY sha256 ORDER BY processes;",
	// Dirty Vanity: a reflection clone holding its parent's injected region.
	"SELECT pid, parent, process_path, address, protection FROM unbacked_executable_memory WHERE clone_of_parent = 1 AND shared_with_parent = 1;",
}

// Spec is the table's definition.
var Spec = table.Spec{
	Name:        Name,
	Description: Description,
	Platforms:   []string{table.Linux, table.Windows},
	Columns:     Columns,
	Examples:    Examples,
}

// Config is what a Scanner needs.
type Config struct {
	Inventory inventory.Source
	// Policy is the trust policy file whose jit_hosts add to the defaults
	// ("" = the defaults alone).
	Policy string
	Limits Limits
	Log    *slog.Logger
	// OnRead, when set, is called before each read of a region's first
	// page, so tests can count what a scan reads.
	OnRead func(pid int, addr uint64)
}

// NewScanner returns a scanner; a policy file that does not load is an
// error naming its file, line and field.
func NewScanner(cfg Config) (*Scanner, error) {
	if cfg.Log == nil {
		cfg.Log = slog.New(slog.DiscardHandler)
	}
	if cfg.Inventory == nil {
		cfg.Inventory = inventory.New(inventory.Config{Log: cfg.Log, ModulesOnly: true})
	}
	policy := &trust.Policy{Source: "built-in"}
	if cfg.Policy != "" {
		if err := policy.LoadFile(trust.Host{}, cfg.Policy); err != nil {
			return nil, err
		}
	}
	return &Scanner{inv: cfg.Inventory, policy: policy, lim: cfg.Limits.withDefaults(), log: cfg.Log, onRead: cfg.OnRead, readTimeout: ReadTimeout}, nil
}

// New returns the table over d.Inventory, with d.Policy's jit_hosts.
func New(d deps.Deps) (*table.Table, error) {
	s, err := NewScanner(Config{Inventory: d.ModuleInventory(), Policy: d.Policy, Log: d.Logger()})
	if err != nil {
		return nil, fmt.Errorf("%s: %w", Name, err)
	}
	return NewTable(s), nil
}

// proc is what rows carry of a process.
type proc struct {
	pid, ppid           int
	name, path, cmdline string
	jit                 bool
	findings            []Finding
	scanned             bool
}

// detail is what the walk reads besides the maps.
const detail = inventory.DetailStat | inventory.DetailCmdline | inventory.DetailExe

// pidLister is an inventory that can list its processes without reading
// them (Linux's: /proc's entries). With one, a scan reads each process's
// memory map once and walks only the processes that have a row; without,
// it walks every process first.
type pidLister interface {
	PIDs(ctx context.Context) ([]int, error)
}

// scan finds the unbacked executable regions of pids (nil: all), with each
// process's context, in pid or walk order; byPID also holds the parents
// read for the clone check. read says whether first pages are read.
func (s *Scanner) scan(ctx context.Context, pids []int, read bool) (procs []*proc, byPID map[int]*proc, err error) {
	goos := s.inv.Platform()
	b := s.newBudget()
	buf := make([]byte, s.lim.PageBytes)
	byPID = map[int]*proc{}
	// Processes read that hold no region: a parent among them is known to
	// hold none once its context is walked.
	empty := map[int]bool{}
	if lister, ok := s.inv.(pidLister); ok {
		procs, err = s.scanListed(ctx, lister, pids, goos, read, b, buf, byPID, empty)
	} else {
		procs, err = s.scanWalked(ctx, pids, goos, read, b, buf, byPID)
	}
	if err != nil {
		return procs, byPID, err
	}
	// A clone's parent: its context decides clone_of_parent, its regions
	// shared_with_parent. A pinned scan reads the parents it lacks.
	var missing []int
	for _, p := range procs {
		if p.ppid > 0 && byPID[p.ppid] == nil && len(p.findings) > 0 {
			missing = append(missing, p.ppid)
		}
	}
	if len(missing) > 0 {
		werr := s.inv.WalkDetail(ctx, missing, detail, func(p *inventory.Process) error {
			pr := s.procOf(p)
			pr.scanned = empty[p.PID]
			byPID[p.PID] = pr
			return nil
		})
		if werr != nil {
			s.log.DebugContext(ctx, "parent walk stopped", "err", werr)
		}
	}
	if read {
		for _, p := range procs {
			parent := byPID[p.ppid]
			if parent == nil || len(p.findings) == 0 || parent.scanned || !s.cloneOf(p, parent) {
				continue
			}
			f, rerr := s.regions(ctx, goos, parent.pid, true, b, buf)
			parent.findings, parent.scanned = f, rerr == nil
		}
	}
	return procs, byPID, nil
}

func (s *Scanner) procOf(p *inventory.Process) *proc {
	return &proc{pid: p.PID, ppid: p.PPID, name: p.Name, path: p.Path, cmdline: p.Cmdline, jit: s.policy.IsJITHost(p.Path)}
}

// scanListed reads the memory map of every listed process once, then
// walks only those with a row, for their context. A process that exits in
// between keeps its rows, with its pid alone.
// empty gets the pids read that hold no such region.
func (s *Scanner) scanListed(ctx context.Context, lister pidLister, pids []int, goos string, read bool, b *budget, buf []byte,
	byPID map[int]*proc, empty map[int]bool) ([]*proc, error) {
	if pids == nil {
		var err error
		if pids, err = lister.PIDs(ctx); err != nil {
			return nil, err
		}
	} else {
		pids = slices.Compact(slices.Sorted(slices.Values(pids)))
	}
	var procs []*proc
	var found []int
	for _, pid := range pids {
		if err := ctx.Err(); err != nil {
			return procs, err
		}
		f, err := s.regions(ctx, goos, pid, read, b, buf)
		if err != nil {
			continue // gone, or a kernel thread: nothing to report
		}
		if len(f) == 0 {
			empty[pid] = true
			continue
		}
		p := &proc{pid: pid, findings: f, scanned: true}
		procs = append(procs, p)
		byPID[pid] = p
		found = append(found, pid)
	}
	if len(found) == 0 {
		return procs, nil
	}
	err := s.inv.WalkDetail(ctx, found, detail, func(p *inventory.Process) error {
		pr := byPID[p.PID]
		c := s.procOf(p)
		pr.ppid, pr.name, pr.path, pr.cmdline, pr.jit = c.ppid, c.name, c.path, c.cmdline, c.jit
		return nil
	})
	if err != nil {
		return procs, err
	}
	return procs, nil
}

// scanWalked walks every process and reads its regions within the walk.
func (s *Scanner) scanWalked(ctx context.Context, pids []int, goos string, read bool, b *budget, buf []byte, byPID map[int]*proc) ([]*proc, error) {
	var procs []*proc
	err := s.inv.WalkDetail(ctx, pids, detail, func(p *inventory.Process) error {
		pr := s.procOf(p)
		f, rerr := s.regions(ctx, goos, p.PID, read, b, buf)
		if rerr != nil {
			// One unreadable process never fails a query.
			s.log.DebugContext(ctx, "regions unreadable", "pid", p.PID, "err", rerr)
		}
		pr.findings, pr.scanned = f, rerr == nil
		procs = append(procs, pr)
		byPID[p.PID] = pr
		return nil
	})
	return procs, err
}

func (s *Scanner) cloneOf(p, parent *proc) bool {
	plat, _ := platformOf(s.inv.Platform())
	return detections.IsCloneOfParent(plat, p.path, p.cmdline, parent.path, parent.cmdline)
}

func (s *Scanner) generate(ctx context.Context, q table.Query) ([]table.Row, error) {
	pids := q.PIDs()
	if pids != nil && len(pids) == 0 {
		return nil, nil
	}
	read := q.UsesAny("header", "is_dotnet", "sha256", "shared_with_parent")
	procs, byPID, err := s.scan(ctx, pids, read)
	var rows []table.Row
	for _, p := range procs {
		if len(p.findings) == 0 {
			continue
		}
		pid, ppid := strconv.Itoa(p.pid), strconv.Itoa(p.ppid)
		parent := byPID[p.ppid]
		clone := parent != nil && s.cloneOf(p, parent)
		for i := range p.findings {
			f := &p.findings[i]
			shared := clone && parent.scanned && f.SHA256 != "" && sameRegion(parent.findings, f)
			rows = append(rows, table.Row{
				pid, p.name, p.path, p.cmdline, ppid,
				"0x" + strconv.FormatUint(f.Start, 16), strconv.FormatUint(f.Size, 10), protection(f.Prot), f.Type, f.Path,
				string(f.Header), table.Bool(f.DotNet), f.SHA256, table.Bool(p.jit), table.Bool(clone), table.Bool(shared),
			})
		}
	}
	if err != nil {
		s.log.DebugContext(ctx, "region scan stopped", "err", err, "rows", len(rows))
	}
	return rows, err
}

// protection is the r/w/x part of a region's protection.
func protection(p inventory.Protection) string {
	return (p &^ inventory.ProtShared).String()
}

// NewTable returns the table over a scanner (tests give it a fake
// inventory or read hooks).
func NewTable(s *Scanner) *table.Table {
	return &table.Table{
		Spec: Spec,
		Generate: func(ctx context.Context, q table.Query) ([]table.Row, error) {
			return s.generate(ctx, q)
		},
	}
}
