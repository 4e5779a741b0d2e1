package pefacts

import (
	"bytes"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/modhunt/modhunt/internal/pefacts/clitest"
)

// shared is a directory the tests build tools and fixtures into once per
// run (mcs and mingw builds are the slow part).
var shared string

func TestMain(m *testing.M) { os.Exit(clitest.Main(m, "pefacts-test-", &shared)) }

// tool returns the path of a build tool, or skips the test naming the
// package that provides it (.ci/run installs them all, so CI never skips).
func tool(t testing.TB, name, pkg string) string {
	t.Helper()
	p, err := exec.LookPath(name)
	if err != nil {
		t.Skipf("%s not installed (Debian package %s; .ci/run installs it)", name, pkg)
	}
	return p
}

func run(t testing.TB, dir string, name string, args ...string) string {
	t.Helper()
	cmd := exec.Command(name, args...)
	cmd.Dir = dir
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Run(); err != nil {
		t.Fatalf("%s %s: %v\n%s", name, strings.Join(args, " "), err, out.String())
	}
	return out.String()
}

// once runs build at most once per key and run, sharing its result (and
// its failure) between tests.
type onceResult struct {
	once sync.Once
	path string
	err  string
}

var (
	onceMu  sync.Mutex
	onceMap = map[string]*onceResult{}
)

func buildOnce(t testing.TB, key string, build func(dir string) (string, error)) string {
	t.Helper()
	onceMu.Lock()
	r := onceMap[key]
	if r == nil {
		r = &onceResult{}
		onceMap[key] = r
	}
	onceMu.Unlock()
	r.once.Do(func() {
		dir := filepath.Join(shared, key)
		if err := os.MkdirAll(dir, 0o755); err != nil {
			r.err = err.Error()
			return
		}
		p, err := build(dir)
		if err != nil {
			r.err = err.Error()
		}
		r.path = p
	})
	if r.err != "" {
		t.Fatalf("building %s: %s", key, r.err)
	}
	return r.path
}

func command(dir, name string, args ...string) error {
	cmd := exec.Command(name, args...)
	cmd.Dir = dir
	out, err := cmd.CombinedOutput()
	if err != nil {
		return fmt.Errorf("%s %s: %w\n%s", name, strings.Join(args, " "), err, out)
	}
	return nil
}

func readFile(t testing.TB, p string) []byte {
	t.Helper()
	b, err := os.ReadFile(p)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// parseFile parses p through an *os.File, the way the file-facts layer
// will call Parse.
func parseFile(t testing.TB, p string) *Facts {
	t.Helper()
	f, err := os.Open(p)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		t.Fatal(err)
	}
	facts, err := Parse(f, st.Size(), LayoutFile, Limits{})
	if err != nil {
		t.Fatalf("Parse(%s): %v", p, err)
	}
	return facts
}
