package untrusted

import (
	"context"
	"log/slog"
	"runtime"

	"github.com/modhunt/modhunt/tables/fileinfo"
	"github.com/modhunt/modhunt/tables/inventory"
	"github.com/modhunt/modhunt/tables/mounts"
	"github.com/modhunt/modhunt/tables/pkgindex"
	"github.com/modhunt/modhunt/tables/table"
	"github.com/modhunt/modhunt/tables/trust"
	"github.com/modhunt/modhunt/tables/verdict"
)

type scanner struct {
	cfg    Config
	src    Source
	policy *trust.Policy
	pkgs   *pkgindex.DB
	// facts is the file-facts cache (the inventory's when it has one);
	// hash hashes through it.
	facts     *fileinfo.Cache
	hash      fileinfo.Hasher
	log       *slog.Logger
	mountInfo func(pid int) ([]mounts.Mount, error)
	// winFacts answers what the judgement of Windows processes asks
	// beyond the inventory; nil: nothing beyond it (paths and the loader
	// list only).
	winFacts WindowsFacts
	// The policy allowlists modules by sha256, or by package: then the
	// hash, or the owner, decides whether a row exists at all.
	allowBySHA256, allowByPackage bool
}

type scan struct {
	*scanner
	// res is the judgement being made: the processes read and the
	// verdicts on their modules; dropped marks the verdicts the hashing
	// pass found allowlisted by their sum.
	res     *verdict.Judgement
	dropped []bool
	// jobs are the verdicts whose sha256 the hashing pass computes.
	jobs []hashJob
	// hashing: the consumer reads sha256 or sha256_skipped, or the policy
	// allowlists by sha256. ownership: the consumer reads package, reasons
	// or severity, or the policy allowlists by package; without it a
	// module's owner is looked up only when its other reasons leave the
	// row in doubt.
	hashing, ownership bool
	// winCache keeps the Windows facts' answers for the scan.
	winCache *winCache
	// macDirs caches processDarwin's directory facts for the scan.
	macDirs map[string]macDir
	osScan
}

type fileKey struct {
	major, minor uint32
	inode        uint64
}

// scan is judge for benchmarks and tests: the rows a query gets and the
// hashing pass's figures.
func (s *scanner) scan(ctx context.Context, q table.Query) ([]table.Row, hashStats, error) {
	j, st, err := s.judge(ctx, q.PIDs(), needOf(q))
	return rows(j), st, err
}

// needOf is what of the verdicts a query of untrusted_module_loads reads.
func needOf(q table.Query) verdict.Need {
	return verdict.Need{
		Hashes: q.UsesAny("sha256", "sha256_skipped"),
		Owners: q.UsesAny("package", "reasons", "severity"),
	}
}

// judge judges every process first and hashes after, in one pass bounded
// by the hashing budget: what one process maps can cost the scan at most
// the budget, never the verdicts on the others. A deadline stops the walk
// and the pass, and what was judged so far is returned with the error.
func (s *scanner) judge(ctx context.Context, pids []int, need verdict.Need) (*verdict.Judgement, hashStats, error) {
	if pids != nil && len(pids) == 0 {
		return &verdict.Judgement{}, hashStats{}, nil
	}
	sc := &scan{scanner: s, res: &verdict.Judgement{},
		hashing:   s.allowBySHA256 || need.Hashes,
		ownership: s.allowByPackage || need.Owners,
	}
	windows := isWindows(s.src.Platform())
	native := s.src.Platform() == runtime.GOOS && !windows
	if !windows {
		// Windows has no package database: its judgement never asks one.
		if err := s.pkgs.Refresh(); err != nil {
			s.log.WarnContext(ctx, "package database partly unreadable", "err", err)
		}
	}
	if native {
		sc.begin()
	}
	err := s.src.Walk(ctx, pids, func(p *inventory.Process) error {
		sc.res.Processes = append(sc.res.Processes, p.Clone())
		if s.cfg.OnJudge != nil {
			s.cfg.OnJudge(p.PID)
		}
		switch {
		case windows:
			// Judged from the inventory and the Windows facts, on Windows
			// and, with fakes, on any OS.
			sc.processWindows(ctx, len(sc.res.Processes)-1)
		case native:
			sc.process(ctx, len(sc.res.Processes)-1)
		default:
			sc.processPortable(ctx, len(sc.res.Processes)-1)
		}
		return nil
	})
	stats := sc.hashPass(ctx)
	if stats.skipped > 0 {
		s.log.WarnContext(ctx, "hashing budget spent, some rows left without sha256",
			"hashed_bytes", stats.bytes, "hashed_files", stats.files, "skipped_rows", stats.skipped,
			"budget_bytes", s.cfg.HashBudget, "budget_time", s.cfg.HashTime.String())
	}
	// Verdicts whose sum the policy allowlists are no verdicts.
	kept := sc.res.Verdicts[:0]
	for i, v := range sc.res.Verdicts {
		if !sc.dropped[i] {
			kept = append(kept, v)
		}
	}
	sc.res.Verdicts = kept
	return sc.res, stats, err
}

