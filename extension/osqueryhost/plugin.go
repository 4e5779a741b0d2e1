// Package osqueryhost serves modhunt's tables to osqueryd over Thrift: it
// turns each table.Table into an osquery-go table plugin and runs the
// extension's side of osquery's extension protocol until osqueryd stops it,
// goes away, or the process is told to stop.
package osqueryhost

import (
	"context"
	"fmt"
	"log/slog"
	"slices"

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
func NewPlugin(t *table.Table, guard *table.Guard, log *slog.Logger) (*osqtable.Plugin, error) {
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
	return osqtable.NewPlugin(t.Name, columnDefinitions(t), g.generate, opts...), nil
}

// generator is one table's osquery-go GenerateFunc.
type generator struct {
	t     *table.Table
	guard *table.Guard
	log   *slog.Logger
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
	got, err := g.guard.Generate(ctx, g.t, q)
	if err != nil {
		if len(got) == 0 {
			return nil, err
		}
		g.log.WarnContext(ctx, "serving partial rows", "rows", len(got), "err", err)
	}
	return g.rowMaps(ctx, got), nil
}

// rowMaps turns rows in column order into osquery's column-name maps. Every
// column is present in every map: "" stays "" (osqueryd reads it as NULL
// in a numeric column), and a missing key would mean NULL for TEXT too.
func (g *generator) rowMaps(ctx context.Context, rows []table.Row) []map[string]string {
	cols := g.t.Columns
	out := make([]map[string]string, 0, len(rows))
	misshapen := 0
	for _, r := range rows {
		if len(r) != len(cols) {
			misshapen++
		}
		m := make(map[string]string, len(cols))
		for i, c := range cols {
			if i < len(r) {
				m[c.Name] = r[i]
			} else {
				m[c.Name] = ""
			}
		}
		out = append(out, m)
	}
	if misshapen > 0 {
		// A table bug, not a reason to lose the query: short rows are padded
		// with NULLs, extra values dropped.
		g.log.ErrorContext(ctx, "rows do not match the column count", "rows", misshapen, "columns", len(cols))
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
