// Package loadevents defines module_load_events, an evented table: every
// module load on Linux as it happened (eBPF, package loadstream), with the
// process context and trust reasons decided at the load, buffered and
// expired as osquery's evented tables are; and module_load_events_status,
// the state of its source and every drop counter.
package loadevents

import (
	"context"
	"strconv"
	"strings"

	"github.com/modhunt/modhunt/internal/eventbuf"
	"github.com/modhunt/modhunt/internal/loadsource"
	"github.com/modhunt/modhunt/tables/deps"
	"github.com/modhunt/modhunt/tables/loadstream"
	"github.com/modhunt/modhunt/tables/table"
)

// Name is the table's name.
const Name = "module_load_events"

// Columns in row order.
var Columns = []table.Column{
	{Name: "time", Type: table.BigInt, Index: true, Description: "When the load happened, Unix seconds (the kernel's clock at the load, read once per CPU per kernel tick: at most one tick, 4 ms at HZ=250, early). A constraint on time (=, <, <=, >, >=) returns that range of the buffer and moves no scheduled query's position, as osquery's evented tables do."},
	{Name: "eid", Type: table.BigInt, Description: "Event id: 1 for the first event since the extension started, one more for each event after it, so a gap is exactly the events dropped or expired before they were read."},
	{Name: "kind", Type: table.Text, Description: "What made the load: mmap (a new executable mapping of a file: an mmap with PROT_EXEC, how ld.so maps every library, dlopen and LD_PRELOAD included; or the program interpreter exec mapped), exec (the main image); with --events_syscall_hooks also mprotect (PROT_EXEC added to a file mapping) and memfd_create (a memfd made: not a load yet, the first step of fileless code)."},
	{Name: "pid", Type: table.BigInt, Index: true, Description: "Process id (thread group) of the loading process, at the load."},
	{Name: "tid", Type: table.BigInt, Description: "Thread that loaded."},
	{Name: "parent", Type: table.BigInt, Description: "Parent's process id at the load (the real parent's thread group)."},
	{Name: "process_name", Type: table.Text, Description: "The process's short name (comm) at the load."},
	{Name: "process_path", Type: table.Text, Description: "The process's executable at the load, as the kernel names it (for kind exec, the new image)."},
	{Name: "cmdline", Type: table.Text, Description: "The process's arguments joined by spaces: from its exec event (first 1,024 bytes) when the source saw it start, else read from procfs when the event arrived (a process older than the source), else empty."},
	{Name: "parent_path", Type: table.Text, Description: "The parent's executable, when the source saw the parent's exec; else empty."},
	{Name: "uid", Type: table.BigInt, Description: "Real user id of the process at the load."},
	{Name: "euid", Type: table.BigInt, Description: "Effective user id of the process at the load."},
	{Name: "path", Type: table.Text, Description: "The module exactly as the kernel named it at the load, from the loading task's own file table: the name /proc/PID/maps shows, without \" (deleted)\"; /memfd:NAME for a memfd. Bytes that are not UTF-8 are kept as the kernel has them."},
	{Name: "path_truncated", Type: table.Integer, Description: "1 when the path was longer than the kernel-side bound (4,095 bytes, 64 components) and lost its leading components."},
	{Name: "device", Type: table.Text, Description: "The file's device, major:minor in decimal (the superblock's device, what maps shows in hex)."},
	{Name: "inode", Type: table.BigInt, Description: "The file's inode number."},
	{Name: "memfd", Type: table.Integer, Description: "1 when the file is a memfd_create file, decided by where it lives (the kernel's internal shmem mount), never by its name."},
	{Name: "deleted", Type: table.Integer, Description: "1 when the file had no name left at the load (unlinked, or a memfd)."},
	{Name: "protection", Type: table.Text, Description: "The protection asked for: r, w and x or - (mmap and mprotect); empty for exec and memfd_create."},
	{Name: "offset", Type: table.BigInt, Description: "File offset of the mapping (mmap)."},
	{Name: "is_exec_image", Type: table.Integer, Description: "1 for the process's own executable, mapped by exec (kind exec)."},
	{Name: "is_interpreter", Type: table.Integer, Description: "1 for the program interpreter (PT_INTERP, normally ld.so) the kernel mapped during the process's exec (kind mmap, sent right after the exec event; seen where the source runs on maple_tree:ma_write)."},
	{Name: "reasons", Type: table.Text, Description: "Why the load is untrusted, from the same policy and package index untrusted_module_loads judges with, applied to the facts of the load (path, deleted, memfd, mode): sorted, comma-separated; empty when trusted or not a load (memfd_create, an ordinary exec)."},
	{Name: "severity", Type: table.Text, Description: "low, medium or high from the reasons, as in untrusted_module_loads; empty without reasons."},
	{Name: "rules", Type: table.Text, Description: "Titles of the Sigma rules (built-in and --rules) the load matched when it arrived, comma-separated; module_detections has one row per match."},
}

