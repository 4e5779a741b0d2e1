package winproc

import (
	"errors"
	"fmt"
)

// ErrAccessDenied matches a SkipError for a process this caller may not read:
// a protected process, or another user's without the privilege.
var ErrAccessDenied = errors.New("access denied")

// ErrGone matches a SkipError for a process that exited between the process
// snapshot and the read (or a pid that never existed).
var ErrGone = errors.New("process gone")

// SkipError says one process was skipped and why. Callers count these and log
// them at debug level; they never turn into placeholder rows.
type SkipError struct {
	PID uint32
	Op  string // the call that failed, e.g. "OpenProcess"
	Err error  // the system error
	// Kind is ErrAccessDenied, ErrGone or nil (another failure).
	Kind error
}

func (e *SkipError) Error() string {
	return fmt.Sprintf("pid %d: %s: %v", e.PID, e.Op, e.Err)
}

func (e *SkipError) Unwrap() []error {
	if e.Kind == nil {
		return []error{e.Err}
	}
	return []error{e.Kind, e.Err}
}
