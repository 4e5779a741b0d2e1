package loadedmodules

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/shirou/gopsutil/v4/process"
	"go.uber.org/goleak"
	"golang.org/x/sys/unix"

	"github.com/modhunt/modhunt/tables/deps"
	"github.com/modhunt/modhunt/tables/table"
	"github.com/modhunt/modhunt/test/sim"
)

// BenchSleepers is how many extra sleeping processes the benchmarks run
// against; RSSProcesses is the population for the peak-RSS measurement.
const (
	BenchSleepers = 300
	RSSProcesses  = 1000
	rssHelperEnv  = "MODHUNT_RSS_HELPER"
)

var (
	sleepOnce sync.Once
	sleepPIDs []int
	sleepStop = func() {}
	sleepErr  error
)

func TestMain(m *testing.M) {
	if os.Getenv(rssHelperEnv) == "1" {
		// Child of BenchmarkPeakRSS: one full scan, then report the rows.
		rows, err := mustNew(deps.Deps{}).Generate(context.Background(), table.Query{})
		if err != nil {
			fmt.Fprintln(os.Stderr, "scan:", err)
			os.Exit(2)
		}
		fmt.Println(len(rows))
		os.Exit(0)
	}
	code := m.Run()
	sleepStop()
	if code == 0 {
		if err := goleak.Find(); err != nil {
			fmt.Fprintln(os.Stderr, "goleak:", err)
			code = 1
		}
	}
	os.Exit(code)
}

func benchSetup(b *testing.B) {
	b.Helper()
	sim.NeedRoot(b)
	sleepOnce.Do(func() { sleepPIDs, sleepStop, sleepErr = sim.Sleepers(BenchSleepers) })
	if sleepErr != nil {
		b.Fatal(sleepErr)
	}
}

var rowSink []table.Row

// The raw floors read these files of every process through one reused
// buffer, parsing nothing: rawMaps is the maps files alone; rawNeeded is
// what the table must read, besides maps each process's stat (parent,
// name), cmdline and exe link, which every row carries.
var (
	rawMaps   = rawFiles{files: []string{"maps"}}
	rawNeeded = rawFiles{files: []string{"maps", "stat", "cmdline"}, exeLink: true}
)

type rawFiles struct {
	files   []string
	exeLink bool
}

// rawRead lists /proc and reads what is asked of every process. It returns
// how many processes it read (those with at least one file it could open).
func rawRead(b *testing.B, buf []byte, what rawFiles) int {
	f, err := os.Open("/proc")
	if err != nil {
		b.Fatal(err)
	}
	names, err := f.Readdirnames(-1)
	f.Close()
	if err != nil {
		b.Fatal(err)
	}
	procs := 0
	for _, n := range names {
		if n[0] < '1' || n[0] > '9' {
			continue
		}
		opened := false
		for _, file := range what.files {
			fd, err := unix.Open("/proc/"+n+"/"+file, unix.O_RDONLY|unix.O_CLOEXEC, 0)
			if err != nil {
				continue
			}
			opened = true
			for {
				k, err := unix.Read(fd, buf)
				if k <= 0 || err != nil {
					break
				}
			}
			_ = unix.Close(fd)
		}
		if what.exeLink {
			_, _ = unix.Readlink("/proc/"+n+"/exe", buf)
		}
		if opened {
			procs++
		}
	}
	return procs
}

func fullScan(b *testing.B, tbl *table.Table) []table.Row {
	rows, err := tbl.Generate(context.Background(), table.Query{})
	if err != nil {
		b.Fatal(err)
	}
	return rows
}

// timed runs f and returns how long it took, with the benchmark timer
// stopped: the baseline runs interleaved with the measured work, so both
// see the same load on a shared machine.
func timed(b *testing.B, f func()) time.Duration {
	b.StopTimer()
	start := time.Now()
	f()
	d := time.Since(start)
	b.StartTimer()
	return d
}

// BenchmarkRawMapsRead is the floor on its own.
func BenchmarkRawMapsRead(b *testing.B) { benchRawRead(b, rawMaps) }

// BenchmarkRawNeededRead is the floor for everything the table reads.
func BenchmarkRawNeededRead(b *testing.B) { benchRawRead(b, rawNeeded) }

func benchRawRead(b *testing.B, what rawFiles) {
	benchSetup(b)
	buf := make([]byte, 64<<10)
	procs := 0
	for b.Loop() {
		procs = rawRead(b, buf, what)
	}
	b.ReportMetric(float64(procs), "procs")
}

// BenchmarkFullScan is the table's Generate over every process; each
// iteration also runs both floors (untimed): x_raw_read is the scan over
// reading every maps raw, x_needed_read over raw reads of every file the
// table needs (maps, stat, cmdline, exe), and needed_over_maps how much of
// the first ratio those extra files alone account for.
func BenchmarkFullScan(b *testing.B) {
	benchSetup(b)
	tbl := mustNew(deps.Deps{})
	buf := make([]byte, 64<<10)
	var raw, needed time.Duration
	for b.Loop() {
		raw += timed(b, func() { rawRead(b, buf, rawMaps) })
		needed += timed(b, func() { rawRead(b, buf, rawNeeded) })
		rowSink = fullScan(b, tbl)
	}
	b.ReportMetric(float64(len(rowSink)), "rows")
	b.ReportMetric(float64(b.Elapsed())/float64(raw), "x_raw_read")
	b.ReportMetric(float64(b.Elapsed())/float64(needed), "x_needed_read")
	b.ReportMetric(float64(needed)/float64(raw), "needed_over_maps")
}

