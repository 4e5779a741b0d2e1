// Package moduleevents turns this host's processes and their mapped modules
// into detections.Event values: one event per (process, module load), with
// Sysmon Event ID 7's field names, the process context of Event ID 1, and
// the trust verdicts untrusted_module_loads gives for the same module. The
// module_detections table matches Sigma rules against them, and
// `modhunt.ext events` writes them out in the shape `detect` reads.
//
// What becomes an event is what untrusted_module_loads judges: every file
// mapped executable into a process (data files such as the locale archive
// are not loads), except the process's own executable, unless that is a
// memfd (fileless execution). How each field is filled on Linux:
//
//   - ProcessId, Image (without " (deleted)"), ImageLoaded (the path maps
//     prints, without " (deleted)"; a memfd reads /memfd:NAME).
//   - Hashes: "SHA256=<hex>" only for modules untrusted_module_loads
//     already hashed (untrusted ones, within its size cap and its per-scan
//     hashing budget); empty for the rest, since hashing every module of
//     every process on every query would cost far more than the scan.
//   - Signed, Signature, SignatureStatus and the PE version fields: empty
//     (Linux has no code signatures on shared objects).
//   - User: the name the host's /etc/passwd gives the uid procfs reports
//     for the process (its effective uid, 0 while it is not dumpable); the
//     numeric uid when no entry names it; empty when the uid is unknown.
//     Processes in containers are named from the host's user database.
//   - CommandLine; ParentProcessId, ParentImage, ParentCommandLine from the
//     parent's entry in the same scan (a pid-pinned scan also reads the
//     parents); empty when the parent exited or maps no file.
//   - ProcessModules: base names of every file mapped executable in the
//     process, its own executable included; one slice, in the one Process
//     all of the process's events share. Rules match all of it; a
//     module_detections row's fields list a bounded part (RowLimit).
//   - UntrustedReasons: the reasons column of untrusted_module_loads for
//     this (pid, module), computed by that table's own scan.
//   - Deleted, Memfd: from the inventory (decided on the mapped file).
//   - InLoaderList: true for every file-backed module, false for a memfd.
//     Reading the loader's link_map would mean reading process memory; a
//     file-backed executable mapping is almost always the loader's work,
//     while memfd code is the typical loader bypass.
//   - CloneOfParent: detections.IsCloneOfParent on Image and CommandLine.
//   - Platform: linux.
package moduleevents

import (
	"context"
	"errors"
	"log/slog"
	"strconv"
	"strings"
	"time"

	"github.com/modhunt/modhunt/detections"
	"github.com/modhunt/modhunt/tables/inventory"
	"github.com/modhunt/modhunt/tables/table"
	"github.com/modhunt/modhunt/tables/untrusted"
)

// Config is what the builder needs from the command line.
type Config struct {
	Log *slog.Logger
	// Policy is the trust policy file, the same one untrusted_module_loads
	// reads ("" = built-in defaults). A malformed file makes New fail.
	Policy string
	// Inventory is the process scan to use; nil means a new one over /proc.
	// Tests inject a read hook through it.
	Inventory *inventory.Inventory
	// Passwd is the user database for User; "" means /etc/passwd.
	Passwd string
	// HashBudget and HashTime bound the hashing of the verdicts' scan
	// when the builder makes its own untrusted_module_loads (see
	// untrusted.Config); 0 means its defaults.
	HashBudget int64
	HashTime   time.Duration
	// Untrusted is an untrusted_module_loads table to take the verdicts
	// from, so a host that serves both tables keeps one package index and
	// one hash cache. It must read its processes through Tee(Inventory);
	// nil means the builder makes its own.
	Untrusted *table.Table
}

// Tee returns the process source untrusted_module_loads must read through
// for its verdicts to be shared with a Builder (Config.Untrusted): it is
// inv, but a scan made for the builder also hands it every process read.
func Tee(inv *inventory.Inventory) untrusted.Source { return teeSource{inv} }

