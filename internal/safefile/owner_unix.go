//go:build !windows

package safefile

import (
	"fmt"
	"io/fs"
	"os"
	"syscall"
)

// CheckTrusted refuses a file or folder that decides what a root process
// trusts (the flag file, a policy, a rule file or folder, ld.so.conf, a
// package list) when someone other than root or the running user may have
// written it. It is osqueryd's own rule for extension binaries: owned by
// root or by the running user, and not writable by everyone (group write is
// tolerated, as osqueryd tolerates it). The error says what is wrong; the
// caller names the file.
func CheckTrusted(fi fs.FileInfo) error {
	st, ok := fi.Sys().(*syscall.Stat_t)
	if !ok {
		return fmt.Errorf("unsafe: cannot read its owner")
	}
	if euid := os.Geteuid(); st.Uid != 0 && int(st.Uid) != euid {
		return fmt.Errorf("unsafe: owned by uid %d, neither root nor the running user (uid %d)", st.Uid, euid)
	}
	if fi.Mode().Perm()&0o002 != 0 {
		what := "file"
		if fi.IsDir() {
			what = "folder"
		}
		return fmt.Errorf("unsafe: world-writable %s (mode %04o)", what, fi.Mode().Perm()|stickyBits(fi))
	}
	return nil
}

func stickyBits(fi fs.FileInfo) fs.FileMode {
	if fi.Mode()&fs.ModeSticky != 0 {
		return 0o1000
	}
	return 0
}
