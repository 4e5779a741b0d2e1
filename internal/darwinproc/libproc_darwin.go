//go:build darwin

package darwinproc

import (
	"errors"
	"fmt"
	"runtime"
	"sync"
	"syscall"
	"time"
	"unsafe"

	"github.com/ebitengine/purego"
	"golang.org/x/sys/unix"
)

// libSystemPath is where libproc lives (re-exported by libSystem), the
// library gopsutil v4 opens for the same calls.
const libSystemPath = "/usr/lib/libSystem.B.dylib"

// proc_pidinfo flavors used here (proc_info.h; 22 from proc_info_private.h,
// the flavor libproc's own proc_regionfilename uses).
const (
	flavorTBSDInfo        = 3  // PROC_PIDTBSDINFO
	flavorRegionPathInfo  = 8  // PROC_PIDREGIONPATHINFO: every region
	flavorRegionPathInfo2 = 22 // PROC_PIDREGIONPATHINFO2: file-backed only
)

const (
	// procPidPathMax is PROC_PIDPATHINFO_MAXSIZE.
	procPidPathMax = 4 * MaxPathLen
	// maxPIDs bounds the pid list whatever proc_listallpids claims
	// (kern.maxproc is a few thousand).
	maxPIDs = 1 << 20
)

// libproc holds the resolved functions. Buffers the kernel writes are
// unsafe.Pointer, never uintptr: purego keeps a Go pointer argument alive and
// escaping for the call, a uintptr it does not (gopsutil's note on the same
// mistake).
type libproc struct {
	listAllPIDs func(buf unsafe.Pointer, size int32) int32
	pidInfo     func(pid, flavor int32, arg uint64, buf unsafe.Pointer, size int32) int32
	pidPath     func(pid int32, buf unsafe.Pointer, size uint32) int32
	errnoPtr    func() *int32
}

var (
	libOnce sync.Once
	lib     *libproc
	errLib  error
)

// load opens libSystem once for the life of the process and never closes it:
// closing a handle the Go runtime may still call into crashes (gopsutil
// issue 1832).
func load() (*libproc, error) {
	libOnce.Do(func() {
		h, err := purego.Dlopen(libSystemPath, purego.RTLD_LAZY|purego.RTLD_GLOBAL)
		if err != nil {
			errLib = fmt.Errorf("%w: dlopen %s: %w", ErrUnavailable, libSystemPath, err)
			return
		}
		l := &libproc{}
		for _, s := range []struct {
			name string
			fn   any
		}{
			{"proc_listallpids", &l.listAllPIDs},
			{"proc_pidinfo", &l.pidInfo},
			{"proc_pidpath", &l.pidPath},
			{"__error", &l.errnoPtr},
		} {
			// RegisterLibFunc panics on a missing symbol; look it up first.
			if _, err := purego.Dlsym(h, s.name); err != nil {
				errLib = fmt.Errorf("%w: dlsym %s: %w", ErrUnavailable, s.name, err)
				return
			}
			purego.RegisterLibFunc(s.fn, h, s.name)
		}
		lib = l
	})
	return lib, errLib
}

// call runs f on a locked OS thread and returns its result with the errno it
// left. errno is per thread, and the pointer is resolved before the call: a
// lookup after it could overwrite errno.
func (l *libproc) call(f func() int32) (int32, syscall.Errno) {
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	ep := l.errnoPtr()
	*ep = 0
	r := f()
	return r, syscall.Errno(*ep)
}

// ListPIDs returns every process id (proc_listallpids).
func ListPIDs() ([]int32, error) {
	l, err := load()
	if err != nil {
		return nil, err
	}
	n, errno := l.call(func() int32 { return l.listAllPIDs(nil, 0) })
	if n < 0 {
		return nil, fmt.Errorf("proc_listallpids: %w", errno)
	}
	// Processes start between the two calls: ask for room to spare, and
	// again with more when the list came back full.
	for capacity := int(n) + 64; capacity <= maxPIDs; capacity *= 2 {
		buf := make([]int32, capacity)
		got, errno := l.call(func() int32 {
			return l.listAllPIDs(unsafe.Pointer(&buf[0]), int32(len(buf)*4))
		})
		if got < 0 {
			return nil, fmt.Errorf("proc_listallpids: %w", errno)
		}
		if int(got) < capacity {
			return buf[:got], nil
		}
	}
	return nil, fmt.Errorf("proc_listallpids: more than %d processes", maxPIDs)
}