// Builder builds module events. It is safe for concurrent use.
type Builder struct {
	log       *slog.Logger
	inv       *inventory.Inventory
	untrusted *table.Table
	users     *userDB
	// Positions of the columns read from untrusted_module_loads' rows.
	colPID, colPath, colReasons, colSHA256 int
}

// New returns a builder over this host's processes.
func New(cfg Config) (*Builder, error) {
	if cfg.Log == nil {
		cfg.Log = slog.New(slog.DiscardHandler)
	}
	if cfg.Inventory == nil {
		cfg.Inventory = inventory.New(inventory.Config{Log: cfg.Log, ModulesOnly: true})
	}
	if cfg.Passwd == "" {
		cfg.Passwd = "/etc/passwd"
	}
	// untrusted_module_loads reads the processes through a source that
	// also keeps a copy of each for the events: one walk of /proc serves
	// both the trust verdicts and the event fields.
	ut := cfg.Untrusted
	if ut == nil {
		var err error
		if ut, err = untrusted.NewFromConfig(untrusted.Config{
			Log: cfg.Log, PolicyFile: cfg.Policy, Inventory: Tee(cfg.Inventory), HashBudget: cfg.HashBudget, HashTime: cfg.HashTime,
		}); err != nil {
			return nil, err
		}
	}
	b := &Builder{log: cfg.Log, inv: cfg.Inventory, untrusted: ut, users: newUserDB(cfg.Passwd)}
	b.colPID, b.colPath = ut.ColumnIndex("pid"), ut.ColumnIndex("path")
	b.colReasons, b.colSHA256 = ut.ColumnIndex("reasons"), ut.ColumnIndex("sha256")
	if min(b.colPID, b.colPath, b.colReasons, b.colSHA256) < 0 {
		return nil, errors.New("untrusted_module_loads lacks a pid, path, reasons or sha256 column")
	}
	return b, nil
}

// teeSource is the inventory, but a Walk whose context carries a collector
// also hands the collector a copy of every process it reads.
type teeSource struct{ *inventory.Inventory }

type collectorKey struct{}

type collector struct{ procs []inventory.Process }

func (t teeSource) Walk(ctx context.Context, pids []int, fn func(*inventory.Process) error) error {
	col, _ := ctx.Value(collectorKey{}).(*collector)
	if col == nil {
		return t.Inventory.Walk(ctx, pids, fn)
	}
	return t.Inventory.Walk(ctx, pids, func(p *inventory.Process) error {
		col.procs = append(col.procs, p.Clone())
		return fn(p)
	})
}

// verdict is untrusted_module_loads' row for one module.
type verdict struct {
	path    string
	reasons []string
	sha256  string
	used    bool
}

type verdictKey struct {
	pid  int
	path string
}

// Scan builds the events of the processes pids (nil: every process; empty:
// none) and calls fn for each with the process it belongs to. The Event is
// reused after fn returns; its process-wide fields (ProcessModules,
// CommandLine, ...) reference the one Process of its process, shared by
// all of that process's events. A process that exits mid-scan is left out;
// the error is ctx's or fn's, and the events before it were delivered.
func (b *Builder) Scan(ctx context.Context, pids []int, fn func(*Process, *detections.Event) error) error {
	if pids != nil && len(pids) == 0 {
		return nil
	}
	col := &collector{}
	rows, scanErr := b.untrusted.Generate(context.WithValue(ctx, collectorKey{}, col), table.PIDQuery(pids))
	if scanErr != nil {
		b.log.DebugContext(ctx, "module scan stopped", "err", scanErr, "processes", len(col.procs))
	}
	verdicts := make(map[verdictKey][]*verdict, len(rows))
	for _, r := range rows {
		pid, err := strconv.Atoi(r[b.colPID])
		if err != nil {
			continue
		}
		v := &verdict{path: r[b.colPath], sha256: r[b.colSHA256]}
		if rs := r[b.colReasons]; rs != "" {
			v.reasons = strings.Split(rs, ",")
		}
		k := verdictKey{pid, v.path}
		verdicts[k] = append(verdicts[k], v)
	}

	byPID := make(map[int]*inventory.Process, len(col.procs))
	for i := range col.procs {
		byPID[col.procs[i].PID] = &col.procs[i]
	}
	if pids != nil && scanErr == nil {
		// A pinned scan did not read the parents; read them now, for the
		// process context only.
		var missing []int
		for i := range col.procs {
			if pp := col.procs[i].PPID; pp > 0 && byPID[pp] == nil {
				missing = append(missing, pp)
			}
		}
		if len(missing) > 0 {
			parents, err := b.inv.Processes(ctx, missing)
			if err != nil {
				b.log.DebugContext(ctx, "parent scan stopped", "err", err)
			}
			for i := range parents {
				if byPID[parents[i].PID] == nil {
					byPID[parents[i].PID] = &parents[i]
				}
			}
		}
	}

	users := b.users.snapshot(ctx, b.log)
	var ev detections.Event
	for i := range col.procs {
		p := &col.procs[i]
		if err := b.process(p, byPID[p.PPID], users, verdicts, &ev, fn); err != nil {
			return err
		}
	}
	return scanErr
}

