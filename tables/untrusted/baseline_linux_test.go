package untrusted

import (
	"context"
	"os"
	"strconv"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/modhunt/modhunt/tables/inventory"
	"github.com/modhunt/modhunt/tables/pkgindex"
	"github.com/modhunt/modhunt/tables/table"
	"github.com/modhunt/modhunt/test/sim"
)

// baseDirs hold the Debian base system's executables.
var baseDirs = []string{"/usr/bin/", "/usr/sbin/", "/bin/", "/sbin/"}

// TestCleanBaseline scans this machine with nothing planted, prints every
// row with its reasons, and fails if a process of the Debian base system
// (an executable in /usr/bin, /usr/sbin, /bin or /sbin that a dpkg package
// owns, not started by a test or the Go toolchain) has a module flagged
// outside_trusted_dirs or not_package_owned, or preloaded while neither
// /etc/ld.so.preload nor the process's environment names a preload (the
// start-up evidence must not mistake a dlopen()ed module for one): such a
// finding is a false positive to fix. It is not parallel, so this package's
// own simulations have not started yet.
func TestCleanBaseline(t *testing.T) {
	sim.NeedRoot(t)
	if _, err := os.Stat("/var/lib/dpkg/info"); err != nil {
		t.Skip("the baseline is defined for a Debian-family host (needs /var/lib/dpkg)")
	}
	// Base-system programs that load many packaged modules: they count as
	// base system, not as test processes.
	started := sim.StartBaseInterpreters(t)

	ctx := context.Background()
	procs, err := inventory.New(inventory.Config{}).Processes(ctx, nil)
	require.NoError(t, err)
	byPID, fromTests := sim.FromTests(t, started, procs, func(p inventory.Process) (int, int, string) { return p.PID, p.PPID, p.Path })
	pkgs := pkgindex.Open("/")
	require.NoError(t, pkgs.Refresh())
	base := func(pid int) bool {
		p, ok := byPID[pid]
		if !ok || fromTests(pid) {
			return false
		}
		for _, d := range baseDirs {
			if strings.HasPrefix(p.Path, d) {
				owner, _ := pkgs.Owner(p.Path)
				return owner != ""
			}
		}
		return false
	}

	_, hostPreload := os.Stat("/etc/ld.so.preload")
	envPreload := func(pid int) bool {
		env, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/environ")
		return err != nil || strings.Contains(string(env), "LD_PRELOAD=") || strings.Contains(string(env), "LD_AUDIT=")
	}

	rows, err := newTable(t, Config{}).Generate(ctx, table.Query{})
	require.NoError(t, err)
	baseProcs := 0
	for pid := range byPID {
		if base(pid) {
			baseProcs++
		}
	}
	t.Logf("%d processes, %d of the Debian base system; %d untrusted module loads:", len(procs), baseProcs, len(rows))
	require.Positive(t, baseProcs, "no base-system process to judge: the baseline would prove nothing")
	for pid := range started {
		require.True(t, base(pid), "pid %d (%s) started as a base-system process", pid, byPID[pid].Path)
	}
	for _, r := range rows {
		pid, _ := strconv.Atoi(r[col("pid")])
		// The command line is left out on purpose: it may carry secrets.
		t.Logf("pid=%s process=%s exe=%s module=%s reasons=%s severity=%s package=%q base_system=%v test_started=%v",
			r[col("pid")], r[col("process_name")], r[col("process_path")], r[col("path")],
			r[col("reasons")], r[col("severity")], r[col("package")], base(pid), fromTests(pid))
		if base(pid) && (strings.Contains(r[col("reasons")], "outside_trusted_dirs") || strings.Contains(r[col("reasons")], "not_package_owned")) {
			t.Errorf("false positive on the base system: %s (pid %d) module %s: %s",
				r[col("process_path")], pid, r[col("path")], r[col("reasons")])
		}
		if base(pid) && hostPreload != nil && strings.Contains(r[col("reasons")], "preloaded") && !envPreload(pid) {
			t.Errorf("false preload on the base system: %s (pid %d) module %s: %s",
				r[col("process_path")], pid, r[col("path")], r[col("reasons")])
		}
	}
}