// ReadBSDInfo returns ppid, uids and names of pid (PROC_PIDTBSDINFO).
func ReadBSDInfo(pid int32) (BSDInfo, error) {
	l, err := load()
	if err != nil {
		return BSDInfo{}, err
	}
	var buf [SizeBSDInfo]byte
	n, errno := l.call(func() int32 {
		return l.pidInfo(pid, flavorTBSDInfo, 0, unsafe.Pointer(&buf[0]), SizeBSDInfo)
	})
	const op = "proc_pidinfo(PROC_PIDTBSDINFO)"
	if n <= 0 {
		return BSDInfo{}, NewProcError(pid, op, orESRCH(errno))
	}
	if int(n) != SizeBSDInfo {
		return BSDInfo{}, fmt.Errorf("pid %d: %s: %d bytes, want %d", pid, op, n, SizeBSDInfo)
	}
	return DecodeBSDInfo(buf[:])
}

// ReadPath returns the executable path of pid (proc_pidpath).
func ReadPath(pid int32) (string, error) {
	l, err := load()
	if err != nil {
		return "", err
	}
	buf := make([]byte, procPidPathMax)
	n, errno := l.call(func() int32 {
		return l.pidPath(pid, unsafe.Pointer(&buf[0]), procPidPathMax)
	})
	if n <= 0 {
		return "", NewProcError(pid, "proc_pidpath", orESRCH(errno))
	}
	return cString(buf[:min(int(n), len(buf))]), nil
}

// ReadProcArgs returns the executable path, argv and environment of pid from
// the KERN_PROCARGS2 sysctl. The kernel bounds the area by kern.argmax. A
// refusal or a vanished process is EINVAL from the kernel and
// ErrArgsUnreadable here.
func ReadProcArgs(pid int32) (ProcArgs, error) {
	b, err := unix.SysctlRaw("kern.procargs2", int(pid))
	if err != nil {
		var errno syscall.Errno
		if errors.As(err, &errno) {
			return ProcArgs{}, ProcArgsError(pid, errno)
		}
		return ProcArgs{}, fmt.Errorf("pid %d: kern.procargs2: %w", pid, err)
	}
	pa, err := ParseProcArgs2(b)
	if err != nil {
		return ProcArgs{}, fmt.Errorf("pid %d: %w", pid, err)
	}
	return pa, nil
}

// ReadRegions walks every VM region of pid (PROC_PIDREGIONPATHINFO):
// anonymous memory, submaps and files. Each call makes the kernel count the
// region's resident pages, so it costs more than ReadFileRegions.
func ReadRegions(pid int32, lim Limits) (Walk, error) {
	return readRegions(pid, flavorRegionPathInfo, "proc_pidinfo(PROC_PIDREGIONPATHINFO)", lim)
}

// ReadFileRegions walks only the file-backed regions of pid
// (PROC_PIDREGIONPATHINFO2): the kernel skips anonymous memory and submaps
// itself and fills no page counts. It is what the module inventory needs; it
// does not show the shared region.
func ReadFileRegions(pid int32, lim Limits) (Walk, error) {
	return readRegions(pid, flavorRegionPathInfo2, "proc_pidinfo(PROC_PIDREGIONPATHINFO2)", lim)
}

func readRegions(pid, flavor int32, op string, lim Limits) (Walk, error) {
	l, err := load()
	if err != nil {
		return Walk{}, err
	}
	buf := make([]byte, SizeRegionWithPathInfo)
	fetch := func(addr uint64) (Region, error) {
		n, errno := l.call(func() int32 {
			return l.pidInfo(pid, flavor, addr, unsafe.Pointer(&buf[0]), SizeRegionWithPathInfo)
		})
		if n <= 0 {
			// fill_procregioninfo finds no region at or above addr:
			// the kernel says EINVAL, which is the walk's normal end.
			if errno == syscall.EINVAL {
				return Region{}, errEndOfMap
			}
			return Region{}, NewProcError(pid, op, orESRCH(errno))
		}
		if int(n) != SizeRegionWithPathInfo {
			return Region{}, fmt.Errorf("pid %d: %s: %d bytes, want %d", pid, op, n, SizeRegionWithPathInfo)
		}
		return DecodeRegionWithPath(buf)
	}
	return walk(fetch, lim, time.Now)
}

// orESRCH stands in for an errno libproc did not set on failure: the calls
// above fail without errno only when the process is gone.
func orESRCH(errno syscall.Errno) syscall.Errno {
	if errno == 0 {
		return syscall.ESRCH
	}
	return errno
}
