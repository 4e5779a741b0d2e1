package winfix

import (
	"bufio"
	"bytes"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"
)

// Dir is the folder of fixture programs (make wine-fixtures). The Makefile
// passes a Linux path, which Wine shows on its Z: drive. Without it the test
// is skipped, as in a plain go test outside make.
func Dir(t testing.TB) string {
	t.Helper()
	dir := os.Getenv("MODHUNT_WINE_FIXTURES")
	if dir == "" {
		t.Skip("MODHUNT_WINE_FIXTURES is not set: run make test-windows, which builds the fixtures and runs this under Wine")
	}
	if strings.HasPrefix(dir, "/") {
		dir = "Z:" + filepath.FromSlash(dir)
	}
	return dir
}

// CopyFile copies a fixture file to to.
func CopyFile(t testing.TB, from, to string) {
	t.Helper()
	data, err := os.ReadFile(from)
	if err != nil {
		t.Fatalf("fixture missing (make wine-fixtures): %v", err)
	}
	if err := os.WriteFile(to, data, 0o644); err != nil {
		t.Fatal(err)
	}
}

// Start runs the fixture program exe on dll and returns its pid and the
// addresses it printed in hex after word ("loaded", "mapped", ...) on its
// first line, which it prints once it is ready to be looked at. The process
// ends with the test: closing its stdin ends it, and it is killed in case
// that did not.
func Start(t testing.TB, exe, word, dll string) (uint32, []uint64) {
	t.Helper()
	cmd := exec.Command(exe, dll)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	stdin, err := cmd.StdinPipe()
	if err != nil {
		t.Fatal(err)
	}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatalf("start %s: %v", exe, err)
	}
	t.Cleanup(func() {
		_ = stdin.Close()
		_ = cmd.Process.Kill()
		_ = cmd.Wait()
	})
	line := make(chan string, 1)
	go func() {
		s, _ := bufio.NewReader(stdout).ReadString('\n')
		line <- strings.TrimSpace(s)
		_, _ = io.Copy(io.Discard, stdout)
	}()
	var s string
	select {
	case s = <-line:
	case <-time.After(time.Minute):
		t.Fatalf("%s printed nothing in a minute", exe)
	}
	rest, ok := strings.CutPrefix(s, word+" ")
	if !ok {
		_ = cmd.Wait()
		t.Fatalf("%s %s: %q, stderr %q", exe, dll, s, stderr.String())
	}
	var addrs []uint64
	for _, hex := range strings.Fields(rest) {
		a, err := strconv.ParseUint(hex, 16, 64)
		if err != nil {
			t.Fatalf("%s printed %q: %v", exe, s, err)
		}
		addrs = append(addrs, a)
	}
	if len(addrs) == 0 {
		t.Fatalf("%s printed %q: no address", exe, s)
	}
	return uint32(cmd.Process.Pid), addrs
}
