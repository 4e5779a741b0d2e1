package dotnetloads

import (
	"path/filepath"
	"strconv"
	"testing"

	"github.com/modhunt/modhunt/tables/inventory"
	"github.com/modhunt/modhunt/test/wine/winfix"
)

// BenchmarkNoCLRHostWindows: the Windows form of BenchmarkNoCLRHost, under
// Wine: over native processes only (loadlib.exe, pinned by pid), the table
// against the cheapest scan of process_loaded_modules (pid and path) over
// the same processes, timed back to back in each iteration: x-loaded-modules
// is the ratio of their total times (target <= 1.2). Both read each
// process's loader list and memory view; the table reads nothing more.
func BenchmarkNoCLRHostWindows(b *testing.B) {
	dir := winfix.Dir(b)
	tmp := b.TempDir()
	var pids []int
	for i := range 4 {
		dll := filepath.Join(tmp, "payload"+strconv.Itoa(i)+".dll")
		winfix.CopyFile(b, filepath.Join(dir, "payload.dll"), dll)
		pid, _ := winfix.Start(b, filepath.Join(dir, "loadlib.exe"), "loaded", dll)
		pids = append(pids, int(pid))
	}
	inv := inventory.New(inventory.Config{})
	benchAgainstLoadedModules(b, inv, pids)
}
