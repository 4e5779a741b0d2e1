// Package moduledetections defines module_detections: the Sigma rules of
// package detections (built in, plus extra rule folders) matched against
// this host's module loads now, one row per (rule, event) match. The
// events come from package moduleevents.
package moduledetections

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strings"

	"github.com/modhunt/modhunt/detections"
	"github.com/modhunt/modhunt/tables/deps"
	"github.com/modhunt/modhunt/tables/moduleevents"
	"github.com/modhunt/modhunt/tables/table"
)

// Name is the table's name.
const Name = "module_detections"

// Description is the table's one-paragraph summary.
const Description = "Sigma rules (logsource category image_load) matched against the module loads of running processes, " +
	"one row per (rule, event) match: modhunt's built-in rules for T1129 and its neighbours (the MaxPatrol SIEM " +
	"rules they mirror, MITRE AN0053/AN0054) plus any rule folders given with --rules. Events carry Sysmon Event ID 7's " +
	"field names, so community image_load rules run unchanged; `modhunt.ext events` records the same events for `modhunt.ext detect`."

// Columns in row order.
var Columns = []table.Column{
	{Name: "rule_id", Type: table.Text, Description: "The matching rule's Sigma id (a UUID)."},
	{Name: "rule_title", Type: table.Text, Description: "The rule's title."},
	{Name: "level", Type: table.Text, Description: "The rule's level: informational, low, medium, high or critical."},
	{Name: "tags", Type: table.Text, Description: "The rule's tags, comma-separated (ATT&CK techniques as attack.t1129, attack.t1574.006, ...)."},
	{Name: "siem_rule", Type: table.Text, Description: "The MaxPatrol SIEM rule(s) the rule mirrors (PT-CR-...), comma-separated; empty for rules that mirror none."},
	{Name: "rule_source", Type: table.Text, Description: "Where the rule came from: builtin:rules/<platform>/<file>.yml for a built-in rule, else the rule file's path."},
	{Name: "pid", Type: table.BigInt, Index: true, Description: "Process id of the process that loaded the module. `pid = N` and `pid IN (...)` scan only those processes (and read their parents for the parent fields)."},
	{Name: "process_name", Type: table.Text, Description: "The process's short name as the kernel keeps it (comm)."},
	{Name: "process_path", Type: table.Text, Description: "The process's executable (the event's Image)."},
	{Name: "path", Type: table.Text, Description: "The loaded module (the event's ImageLoaded): its path as the kernel shows it, without \" (deleted)\"; /memfd:NAME for a memfd."},
	{Name: "user", Type: table.Text, Description: "The event's User: the process's user name (from the host's /etc/passwd), or its uid when no name resolves."},
	{Name: "untrusted_reasons", Type: table.Text, Description: "The event's UntrustedReasons, comma-separated: the reasons untrusted_module_loads gives for this module, empty when it trusts it."},
	{Name: "fields", Type: table.Text, Description: "The whole event as one JSON object with Sigma field names (Image, ImageLoaded, CommandLine, ParentImage, ProcessModules, UntrustedReasons, Deleted, Memfd, ...): the shape `modhunt.ext events` writes and `modhunt.ext detect --events` reads. A process's rows share 64 KiB per process-wide value (Image, CommandLine, ParentImage, ParentCommandLine, ProcessModules): each row carries each cut to 64 KiB divided by the process's row count, never below 128 bytes; a cut adds Truncated (the fields cut) and ProcessModulesTotal. Rules match the whole event."},
}

// Examples are hunt queries, in the order the documentation lists them.
var Examples = []string{
	"SELECT rule_title, level, process_name, path FROM module_detections WHERE level IN ('high', 'critical');",
	// What each SIEM rule's counterpart found.
	"SELECT siem_rule, rule_title, pid, process_path, path FROM module_detections WHERE siem_rule != '';",
	// One process, with the full event (pid pushdown keeps it cheap).
	"SELECT rule_id, rule_title, path, fields FROM module_detections WHERE pid = 1234;",
	// Preload injection by ATT&CK tag.
	"SELECT pid, process_name, path, untrusted_reasons FROM module_detections WHERE tags LIKE '%attack.t1574.006%';",
	// Fields inside the event, with SQLite's JSON functions.
	"SELECT rule_title, pid, json_extract(fields, '$.ParentImage') AS parent, json_extract(fields, '$.CommandLine') AS cmdline FROM module_detections;",
	// How many processes each rule fires in.
	"SELECT rule_title, level, COUNT(DISTINCT pid) AS processes FROM module_detections GROUP BY rule_id ORDER BY processes DESC;",
	// Findings of the extra rule folders only.
	"SELECT rule_title, rule_source, process_path, path FROM module_detections WHERE rule_source NOT LIKE 'builtin:%';",
}

// Spec is the table's definition.
var Spec = table.Spec{
	Name:        Name,
	Description: Description,
	Platforms:   []string{table.Linux, table.Windows, table.Darwin},
	Columns:     Columns,
	Examples:    Examples,
}

