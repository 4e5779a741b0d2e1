//go:build !windows

// End-to-end tests of modhunt.ext as osqueryd runs it: the real binary,
// started with osqueryd's arguments, registering with the extension-manager
// double in ./osqueryd and answering its calls over Thrift.
package osquery_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"go.uber.org/goleak"

	"github.com/modhunt/modhunt/test/osquery/osqueryd"
	"github.com/modhunt/modhunt/test/sim"
)

// binary is modhunt.ext, built once for the whole run by TestMain.
var binary string

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "modhunt-e2e")
	if err != nil {
		fmt.Fprintln(os.Stderr, "e2e:", err)
		os.Exit(1)
	}
	binary = filepath.Join(dir, "modhunt.ext")
	// go test puts its own go first on PATH.
	build := exec.Command("go", "build", "-o", binary, "github.com/modhunt/modhunt/extension")
	build.Env = append(os.Environ(), "CGO_ENABLED=0")
	if out, err := build.CombinedOutput(); err != nil {
		fmt.Fprintf(os.Stderr, "e2e: building modhunt.ext: %v\n%s", err, out)
		_ = os.RemoveAll(dir)
		os.Exit(1)
	}
	goleak.VerifyTestMain(m, goleak.Cleanup(func(code int) {
		_ = os.RemoveAll(dir)
		os.Exit(code)
	}))
}

// shortDir is a temp dir short enough for unix socket paths: osquery-go
// refuses a manager socket over 97 characters, and t.TempDir under a long
// test name gets close.
func shortDir(t testing.TB) string { return sim.TempDirIn(t, "/tmp", "mh") }

// startManager starts an extension-manager double, as osqueryd's
// --extensions_socket.
func startManager(t testing.TB) *osqueryd.Manager {
	t.Helper()
	mgr, err := osqueryd.Listen(filepath.Join(shortDir(t), "osquery.em"), 10*time.Second)
	require.NoError(t, err)
	t.Cleanup(mgr.Close)
	return mgr
}

// extension is one running modhunt.ext.
type extension struct {
	cmd    *exec.Cmd
	stderr *sim.SyncBuffer
	exited chan struct{}
	err    error // valid once exited is closed
}

// osquerydArgs are the arguments osqueryd gives an autoloaded extension
// (osquery/core/watcher.cpp, process/posix/process.cpp): --verbose first
// when osqueryd is verbose, then socket, timeout and interval. The interval
// is 1 s here so that a vanished manager is noticed quickly.
func osquerydArgs(socket string) []string {
	return []string{"--verbose", "--socket", socket, "--timeout", "3", "--interval", "1"}
}

// startExtension runs modhunt.ext with args, as osqueryd does.
func startExtension(t testing.TB, args ...string) *extension {
	t.Helper()
	e := &extension{stderr: &sim.SyncBuffer{}, exited: make(chan struct{})}
	e.cmd = exec.Command(binary, args...)
	e.cmd.Stdout = e.stderr
	e.cmd.Stderr = e.stderr
	e.cmd.Env = append(os.Environ(), "OSQUERY_EXTENSION="+strconv.Itoa(os.Getpid()))
	require.NoError(t, e.cmd.Start())
	go func() {
		e.err = e.cmd.Wait()
		close(e.exited)
	}()
	t.Cleanup(func() {
		select {
		case <-e.exited:
		default:
			_ = e.cmd.Process.Kill()
			<-e.exited
		}
		if t.Failed() {
			t.Logf("modhunt.ext output:\n%s", e.stderr)
		}
	})
	return e
}

// waitExit waits for the extension to exit and returns its status.
func (e *extension) waitExit(t *testing.T, within time.Duration) int {
	t.Helper()
	select {
	case <-e.exited:
	case <-time.After(within):
		t.Fatalf("modhunt.ext still running after %s", within)
	}
	if e.err == nil {
		return 0
	}
	var exit *exec.ExitError
	require.ErrorAs(t, e.err, &exit, "modhunt.ext did not exit normally")
	return exit.ExitCode()
}

// running starts modhunt.ext against mgr and waits until osqueryd could
// call it: registered and listening.
func running(t testing.TB, mgr *osqueryd.Manager, extra ...string) (*extension, osqueryd.Extension) {
	t.Helper()
	e := startExtension(t, append(osquerydArgs(mgr.Path()), extra...)...)
	ctx, cancel := context.WithTimeout(t.Context(), 10*time.Second)
	defer cancel()
	reg, err := mgr.WaitRegistered(ctx, "modhunt")
	require.NoError(t, err, "output:\n%s", e.stderr)
	require.NoError(t, mgr.WaitListening(ctx, reg.UUID), "output:\n%s", e.stderr)
	return e, reg
}

// spec is the part of osquery-go's OsqueryTableSpec the tests read.
type spec struct {
	Name        string   `json:"name"`
	Description string   `json:"description"`
	Platforms   []string `json:"platforms"`
	Examples    []string `json:"examples"`
	Columns     []struct {
		Name        string `json:"name"`
		Type        string `json:"type"`
		Description string `json:"description"`
		Index       bool   `json:"index"`
		Optimized   bool   `json:"optimized"`
		Hidden      bool   `json:"hidden"`
		Required    bool   `json:"required"`
	} `json:"columns"`
}

var (
	specOnce sync.Once
	specs    []spec
	specErr  error
)

// tableSpecs runs modhunt.ext --spec once and parses its output.
func tableSpecs(t *testing.T) []spec {
	t.Helper()
	specOnce.Do(func() {
		var stdout, stderr bytes.Buffer
		cmd := exec.Command(binary, "--spec")
		cmd.Stdout, cmd.Stderr = &stdout, &stderr
		if err := cmd.Run(); err != nil {
			specErr = fmt.Errorf("modhunt.ext --spec: %w\n%s", err, stderr.String())
			return
		}
		specErr = json.Unmarshal(stdout.Bytes(), &specs)
	})
	require.NoError(t, specErr)
	return specs
}

// specOf returns the spec of the named table, or skips the test naming the
// table that is not registered yet.
func specOf(t *testing.T, name string) spec {
	t.Helper()
	for _, s := range tableSpecs(t) {
		if s.Name == name {
			return s
		}
	}
	t.Skipf("table %s is not served on this platform (tables.SpecsFor; not in --spec); its end-to-end rows cannot be checked", name)
	return spec{}
}

// osqueryType turns a spec's type ("bigint", "unsigned_bigint") back into
// the route's ("BIGINT", "UNSIGNED BIGINT").
func osqueryType(specType string) string {
	return strings.ToUpper(strings.ReplaceAll(specType, "_", " "))
}
