//go:build !windows

package osqueryhost

import (
	"errors"
	"net"
	"os"
	"syscall"
	"time"
)

// removeStaleSocket removes path if it is a unix socket nobody listens on,
// as osquery's own extensions do before they listen (socketExists with
// remove_socket). A live socket is left alone: listening there must fail.
func removeStaleSocket(path string) {
	fi, err := os.Lstat(path)
	if err != nil || fi.Mode()&os.ModeSocket == 0 {
		return
	}
	c, err := net.DialTimeout("unix", path, time.Second)
	if err == nil {
		_ = c.Close()
		return
	}
	if errors.Is(err, syscall.ECONNREFUSED) {
		// Best effort: if it stays, listening there fails with a clear error.
		_ = os.Remove(path)
	}
}
