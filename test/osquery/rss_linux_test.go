package osquery_test

import (
	"bufio"
	"fmt"
	"os"
	"strconv"
	"strings"
	"testing"

	"github.com/modhunt/modhunt/test/osquery/osqueryd"
	"github.com/modhunt/modhunt/test/sim"
)

// rssProcesses is the population the issue sets the memory target at.
const rssProcesses = 1000

// BenchmarkExtensionPeakRSS measures the deployed binary, not a test
// harness: modhunt.ext runs under the extension-manager double exactly as
// osqueryd starts it, answers full-table generate calls with 1,000 extra
// processes on the host, and its peak resident set (VmHWM, what osqueryd's
// watchdog would see grow) is reported per table.
func BenchmarkExtensionPeakRSS(b *testing.B) {
	sim.NeedRoot(b)
	sim.StartSleepers(b, rssProcesses)
	for _, tbl := range []string{"process_loaded_modules", "untrusted_module_loads", "module_detections"} {
		b.Run(tbl, func(b *testing.B) {
			mgr := startManager(b)
			ext, reg := running(b, mgr)
			cols, err := reg.Columns(tbl)
			if err != nil {
				b.Fatal(err)
			}
			rows := 0
			for b.Loop() {
				resp, err := mgr.Generate(b.Context(), reg.UUID, tbl, osqueryd.QueryContext{Columns: cols})
				if err != nil || resp.Status.Code != 0 {
					b.Fatalf("generate %s: %v %v", tbl, err, resp.GetStatus())
				}
				rows = len(resp.Response)
			}
			hwm, err := vmHWM(ext.cmd.Process.Pid)
			if err != nil {
				b.Fatal(err)
			}
			b.ReportMetric(float64(hwm)/1024, "peak_rss_MB")
			b.ReportMetric(float64(rows), "rows")
		})
	}
}

// vmHWM is a process's peak resident set in KiB.
func vmHWM(pid int) (int64, error) {
	f, err := os.Open(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return 0, err
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if v, ok := strings.CutPrefix(sc.Text(), "VmHWM:"); ok {
			return strconv.ParseInt(strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(v), "kB")), 10, 64)
		}
	}
	return 0, fmt.Errorf("pid %d: no VmHWM in status", pid)
}
