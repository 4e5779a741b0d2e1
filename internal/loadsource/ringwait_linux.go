package loadsource

import (
	"errors"
	"fmt"
	"os"
	"sync/atomic"
	"syscall"
	"time"

	"golang.org/x/sys/unix"
)

// ringWaiter parks the reader between polls in Go's network poller, on a
// non-blocking duplicate of the ring's descriptor. ringbuf.Reader waits in
// epoll_wait, a system call that holds the goroutine's thread and its P for
// the whole poll interval: Go's sysmon takes the P back after 10 ms and
// then polls every 20 µs for a while, 20 times a second, which made the
// reader's own CPU most of the source's user-space cost. Parked in the
// poller, the goroutine holds nothing and an idle extension is idle.
type ringWaiter struct {
	f      *os.File
	rc     syscall.RawConn
	closed atomic.Bool
}

// errWaiterClosed is what wait returns once Close has been called.
var errWaiterClosed = errors.New("load event ring waiter closed")

func newRingWaiter(ringFD int) (*ringWaiter, error) {
	fd, err := unix.FcntlInt(uintptr(ringFD), unix.F_DUPFD_CLOEXEC, 0)
	if err != nil {
		return nil, fmt.Errorf("duplicating the ring's descriptor: %w", err)
	}
	if err := unix.SetNonblock(fd, true); err != nil {
		_ = unix.Close(fd)
		return nil, fmt.Errorf("making the ring's descriptor non-blocking: %w", err)
	}
	// A non-blocking descriptor goes into the poller; SetReadDeadline fails
	// on one the poller refused.
	f := os.NewFile(uintptr(fd), "load event ring")
	if err := f.SetReadDeadline(time.Time{}); err != nil {
		_ = f.Close()
		return nil, fmt.Errorf("the ring cannot be polled: %w", err)
	}
	rc, err := f.SyscallConn()
	if err != nil {
		_ = f.Close()
		return nil, err
	}
	return &ringWaiter{f: f, rc: rc}, nil
}

// wait returns at once if ready says so, else when the kernel wakes the
// ring (the programs force a wakeup only when the ring fills past its
// threshold) or at deadline, whichever comes first. ready is asked first
// because the poller forgets a wakeup that came while no one waited.
func (w *ringWaiter) wait(deadline time.Time, ready func() bool) error {
	if w.closed.Load() {
		return errWaiterClosed
	}
	if err := w.f.SetReadDeadline(deadline); err != nil {
		return w.err(err)
	}
	first := true
	err := w.rc.Read(func(uintptr) bool {
		if first {
			first = false
			return ready()
		}
		return true // woken
	})
	if err == nil || errors.Is(err, os.ErrDeadlineExceeded) {
		return nil
	}
	return w.err(err)
}

func (w *ringWaiter) err(err error) error {
	if w.closed.Load() {
		return errWaiterClosed
	}
	return err
}

// Close wakes a wait in progress, which returns errWaiterClosed, as does
// every wait after it. The ring itself stays open.
func (w *ringWaiter) Close() error {
	if w.closed.Swap(true) {
		return nil
	}
	return w.f.Close()
}