var gopsutilSink int

func gopsutilMaps(b *testing.B) int {
	ctx := context.Background()
	pids, err := process.PidsWithContext(ctx)
	if err != nil {
		b.Fatal(err)
	}
	n := 0
	for _, pid := range pids {
		p, err := process.NewProcessWithContext(ctx, pid)
		if err != nil {
			continue
		}
		maps, err := p.MemoryMapsWithContext(ctx, false)
		if err != nil {
			continue
		}
		n += len(*maps)
	}
	return n
}

// BenchmarkGopsutilMemoryMaps is what gopsutil offers for the same job:
// MemoryMaps(false) for every pid (it reads smaps). x_full_scan is its
// total over the table's, run interleaved.
func BenchmarkGopsutilMemoryMaps(b *testing.B) {
	benchSetup(b)
	tbl := mustNew(deps.Deps{})
	var full time.Duration
	for b.Loop() {
		full += timed(b, func() { rowSink = fullScan(b, tbl) })
		gopsutilSink = gopsutilMaps(b)
	}
	b.ReportMetric(float64(b.Elapsed())/float64(full), "x_full_scan")
}

// BenchmarkPidFilter is Generate with pid = one sleeper. Every 50th
// iteration also runs a full scan (untimed); full_scan_per_op is how many
// pid-filtered scans fit in one full scan.
func BenchmarkPidFilter(b *testing.B) {
	benchSetup(b)
	tbl := mustNew(deps.Deps{})
	ctx := context.Background()
	q := pidQuery(sleepPIDs[len(sleepPIDs)/2])
	var full time.Duration
	fulls, i := 0, 0
	for b.Loop() {
		if i%50 == 0 {
			full += timed(b, func() { rowSink = fullScan(b, tbl) })
			fulls++
		}
		i++
		rows, err := tbl.Generate(ctx, q)
		if err != nil || len(rows) == 0 {
			b.Fatalf("rows %d, err %v", len(rows), err)
		}
		rowSink = rows
	}
	perOp := float64(b.Elapsed()) / float64(b.N)
	b.ReportMetric(float64(full)/float64(fulls)/perOp, "full_scan_per_op")
}

// BenchmarkPeakRSS re-executes this test binary as a helper that runs one
// full scan with RSSProcesses more sleeping processes present, and reports
// the helper's peak resident set (getrusage ru_maxrss).
func BenchmarkPeakRSS(b *testing.B) {
	benchSetup(b)
	sim.StartSleepers(b, RSSProcesses)
	exe, err := os.Executable()
	if err != nil {
		b.Fatal(err)
	}
	var peakKB int64
	rows := 0
	for b.Loop() {
		cmd := exec.Command(exe, "-test.run=^$")
		cmd.Env = append(os.Environ(), rssHelperEnv+"=1")
		out, err := cmd.Output()
		if err != nil {
			b.Fatalf("helper: %v", err)
		}
		if rows, err = strconv.Atoi(strings.TrimSpace(string(out))); err != nil || rows < RSSProcesses {
			b.Fatalf("helper scanned %q rows, want at least %d", out, RSSProcesses)
		}
		if kb := cmd.ProcessState.SysUsage().(*syscall.Rusage).Maxrss; kb > peakKB {
			peakKB = kb
		}
	}
	b.ReportMetric(float64(peakKB)/1024, "peak_rss_MB")
	b.ReportMetric(float64(rows), "rows")
}

// BenchmarkPrunedScan is Generate for SELECT pid, path (the maps alone):
// x_raw_read is it over reading every maps raw, the part of the
// osquery-protocol figure (test/osquery BenchmarkPrunedScanOverOsquery)
// that is the table's own.
func BenchmarkPrunedScan(b *testing.B) {
	benchSetup(b)
	tbl := mustNew(deps.Deps{})
	buf := make([]byte, 64<<10)
	q := table.Query{Used: table.UsedColumns("pid", "path")}
	var raw time.Duration
	for b.Loop() {
		raw += timed(b, func() { rawRead(b, buf, rawMaps) })
		rows, err := tbl.Generate(context.Background(), q)
		if err != nil {
			b.Fatal(err)
		}
		rowSink = rows
	}
	b.ReportMetric(float64(len(rowSink)), "rows")
	b.ReportMetric(float64(b.Elapsed())/float64(raw), "x_raw_read")
}

// BenchmarkPrunedStream is BenchmarkPrunedScan through Stream, the way the
// osquery host reads the table: each process's rows handed over in storage
// the next process reuses (the host encodes them; here they are counted).
// x_raw_read is it over reading every maps raw.
func BenchmarkPrunedStream(b *testing.B) {
	benchSetup(b)
	tbl := mustNew(deps.Deps{})
	buf := make([]byte, 64<<10)
	q := table.Query{Used: table.UsedColumns("pid", "path")}
	var raw time.Duration
	rows := 0
	for b.Loop() {
		raw += timed(b, func() { rawRead(b, buf, rawMaps) })
		rows = 0
		if err := tbl.Stream(context.Background(), q, func(batch []table.Row) error {
			rows += len(batch)
			return nil
		}); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(rows), "rows")
	b.ReportMetric(float64(b.Elapsed())/float64(raw), "x_raw_read")
}
