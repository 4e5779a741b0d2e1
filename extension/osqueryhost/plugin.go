// Package osqueryhost serves modhunt's tables to osqueryd over Thrift: it
// turns each table.Table into an osquery-go table plugin and runs the
// extension's side of osquery's extension protocol until osqueryd stops it,
// goes away, or the process is told to stop.
package osqueryhost

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"slices"

	osquery "github.com/osquery/osquery-go/gen/osquery"
	osqtable "github.com/osquery/osquery-go/plugin/table"

	"github.com/modhunt/modhunt/tables/table"
)

// columnDefinitions maps a table's columns to osquery-go column definitions.
//
// Column options decide which WHERE constraints osqueryd pushes down
// (osquery/sql/virtual_table.cpp xBestIndex): only constraints on INDEX,
// REQUIRED or ADDITIONAL columns reach the extension; the rest SQLite filters
// itself. Two choices follow from that code:
//
//   - An Index column is INDEX|OPTIMIZED. INDEX makes osqueryd forward its
//     constraints; OPTIMIZED makes it hand an IN (...) list over all at once,
//     as one EQUALS per value in a single generate call (sqlite3_vtab_in),
//     instead of one Thrift round-trip and one process walk per value. The
//     table model already promises tables exactly that shape ("an IN list
//     arrives as several OpEquals"), so every Index column can take it.
//   - Any other column is OPTIMIZED alone, never DEFAULT. osqueryd's
//     --extensions_default_index (on by default) upgrades every extension
//     column declared DEFAULT(0) to INDEX. That would forward constraints the
//     table ignores, and worse, give such a column index cost 1 in
//     xBestIndex, so a JOIN on it (m.path = f.path) would make osqueryd call
//     generate once per outer row, each a full process walk (osquery issue
//     5379). OPTIMIZED without INDEX is not upgraded and forwards nothing
//     (xBestIndex skips the column before it looks at OPTIMIZED), which keeps
//     the table model's contract: constraints on non-index columns are the
//     SQL engine's business, in osqueryd as in the embedded host.
func columnDefinitions(t *table.Table) []osqtable.ColumnDefinition {
	defs := make([]osqtable.ColumnDefinition, 0, len(t.Columns))
	for _, c := range t.Columns {
		opts := []osqtable.ColumnOpt{osqtable.ColumnDescription(c.Description), osqtable.OptimizedColumn()}
		if c.Index {
			opts = append(opts, osqtable.IndexColumn())
		}
		defs = append(defs, osqtable.NewColumn(c.Name, osqtable.ColumnType(c.Type), opts...))
	}
	return defs
}

// pickPlatforms returns, in the table's order, the osquery-go platform
// values named in names. P is osquery-go's unexported platform type, which
// only its exported constants can spell, so it is inferred from them.
func pickPlatforms[P ~string](names []string, all ...P) (picked []P, unknown []string) {
	for _, n := range names {
		i := slices.IndexFunc(all, func(p P) bool { return string(p) == n })
		if i < 0 {
			unknown = append(unknown, n)
			continue
		}
		picked = append(picked, all[i])
	}
	return picked, unknown
}

// NewPlugin returns the osquery-go table plugin serving t. Every generate
// call runs under guard; log receives what osqueryd cannot show (partial
// results, malformed rows). Description, examples and platforms go on the
// plugin so its Spec is the table's osquery spec.
func NewPlugin(t *table.Table, guard *table.Guard, log *slog.Logger) (*Plugin, error) {
	if err := t.Validate(); err != nil {
		return nil, err
	}
	if guard == nil {
		return nil, fmt.Errorf("table %s: no guard", t.Name)
	}
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}

	opts := []osqtable.TableOpt{osqtable.WithDescription(t.Description)}
	for _, ex := range t.Examples {
		opts = append(opts, osqtable.WithExample(ex))
	}
	// With no platforms listed osquery-go assumes the one it was built for,
	// which is what a table without a platform list means too.
	if len(t.Platforms) > 0 {
		platforms, unknown := pickPlatforms(t.Platforms,
			osqtable.LinuxPlatform, osqtable.WindowsPlatform, osqtable.DarwinPlatform)
		if len(unknown) > 0 {
			return nil, fmt.Errorf("table %s: unknown platforms %q (osquery knows %s, %s, %s)",
				t.Name, unknown, table.Linux, table.Windows, table.Darwin)
		}
		opts = append(opts, osqtable.WithPlatforms(platforms...))
	}
	g := &generator{t: t, guard: guard, log: log.With("table", t.Name)}
	return &Plugin{Plugin: osqtable.NewPlugin(t.Name, columnDefinitions(t), g.generate, opts...), t: t, g: g}, nil
}

