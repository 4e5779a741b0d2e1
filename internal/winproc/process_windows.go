package winproc

import (
	"errors"
	"fmt"
	"unsafe"

	"golang.org/x/sys/windows"
)

var (
	modpsapi                 = windows.NewLazySystemDLL("psapi.dll")
	procGetMappedFileNameW   = modpsapi.NewProc("GetMappedFileNameW")
	procGetModuleFileNameExW = modpsapi.NewProc("GetModuleFileNameExW")
)

// Processes lists the processes of a Toolhelp process snapshot.
func Processes() ([]Process, error) {
	snap, err := windows.CreateToolhelp32Snapshot(windows.TH32CS_SNAPPROCESS, 0)
	if err != nil {
		return nil, fmt.Errorf("CreateToolhelp32Snapshot(TH32CS_SNAPPROCESS): %w", err)
	}
	defer func() { _ = windows.CloseHandle(snap) }()
	var out []Process
	e := windows.ProcessEntry32{Size: uint32(unsafe.Sizeof(windows.ProcessEntry32{}))}
	for err = windows.Process32First(snap, &e); err == nil; err = windows.Process32Next(snap, &e) {
		out = append(out, Process{PID: e.ProcessID, PPID: e.ParentProcessID, Exe: windows.UTF16ToString(e.ExeFile[:])})
	}
	if !errors.Is(err, windows.ERROR_NO_MORE_FILES) {
		return out, fmt.Errorf("Process32Next: %w", err)
	}
	return out, nil
}

// skip builds the SkipError for a failed call on pid, sorting the system
// error into access denied and gone.
func skip(pid uint32, op string, err error) *SkipError {
	e := &SkipError{PID: pid, Op: op, Err: err}
	switch {
	case errors.Is(err, windows.ERROR_ACCESS_DENIED), errors.Is(err, windows.ERROR_PRIVILEGE_NOT_HELD),
		errors.Is(err, windows.STATUS_ACCESS_DENIED):
		e.Kind = ErrAccessDenied
	case errors.Is(err, windows.ERROR_INVALID_PARAMETER), errors.Is(err, windows.ERROR_PARTIAL_COPY),
		errors.Is(err, windows.ERROR_NOT_FOUND):
		// OpenProcess and CreateToolhelp32Snapshot answer
		// ERROR_INVALID_PARAMETER for a pid that no longer exists;
		// ERROR_PARTIAL_COPY comes from a snapshot of a process that is
		// exiting.
		e.Kind = ErrGone
	}
	return e
}

// openHook, when set (by tests), is told of every pid this package opens,
// so that a test can count that a query for some pids opens only those.
var openHook func(pid uint32)

// ScanModules lists the loader lists of the processes of a Toolhelp process
// snapshot; with pids, of those processes only, and only those are opened
// (the process snapshot itself opens none). A requested pid the snapshot
// does not have is left out. A process that cannot be read has Err set (a
// *SkipError) and no modules.
func ScanModules(pids []uint32) ([]ProcessModules, error) {
	procs, err := Processes()
	if err != nil {
		return nil, err
	}
	var want map[uint32]bool
	if pids != nil {
		want = make(map[uint32]bool, len(pids))
		for _, p := range pids {
			want[p] = true
		}
	}
	var out []ProcessModules
	for _, p := range procs {
		if want != nil && !want[p.PID] {
			continue
		}
		mods, err := Modules(p.PID)
		out = append(out, ProcessModules{Process: p, Modules: mods, Err: err})
	}
	return out, nil
}

// stillActive is GetExitCodeProcess's answer for a running process.
const stillActive = 259

// openProcess opens pid with access, and says why it could not. A process
// that has exited but whose object another handle keeps alive opens fine
// and answers some queries with its last state; it is gone all the same.
func openProcess(pid uint32, access uint32) (windows.Handle, error) {
	if openHook != nil {
		openHook(pid)
	}
	if pid == 0 {
		// The System Idle Process is a snapshot entry, not a process:
		// OpenProcess answers ERROR_INVALID_PARAMETER, which would
		// otherwise read as gone.
		return 0, &SkipError{PID: 0, Op: "OpenProcess", Err: errors.New("pid 0 is the idle process, which cannot be opened")}
	}
	h, err := windows.OpenProcess(access|windows.PROCESS_QUERY_LIMITED_INFORMATION, false, pid)
	if err != nil {
		return 0, skip(pid, "OpenProcess", err)
	}
	var code uint32
	if err := windows.GetExitCodeProcess(h, &code); err == nil && code != stillActive {
		_ = windows.CloseHandle(h)
		return 0, &SkipError{PID: pid, Op: "GetExitCodeProcess", Err: fmt.Errorf("exited with status %d", code), Kind: ErrGone}
	}
	return h, nil
}

