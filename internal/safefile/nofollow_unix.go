//go:build !windows

package safefile

import "syscall"

const oNoFollow = syscall.O_NOFOLLOW
