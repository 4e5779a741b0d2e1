package packs

import (
	"context"
	"fmt"
	"strings"
	"time"
)

// Engine runs one SQL statement over modhunt's tables and returns the
// column names and rows (values int64, float64, string, []byte or nil), as
// extension/sqlhost's DB does.
type Engine interface {
	Query(ctx context.Context, sql string) (columns []string, rows [][]any, err error)
}

// Result is what running (or not running) one hunt gave.
type Result struct {
	Hunt    *Hunt
	Columns []string
	Rows    [][]any
	Err     error
	Skipped string // why the hunt was not run; empty when it ran
	Elapsed time.Duration
}

// Found reports whether the hunt ran and returned rows.
func (r *Result) Found() bool { return r.Skipped == "" && r.Err == nil && len(r.Rows) > 0 }

// SkipReason says why h cannot run here, or "" when it can. served tells
// whether the engine serves a table; a hunt that needs an osquery core table
// runs only inside osqueryd, and an inventory is for scheduling, not for a
// one-off hunt whose every row would count as a finding.
func SkipReason(h *Hunt, served func(string) bool, inventories bool) string {
	if h.Kind == KindInventory && !inventories {
		return "an inventory (rows on every host), meant for scheduling and stacking across the fleet"
	}
	var core, absent []string
	for _, t := range h.Missing(served) {
		if IsCoreTable(t) {
			core = append(core, t)
		} else {
			absent = append(absent, t)
		}
	}
	switch {
	case len(absent) > 0:
		return "needs " + strings.Join(absent, ", ") + ", not served by this build on this platform"
	case len(core) > 0:
		return "needs osquery's " + strings.Join(core, ", ") + ": runs from the pack inside osqueryd"
	}
	return ""
}

// Run runs each hunt that SkipReason allows, one after the other, and
// returns one Result per hunt in order. progress, when not nil, is called
// before each hunt runs.
func Run(ctx context.Context, eng Engine, hunts []*Hunt, served func(string) bool, inventories bool, progress func(i, n int, h *Hunt)) []Result {
	out := make([]Result, 0, len(hunts))
	for i, h := range hunts {
		r := Result{Hunt: h, Skipped: SkipReason(h, served, inventories)}
		if r.Skipped == "" {
			if progress != nil {
				progress(i, len(hunts), h)
			}
			if err := ctx.Err(); err != nil {
				r.Err = err
			} else {
				start := time.Now()
				r.Columns, r.Rows, r.Err = eng.Query(ctx, h.SQL)
				r.Elapsed = time.Since(start)
				if r.Err != nil {
					r.Err = fmt.Errorf("%s (%s): %w", h.Name, h.File, r.Err)
				}
			}
		}
		out = append(out, r)
	}
	return out
}