// Judged reports whether m is a module load this table judges: a file
// mapped executable (data files such as locale archives are not loads),
// other than the process's own executable — unless that is a memfd, since
// fileless execution is worth a row all the same. The executable is the
// file exe links to, not a module that shows the same path: any user can
// make a library's path read like the program's. Package moduleevents
// makes its events from the same loads.
func Judged(_ *inventory.Process, m *inventory.Module) bool {
	if !m.Executable || !inventory.IsAbs(m.Path) {
		return false
	}
	return m.Memfd || !m.Exe
}

// add appends the verdict on module mod of process proc, whose facts the
// policy found reasons in: owner, mode and sha256 from the mapped file's
// stat (fi, when statOK). Its sha256 comes from the cache when the file was
// hashed before; otherwise the verdict waits for the hashing pass.
func (sc *scan) add(proc, mod int, reasons trust.Reasons, fi inventory.FileInfo, statOK bool, pkg, fsType string) {
	p := &sc.res.Processes[proc]
	vd := verdict.Verdict{Proc: proc, Module: mod, Reasons: reasons, Package: pkg, FSType: fsType}
	var job *hashJob
	if statOK {
		vd.Owner, vd.Mode, vd.StatOK = fi.UID, fi.Mode, true
	}
	if sc.hashing {
		// Not hashed at all when no one reads the sum (verdict.Need).
		vd.HashSkip = fileinfo.SkipUnreadable
	}
	if sc.hashing && statOK {
		id := inventory.IDOf(fi)
		var cached bool
		switch vd.SHA256, cached = sc.hash.Cached(id); {
		case cached:
			vd.HashSkip = ""
		case id.Size > sc.hash.Max:
			vd.HashSkip = fileinfo.SkipOverCap
		default:
			vd.HashSkip = fileinfo.SkipBudget // until the hashing pass gets to it
			job = &hashJob{verdict: len(sc.res.Verdicts), pid: p.PID, mod: p.Modules[mod], id: id}
		}
	}
	if vd.SHA256 != "" && sc.policy.AllowsModule("", vd.SHA256, "") {
		return
	}
	sc.res.Verdicts = append(sc.res.Verdicts, vd)
	sc.dropped = append(sc.dropped, false)
	if job != nil {
		sc.jobs = append(sc.jobs, *job)
	}
}

// processPortable judges a process of another OS's inventory (a Windows-
// shaped one fed to the table on this host, or any OS without a judgement of
// its own yet; a macOS inventory has processDarwin, on every OS): from what the inventory says alone, the
// module's path, deletion, memfd and the mapped file's stat. Nothing is
// read from this host's file system about it.
func (sc *scan) processPortable(ctx context.Context, proc int) {
	if sc.src.Platform() == "darwin" {
		sc.processDarwin(ctx, proc)
		return
	}
	p := &sc.res.Processes[proc]
	if sc.policy.AllowsProcess(p.Path, p.Name) {
		return
	}
	for i := range p.Modules {
		m := &p.Modules[i]
		if ctx.Err() != nil {
			return // the walk reports it
		}
		if !Judged(p, m) {
			continue
		}
		fi, err := sc.src.StatModule(p.PID, m)
		statOK := err == nil
		facts := trust.Module{Path: m.Path, Deleted: m.Deleted, Memfd: m.Memfd}
		reasons := sc.policy.Evaluate(facts)
		if reasons.Empty() || sc.policy.AllowsModule(m.Path, "", "") {
			continue
		}
		sc.add(proc, i, reasons, fi, statOK, "", "")
	}
}
