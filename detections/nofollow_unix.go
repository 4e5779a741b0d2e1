//go:build !windows

package detections

import "syscall"

// oNoFollow makes opening a rule file fail on a symlink.
const oNoFollow = syscall.O_NOFOLLOW
