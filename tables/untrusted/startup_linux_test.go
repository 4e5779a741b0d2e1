package untrusted

import (
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/modhunt/modhunt/test/sim"
)

// debianPython is the distribution's python3, whose modules are packaged
// (python3 on PATH may be a pyenv build with its own libpython).
func debianPython(t *testing.T) string {
	t.Helper()
	for _, p := range []string{"/usr/bin/python3"} {
		if _, err := os.Stat(p); err == nil {
			return p
		}
	}
	t.Skip("needs the distribution's python3: apt-get install python3")
	return ""
}

// A preload that wipes (or renames) LD_PRELOAD in its own environment from
// its constructor leaves /proc/PID/environ with no trace of it. The module
// is still mapped where only ld.so's start-up puts a preload, and no
// DT_NEEDED explains it: the row must still say preloaded, for a small C
// program, for a program with several libraries, and for python3.
func TestLiveWipedPreloadStillPreloaded(t *testing.T) {
	t.Parallel()
	sim.NeedRoot(t)
	dir := sim.ExecDirIn(t, "/tmp", "modhunt-wiped-")
	launch := sim.BuildLaunch(t, dir)
	loader := sim.BuildMultiLoader(t, dir)
	sleep := sim.NeedTool(t, "sleep", "coreutils")
	python := debianPython(t)
	tb := newTable(t, Config{})
	for _, c := range []struct {
		name, source string
		argv         []string
		ready        bool
	}{
		{"wiped sleep", sim.WipingPreloadSource, []string{sleep, "60"}, false},
		{"renamed sleep", sim.RenamingPreloadSource, []string{sleep, "60"}, false},
		{"wiped loader", sim.WipingPreloadSource, []string{loader}, true},
		{"wiped python3", sim.WipingPreloadSource, []string{python, "-c", "import time; print('ready', flush=True); time.sleep(60)"}, true},
	} {
		t.Run(c.name, func(t *testing.T) {
			lib := sim.BuildLibFrom(t, filepath.Join(dir, strings.ReplaceAll(c.name, " ", "-")+".so"), c.source)
			args := append([]string{"LD_PRELOAD=" + lib, "--"}, c.argv...)
			var p *sim.Proc
			if c.ready {
				p = sim.Start(t, launch, args...)
			} else {
				p = sim.StartNoWait(t, launch, args...)
				sim.WaitSleeping(t, p.PID, sleep)
			}
			env := sim.Environ(t, p.PID)
			require.False(t, slices.ContainsFunc(env, func(e string) bool { return strings.HasPrefix(e, "LD_PRELOAD=") }),
				"the preload did not hide itself: %q", env)
			row, _ := waitRow(t, tb, p.PID, lib)
			assert.Equal(t, "outside_trusted_dirs,preloaded,temp_dir", row[col("reasons")])
			assert.Equal(t, "high", row[col("severity")])
		})
	}
}

// The evidence must not call a dlopen()ed module preloaded, also where one
// lands among the preloads' addresses: a small module dlopen()ed by a C
// program goes into the hole /etc/ld.so.cache left right below ld.so.
// Modules of several sizes, by a C loader and by python3's ctypes.
func TestLiveDlopenIsNotStartupEvidence(t *testing.T) {
	t.Parallel()
	sim.NeedRoot(t)
	dir := sim.ExecDirIn(t, "/tmp", "modhunt-notpre-")
	loader := sim.BuildMultiLoader(t, dir)
	var libs []string
	for i, pad := range []int{0, 1 << 12, 6 << 12, 40 << 12, 600 << 12} {
		src := fmt.Sprintf("int modhunt_probe(void) { return 42; }\nconst char modhunt_pad%d[%d] = {1};\n", i, pad+1)
		libs = append(libs, sim.BuildLibFrom(t, filepath.Join(dir, fmt.Sprintf("libnp%d.so", i)), src))
	}
	tb := newTable(t, Config{})

	p := sim.Start(t, loader, libs...)
	// The point of the test: the smallest module sits above libc, where
	// preloads go, in the hole the cache mapping left.
	require.True(t, mappedAbove(t, p.PID, libs[0], "libc.so.6"), "the dlopen()ed module did not land among the start-up mappings; layout:\n%s", mapsText(t, p.PID))
	for _, lib := range libs {
		assert.NotContains(t, reasonsOf(t, tb, p.PID, lib), "preloaded", lib)
	}

	for _, lib := range libs[:2] {
		py := sim.Start(t, debianPython(t), "-c", "import ctypes, sys, time\nctypes.CDLL(sys.argv[1])\nprint('ready', flush=True)\ntime.sleep(60)", lib)
		assert.NotContains(t, reasonsOf(t, tb, py.PID, lib), "preloaded", lib)
	}
}

// mappedAbove reports whether lib's lowest mapping is above every mapping
// of the file named other.
func mappedAbove(t *testing.T, pid int, lib, other string) bool {
	t.Helper()
	var libLo, otherHi uint64
	for _, line := range strings.Split(mapsText(t, pid), "\n") {
		var lo, hi uint64
		if _, err := fmt.Sscanf(line, "%x-%x", &lo, &hi); err != nil {
			continue
		}
		switch {
		case strings.HasSuffix(line, " "+lib) && (libLo == 0 || lo < libLo):
			libLo = lo
		case strings.HasSuffix(line, "/"+other):
			otherHi = max(otherHi, hi)
		}
	}
	return libLo != 0 && otherHi != 0 && libLo > otherHi
}

func mapsText(t *testing.T, pid int) string {
	t.Helper()
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/maps", pid))
	require.NoError(t, err)
	return string(b)
}
