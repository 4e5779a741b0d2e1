package moduledetections

import (
	"context"
	"strconv"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/modhunt/modhunt/tables/inventory"
	"github.com/modhunt/modhunt/tables/table"
	"github.com/modhunt/modhunt/test/sim"
)

// TestCleanBaseline scans every process of this machine with nothing
// planted, prints every match, and fails on any match in a process that
// neither is nor descends from a Go toolchain or test binary. It is not
// parallel, so this package's simulations have not started yet.
func TestCleanBaseline(t *testing.T) {
	sim.NeedRoot(t)
	// Interpreters of the base system with many packaged native modules:
	// they count as baseline processes although this test started them.
	started := sim.StartBaseInterpreters(t)
	ctx := context.Background()
	tb := shared(t)
	rows, err := tb.Generate(ctx, table.Query{})
	require.NoError(t, err)
	// The ancestry is read after the scan, so that every process a row
	// names is in it (one that exited since cannot be judged and is left out).
	procs, err := inventory.New(inventory.Config{}).Processes(ctx, nil)
	require.NoError(t, err)
	byPID, fromTests := sim.FromTests(t, started, procs, func(p inventory.Process) (int, int, string) { return p.PID, p.PPID, p.Path })
	for pid := range started {
		p, ok := byPID[pid]
		require.True(t, ok, "started interpreter %d was scanned", pid)
		t.Logf("baseline interpreter pid=%d %s maps %d files", pid, p.Path, len(p.Modules))
	}
	t.Logf("%d processes, %d matches:", len(procs), len(rows))
	for _, r := range rows {
		pid, _ := strconv.Atoi(r[col("pid")])
		// The command line is left out on purpose: it may carry secrets.
		t.Logf("rule=%s level=%s pid=%d process=%s module=%s user=%s reasons=%s test_started=%v",
			ruleName(r), r[col("level")], pid, r[col("process_path")], r[col("path")], r[col("user")],
			r[col("untrusted_reasons")], fromTests(pid))
		if !fromTests(pid) {
			t.Errorf("false positive on the clean baseline: rule %s (%s) fired on %s in pid %d (%s)",
				ruleName(r), r[col("rule_id")], r[col("path")], pid, r[col("process_path")])
		}
	}
}
