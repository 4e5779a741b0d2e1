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
//     (Linux has no code signatures on shared objects). On Windows they and
//     Hashes' IMPHASH= come from the loaded file; on macOS Signed is
//     "true"/"false" for LC_CODE_SIGNATURE in every slice of the Mach-O
//     file, whose validity is osquery's signature table's (both in
//     imagefacts.go).
//   - User: the inventory's Process.User: on Linux the name the host's
//     /etc/passwd gives the uid procfs reports for the process (its
//     effective uid, 0 while it is not dumpable); the numeric uid when no
//     entry names it; empty when the uid is unknown. Processes in
//     containers are named from the host's user database.
//   - CommandLine; ParentProcessId, ParentImage, ParentCommandLine from the
//     parent's entry in the same scan (a pid-pinned scan also reads the
//     parents); empty when the parent exited or maps no file.
//   - ProcessModules: base names of every file mapped executable in the
//     process, its own executable included; one slice, in the one Process
//     all of the process's events share. Rules match all of it; a
//     module_detections row's fields list a bounded part (RowLimit).
//   - UntrustedReasons: the reasons of untrusted_module_loads' verdict on
//     this very mapping (untrusted.Verdict, typed), from the judge's scan of
//     the same processes the events are made of.
//   - Deleted, Memfd: from the inventory (decided on the mapped file).
//   - InLoaderList: the inventory's Module.InLoaderList: on Linux true for
//     every file-backed module, false for a memfd. Reading the loader's
//     link_map would mean reading process memory; a file-backed executable
//     mapping is almost always the loader's work, while memfd code is the
//     typical loader bypass.
//   - CloneOfParent: detections.IsCloneOfParent on Image and CommandLine.
//   - Platform: the inventory's OS (linux here; windows or macos for
//     another OS's inventory).
//
// Events of other kinds (Config.More: memory regions no file backs, from
// package unbacked) follow each process's module events with the same
// process fields; see more.go.
package moduleevents

import (
	"context"
	"log/slog"
	"time"

	"github.com/modhunt/modhunt/detections"
	"github.com/modhunt/modhunt/tables/inventory"
	"github.com/modhunt/modhunt/tables/untrusted"
	"github.com/modhunt/modhunt/tables/verdict"
)

// Config is what the builder needs from the command line.
type Config struct {
	Log *slog.Logger
	// Policy is the trust policy file, the same one untrusted_module_loads
	// reads ("" = built-in defaults). A malformed file makes New fail.
	Policy string
	// Inventory is the process scan to use; nil means a new one over /proc.
	// Tests inject a read hook, or a fake inventory, through it.
	Inventory inventory.Source
	// HashBudget and HashTime bound the hashing of the verdicts' scan
	// when the builder makes its own judge (see untrusted.Config); 0 means
	// its defaults.
	HashBudget int64
	HashTime   time.Duration
	// Judge gives the trust verdicts: the one untrusted_module_loads
	// serves, so a host serving both tables keeps one package index and one
	// file-facts cache, and a query reading both judges once. It must read
	// Inventory. nil means the builder makes its own.
	Judge verdict.Judge
	// More are sources of events of other kinds, delivered after each
	// process's module events with the same process context (more.go).
	More []More
}

// Builder builds module events. It is safe for concurrent use.
type Builder struct {
	log   *slog.Logger
	inv   inventory.Source
	judge verdict.Judge
	more  []More
}

// New returns a builder over this host's processes.
func New(cfg Config) (*Builder, error) {
	if cfg.Log == nil {
		cfg.Log = slog.New(slog.DiscardHandler)
	}
	if cfg.Inventory == nil {
		cfg.Inventory = inventory.New(inventory.Config{Log: cfg.Log, ModulesOnly: true})
	}
	j := cfg.Judge
	if j == nil {
		var err error
		if j, err = untrusted.NewJudge(untrusted.Config{
			Log: cfg.Log, PolicyFile: cfg.Policy, Inventory: cfg.Inventory, HashBudget: cfg.HashBudget, HashTime: cfg.HashTime,
		}); err != nil {
			return nil, err
		}
	}
	return &Builder{log: cfg.Log, inv: cfg.Inventory, judge: j, more: cfg.More}, nil
}

