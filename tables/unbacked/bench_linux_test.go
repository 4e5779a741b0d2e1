package unbacked

import (
	"context"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/modhunt/modhunt/tables/deps"
	"github.com/modhunt/modhunt/tables/inventory"
	"github.com/modhunt/modhunt/tables/loadedmodules"
	"github.com/modhunt/modhunt/tables/table"
	"github.com/modhunt/modhunt/test/sim"
)

// benchSleepers is how many extra ordinary processes the benchmarks run
// against, as process_loaded_modules' do.
const benchSleepers = 300

var rowSink []table.Row

// BenchmarkVsLoadedModules is a full scan of unbacked_executable_memory
// (every column: first pages read and hashed) with 300 extra sleeping
// processes. Each iteration also runs process_loaded_modules' pid/path
// scan (SELECT pid, path: the maps alone) over the same inventory, untimed
// and interleaved so both see the same load on a shared machine;
// x_loaded_modules_pid_path is the ratio of the two totals (target: <= 1.5).
func BenchmarkVsLoadedModules(b *testing.B) {
	sim.NeedRoot(b)
	sim.StartSleepers(b, benchSleepers)
	ctx := context.Background()
	inv := inventory.New(inventory.Config{ModulesOnly: true})
	base, err := loadedmodules.New(deps.Deps{Inventory: inv})
	if err != nil {
		b.Fatal(err)
	}
	tb, err := New(deps.Deps{Inventory: inv})
	if err != nil {
		b.Fatal(err)
	}
	pidPath := table.Query{Used: table.UsedColumns("pid", "path")}
	var baseTime time.Duration
	baseRows := 0
	for b.Loop() {
		b.StopTimer()
		start := time.Now()
		rows, err := base.Generate(ctx, pidPath)
		if err != nil {
			b.Fatal(err)
		}
		baseTime += time.Since(start)
		baseRows = len(rows)
		b.StartTimer()
		if rowSink, err = tb.Generate(ctx, table.Query{}); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(b.Elapsed())/float64(baseTime), "x_loaded_modules_pid_path")
	b.ReportMetric(float64(baseRows), "module_rows")
	b.ReportMetric(float64(len(rowSink)), "rows")
}

// rssHelperEnv makes the test binary a helper that runs one full scan and
// prints its row count (BenchmarkPeakRSS measures its peak RSS).
const rssHelperEnv = "MODHUNT_UNBACKED_RSS_HELPER"

func TestMain(m *testing.M) {
	if os.Getenv(rssHelperEnv) != "" {
		tb, err := New(deps.Deps{})
		if err != nil {
			panic(err)
		}
		rows, err := tb.Generate(context.Background(), table.Query{})
		if err != nil {
			panic(err)
		}
		if _, err := os.Stdout.WriteString(strconv.Itoa(len(rows)) + "\n"); err != nil {
			panic(err)
		}
		os.Exit(0)
	}
	os.Exit(m.Run())
}

// rssSleepers is how many extra processes the memory figure is measured
// with: the README's budget is for a host of 1,000 ordinary processes.
const rssSleepers = 1000

// BenchmarkPeakRSS re-executes this test binary as a helper that runs one
// full scan with 1,000 extra sleeping processes present, and reports the
// helper's peak resident set (getrusage ru_maxrss), to hold against the
// extension's budget in the README (< 50 MB).
func BenchmarkPeakRSS(b *testing.B) {
	sim.NeedRoot(b)
	sim.StartSleepers(b, rssSleepers)
	exe, err := os.Executable()
	if err != nil {
		b.Fatal(err)
	}
	var peakKB int64
	for b.Loop() {
		cmd := exec.Command(exe, "-test.run=^$")
		cmd.Env = append(os.Environ(), rssHelperEnv+"=1")
		out, err := cmd.Output()
		if err != nil {
			b.Fatalf("helper: %v", err)
		}
		if _, err := strconv.Atoi(strings.TrimSpace(string(out))); err != nil {
			b.Fatalf("helper said %q", out)
		}
		if kb := cmd.ProcessState.SysUsage().(*syscall.Rusage).Maxrss; kb > peakKB {
			peakKB = kb
		}
	}
	b.ReportMetric(float64(peakKB)/1024, "peak_rss_MB")
}
