package winfix

import (
	"bufio"
	"bytes"
	"errors"
	"io"
	"io/fs"
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

// Place copies the fixture file from to dir\name, creating dir, and removes
// what it created when the test ends: the topmost folder it made, or only
// the file when dir was there. Cleanups run last in, first out, so a
// process the test starts later (and that holds the file) has ended by
// then. For places outside the test's temp folder, such as the prefix's
// C:\windows\assembly (the prefix is the runner's private one).
func Place(t testing.TB, from, dir, name string) string {
	t.Helper()
	created := ""
	for d := dir; d != filepath.Dir(d); d = filepath.Dir(d) {
		if _, err := os.Stat(d); !errors.Is(err, fs.ErrNotExist) {
			break
		}
		created = d
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(dir, name)
	CopyFile(t, from, path)
	t.Cleanup(func() {
		if created != "" {
			_ = os.RemoveAll(created)
		} else {
			_ = os.Remove(path)
		}
	})
	return path
}

// WindowsDir is the prefix's Windows folder (C:\windows under Wine).
func WindowsDir() string {
	if root := os.Getenv("SystemRoot"); root != "" {
		return root
	}
	return `C:\windows`
}
