package osquery_test

import (
	"bytes"
	"context"
	"os"
	"strconv"
	"strings"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/modhunt/modhunt/test/osquery/osqueryd"
	"github.com/modhunt/modhunt/test/sim"
)

// benchSleepers is the extra process population of the scan benchmarks, as
// in tables/loadedmodules.
const benchSleepers = 300

// rawMaps reads every /proc/*/maps through one reused buffer, parsing
// nothing: the floor no module inventory can go below. It returns how many
// processes it read.
func rawMaps(b *testing.B, buf []byte) int {
	f, err := os.Open("/proc")
	if err != nil {
		b.Fatal(err)
	}
	names, err := f.Readdirnames(-1)
	_ = f.Close()
	if err != nil {
		b.Fatal(err)
	}
	procs := 0
	for _, n := range names {
		if n[0] < '1' || n[0] > '9' {
			continue
		}
		fd, err := unix.Open("/proc/"+n+"/maps", unix.O_RDONLY|unix.O_CLOEXEC, 0)
		if err != nil {
			continue
		}
		procs++
		for {
			k, err := unix.Read(fd, buf)
			if k <= 0 || err != nil {
				break
			}
		}
		_ = unix.Close(fd)
	}
	return procs
}

// cpuTime is the CPU time (user and system) a process has used: from
// getrusage for this one, from /proc/PID/stat for another (clock ticks of
// 1/100 s, USER_HZ on every Linux architecture).
func cpuTime(b *testing.B, pid int) time.Duration {
	if pid == os.Getpid() {
		var ru unix.Rusage
		if err := unix.Getrusage(unix.RUSAGE_SELF, &ru); err != nil {
			b.Fatal(err)
		}
		return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
	}
	data, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		b.Fatal(err)
	}
	// utime and stime are fields 14 and 15; comm (field 2) ends at the
	// last ')'.
	fields := strings.Fields(string(data[bytes.LastIndexByte(data, ')')+1:]))
	utime, err1 := strconv.ParseInt(fields[11], 10, 64)
	stime, err2 := strconv.ParseInt(fields[12], 10, 64)
	if err1 != nil || err2 != nil {
		b.Fatalf("stat of %d: %q", pid, data)
	}
	return time.Duration(utime+stime) * 10 * time.Millisecond
}

// BenchmarkPrunedScanOverOsquery is SELECT pid, path FROM
// process_loaded_modules over every process as osqueryd runs it: the
// deployed modhunt.ext under the extension-manager double, one generate
// call over Thrift per iteration with the context osqueryd sends for that
// statement, rows decoded on the double's side. Each iteration also reads
// every /proc/*/maps raw (interleaved, so both see the same load):
//
//   - x_raw_maps: the generate's wall time over the raw read's;
//   - x_raw_maps_cpu: CPU time, the extension's plus this process's
//     during the generate (the double decoding the rows, as osqueryd's
//     worker would), over this process's during the raw read. On a shared
//     machine wall time also counts waiting for a core; CPU time is what
//     osqueryd's watchdog limits.
//
// select_star is the same call for SELECT *, for what pruning buys.
func BenchmarkPrunedScanOverOsquery(b *testing.B) {
	sim.NeedRoot(b)
	sim.StartSleepers(b, benchSleepers)
	mgr := startManager(b)
	// Not --verbose: debug logging is not what osqueryd runs by default.
	ext := startExtension(b, "--socket", mgr.Path(), "--timeout", "3", "--interval", "1")
	ctx, cancel := context.WithTimeout(b.Context(), 10*time.Second)
	reg, err := mgr.WaitRegistered(ctx, "modhunt")
	if err == nil {
		err = mgr.WaitListening(ctx, reg.UUID)
	}
	cancel()
	if err != nil {
		b.Fatal(err)
	}
	cols, err := reg.Columns(loadedModules)
	if err != nil {
		b.Fatal(err)
	}
	self, extPID := os.Getpid(), ext.cmd.Process.Pid
	for _, bc := range []struct {
		name string
		used []string
	}{
		{"pid_path", []string{"pid", "path"}},
		{"select_star", nil},
	} {
		b.Run(bc.name, func(b *testing.B) {
			qc := osqueryd.QueryContext{Columns: cols, Used: bc.used}
			buf := make([]byte, 64<<10)
			var raw, rawCPU, genCPU, selfSum, extSum time.Duration
			rows, procs := 0, 0
			for b.Loop() {
				b.StopTimer()
				start, cpu := time.Now(), cpuTime(b, self)
				procs = rawMaps(b, buf)
				raw += time.Since(start)
				rawCPU += cpuTime(b, self) - cpu
				cpu, extCPU := cpuTime(b, self), cpuTime(b, extPID)
				b.StartTimer()
				resp, err := mgr.Generate(b.Context(), reg.UUID, loadedModules, qc)
				b.StopTimer()
				if err != nil || resp.Status.Code != 0 {
					b.Fatalf("generate: %v %v", err, resp.GetStatus())
				}
				dself, dext := cpuTime(b, self)-cpu, cpuTime(b, extPID)-extCPU
				genCPU += dself + dext
				selfSum += dself
				extSum += dext
				rows = len(resp.Response)
				b.StartTimer()
			}
			b.ReportMetric(float64(b.Elapsed())/float64(raw), "x_raw_maps")
			b.ReportMetric(float64(genCPU)/float64(rawCPU), "x_raw_maps_cpu")
			b.ReportMetric(float64(raw)/float64(b.N)/1e6, "raw_ms")
			b.ReportMetric(float64(rows), "rows")
			b.ReportMetric(float64(selfSum)/float64(b.N)/1e6, "double_cpu_ms")
			b.ReportMetric(float64(extSum)/float64(b.N)/1e6, "ext_cpu_ms")
			b.ReportMetric(float64(rawCPU)/float64(b.N)/1e6, "raw_cpu_ms")
			b.ReportMetric(float64(procs), "procs")
		})
	}
}
