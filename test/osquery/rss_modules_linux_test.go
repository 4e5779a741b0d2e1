package osquery_test

import (
	"fmt"
	"path/filepath"
	"strconv"
	"testing"
	"time"

	"github.com/modhunt/modhunt/test/osquery/osqueryd"
	"github.com/modhunt/modhunt/test/sim"
)

// BenchmarkManyModulesPeakRSS is the deployed binary's peak resident set
// (VmHWM) for generate calls on one process that maps 2,000, 5,000 or
// 20,000 modules, each a file from /dev/shm that rules fire on (two
// module_detections rows per module). The calls pin pid to that process
// (the rest of the host, whatever else runs on it, does not blur the
// figure). process_loaded_modules, one row per module with nothing per
// process repeated, is the baseline of the same run: x_loaded_modules is
// module_detections' peak over it. A fresh modhunt.ext serves each
// measurement, so each peak is that table's own. The manager double waits
// 120 s for an answer (osqueryd waits 300 s) since a 20,000-module scan
// takes seconds on a loaded machine.
func BenchmarkManyModulesPeakRSS(b *testing.B) {
	sim.NeedRoot(b)
	sim.NeedPython(b)
	for _, n := range []int{2000, 5000, 20000} {
		dir := sim.TempDirIn(b, "/dev/shm", "modhunt-rss-")
		sim.SparseFiles(b, dir, "m", n, 4096)
		mapper := sim.StartMapper(b, dir)
		peaks := map[string]float64{}
		for _, tbl := range []string{"process_loaded_modules", "module_detections"} {
			b.Run(fmt.Sprintf("modules=%d/%s", n, tbl), func(b *testing.B) {
				mgr, err := osqueryd.Listen(filepath.Join(shortDir(b), "osquery.em"), 120*time.Second)
				if err != nil {
					b.Fatal(err)
				}
				b.Cleanup(mgr.Close)
				ext, reg := running(b, mgr)
				cols, err := reg.Columns(tbl)
				if err != nil {
					b.Fatal(err)
				}
				rows := 0
				for b.Loop() {
					resp, err := mgr.Generate(b.Context(), reg.UUID, tbl, osqueryd.QueryContext{
						Columns: cols, Constraints: map[string][]osqueryd.Constraint{"pid": osqueryd.In(strconv.Itoa(mapper.PID))},
					})
					if err != nil {
						b.Fatalf("generate %s: %v", tbl, err)
					}
					if resp.Status.Code != 0 {
						b.Fatalf("generate %s: %v", tbl, resp.Status)
					}
					rows = len(resp.Response)
				}
				hwm, err := vmHWM(ext.cmd.Process.Pid)
				if err != nil {
					b.Fatal(err)
				}
				peaks[tbl] = float64(hwm) / 1024
				b.ReportMetric(peaks[tbl], "peak_rss_MB")
				b.ReportMetric(float64(rows), "rows")
				if base := peaks["process_loaded_modules"]; tbl == "module_detections" && base > 0 {
					b.ReportMetric(peaks[tbl]/base, "x_loaded_modules")
				}
			})
		}
		_ = mapper.Cmd.Process.Kill() // the next size starts with this one gone
	}
}
