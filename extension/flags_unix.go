//go:build !windows

package main

import (
	"errors"
	"os"
	"syscall"
)

const defaultFlagfile = "/etc/modhunt/modhunt.flags"

// checkSafe applies osquery's own rule for extension binaries to the flag
// file: owned by root or by us, and not writable by everyone.
func checkSafe(fi os.FileInfo) error {
	st, ok := fi.Sys().(*syscall.Stat_t)
	if !ok {
		return errors.New("cannot read ownership")
	}
	if st.Uid != 0 && int(st.Uid) != os.Geteuid() {
		return errors.New("unsafe: owned by neither root nor the running user")
	}
	if fi.Mode().Perm()&0o002 != 0 {
		return errors.New("unsafe: world-writable")
	}
	return nil
}