// New returns the table: the built-in rules and those of d.RuleDirs over
// the events of d.Inventory, judged by d.Judge (nil: a private judge under
// d.Policy). Rules load here, once: every rule
// that cannot be used (a broken extra rule, an unreadable folder) is logged
// with its file, line and reason and skipped, and the others still run. The
// error is for a trust policy file that does not load (a host must not serve
// verdicts under a policy nobody wrote) or a built-in rule that does not (a
// broken build).
func New(d deps.Deps) (*table.Table, error) {
	log := d.Logger()
	engine, err := loadRules(log, d.RuleDirs)
	if err != nil {
		return nil, err
	}
	inv := d.ModuleInventory()
	more, err := regionEvents(d, inv, engine)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", Name, err)
	}
	builder, err := moduleevents.New(moduleevents.Config{
		Log: log, Policy: d.Policy, Inventory: inv, Judge: d.Judge, HashBudget: d.HashBudget, HashTime: d.HashTime,
		More: more,
	})
	if err != nil {
		return nil, fmt.Errorf("%s: %w", Name, err)
	}
	managed := newManagedScan(d)
	return &table.Table{
		Spec: Spec,
		Generate: func(ctx context.Context, q table.Query) ([]table.Row, error) {
			rows, err := generate(ctx, engine, builder, managed, q)
			rows, eerr := appendEventMatches(rows, d.LoadEvents, q)
			return rows, errors.Join(err, eerr)
		},
	}, nil
}

func loadRules(log *slog.Logger, dirs []string) (*detections.Engine, error) {
	engine, rep, err := detections.Load(true, dirs)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", Name, err)
	}
	for _, s := range rep.FolderErrors {
		log.Warn("rule folder unreadable", "folder", s.File, "reason", s.Reason)
	}
	for _, s := range rep.Skipped {
		log.Warn("rule skipped", "file", s.File, "line", s.Line, "id", s.ID, "reason", s.Reason)
	}
	log.Debug("rules loaded", "loaded", rep.Loaded, "skipped", len(rep.Skipped))
	return engine, nil
}

// pending is a matched event of the process being scanned, waiting for
// the process's row count (which decides how much of the process each row
// carries).
type pending struct {
	ev    detections.Event
	rules []*detections.Rule
}

// ruleText is what every row of a rule repeats, joined once per scan.
type ruleText struct{ tags, siem string }

func generate(ctx context.Context, engine *detections.Engine, b *moduleevents.Builder, managed managedScan, q table.Query) ([]table.Row, error) {
	var rows []table.Row
	var matches []detections.Match
	// The rules see the whole event whatever the query reads; only its
	// rendering as JSON is for the fields column alone.
	withFields := q.Uses("fields")
	var cur *moduleevents.Process
	var queue []pending
	nrows := 0
	texts := map[*detections.Rule]ruleText{}
	flush := func() error {
		if len(queue) == 0 {
			return nil
		}
		view := cur.RowView(moduleevents.RowLimit(nrows))
		pid := table.Int(cur.PID)
		for i := range queue {
			ev := &queue[i].ev
			var fields []byte
			if withFields {
				var err error
				if fields, err = view.Fields(ev); err != nil {
					return fmt.Errorf("event of pid %d, module %q: %w", cur.PID, ev.ImageLoaded, err)
				}
			}
			reasons := strings.Join(ev.UntrustedReasons, ",")
			for _, r := range queue[i].rules {
				t, ok := texts[r]
				if !ok {
					t = ruleText{strings.Join(r.Tags, ","), r.SiemRule()}
					texts[r] = t
				}
				rows = append(rows, table.Row{
					r.ID, r.Title, r.Level, t.tags, t.siem, r.Source,
					pid, cur.Name, cur.Path, ev.ImageLoaded, ev.User, reasons, string(fields),
				})
			}
		}
		clear(queue) // drop the references before the slice is reused
		queue, nrows = queue[:0], 0
		return nil
	}
	onEvent := func(p *moduleevents.Process, ev *detections.Event) error {
		if p != cur {
			if err := flush(); err != nil {
				return err
			}
			cur = p
		}
		matches = engine.MatchAppend(matches[:0], ev)
		if len(matches) == 0 {
			return nil
		}
		rules := make([]*detections.Rule, len(matches))
		for i, m := range matches {
			rules[i] = m.Rule
		}
		queue = append(queue, pending{ev: *ev, rules: rules})
		nrows += len(rules)
		return nil
	}
	hosts := newCLRHosts()
	err := b.Scan(ctx, q.PIDs(), func(p *moduleevents.Process, ev *detections.Event) error {
		hosts.note(p)
		return onEvent(p, ev)
	})
	// The events delivered before an error still make rows.
	if ferr := flush(); err == nil {
		err = ferr
	}
	if err == nil && managed != nil {
		start := len(rows)
		cur = nil
		err = managed(ctx, hosts.pids, onEvent)
		if ferr := flush(); err == nil {
			err = ferr
		}
		rows = dropRepeats(rows, start)
	}
	return rows, err
}
