package moduledetections

import (
	"context"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/modhunt/modhunt/tables/inventory"
	"github.com/modhunt/modhunt/tables/table"
	"github.com/modhunt/modhunt/test/sim"
)

// testTooling reports whether exe is a Go toolchain or test binary. Test
// binaries run from go-build temp dirs (/tmp/go-build.../x.test) and what
// they start is planted on purpose: this suite's simulations and those of
// other packages' tests running on the same machine at the same time
// (loaders dlopen()ing from /tmp, LD_PRELOAD'ed sleeps, memfd loads). Those
// must fire; they are not the baseline.
func testTooling(exe, self string) bool {
	return exe == self || strings.HasSuffix(exe, ".test") || strings.Contains(exe, "/go-build") ||
		strings.HasPrefix(exe, "/usr/local/go/") || strings.HasPrefix(exe, filepath.Join(os.Getenv("HOME"), "go")+"/")
}

// TestCleanBaseline scans every process of this machine with nothing
// planted, prints every match, and fails on any match in a process that
// neither is nor descends from a Go toolchain or test binary. It is not
// parallel, so this package's simulations have not started yet.
func TestCleanBaseline(t *testing.T) {
	sim.NeedRoot(t)
	// Interpreters of the base system with many packaged native modules,
	// started here so the baseline judges more than this host's few
	// daemons: Debian's python3 with C extensions (lib-dynload, libssl,
	// libsqlite3, libffi) and perl with XS modules. They count as baseline
	// processes although this test started them.
	started := map[int]bool{}
	if _, err := os.Stat("/usr/bin/python3"); err == nil {
		p := sim.Start(t, "/usr/bin/python3", "-c", "import ssl, sqlite3, ctypes, hashlib, decimal, json, socket, select, zlib, time\n"+
			"print('ready', flush=True)\ntime.sleep(3600)")
		started[p.PID] = true
	}
	if _, err := os.Stat("/usr/bin/perl"); err == nil {
		p := sim.Start(t, "/usr/bin/perl", "-MPOSIX", "-MSocket", "-MFcntl", "-MList::Util", "-e", "$| = 1; print \"ready\\n\"; sleep 3600")
		started[p.PID] = true
	}
	ctx := context.Background()
	tb := shared(t)
	rows, err := tb.Generate(ctx, table.Query{})
	require.NoError(t, err)
	// The ancestry is read after the scan, so that every process a row
	// names is in it (one that exited since counts as not from the tests).
	procs, err := inventory.New(inventory.Config{}).Processes(ctx, nil)
	require.NoError(t, err)
	byPID := map[int]inventory.Process{}
	for _, p := range procs {
		byPID[p.PID] = p
	}
	self, err := os.Executable()
	require.NoError(t, err)
	fromTests := func(pid int) bool {
		if started[pid] {
			return false
		}
		for hops := 0; pid > 0 && hops < 64; hops++ {
			p, ok := byPID[pid]
			if !ok {
				return false
			}
			if testTooling(p.Path, self) {
				return true
			}
			pid = p.PPID
		}
		return false
	}
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