// Plugin is osquery-go's table plugin, plus the one thing osquery-go's
// request parsing drops: the columns the statement reads. osqueryd sends
// them in the generate context (colsUsed, colsUsedBitset), but osquery-go's
// QueryContext carries only the constraints, so Call reads them from the
// request itself and hands them to the generate call it delegates.
type Plugin struct {
	*osqtable.Plugin
	t *table.Table
	g *generator
}

// usedKey carries the parsed used columns from Call to generate, through
// the context osquery-go passes from one to the other.
type usedKey struct{}

// Call answers osqueryd's calls as osquery-go does, with the used columns
// of a generate call read first. A context whose colsUsed or
// colsUsedBitset does not parse is refused as osquery-go refuses a
// malformed context: with an error status naming the field.
func (p *Plugin) Call(ctx context.Context, req osquery.ExtensionPluginRequest) osquery.ExtensionResponse {
	if req["action"] == "generate" {
		used, err := usedFromContext(p.t, req["context"])
		if err != nil {
			return osquery.ExtensionResponse{Status: &osquery.ExtensionStatus{
				Code: 1, Message: "error parsing context JSON: " + err.Error(),
			}}
		}
		ctx = context.WithValue(ctx, usedKey{}, used)
	}
	return p.Plugin.Call(ctx, req)
}

// usedContext is the part of osqueryd's generate context that names the
// columns the statement reads.
type usedContext struct {
	ColsUsed       *[]string `json:"colsUsed"`
	ColsUsedBitset *uint64   `json:"colsUsedBitset"`
}

// usedFromContext reads the used columns of a generate context as osquery
// itself reads them back (osquery/core/tables.cpp,
// TablePlugin::getContextFromRequest and deserializeQueryContextJSON at
// 5.23.1): the names in colsUsed when present; else colsUsedBitset, bit i
// for column i in declaration order and bit 63 for every column from the
// 64th on (the shape of SQLite's colUsed, which osqueryd copies); with
// neither, every column (nil), which is what an osqueryd older than colsUsed
// needs. An empty colsUsed means no column (SELECT count(*)). A context that
// is not JSON at all is left to osquery-go to refuse.
func usedFromContext(t *table.Table, contextJSON string) (map[string]bool, error) {
	var uc usedContext
	if err := json.Unmarshal([]byte(contextJSON), &uc); err != nil {
		var syn *json.SyntaxError
		if errors.As(err, &syn) || contextJSON == "" {
			return nil, nil
		}
		return nil, fmt.Errorf("colsUsed/colsUsedBitset: %w", err)
	}
	switch {
	case uc.ColsUsed != nil:
		used := make(map[string]bool, len(*uc.ColsUsed))
		for _, name := range *uc.ColsUsed {
			used[name] = true
		}
		return used, nil
	case uc.ColsUsedBitset != nil:
		bits := *uc.ColsUsedBitset
		used := make(map[string]bool, len(t.Columns))
		for i, c := range t.Columns {
			if bits&(1<<min(i, 63)) != 0 {
				used[c.Name] = true
			}
		}
		return used, nil
	}
	return nil, nil
}

// generator is one table's osquery-go GenerateFunc.
type generator struct {
	t     *table.Table
	guard *table.Guard
	log   *slog.Logger
	// sched names the running scheduled query for an evented table (nil:
	// every query is ad hoc).
	sched *scheduledQuery
}

