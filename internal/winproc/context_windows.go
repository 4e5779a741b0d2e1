package winproc

import (
	"errors"
	"fmt"
	"sync"
	"unsafe"

	"golang.org/x/sys/windows"
)

// maxCommandLine bounds a command line read from another process: Windows
// caps it at 32,767 characters, and a hostile process's PEB must not make
// this process allocate more.
const maxCommandLine = 32768 * 2

// ReadContext reads pid's image path, command line, parent, user, integrity
// level and session. Only PROCESS_QUERY_LIMITED_INFORMATION is asked for,
// which protected processes (PPL) still grant. When any field cannot be
// read the process is skipped with a *SkipError: a context with a blank
// user or command line would be a placeholder, not a fact.
func ReadContext(pid uint32, accounts *Accounts) (Context, error) {
	h, err := openProcess(pid, windows.PROCESS_QUERY_LIMITED_INFORMATION)
	if err != nil {
		return Context{}, err
	}
	defer func() { _ = windows.CloseHandle(h) }()

	c := Context{PID: pid}
	if c.Image, err = imageName(h); err != nil {
		return Context{}, skip(pid, "QueryFullProcessImageNameW", err)
	}
	var pbi windows.PROCESS_BASIC_INFORMATION
	if err := windows.NtQueryInformationProcess(h, windows.ProcessBasicInformation, unsafe.Pointer(&pbi), uint32(unsafe.Sizeof(pbi)), nil); err != nil {
		return Context{}, skip(pid, "NtQueryInformationProcess(ProcessBasicInformation)", err)
	}
	c.PPID = uint32(pbi.InheritedFromUniqueProcessId)
	if c.CommandLine, err = commandLine(h); errors.Is(err, windows.STATUS_INVALID_INFO_CLASS) || errors.Is(err, windows.STATUS_NOT_IMPLEMENTED) {
		// Before Windows 8.1, and on Wine 8, the information class does
		// not exist: read the PEB itself, which needs PROCESS_VM_READ.
		c.CommandLine, err = commandLineFromPEB(pid, uintptr(unsafe.Pointer(pbi.PebBaseAddress)))
	}
	if err != nil {
		return Context{}, skip(pid, "read command line", err)
	}
	if err := windows.ProcessIdToSessionId(pid, &c.Session); err != nil {
		return Context{}, skip(pid, "ProcessIdToSessionId", err)
	}
	var tok windows.Token
	if err := windows.OpenProcessToken(h, windows.TOKEN_QUERY, &tok); err != nil {
		return Context{}, skip(pid, "OpenProcessToken", err)
	}
	defer func() { _ = tok.Close() }()
	tu, err := tok.GetTokenUser()
	if err != nil {
		return Context{}, skip(pid, "GetTokenInformation(TokenUser)", err)
	}
	c.User = accounts.Name(tu.User.Sid)
	rid, err := integrityRID(tok)
	if err != nil {
		return Context{}, skip(pid, "GetTokenInformation(TokenIntegrityLevel)", err)
	}
	c.Integrity = IntegrityLevel(rid)
	return c, nil
}

// imageName is QueryFullProcessImageNameW with a buffer that grows to the
// path's length.
func imageName(h windows.Handle) (string, error) {
	for _, size := range bufferSizes() {
		buf := make([]uint16, size)
		n := uint32(size)
		err := windows.QueryFullProcessImageName(h, 0, &buf[0], &n)
		if err == nil {
			return windows.UTF16ToString(buf[:n]), nil
		}
		if !errors.Is(err, windows.ERROR_INSUFFICIENT_BUFFER) {
			return "", err
		}
	}
	return "", windows.ERROR_INSUFFICIENT_BUFFER
}

// commandLine reads the command line from the process's PEB through
// NtQueryInformationProcess(ProcessCommandLineInformation), which Windows
// 8.1 and later answer with a UNICODE_STRING followed by its characters, and
// which needs no PROCESS_VM_READ.
func commandLine(h windows.Handle) (string, error) {
	var need uint32
	err := windows.NtQueryInformationProcess(h, windows.ProcessCommandLineInformation, nil, 0, &need)
	if err != nil && !errors.Is(err, windows.STATUS_INFO_LENGTH_MISMATCH) &&
		!errors.Is(err, windows.STATUS_BUFFER_OVERFLOW) && !errors.Is(err, windows.STATUS_BUFFER_TOO_SMALL) {
		return "", err
	}
	hdr := uint32(unsafe.Sizeof(windows.NTUnicodeString{}))
	if need < hdr || need > hdr+maxCommandLine {
		return "", fmt.Errorf("command line information of %d bytes", need)
	}
	// uint64 elements keep the UNICODE_STRING header aligned.
	buf := make([]uint64, (need+7)/8)
	if err := windows.NtQueryInformationProcess(h, windows.ProcessCommandLineInformation, unsafe.Pointer(&buf[0]), need, &need); err != nil {
		return "", err
	}
	us := (*windows.NTUnicodeString)(unsafe.Pointer(&buf[0]))
	if us.Length == 0 {
		return "", nil
	}
	// The characters follow the header inside buf; check the pointer says
	// so before reading through it.
	start := uintptr(unsafe.Pointer(&buf[0]))
	p := uintptr(unsafe.Pointer(us.Buffer))
	if p < start+uintptr(hdr) || p+uintptr(us.Length) > start+uintptr(len(buf)*8) {
		return "", errors.New("command line buffer outside the answer")
	}
	return us.String(), nil
}