// Examples are hunt queries.
var Examples = []string{
	"SELECT time, pid, process_path, cmdline, path, reasons FROM module_load_events WHERE severity = 'high';",
	"SELECT time, pid, process_name, path FROM module_load_events WHERE memfd = 1;",
	"SELECT * FROM module_load_events WHERE time > (strftime('%s','now') - 300) AND kind = 'mmap' AND path LIKE '/tmp/%';",
}

// Spec is the table's definition.
var Spec = table.Spec{
	Name: Name,
	Description: "Every module load as it happens, from eBPF on Linux (tracepoints; the file resolved in the kernel at the load), " +
		"with the process context, file identity and trust reasons captured then, so processes gone before the query are seen. " +
		"An evented table as osquery's: a scheduled query sees each event once, an ad hoc query every buffered event; events expire " +
		"after --events_expiry (3600 s). module_load_events_status says whether the source runs, why not, and what was dropped.",
	Platforms: []string{table.Linux},
	Columns:   Columns,
	Examples:  Examples,
	Evented:   true,
}

// New returns the table over d.LoadEvents (tables.Build makes it). A
// stream that cannot run makes no error: the table answers no rows and
// module_load_events_status says why.
func New(d deps.Deps) (*table.Table, error) {
	s := d.LoadEvents
	if s == nil {
		s = loadstream.New(loadstream.Config{Log: d.Logger(), Disabled: true})
	}
	return &table.Table{
		Spec: Spec,
		Generate: func(ctx context.Context, q table.Query) ([]table.Row, error) {
			// A source that cannot run is not the query's failure: its
			// buffer stays empty, and the status table says why.
			_ = s.Start(context.Background())
			res := s.Read(ReaderOf(q))
			pids := q.PIDs()
			rows := make([]table.Row, 0, len(res.Entries))
			for _, e := range res.Entries {
				if pids != nil && !containsPID(pids, e.Value.PID) {
					continue
				}
				rows = append(rows, row(e))
			}
			return rows, nil
		},
	}, nil
}

// ReaderOf is the buffer read a query asks for: its scheduled name and run,
// and a time range when it constrains time.
func ReaderOf(q table.Query) eventbuf.Reader {
	r := eventbuf.Reader{Query: q.Scheduled, Execution: q.Execution}
	for _, c := range q.Constraints["time"] {
		v, err := strconv.ParseInt(strings.TrimSpace(c.Expr), 10, 64)
		if err != nil {
			continue
		}
		lo, hi := r.Since, r.Until
		switch c.Op {
		case table.OpEquals:
			lo, hi = maxp(lo, v), minp(hi, v)
		case table.OpGreaterThan:
			lo = maxp(lo, v+1)
		case table.OpGreaterOrEqual:
			lo = maxp(lo, v)
		case table.OpLessThan:
			hi = minp(hi, v-1)
		case table.OpLessOrEquals:
			hi = minp(hi, v)
		}
		r.Since, r.Until = lo, hi
	}
	return r
}

func maxp(p *int64, v int64) *int64 {
	if p != nil && *p > v {
		return p
	}
	return &v
}

func minp(p *int64, v int64) *int64 {
	if p != nil && *p < v {
		return p
	}
	return &v
}

func containsPID(pids []int, pid uint32) bool {
	for _, p := range pids {
		if p == int(pid) {
			return true
		}
	}
	return false
}

func boolInt(b bool) string {
	if b {
		return "1"
	}
	return "0"
}

// Protection renders mmap/mprotect's prot as r, w, x or -.
func Protection(prot uint64) string {
	b := []byte("---")
	if prot&0x1 != 0 {
		b[0] = 'r'
	}
	if prot&0x2 != 0 {
		b[1] = 'w'
	}
	if prot&0x4 != 0 {
		b[2] = 'x'
	}
	return string(b)
}

func row(e eventbuf.Entry[*loadstream.Load]) table.Row {
	l := e.Value
	prot := ""
	if l.Kind == loadsource.KindMmap || l.Kind == loadsource.KindMprotect {
		prot = Protection(l.Prot)
	}
	titles := make([]string, len(l.Matches))
	for i, r := range l.Matches {
		titles[i] = r.Title
	}
	return table.Row{
		table.Int(e.Time.Unix()), table.Int(e.EID), l.Kind.String(),
		table.Int(l.PID), table.Int(l.TID), table.Int(l.PPID),
		l.Comm, l.ProcessPath(), l.Cmdline, l.ParentPath,
		table.Int(l.UID), table.Int(l.EUID),
		string(l.Path), boolInt(l.PathTruncated), l.Device.String(), table.Int(l.Inode),
		boolInt(l.Memfd), boolInt(l.Deleted), prot, table.Int(l.Offset), boolInt(l.IsExec()), boolInt(l.Interpreter),
		strings.Join(l.Reasons, ","), l.Severity, strings.Join(titles, ","),
	}
}
