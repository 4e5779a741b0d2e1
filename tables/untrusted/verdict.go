package untrusted

import (
	"fmt"

	"github.com/modhunt/modhunt/tables/fileinfo"
	"github.com/modhunt/modhunt/tables/inventory"
	"github.com/modhunt/modhunt/tables/table"
	"github.com/modhunt/modhunt/tables/trust"
)

// Verdict is the trust judgement of one module load that breaks the
// policy: one (process, module) of a Judgement.
type Verdict struct {
	// Proc indexes Judgement.Processes; Module indexes that process's
	// Modules. The pair names the very mapping judged: a path mapped
	// twice (a library replaced under a running process) is two modules.
	Proc, Module int
	Reasons      trust.Reasons
	// SHA256 is the mapped file's sum, or "" and HashSkip says why.
	SHA256   string
	HashSkip fileinfo.HashSkip
	// Package owns the path ("" when none does, or the path does not lead
	// to the mapped file).
	Package string
	// Owner and Mode are the mapped file's owner and permission bits;
	// StatOK says whether they are known.
	Owner  uint32
	Mode   uint32
	StatOK bool
	// FSType names the file system the module lives on ("" when unknown).
	FSType string
	// dropped: the hashing pass found the sum allowlisted.
	dropped bool
}

// Severity is the verdict's severity, derived from its reasons.
func (v *Verdict) Severity() trust.Severity { return v.Reasons.Severity() }

// Judgement is what one scan found: every process the walk read (deep
// copies, in walk order) and the verdicts on their module loads that break
// the policy, in walk order.
type Judgement struct {
	Processes []inventory.Process
	Verdicts  []Verdict
	stats     hashStats
}

// Of returns the verdict's process and module.
func (j *Judgement) Of(v *Verdict) (*inventory.Process, *inventory.Module) {
	p := &j.Processes[v.Proc]
	return p, &p.Modules[v.Module]
}

// Rows renders the verdicts as untrusted_module_loads rows.
func (j *Judgement) Rows() []table.Row {
	rows := make([]table.Row, 0, len(j.Verdicts))
	for i := range j.Verdicts {
		if v := &j.Verdicts[i]; !v.dropped {
			rows = append(rows, j.row(v))
		}
	}
	return rows
}

func (j *Judgement) row(v *Verdict) table.Row {
	p, m := j.Of(v)
	uid, ownerUID, mode := "", "", ""
	if p.UID >= 0 {
		uid = table.Int(p.UID)
	}
	if v.StatOK {
		ownerUID = table.Int(v.Owner)
		mode = fmt.Sprintf("%04o", v.Mode&0o7777)
	}
	return table.Row{
		table.Int(p.PID), p.Name, p.Path, p.Cmdline, uid,
		m.Path, m.Name, v.Reasons.String(), string(v.Severity()),
		v.SHA256, string(v.HashSkip), v.Package, ownerUID, mode, v.FSType,
	}
}

// only returns the part of j about pids (sorted, non-empty), re-indexed.
func (j *Judgement) only(pids []int) *Judgement {
	out := &Judgement{stats: j.stats}
	index := make(map[int]int, len(pids))
	for i := range j.Processes {
		if p := &j.Processes[i]; containsSorted(pids, p.PID) {
			index[i] = len(out.Processes)
			out.Processes = append(out.Processes, *p)
		}
	}
	for _, v := range j.Verdicts {
		if k, ok := index[v.Proc]; ok {
			v.Proc = k
			out.Verdicts = append(out.Verdicts, v)
		}
	}
	return out
}
