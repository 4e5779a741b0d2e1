package darwinproc

import (
	"errors"
	"fmt"
	"syscall"
)

// Sentinels a caller tests with errors.Is. ErrNotPermitted and ErrNoProcess
// are expected on every host (protected processes, processes that exit
// mid-scan) and belong in debug logs, not warnings; see Expected.
var (
	// ErrNotPermitted: the kernel refused (EPERM/EACCES). As root this is
	// a MAC policy (SIP-protected or sandbox-restricted target), not a
	// missing privilege.
	ErrNotPermitted = errors.New("not permitted")
	// ErrNoProcess: the process does not exist (any more).
	ErrNoProcess = errors.New("no such process")
	// ErrArgsUnreadable: kern.procargs2 said EINVAL, which XNU returns both
	// for a process that is gone and for one whose arguments it will not
	// show (is_procargs_content_read_permitted, no user stack, a task that
	// is not IPC-active yet or any more).
	ErrArgsUnreadable = errors.New("arguments unreadable (gone or refused)")
	// ErrNoRegions: the region walk ended before its first region. A live
	// process always has one (__PAGEZERO at least), so the task had no map
	// any more (exiting) or the kernel showed nothing.
	ErrNoRegions = errors.New("no regions (exiting or hidden)")
	// ErrUnavailable: libproc could not be loaded or a symbol is missing.
	ErrUnavailable = errors.New("libproc unavailable")
	// errEndOfMap ends a region walk: no region at or above the address.
	errEndOfMap = errors.New("end of address space")
)

// ProcError is the error of one call about one process. It unwraps to its
// class sentinel (when it has one) and to the errno, so both
// errors.Is(err, ErrNotPermitted) and errors.Is(err, syscall.EPERM) hold.
type ProcError struct {
	PID   int32
	Op    string // "proc_pidinfo(PROC_PIDREGIONPATHINFO)", "kern.procargs2", ...
	Errno syscall.Errno
	class error
}

func (e *ProcError) Error() string {
	return fmt.Sprintf("pid %d: %s: %v", e.PID, e.Op, e.Errno)
}

// Unwrap returns the class sentinel and the errno.
func (e *ProcError) Unwrap() []error {
	if e.class == nil {
		return []error{e.Errno}
	}
	return []error{e.class, e.Errno}
}

// NewProcError classifies errno for pid and op. It is pure so the mapping is
// tested on every OS; the errno names are the same on darwin.
func NewProcError(pid int32, op string, errno syscall.Errno) *ProcError {
	e := &ProcError{PID: pid, Op: op, Errno: errno}
	switch errno {
	case syscall.EPERM, syscall.EACCES:
		e.class = ErrNotPermitted
	case syscall.ESRCH:
		e.class = ErrNoProcess
	}
	return e
}

// ProcArgsError classifies a kern.procargs2 failure: EINVAL is
// ErrArgsUnreadable there (see its comment), the rest as NewProcError does.
func ProcArgsError(pid int32, errno syscall.Errno) *ProcError {
	e := NewProcError(pid, "kern.procargs2", errno)
	if errno == syscall.EINVAL {
		e.class = ErrArgsUnreadable
	}
	return e
}

// Expected reports whether err is one every host produces in normal
// operation (a protected or vanished process), which callers log at debug.
func Expected(err error) bool {
	return errors.Is(err, ErrNotPermitted) || errors.Is(err, ErrNoProcess) ||
		errors.Is(err, ErrArgsUnreadable) || errors.Is(err, ErrNoRegions)
}
