// Package verdict is the trust judgement's result as types: the reasons,
// severity, sha256 and file facts of each (process, module) load that
// breaks the policy. untrusted_module_loads renders verdicts as rows; the
// event builder (module_detections, `modhunt.ext events`) reads the same
// verdicts from the same scan. Nothing parses a row back.
package verdict

import (
	"context"

	"github.com/modhunt/modhunt/tables/fileinfo"
	"github.com/modhunt/modhunt/tables/inventory"
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
}

// Severity is the verdict's severity, derived from its reasons.
func (v *Verdict) Severity() trust.Severity { return v.Reasons.Severity() }

// Judgement is what one scan found: every process the walk read (deep
// copies, in walk order) and the verdicts on their module loads that break
// the policy, in walk order.
type Judgement struct {
	Processes []inventory.Process
	Verdicts  []Verdict
}

// Of returns the verdict's process and module.
func (j *Judgement) Of(v *Verdict) (*inventory.Process, *inventory.Module) {
	p := &j.Processes[v.Proc]
	return p, &p.Modules[v.Module]
}

// Consumer names a reader of judgements: each takes a scan made for
// another at most once, so a query that reads untrusted_module_loads and
// module_detections together judges the host once, while the same table
// queried twice scans twice.
type Consumer int

// The consumers of a Judge.
const (
	ForTable  Consumer = iota // untrusted_module_loads' rows
	ForEvents                 // the event builder (module_detections, events)
	Consumers                 // how many there are
)

// Need is what a consumer reads of the verdicts besides their existence:
// a judge skips the work no one reads (a query of untrusted_module_loads
// without sha256 reads no module content). Which loads have a verdict
// never depends on it.
type Need struct {
	// Hashes: SHA256 and HashSkip (else both are empty).
	Hashes bool
	// Owners: Package, and not_package_owned among the reasons even when
	// other reasons already make the verdict.
	Owners bool
}

// Everything is every fact of every verdict.
var Everything = Need{Hashes: true, Owners: true}

// Covers reports whether what n computes answers other.
func (n Need) Covers(other Need) bool {
	return (n.Hashes || !other.Hashes) && (n.Owners || !other.Owners)
}

// Judge judges the processes pids (nil: every process; empty: none) for
// who, computing what need asks. The Judgement may be shared with the
// other consumer: read it, never change it. A deadline stops the scan, and
// what was judged so far is returned with the error.
type Judge interface {
	Judge(ctx context.Context, pids []int, who Consumer, need Need) (*Judgement, error)
}
