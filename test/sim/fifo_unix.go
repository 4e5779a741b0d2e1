//go:build !windows

package sim

import (
	"os"
	"os/exec"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

// FIFO makes a named pipe at path for a test that proves code refuses to
// open one (opening a FIFO for reading waits for a writer). Cleanup opens
// it for writing too, so a reader the code under test left blocked in
// open(2) is released and the test binary can exit.
func FIFO(tb testing.TB, path string) {
	tb.Helper()
	if err := syscall.Mkfifo(path, 0o600); err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() {
		if f, err := os.OpenFile(path, os.O_RDWR|syscall.O_NONBLOCK, 0); err == nil {
			_ = f.Close()
		}
	})
}

// Prompt runs fn and returns its error, failing the test if fn does not
// return within ReadyTimeout: the code under test blocked (on a FIFO, a
// lock) where it must not.
func Prompt(tb testing.TB, what string, fn func() error) error {
	tb.Helper()
	done := make(chan error, 1)
	go func() { done <- fn() }()
	select {
	case err := <-done:
		return err
	case <-time.After(ReadyTimeout):
		tb.Fatalf("%s blocked", what)
		return nil
	}
}

// BlockedWriter starts a process that writes data into the FIFO at path and
// waits until the kernel shows it blocked in open(2) for a reader. The
// returned function reports whether it is still blocked: any read-open of
// the FIFO by the code under test would have let it through. Without a
// wchan the kernel does not report, the test is skipped.
func BlockedWriter(tb testing.TB, path, data string) (stillBlocked func() bool) {
	tb.Helper()
	writer := exec.Command("sh", "-c", `printf '%s\n' "$1" > "$2"`, "sh", data, path)
	if err := writer.Start(); err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() {
		// Let the writer through, then reap it.
		if f, err := os.OpenFile(path, os.O_RDONLY|syscall.O_NONBLOCK, 0); err == nil {
			_ = f.Close()
		}
		_ = writer.Process.Kill()
		_ = writer.Wait()
	})
	wchan := func() string {
		b, _ := os.ReadFile("/proc/" + strconv.Itoa(writer.Process.Pid) + "/wchan")
		return strings.TrimSpace(string(b))
	}
	deadline := time.Now().Add(ReadyTimeout)
	for wchan() != "wait_for_partner" {
		if time.Now().After(deadline) {
			tb.Skipf("the FIFO writer never showed as waiting (wchan %q): this kernel does not report it", wchan())
		}
		time.Sleep(5 * time.Millisecond)
	}
	return func() bool { return wchan() == "wait_for_partner" }
}