// Scan builds the events of the processes pids (nil: every process; empty:
// none) and calls fn for each with the process it belongs to. The Event is
// reused after fn returns; its process-wide fields (ProcessModules,
// CommandLine, ...) reference the one Process of its process, shared by
// all of that process's events. A process that exits mid-scan is left out;
// the error is ctx's or fn's, and the events before it were delivered.
// The verdicts come from the judge's scan, the very processes it read.
func (b *Builder) Scan(ctx context.Context, pids []int, fn func(*Process, *detections.Event) error) error {
	if pids != nil && len(pids) == 0 {
		return nil
	}
	res, scanErr := b.judge.Judge(ctx, pids, verdict.ForEvents, verdict.Everything)
	if scanErr != nil {
		b.log.DebugContext(ctx, "module scan stopped", "err", scanErr, "processes", len(res.Processes))
	}
	procs := res.Processes
	verdicts := make(map[[2]int]*verdict.Verdict, len(res.Verdicts))
	for i := range res.Verdicts {
		v := &res.Verdicts[i]
		verdicts[[2]int{v.Proc, v.Module}] = v
	}

	byPID := make(map[int]*inventory.Process, len(procs))
	for i := range procs {
		byPID[procs[i].PID] = &procs[i]
	}
	if pids != nil && scanErr == nil {
		// A pinned scan did not read the parents; read them now, for the
		// process context only.
		var missing []int
		for i := range procs {
			if pp := procs[i].PPID; pp > 0 && byPID[pp] == nil {
				missing = append(missing, pp)
			}
		}
		if len(missing) > 0 {
			parents, err := inventory.Processes(ctx, b.inv, missing)
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

	var ev detections.Event
	platform := platformOf(b.inv.Platform())
	more := make([]moreFunc, len(b.more))
	for i, m := range b.more {
		more[i] = m.Start(ctx)
	}
	for i := range procs {
		p := &procs[i]
		if err := b.process(ctx, platform, i, p, byPID[p.PPID], verdicts, more, &ev, fn); err != nil {
			return err
		}
	}
	return scanErr
}

// moreFunc is a More source's per-process call within one Scan.
type moreFunc = func(ctx context.Context, p *Process, base *detections.Event, fn func(*Process, *detections.Event) error) error

func (b *Builder) process(ctx context.Context, platform string, proc int, p, parent *inventory.Process, verdicts map[[2]int]*verdict.Verdict,
	more []moreFunc, ev *detections.Event, fn func(*Process, *detections.Event) error) error {
	var names []string
	loads := 0
	for i := range p.Modules {
		m := &p.Modules[i]
		if m.Executable && inventory.IsAbs(m.Path) {
			names = append(names, m.Name)
		}
		if untrusted.Judged(p, m) {
			loads++
		}
	}
	if loads == 0 && len(more) == 0 {
		return nil
	}
	pc := &Process{Process: p, Parent: parent, Modules: names}
	*ev = detections.Event{
		Platform:       platform,
		ProcessId:      int64(p.PID),
		Image:          p.Path,
		User:           p.User,
		CommandLine:    p.Cmdline,
		ProcessModules: pc.Modules,
	}
	ev.ParentProcessId = int64(p.PPID)
	if parent != nil {
		ev.ParentImage, ev.ParentCommandLine = parent.Path, parent.Cmdline
		ev.CloneOfParent = detections.IsCloneOfParent(platform, p.Path, p.Cmdline, parent.Path, parent.Cmdline)
	}
	base := *ev
	for i := range p.Modules {
		m := &p.Modules[i]
		if !untrusted.Judged(p, m) {
			continue
		}
		ev.ImageLoaded = m.Path
		ev.Deleted, ev.Memfd = m.Deleted, m.Memfd
		ev.InLoaderList = m.InLoaderList
		ev.UntrustedReasons, ev.Hashes = nil, ""
		if v := verdicts[[2]int{proc, i}]; v != nil {
			ev.UntrustedReasons = v.Reasons.List()
			if v.SHA256 != "" {
				ev.Hashes = "SHA256=" + v.SHA256
			}
		}
		setImageFacts(b.inv, platform, p, m, ev)
		if err := fn(pc, ev); err != nil {
			return err
		}
	}
	for _, m := range more {
		*ev = base
		if err := m(ctx, pc, ev, fn); err != nil {
			return err
		}
	}
	return nil
}

// MarshalFields renders an event as one JSON object, Event.Fields()'s flat
// shape with keys sorted: what `modhunt.ext events` writes one per line and
// `detect --events` reads, whole, so a recording replays exactly.
// module_detections' fields column is RowView.Fields, its bounded form.
func MarshalFields(ev *detections.Event) ([]byte, error) { return marshal(ev.Fields()) }
