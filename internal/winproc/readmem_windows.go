package winproc

import (
	"fmt"
	"unsafe"

	"golang.org/x/sys/windows"
)

// ProcessMemory is another process's memory opened for ReadProcessMemory:
// an io.ReaderAt whose offsets are virtual addresses in that process.
type ProcessMemory struct {
	pid uint32
	h   windows.Handle
}

// OpenMemory opens pid for reading its memory (PROCESS_VM_READ). Errors are
// *SkipError.
func OpenMemory(pid uint32) (*ProcessMemory, error) {
	h, err := openProcess(pid, windows.PROCESS_VM_READ)
	if err != nil {
		return nil, err
	}
	return &ProcessMemory{pid: pid, h: h}, nil
}

// ReadAt reads len(p) bytes at the virtual address off. A range that runs
// into an unreadable page fails (ERROR_PARTIAL_COPY, with the bytes read
// before it), as /proc/PID/mem fails with EIO: the caller goes on to the
// next region.
func (m *ProcessMemory) ReadAt(p []byte, off int64) (int, error) {
	if len(p) == 0 {
		return 0, nil
	}
	if off < 0 {
		return 0, fmt.Errorf("pid %d: read at negative address %#x", m.pid, off)
	}
	var done uintptr
	err := windows.ReadProcessMemory(m.h, uintptr(off), (*byte)(unsafe.Pointer(&p[0])), uintptr(len(p)), &done)
	n := min(int(done), len(p))
	if err != nil {
		return n, fmt.Errorf("pid %d: ReadProcessMemory(%#x, %d): %w", m.pid, off, len(p), err)
	}
	if n < len(p) {
		return n, fmt.Errorf("pid %d: ReadProcessMemory(%#x, %d): %w", m.pid, off, len(p), windows.ERROR_PARTIAL_COPY)
	}
	return n, nil
}

// Close closes the process handle.
func (m *ProcessMemory) Close() error { return windows.CloseHandle(m.h) }
