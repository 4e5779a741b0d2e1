package untrusted

import (
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"

	"github.com/modhunt/modhunt/test/sim"
)

// A process that pads its environment before LD_PRELOAD (the loader honours
// the variable wherever it sits) must still be seen as preloaded: the
// environment is read whole, not cut at a prefix an attacker can fill.
func TestPreloadBehindPaddedEnvironment(t *testing.T) {
	lib := sim.BuildLib(t, filepath.Join(t.TempDir(), "libpad.so"))
	sleep := sim.NeedTool(t, "sleep", "coreutils")
	// 100 KiB of padding: more than the 64 KiB that used to be read, less
	// than the 128 KiB the kernel allows one variable. env -i makes these
	// two the whole environment, in this order.
	p := sim.StartNoWait(t, "env", "-i", "PAD="+strings.Repeat("x", 100<<10), "LD_PRELOAD="+lib, sleep, "60")
	row, _ := waitRow(t, newTable(t, Config{}), p.PID, lib)
	assert.Contains(t, strings.Split(row[col("reasons")], ","), "preloaded")
}
