package loadsource

import (
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"

	"github.com/cilium/ebpf"
	"github.com/cilium/ebpf/link"
	"golang.org/x/sys/unix"
)

// Where tracefs is found mounted, in the order the kernel docs give.
var tracefsMounts = []struct {
	path  string
	magic int64
}{
	{"/sys/kernel/tracing", unix.TRACEFS_MAGIC},
	{"/sys/kernel/debug/tracing", unix.TRACEFS_MAGIC},
	{"/sys/kernel/debug/tracing", unix.DEBUGFS_MAGIC},
}

// tracepointIDs returns the perf event id of each "group:name".
//
// Only these ids need tracefs; the perf events and BPF links do not. When
// no tracefs is mounted (common in containers and minimal hosts) the ids
// are read from a tracefs mounted in a private mount namespace of one
// locked thread that dies afterwards, so the host's mounts never change.
func tracepointIDs(names []string, forcePrivate bool) (map[string]uint64, error) {
	if !forcePrivate {
		for _, m := range tracefsMounts {
			var st unix.Statfs_t
			if err := unix.Statfs(m.path, &st); err == nil && uint32(st.Type) == uint32(m.magic) {
				return readIDs(m.path, names)
			}
		}
	}
	return privateTracefsIDs(names)
}

func privateTracefsIDs(names []string) (map[string]uint64, error) {
	type result struct {
		ids map[string]uint64
		err error
	}
	var work func(out chan<- result)
	work = func(out chan<- result) {
		runtime.LockOSThread()
		if unix.Gettid() == unix.Getpid() {
			// The main thread is never ended by the runtime, only wedged,
			// and /proc/self shows its namespaces: it must not be the one
			// unsharing. While this goroutine holds it locked (waiting),
			// a new goroutine can only run on another thread.
			inner := make(chan result, 1)
			go work(inner)
			r := <-inner
			runtime.UnlockOSThread()
			out <- r
			return
		}
		// Never unlocked: this thread's mount namespace is not the
		// process's, so the runtime must end the thread with the goroutine.
		ids, err := func() (map[string]uint64, error) {
			if err := unix.Unshare(unix.CLONE_NEWNS); err != nil {
				return nil, fmt.Errorf("no tracefs mounted, and a private mount namespace to mount one in: %w", err)
			}
			// Mount events must not propagate back to the host's namespace.
			if err := unix.Mount("", "/", "", unix.MS_REC|unix.MS_PRIVATE, ""); err != nil {
				return nil, fmt.Errorf("making the private mount namespace private: %w", err)
			}
			const at = "/sys/kernel/tracing"
			// Whatever is mounted there in this namespace goes first (a
			// tracefs there makes a second mount EBUSY); only this thread
			// sees the difference.
			_ = unix.Unmount(at, unix.MNT_DETACH)
			if err := unix.Mount("tracefs", at, "tracefs", unix.MS_NOSUID|unix.MS_NODEV|unix.MS_NOEXEC, ""); err != nil {
				return nil, fmt.Errorf("no tracefs mounted, and mounting one privately on %s: %w", at, err)
			}
			return readIDs(at, names)
		}()
		out <- result{ids, err}
	}
	ch := make(chan result, 1)
	go work(ch)
	r := <-ch
	return r.ids, r.err
}

func readIDs(tracefs string, names []string) (map[string]uint64, error) {
	ids := make(map[string]uint64, len(names))
	for _, n := range names {
		group, name, _ := strings.Cut(n, ":")
		p := filepath.Join(tracefs, "events", group, name, "id")
		b, err := readSmall(p)
		if errors.Is(err, os.ErrNotExist) {
			continue // absent tracepoint: the caller says which hook lacks it
		}
		if err != nil {
			return nil, err
		}
		id, err := strconv.ParseUint(strings.TrimSpace(string(b)), 10, 64)
		if err != nil {
			return nil, fmt.Errorf("%s: %q is not a tracepoint id", p, b)
		}
		ids[n] = id
	}
	return ids, nil
}

// readSmall reads at most a page: tracefs id files hold one number.
func readSmall(path string) ([]byte, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	return io.ReadAll(io.LimitReader(f, 4096))
}

// attachment is a program attached to a tracepoint's perf event, or to a
// raw tracepoint.
type attachment struct {
	lnk  link.Link // nil when attached by ioctl
	perf int       // -1 for a raw tracepoint
}

func (a *attachment) Close() error {
	var err error
	if a.lnk != nil {
		err = a.lnk.Close()
	}
	if a.perf >= 0 {
		err = errors.Join(err, unix.Close(a.perf))
	}
	return err
}

// attachHook attaches prog where h says.
func attachHook(h hookSpec, ids map[string]uint64, prog *ebpf.Program, forceIoctl bool) (*attachment, error) {
	if prog == nil {
		return nil, errors.New("its program is not loaded")
	}
	if h.raw {
		var lnk link.Link
		var err error
		if prog.Type() == ebpf.Tracing {
			lnk, err = link.AttachTracing(link.TracingOptions{Program: prog}) // the tracepoint named at load
		} else {
			_, name, _ := strings.Cut(h.tracepoint, ":")
			lnk, err = link.AttachRawTracepoint(link.RawTracepointOptions{Name: name, Program: prog})
		}
		if err != nil {
			return nil, err
		}
		return &attachment{lnk: lnk, perf: -1}, nil
	}
	return attachTracepoint(ids[h.tracepoint], prog, forceIoctl)
}

// attachTracepoint opens the tracepoint's perf event and runs prog on it:
// through a BPF link (5.15+), else the perf ioctl. One event on CPU 0
// suffices: a tracepoint's BPF program runs on whichever CPU hits it.
func attachTracepoint(id uint64, prog *ebpf.Program, forceIoctl bool) (*attachment, error) {
	attr := unix.PerfEventAttr{
		Type:        unix.PERF_TYPE_TRACEPOINT,
		Config:      id,
		Sample_type: unix.PERF_SAMPLE_RAW,
		Sample:      1,
		Wakeup:      1,
	}
	fd, err := unix.PerfEventOpen(&attr, -1, 0, -1, unix.PERF_FLAG_FD_CLOEXEC)
	if err != nil {
		return nil, fmt.Errorf("perf_event_open: %w", err)
	}
	if !forceIoctl {
		lnk, err := link.AttachRawLink(link.RawLinkOptions{Target: fd, Program: prog, Attach: ebpf.AttachPerfEvent})
		if err == nil {
			return &attachment{lnk: lnk, perf: fd}, nil
		}
	}
	if err := unix.IoctlSetInt(fd, unix.PERF_EVENT_IOC_SET_BPF, prog.FD()); err != nil {
		return nil, errors.Join(fmt.Errorf("attaching the program to the perf event: %w", err), unix.Close(fd))
	}
	if err := unix.IoctlSetInt(fd, unix.PERF_EVENT_IOC_ENABLE, 0); err != nil {
		return nil, errors.Join(fmt.Errorf("enabling the perf event: %w", err), unix.Close(fd))
	}
	return &attachment{perf: fd}, nil
}