// Modules lists pid's loader list through a Toolhelp module snapshot
// (TH32CS_SNAPMODULE|TH32CS_SNAPMODULE32, so a 32-bit process on 64-bit
// Windows gets its WOW64 modules too). Toolhelp's path field stops at
// MAX_PATH; each path is read again with GetModuleFileNameExW, whose buffer
// grows to the real length. Errors are *SkipError.
func Modules(pid uint32) ([]Module, error) {
	// A handle for the long paths, opened first so that a pid that has
	// exited is reported gone rather than as a process without modules.
	// Without one (a process that allows the snapshot but not this access)
	// Toolhelp's paths are used, cut at MAX_PATH as they are.
	h, err := openProcess(pid, windows.PROCESS_QUERY_INFORMATION|windows.PROCESS_VM_READ)
	if errors.Is(err, ErrGone) || pid == 0 {
		// CreateToolhelp32Snapshot reads pid 0 as "the calling process":
		// the idle process's snapshot entry would get this process's
		// modules.
		return nil, err
	}
	if h != 0 {
		defer func() { _ = windows.CloseHandle(h) }()
	}
	if openHook != nil {
		openHook(pid) // the snapshot opens the process too
	}
	snap, err := retry(snapshotRetries, func() (windows.Handle, error) {
		return windows.CreateToolhelp32Snapshot(windows.TH32CS_SNAPMODULE|windows.TH32CS_SNAPMODULE32, pid)
	}, func(err error) bool { return errors.Is(err, windows.ERROR_BAD_LENGTH) })
	if err != nil {
		return nil, skip(pid, "CreateToolhelp32Snapshot(TH32CS_SNAPMODULE)", err)
	}
	defer func() { _ = windows.CloseHandle(snap) }()

	var mods []Module
	e := windows.ModuleEntry32{Size: uint32(unsafe.Sizeof(windows.ModuleEntry32{}))}
	for err = windows.Module32First(snap, &e); err == nil; err = windows.Module32Next(snap, &e) {
		m := Module{
			Base: uint64(e.ModBaseAddr),
			Size: uint64(e.ModBaseSize),
			Name: windows.UTF16ToString(e.Module[:]),
			Path: windows.UTF16ToString(e.ExePath[:]),
		}
		long := ""
		if h != 0 {
			long, _ = moduleFileName(h, e.ModuleHandle)
		}
		if long != "" {
			m.Path = long
		} else if utf16Len(e.ExePath[:]) >= len(e.ExePath)-1 {
			// Toolhelp fills its field to the last character when it
			// cuts a longer path, and says nothing.
			m.PathTruncated = true
		}
		mods = append(mods, m)
	}
	if !errors.Is(err, windows.ERROR_NO_MORE_FILES) {
		return mods, skip(pid, "Module32Next", err)
	}
	return mods, nil
}

// maxPathChars bounds every path buffer: the longest path Windows supports.
const maxPathChars = windows.MAX_LONG_PATH

// moduleFileName is GetModuleFileNameExW with a buffer that grows until the
// name fits. The function truncates silently: a name that fills the buffer
// exactly may have been cut, so the buffer doubles until one is left over.
func moduleFileName(h, mod windows.Handle) (string, error) {
	for _, size := range bufferSizes() {
		buf := make([]uint16, size)
		n, _, err := procGetModuleFileNameExW.Call(uintptr(h), uintptr(mod), uintptr(unsafe.Pointer(&buf[0])), uintptr(size))
		if n == 0 {
			return "", fmt.Errorf("GetModuleFileNameExW: %w", err)
		}
		if int(n) < size-1 {
			return windows.UTF16ToString(buf[:n]), nil
		}
	}
	return "", errors.New("GetModuleFileNameExW: name longer than 32767 characters")
}

// utf16Len is the number of characters before the first NUL.
func utf16Len(s []uint16) int {
	for i, c := range s {
		if c == 0 {
			return i
		}
	}
	return len(s)
}