func (b *Builder) process(p, parent *inventory.Process, users map[int64]string, verdicts map[verdictKey][]*verdict,
	ev *detections.Event, fn func(*Process, *detections.Event) error) error {
	var names []string
	loads := 0
	for i := range p.Modules {
		m := &p.Modules[i]
		if m.Executable && strings.HasPrefix(m.Path, "/") {
			names = append(names, m.Name)
		}
		if untrusted.Judged(p, m) {
			loads++
		}
	}
	if loads == 0 {
		return nil
	}
	pc := &Process{Process: p, Parent: parent, Modules: names}
	user := ""
	if p.UID >= 0 {
		if user = users[p.UID]; user == "" {
			user = strconv.FormatInt(p.UID, 10)
		}
	}
	*ev = detections.Event{
		Platform:       platform,
		ProcessId:      int64(p.PID),
		Image:          p.Path,
		User:           user,
		CommandLine:    p.Cmdline,
		ProcessModules: pc.Modules,
	}
	ev.ParentProcessId = int64(p.PPID)
	if parent != nil {
		ev.ParentImage, ev.ParentCommandLine = parent.Path, parent.Cmdline
		ev.CloneOfParent = detections.IsCloneOfParent(platform, p.Path, p.Cmdline, parent.Path, parent.Cmdline)
	}
	for i := range p.Modules {
		m := &p.Modules[i]
		if !untrusted.Judged(p, m) {
			continue
		}
		ev.ImageLoaded = m.Path
		ev.Deleted, ev.Memfd = m.Deleted, m.Memfd
		ev.InLoaderList = !m.Memfd
		ev.UntrustedReasons, ev.Hashes = nil, ""
		if v := takeVerdict(verdicts, p.PID, m); v != nil {
			ev.UntrustedReasons = v.reasons
			if v.sha256 != "" {
				ev.Hashes = "SHA256=" + v.sha256
			}
		}
		if err := fn(pc, ev); err != nil {
			return err
		}
	}
	return nil
}

// takeVerdict finds untrusted_module_loads' row for m. Rows are keyed by
// pid and path; when one path is mapped twice (a library replaced under a
// running process: the old, deleted file and the new one), the row whose
// deleted reason agrees with the module is its own.
func takeVerdict(verdicts map[verdictKey][]*verdict, pid int, m *inventory.Module) *verdict {
	vs := verdicts[verdictKey{pid, m.Path}]
	for _, v := range vs {
		if v.used {
			continue
		}
		if len(vs) > 1 && hasReason(v.reasons, "deleted") != m.Deleted {
			continue
		}
		v.used = true
		return v
	}
	return nil
}

func hasReason(rs []string, r string) bool {
	for _, x := range rs {
		if x == r {
			return true
		}
	}
	return false
}

// MarshalFields renders an event as one JSON object, Event.Fields()'s flat
// shape with keys sorted: what `modhunt.ext events` writes one per line and
// `detect --events` reads, whole, so a recording replays exactly.
// module_detections' fields column is RowView.Fields, its bounded form.
func MarshalFields(ev *detections.Event) ([]byte, error) { return marshal(ev.Fields()) }