// generate answers one "generate" call from osqueryd. Partial rows win over
// an error: osqueryd fails the whole query on an error status, so an error
// becomes a status only when the table produced nothing at all.
func (g *generator) generate(ctx context.Context, qc osqtable.QueryContext) (rows []map[string]string, err error) {
	// The guard already contains the table's own panics; this catches the
	// host's, since a panic here would take the Thrift server down with it.
	defer func() {
		if p := recover(); p != nil {
			g.log.ErrorContext(ctx, "osquery host panicked", "panic", fmt.Sprint(p))
			rows, err = nil, fmt.Errorf("%s: internal error in the osquery host: %v", g.t.Name, p)
		}
	}()

	q := QueryFromContext(qc)
	q.Used, _ = ctx.Value(usedKey{}).(map[string]bool)
	if g.t.Evented && g.sched != nil {
		q.Scheduled, q.Execution = g.sched.lookup(ctx)
	}
	used := g.t.UsedMask(q)
	sink := sinkFrom(ctx)
	if sink != nil && sink.binary && g.t.Stream != nil {
		return nil, g.stream(ctx, q, used, sink)
	}
	got, err := g.guard.Generate(ctx, g.t, q)
	if err != nil {
		if len(got) == 0 {
			return nil, err
		}
		g.log.WarnContext(ctx, "serving partial rows", "rows", len(got), "err", err)
	}
	g.logShape(ctx, g.misshapen(got))
	if sink != nil {
		// The reply's writer takes the rows as they are (rowwriter.go).
		*sink = rowSink{filled: true, cols: g.t.Columns, used: used, rows: got}
		return nil, nil
	}
	return g.rowMaps(got, used), nil
}

// stream is generate for a table that streams: each batch is encoded into
// the reply as the table hands it over, with the same rules for partial
// rows and errors.
func (g *generator) stream(ctx context.Context, q table.Query, used []bool, sink *rowSink) error {
	enc := newRowEncoder(g.t.Columns, used)
	sink.enc = enc // released once the reply is written
	misshapen := 0
	kept, err := g.guard.Stream(ctx, g.t, q, func(rows []table.Row) error {
		misshapen += g.misshapen(rows)
		enc.add(rows)
		return nil
	})
	if !kept {
		enc.reset()
	}
	if err != nil {
		if enc.count == 0 {
			return err
		}
		g.log.WarnContext(ctx, "serving partial rows", "rows", enc.count, "err", err)
	}
	g.logShape(ctx, misshapen)
	sink.filled = true
	return nil
}

// misshapen counts rows whose length is not the column count: a table bug,
// not a reason to lose the query. Short rows are padded with NULLs, extra
// values dropped.
func (g *generator) misshapen(rows []table.Row) int {
	n := 0
	for _, r := range rows {
		if len(r) != len(g.t.Columns) {
			n++
		}
	}
	return n
}

func (g *generator) logShape(ctx context.Context, misshapen int) {
	if misshapen > 0 {
		g.log.ErrorContext(ctx, "rows do not match the column count", "rows", misshapen, "columns", len(g.t.Columns))
	}
}

// rowMaps turns rows in column order into osquery's column-name maps, the
// form osquery-go's plugins answer in. The extension's own server never
// builds them (it writes the same pairs from the rows, rowwriter.go); they
// serve osquery-go's stock processor and direct Plugin.Call users. Every
// column the statement reads is present in every map: "" stays "" (osqueryd
// reads it as NULL in a numeric column), and a missing key would mean NULL
// for TEXT too. A column it does not read (used false; nil means all are
// read) has no key at all: osqueryd reads a row's values by column name
// only for the columns SQLite asks for (DynamicTableRow::get_column in
// osquery/sql/dynamic_table_row.cpp), so an unread key is bytes on the wire
// and a string in the worker for nothing.
func (g *generator) rowMaps(rows []table.Row, used []bool) []map[string]string {
	cols := g.t.Columns
	n := len(cols)
	if used != nil {
		n = 0
		for _, u := range used {
			if u {
				n++
			}
		}
	}
	out := make([]map[string]string, 0, len(rows))
	for _, r := range rows {
		m := make(map[string]string, n)
		for i, c := range cols {
			if used != nil && !used[i] {
				continue
			}
			if i < len(r) {
				m[c.Name] = r[i]
			} else {
				m[c.Name] = ""
			}
		}
		out = append(out, m)
	}
	return out
}

// QueryFromContext converts osquery-go's QueryContext into the table model's
// Query. Every constraint is kept with its operator number unchanged (the
// table model numbers operators as osquery does); columns osqueryd sent with
// an empty list, which is most of them, are left out.
func QueryFromContext(qc osqtable.QueryContext) table.Query {
	q := table.Query{Constraints: make(map[string][]table.Constraint)}
	for name, cl := range qc.Constraints {
		if len(cl.Constraints) == 0 {
			continue
		}
		cs := make([]table.Constraint, 0, len(cl.Constraints))
		for _, c := range cl.Constraints {
			cs = append(cs, table.Constraint{Op: table.Op(c.Operator), Expr: c.Expression})
		}
		q.Constraints[name] = cs
	}
	return q
}