// commandLineFromPEB reads the command line the way the loader left it:
// PEB.ProcessParameters->CommandLine, three reads of the other process's
// memory. A 32-bit process on 64-bit Windows has a 64-bit PEB too, whose
// parameters carry the same command line.
func commandLineFromPEB(pid uint32, peb uintptr) (string, error) {
	h, err := openProcess(pid, windows.PROCESS_QUERY_LIMITED_INFORMATION|windows.PROCESS_VM_READ)
	if err != nil {
		return "", err
	}
	defer func() { _ = windows.CloseHandle(h) }()
	var pe windows.PEB
	if err := readMemory(h, peb, unsafe.Pointer(&pe), unsafe.Sizeof(pe)); err != nil {
		return "", fmt.Errorf("read PEB: %w", err)
	}
	var params windows.RTL_USER_PROCESS_PARAMETERS
	if err := readMemory(h, uintptr(unsafe.Pointer(pe.ProcessParameters)), unsafe.Pointer(&params), unsafe.Sizeof(params)); err != nil {
		return "", fmt.Errorf("read process parameters: %w", err)
	}
	n := uintptr(params.CommandLine.Length)
	if n == 0 {
		return "", nil
	}
	if n > maxCommandLine || n%2 != 0 {
		return "", fmt.Errorf("command line of %d bytes", n)
	}
	buf := make([]uint16, n/2)
	if err := readMemory(h, uintptr(unsafe.Pointer(params.CommandLine.Buffer)), unsafe.Pointer(&buf[0]), n); err != nil {
		return "", fmt.Errorf("read command line: %w", err)
	}
	return windows.UTF16ToString(buf), nil
}

// readMemory reads exactly size bytes at addr of the process h into dst.
func readMemory(h windows.Handle, addr uintptr, dst unsafe.Pointer, size uintptr) error {
	var done uintptr
	if err := windows.ReadProcessMemory(h, addr, (*byte)(dst), size, &done); err != nil {
		return err
	}
	if done != size {
		return windows.ERROR_PARTIAL_COPY
	}
	return nil
}

// integrityRID is the last sub-authority of the token's mandatory label SID.
func integrityRID(tok windows.Token) (uint32, error) {
	var need uint32
	_ = windows.GetTokenInformation(tok, windows.TokenIntegrityLevel, nil, 0, &need)
	if need < uint32(unsafe.Sizeof(windows.Tokenmandatorylabel{})) || need > 1024 {
		return 0, fmt.Errorf("TokenIntegrityLevel of %d bytes", need)
	}
	buf := make([]uint64, (need+7)/8)
	if err := windows.GetTokenInformation(tok, windows.TokenIntegrityLevel, (*byte)(unsafe.Pointer(&buf[0])), need, &need); err != nil {
		return 0, err
	}
	sid := (*windows.Tokenmandatorylabel)(unsafe.Pointer(&buf[0])).Label.Sid
	n := sid.SubAuthorityCount()
	if n == 0 {
		return 0, errors.New("mandatory label SID without sub-authorities")
	}
	return sid.SubAuthority(uint32(n) - 1), nil
}

// Accounts caches DOMAIN\name by SID: LookupAccountSidW can ask a domain
// controller, and a host runs thousands of processes under a few users.
type Accounts struct {
	mu sync.Mutex
	m  map[string]string
}

// maxAccounts bounds the cache; past it, names are looked up every time.
const maxAccounts = 4096

// Name is the DOMAIN\name of sid, or the SID itself when no name maps to
// it: the SID is a fact about the process, a blank would not be.
func (a *Accounts) Name(sid *windows.SID) string {
	key := sid.String()
	a.mu.Lock()
	name, ok := a.m[key]
	a.mu.Unlock()
	if ok {
		return name
	}
	name = key
	if acct, domain, _, err := sid.LookupAccount(""); err == nil && acct != "" {
		name = acct
		if domain != "" {
			name = domain + `\` + acct
		}
	}
	a.mu.Lock()
	if a.m == nil {
		a.m = map[string]string{}
	}
	if len(a.m) < maxAccounts {
		a.m[key] = name
	}
	a.mu.Unlock()
	return name
}
