package moduledetections

import (
	"context"

	"github.com/modhunt/modhunt/detections"
	"github.com/modhunt/modhunt/tables/deps"
	"github.com/modhunt/modhunt/tables/dotnetloads"
	"github.com/modhunt/modhunt/tables/moduleevents"
	"github.com/modhunt/modhunt/tables/table"
)

// managedScan delivers the managed loads (dotnet_assembly_loads' assemblies,
// as events with AssemblyName, PublicKeyToken, InMemory, Runtime) to the
// same matcher as the module events, so rules key on an assembly's
// identity as well as its file name.
type managedScan func(ctx context.Context, pids []int, fn func(*moduleevents.Process, *detections.Event) error) error

// newManagedScan reads d's inventory (the one tables.Build shares), or the
// builder's own default when there is none.
func newManagedScan(d deps.Deps) managedScan {
	s := &dotnetloads.Scanner{Inventory: d.ModuleInventory(), Log: d.Logger()}
	return s.Events
}

// clrHosts collects the CLR hosts among the processes the module events
// came from, so the managed scan reads only those again: every other
// process is read once per query, as before.
type clrHosts struct {
	pids []int
	seen map[int]bool
}

func newCLRHosts() *clrHosts { return &clrHosts{pids: []int{}, seen: map[int]bool{}} }

func (h *clrHosts) note(p *moduleevents.Process) {
	if h.seen[p.PID] {
		return
	}
	h.seen[p.PID] = true
	if dotnetloads.Runtime(p.Process) != "" {
		h.pids = append(h.pids, p.PID)
	}
}

// dropRepeats removes the rows from start on (the managed loads' matches)
// that a module event of the same process and file already made for the
// same rule: on Windows an assembly is both a mapped image and a managed
// load, and a rule on its path alone matches both.
func dropRepeats(rows []table.Row, start int) []table.Row {
	if start >= len(rows) {
		return rows
	}
	type key struct{ rule, pid, path string }
	seen := make(map[key]bool, start)
	for _, r := range rows[:start] {
		seen[key{r[colRuleID], r[colPID], r[colPath]}] = true
	}
	out := rows[:start]
	for _, r := range rows[start:] {
		if r[colPath] != "" && seen[key{r[colRuleID], r[colPID], r[colPath]}] {
			continue
		}
		out = append(out, r)
	}
	return out
}

// Column positions dropRepeats reads, in Columns' order.
const (
	colRuleID = 0
	colPID    = 6
	colPath   = 9
)
