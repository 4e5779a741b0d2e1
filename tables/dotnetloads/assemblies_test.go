package dotnetloads

import (
	"fmt"
	"os"
	"slices"
	"sync"
	"testing"

	"github.com/modhunt/modhunt/internal/pefacts/clitest"
	"github.com/modhunt/modhunt/tables/table"
	"github.com/modhunt/modhunt/test/sim"
)

func TestMain(m *testing.M) { os.Exit(clitest.Main(m, "dotnetloads-test-", &shared)) }

// shared holds what tests compile once per run (TestMain removes it).
var shared string

// The assemblies these tests read are compiled by Mono's C# compiler in
// the test (Debian's mono-mcs; .ci/run installs it).

// compileCS compiles src into dir/out with mcs (clitest.CompileCS),
// failing the test when it cannot.
func compileCS(tb testing.TB, dir, out, src string, args ...string) string {
	tb.Helper()
	path, err := clitest.CompileCS(sim.NeedTool(tb, "mcs", "mono-mcs"), dir, out, src, args...)
	if err != nil {
		tb.Fatal(err)
	}
	return path
}

// libSource is a small library of the given name and version with one
// public static method Run.
func libSource(class, version string) string {
	return fmt.Sprintf(`using System.Reflection;
[assembly: AssemblyVersion(%q)]
public class %s { public static int Run() { return 42; } }
`, version, class)
}

// strongNameKey writes a fresh strong-name key for mcs -keyfile.
func strongNameKey(tb testing.TB, path string) {
	tb.Helper()
	if _, err := clitest.StrongNameKey(path); err != nil {
		tb.Fatal(err)
	}
}

func rowMaps(rows []table.Row) []map[string]string {
	out := make([]map[string]string, 0, len(rows))
	for _, r := range rows {
		m := map[string]string{}
		for i, c := range Columns {
			m[c.Name] = r[i]
		}
		out = append(out, m)
	}
	return out
}

func byName(rows []map[string]string, name string) []map[string]string {
	var out []map[string]string
	for _, r := range rows {
		if r["assembly_name"] == name {
			out = append(out, r)
		}
	}
	return out
}

// memCounter records the pids whose memory the scanner opened.
type memCounter struct {
	mu   sync.Mutex
	pids []int
}

func (c *memCounter) hook(pid int) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.pids = append(c.pids, pid)
}

func (c *memCounter) opened() []int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return slices.Clone(c.pids)
}
