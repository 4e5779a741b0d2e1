package winproc

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"

	"golang.org/x/sys/windows"

	"github.com/modhunt/modhunt/test/wine/winfix"
)

// These tests start mingw-built fixture programs (test/wine/fixtures) and look
// at them from outside through this package. They run for real under Wine in
// make test-windows; on a Windows host they need MODHUNT_WINE_FIXTURES too.

// dropDLL copies a fixture DLL into a fresh temp folder under name.
func dropDLL(t testing.TB, fixture, name string) string {
	t.Helper()
	dll := filepath.Join(t.TempDir(), name)
	winfix.CopyFile(t, filepath.Join(winfix.Dir(t), fixture), dll)
	return dll
}

// start runs a fixture program on dll and returns its pid and the address
// it printed after word ("loaded", "mapped"); it ends with the test.
func start(t testing.TB, program, word, dll string) (uint32, uint64) {
	t.Helper()
	pid, addrs := winfix.Start(t, filepath.Join(winfix.Dir(t), program), word, dll)
	lastAddrs = addrs
	return pid, addrs[0]
}

// lastAddrs are all the addresses the last started fixture printed.
var lastAddrs []uint64

func findModule(mods []Module, base uint64) *Module {
	for i := range mods {
		if mods[i].Base == base {
			return &mods[i]
		}
	}
	return nil
}

func listModules(mods []Module) string {
	var b strings.Builder
	for _, m := range mods {
		b.WriteString("  " + strconv.FormatUint(m.Base, 16) + " " + m.Path + "\n")
	}
	return b.String()
}

func TestProcessesAndModulesListDLLLoadedFromTemp(t *testing.T) {
	dll := dropDLL(t, "payload.dll", "modhunt_payload.dll")
	pid, base := start(t, "loadlib.exe", "loaded", dll)

	procs, err := Processes()
	if err != nil {
		t.Fatal(err)
	}
	var p *Process
	for i := range procs {
		if procs[i].PID == pid {
			p = &procs[i]
		}
	}
	if p == nil {
		t.Fatalf("process snapshot has no pid %d", pid)
	}
	if p.PPID != uint32(os.Getpid()) || !strings.EqualFold(p.Exe, "loadlib.exe") {
		t.Errorf("process entry %+v, want ppid %d and exe loadlib.exe", *p, os.Getpid())
	}

	mods, err := Modules(pid)
	if err != nil {
		t.Fatal(err)
	}
	m := findModule(mods, base)
	if m == nil {
		t.Fatalf("no module at %#x, where LoadLibraryW put %s; modules:\n%s", base, dll, listModules(mods))
	}
	if !SamePath(m.Path, dll) || !strings.EqualFold(m.Name, "modhunt_payload.dll") || m.Size == 0 {
		t.Errorf("module at %#x is %+v, want %s", base, *m, dll)
	}
}

// TestModulesGiveFullPathPastMaxPath: Toolhelp's szExePath stops at 259
// characters without an error; the path must come whole from
// GetModuleFileNameExW. Wine 8 loads a DLL from such a path (test/wine
// README), so this is live, not only a unit test.
func TestModulesGiveFullPathPastMaxPath(t *testing.T) {
	dir := t.TempDir()
	for len(dir) < 300 {
		dir = filepath.Join(dir, "a_folder_name_that_makes_the_path_long")
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	dll := filepath.Join(dir, "modhunt_long.dll")
	winfix.CopyFile(t, filepath.Join(winfix.Dir(t), "payload.dll"), dll)
	pid, base := start(t, "loadlib.exe", "loaded", dll)

	mods, err := Modules(pid)
	if err != nil {
		t.Fatal(err)
	}
	m := findModule(mods, base)
	if m == nil {
		t.Fatalf("no module at %#x; modules:\n%s", base, listModules(mods))
	}
	if m.Path != dll {
		t.Errorf("module path (%d characters)\n%s\nwant (%d characters)\n%s", len(m.Path), m.Path, len(dll), dll)
	}

	// Wine's GetMappedFileNameW fails past MAX_PATH: the image mapping
	// takes the loader's path for its base.
	view, err := ReadMemory(pid, nil, Limits{})
	if err != nil {
		t.Fatal(err)
	}
	for _, img := range ImageMappings(view.Regions, mods) {
		if img.Base == base {
			t.Logf("GetMappedFileNameW past MAX_PATH: %q", img.NTPath)
			if img.Path != dll || !img.InLoaderList {
				t.Errorf("image mapping at %#x: %+v, want path %s in the loader list", base, img, dll)
			}
			return
		}
	}
	t.Errorf("no image mapping at %#x", base)
}

// notInLoaderList returns pid's modules and memory view (with device paths
// translated), failing with "<found> at <base>" if a module is at base.
func notInLoaderList(t *testing.T, pid uint32, base uint64, found string) ([]Module, MemoryView) {
	t.Helper()
	devices, err := Devices()
	if err != nil {
		t.Fatal(err)
	}
	mods, err := Modules(pid)
	if err != nil {
		t.Fatal(err)
	}
	if m := findModule(mods, base); m != nil {
		t.Fatalf("%s at %#x: %+v", found, base, *m)
	}
	view, err := ReadMemory(pid, devices, Limits{})
	if err != nil {
		t.Fatal(err)
	}
	return mods, view
}

// TestMemoryViewShowsHandMappedImageOutsideLoaderList: a DLL mapped as an
// image by CreateFileMapping(SEC_IMAGE) + MapViewOfFile is MEM_IMAGE memory
// that no loader list has: the trace manual mapping leaves.
func TestMemoryViewShowsHandMappedImageOutsideLoaderList(t *testing.T) {
	dll := dropDLL(t, "payload.dll", "modhunt_mapped.dll")
	pid, base := start(t, "mapimage.exe", "mapped", dll)

	mods, view := notInLoaderList(t, pid, base, "the loader list has the hand-mapped view")
	if view.Truncated {
		t.Fatalf("walk of %d regions truncated", len(view.Regions))
	}
	var found *ImageMapping
	loaded := 0
	imgs := ImageMappings(view.Regions, mods)
	for i := range imgs {
		if imgs[i].Base == base {
			found = &imgs[i]
		}
		if imgs[i].InLoaderList {
			loaded++
		}
	}
	if found == nil {
		t.Fatalf("no image mapping at %#x among %d", base, len(imgs))
	}
	t.Logf("GetMappedFileNameW: %q -> %q", found.NTPath, found.Path)
	if found.InLoaderList || !SamePath(found.Path, dll) {
		t.Errorf("hand-mapped image: %+v, want %s with InLoaderList false", *found, dll)
	}
	// The same file mapped as data is a MEM_MAPPED region with its path,
	// and no image mapping.
	data := lastAddrs[1]
	seen := false
	for _, r := range view.Regions {
		if r.Base == data {
			seen = true
			if r.Type != MemMapped || r.State != MemCommit || !SamePath(r.Path, dll) {
				t.Errorf("data view at %#x: %+v (type %s), want a committed mapped region of %s", data, r, TypeName(r.Type), dll)
			}
		}
	}
	if !seen {
		t.Errorf("no region at the data view's %#x", data)
	}
	for _, img := range imgs {
		if img.Base == data {
			t.Errorf("data view at %#x counted as an image mapping", data)
		}
	}
	// The executable and ntdll at least are mapped and in the list.
	if loaded < 2 {
		t.Errorf("%d image mappings in the loader list, want the exe and its DLLs", loaded)
	}
}

// TestMemoryViewShowsUnlinkedModuleOutsideLoaderList: a DLL loaded
// normally and then taken out of the PEB's loader lists is gone from the
// module snapshot but still an image mapping, with InLoaderList false.
func TestMemoryViewShowsUnlinkedModuleOutsideLoaderList(t *testing.T) {
	dll := dropDLL(t, "payload.dll", "modhunt_unlinked.dll")
	pid, base := start(t, "unlink.exe", "unlinked", dll)

	mods, view := notInLoaderList(t, pid, base, "the module snapshot still has the unlinked DLL")
	for _, img := range ImageMappings(view.Regions, mods) {
		if img.Base == base {
			if img.InLoaderList || !SamePath(img.Path, dll) {
				t.Errorf("unlinked module: %+v, want %s with InLoaderList false", img, dll)
			}
			return
		}
	}
	t.Errorf("no image mapping at %#x", base)
}

// TestDevicesTranslateTheKernelsPaths: Wine's GetMappedFileNameW gives \??\
// paths, but its GetFinalPathNameByHandleW gives the \Device\HarddiskVolumeN
// form Windows' GetMappedFileNameW does; through Devices both come back to
// the drive-letter path.
func TestDevicesTranslateTheKernelsPaths(t *testing.T) {
	f := filepath.Join(t.TempDir(), "file.dll")
	if err := os.WriteFile(f, []byte("x"), 0o644); err != nil {
		t.Fatal(err)
	}
	devices, err := Devices()
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("devices: %v", devices)
	h, err := windows.Open(f, windows.O_RDONLY, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = windows.CloseHandle(h) }()
	buf := make([]uint16, 1024)
	n, err := windows.GetFinalPathNameByHandle(h, &buf[0], uint32(len(buf)), volumeNameNT)
	if err != nil {
		t.Fatal(err)
	}
	nt := windows.UTF16ToString(buf[:n])
	if !strings.HasPrefix(nt, `\Device\`) {
		t.Fatalf("GetFinalPathNameByHandleW(VOLUME_NAME_NT) = %q", nt)
	}
	if got, ok := devices.DOSPath(nt); !ok || !SamePath(got, f) {
		t.Errorf("DOSPath(%q) = %q, %v; want %s", nt, got, ok, f)
	}
}

func TestReadContextOfChild(t *testing.T) {
	dll := dropDLL(t, "payload.dll", "modhunt ctx.dll") // a space, so the command line quotes it
	pid, _ := start(t, "loadlib.exe", "loaded", dll)
	var accounts Accounts
	c, err := ReadContext(pid, &accounts)
	if err != nil {
		t.Fatal(err)
	}
	self, err := ReadContext(uint32(os.Getpid()), &accounts)
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("child: %+v", c)
	if !SamePath(c.Image, filepath.Join(winfix.Dir(t), "loadlib.exe")) {
		t.Errorf("image %q", c.Image)
	}
	if !strings.Contains(c.CommandLine, `"`+dll+`"`) || !strings.Contains(strings.ToLower(c.CommandLine), "loadlib.exe") {
		t.Errorf("command line %q, want loadlib.exe and %q quoted", c.CommandLine, dll)
	}
	if c.PPID != uint32(os.Getpid()) {
		t.Errorf("ppid %d, want %d", c.PPID, os.Getpid())
	}
	// Wine runs everything as one elevated user (VM\root-style: the Linux
	// host name as domain); on Windows a child inherits its parent's token
	// too. What must hold everywhere: a DOMAIN\name and a named level, the
	// same as this process's.
	if !strings.Contains(c.User, `\`) || c.User != self.User {
		t.Errorf("user %q, this process %q", c.User, self.User)
	}
	if c.Integrity == "" || c.Integrity != self.Integrity || c.Session != self.Session {
		t.Errorf("integrity %q session %d, this process %q %d", c.Integrity, c.Session, self.Integrity, self.Session)
	}
}

func TestReadContextSkipsProcessThatIsGone(t *testing.T) {
	cmd := exec.Command(filepath.Join(winfix.Dir(t), "loadlib.exe"))
	_ = cmd.Run() // usage error, exits at once
	pid := uint32(cmd.Process.Pid)
	_, err := ReadContext(pid, &Accounts{})
	var se *SkipError
	if !errors.As(err, &se) || !errors.Is(err, ErrGone) {
		t.Fatalf("ReadContext of exited pid %d: %v, want a SkipError matching ErrGone", pid, err)
	}
	if _, err := Modules(pid); !errors.Is(err, ErrGone) {
		t.Errorf("Modules of exited pid %d: %v, want ErrGone", pid, err)
	}
	// The idle process's pid 0 is in every snapshot and is never a
	// process that went away.
	if _, err := ReadContext(0, &Accounts{}); !errors.As(err, &se) || errors.Is(err, ErrGone) || errors.Is(err, ErrAccessDenied) {
		t.Errorf("ReadContext(0): %v, want a SkipError that is neither gone nor access denied", err)
	}
	// And Toolhelp reads pid 0 as the calling process: its modules are
	// not the idle process's.
	if mods, err := Modules(0); !errors.As(err, &se) || len(mods) != 0 {
		t.Errorf("Modules(0): %d modules, %v; want none and a SkipError", len(mods), err)
	}
}

func TestVerifyUnsignedDLL(t *testing.T) {
	dll := dropDLL(t, "payload.dll", "unsigned.dll")
	// Without an embedded signature the catalogs are asked, by SHA-256
	// and then SHA-1; Wine has no catalog files, so none lists the DLL,
	// but the lookup runs through Wine's CryptCATAdmin functions for real.
	var lookups []string
	catalogHook = func(alg string, hashLen int, found bool) {
		lookups = append(lookups, fmt.Sprintf("%q/%d/%v", alg, hashLen, found))
	}
	t.Cleanup(func() { catalogHook = nil })
	sig, err := Verify(dll)
	if err != nil {
		t.Fatal(err)
	}
	want := []string{`"SHA256"/32/false`, `""/20/false`}
	if underWine() {
		// Wine 8 has no CryptCATAdminAcquireContext2 (it answers "not
		// implemented") nor CryptCATAdminCalcHashFromFileHandle2: only
		// the SHA-1 lookup runs.
		want = want[1:]
	}
	if !slices.Equal(lookups, want) {
		t.Errorf("catalog lookups %v, want %v", lookups, want)
	}
	if sig.Signed || sig.Status != StatusUnavailable || sig.Subject != "" || sig.Catalog {
		t.Errorf("unsigned DLL: %+v, want not signed, Unavailable", sig)
	}
}

// TestVerifyUnreadableFileIsAnError: a file that is not there, or a folder,
// has no signature verdict; WinVerifyTrust's error must not come back as
// "signed, Invalid". A file that is no PE at all is Unavailable, as Sysmon
// reports it.
func TestVerifyUnreadableFileIsAnError(t *testing.T) {
	dir := t.TempDir()
	for _, p := range []string{filepath.Join(dir, "missing.dll"), dir} {
		if sig, err := Verify(p); err == nil {
			t.Errorf("Verify(%s) = %+v, want an error", p, sig)
		}
	}
	// A file past MaxVerifySize (sparse: nothing is written) is refused
	// before WinVerifyTrust reads a byte of it.
	big := filepath.Join(dir, "big.dll")
	winfix.CopyFile(t, filepath.Join(winfix.Dir(t), "payload.dll"), big)
	if err := os.Truncate(big, MaxVerifySize+1); err != nil {
		t.Fatal(err)
	}
	if sig, err := Verify(big); !errors.Is(err, ErrTooLarge) {
		t.Errorf("Verify(%d-byte file) = %+v, %v; want ErrTooLarge", int64(MaxVerifySize+1), sig, err)
	}
	txt := filepath.Join(dir, "notes.txt")
	if err := os.WriteFile(txt, []byte("not a PE file"), 0o644); err != nil {
		t.Fatal(err)
	}
	if sig, err := Verify(txt); err != nil || sig.Signed || sig.Status != StatusUnavailable {
		t.Errorf("Verify(text file) = %+v, %v; want not signed, Unavailable", sig, err)
	}
}

// underWine says whether this runs on Wine (its ntdll exports
// wine_get_version; Windows' does not).
func underWine() bool {
	return windows.NewLazySystemDLL("ntdll.dll").NewProc("wine_get_version").Find() == nil
}

// TestVerifySelfSignedDLL: payload.dll signed by osslsigncode with a
// self-signed certificate (test/wine/wine.mk). Windows answers
// CERT_E_UNTRUSTEDROOT for it (the root is in no trusted store): signed,
// Untrusted, with the signer's subject. Wine 8 differs: its WinVerifyTrust
// does not require the chain to end at a trusted root and answers
// ERROR_SUCCESS, so under Wine the verdict is Valid (not run on Windows here:
// there is no Windows host in CI). The mapping from
// CERT_E_UNTRUSTEDROOT to Untrusted is unit-tested on every OS
// (TestVerdictFromResult).
func TestVerifySelfSignedDLL(t *testing.T) {
	dll := dropDLL(t, "payload_signed.dll", "signed.dll")
	sig, err := Verify(dll)
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("self-signed: %+v (HRESULT %#08x)", sig, sig.Result)
	want := StatusUntrusted
	if underWine() {
		want = StatusValid
	}
	if !sig.Signed || sig.Status != want || sig.Subject != "modhunt test signer" || sig.Catalog {
		t.Errorf("self-signed DLL: %+v, want signed, %s, subject modhunt test signer", sig, want)
	}

	// The same file with one byte of its code changed: the signature is
	// still there, its digest no longer matches.
	data, err := os.ReadFile(dll)
	if err != nil {
		t.Fatal(err)
	}
	i := bytes.Index(data, []byte(".text"))
	if i < 0 {
		t.Fatal("no .text section header")
	}
	// The section's raw data offset is 20 bytes into its header.
	off := int(uint32(data[i+20]) | uint32(data[i+21])<<8 | uint32(data[i+22])<<16 | uint32(data[i+23])<<24)
	data[off+16] ^= 0xff
	tampered := filepath.Join(t.TempDir(), "tampered.dll")
	if err := os.WriteFile(tampered, data, 0o644); err != nil {
		t.Fatal(err)
	}
	sig, err = Verify(tampered)
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("tampered: %+v (HRESULT %#08x)", sig, sig.Result)
	if !sig.Signed || sig.Status != StatusInvalid {
		t.Errorf("tampered signed DLL: %+v, want signed, Invalid", sig)
	}
}

// TestVerifyExpiredSignature: payload.dll signed with a self-signed
// certificate valid only in 2020 (wine.mk) and no timestamp, so nothing
// saves the signature once the certificate has expired. Windows answers
// CERT_E_EXPIRED (signtool: "not within its validity period"; not run here,
// there is no Windows host in CI). Wine 8 differs: its WinVerifyTrust checks
// the file's digest but neither the chain's root nor its validity
// period, and answers ERROR_SUCCESS. The mapping of CERT_E_EXPIRED to
// Expired is unit-tested on every OS (TestVerdictFromResult).
func TestVerifyExpiredSignature(t *testing.T) {
	dll := dropDLL(t, "payload_expired.dll", "expired.dll")
	sig, err := Verify(dll)
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("expired: %+v (HRESULT %#08x)", sig, sig.Result)
	want := StatusExpired
	if underWine() {
		want = StatusValid
	}
	if !sig.Signed || sig.Status != want || sig.Subject != "modhunt expired signer" {
		t.Errorf("expired signature: %+v, want signed, %s, subject modhunt expired signer", sig, want)
	}
}

func TestLongPathExpandsShortNames(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "a long folder name")
	if err := os.Mkdir(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	f := filepath.Join(dir, "modhunt_short_name.dll")
	if err := os.WriteFile(f, []byte("x"), 0o644); err != nil {
		t.Fatal(err)
	}
	p, _ := windows.UTF16PtrFromString(f)
	buf := make([]uint16, 1024)
	n, err := windows.GetShortPathName(p, &buf[0], uint32(len(buf)))
	if err != nil {
		t.Skipf("GetShortPathNameW: %v (8.3 names disabled on this volume)", err)
	}
	short := windows.UTF16ToString(buf[:n])
	t.Logf("short name: %s", short)
	if !Classify(short).ShortName {
		t.Errorf("Classify(%q) sees no short name", short)
	}
	long, err := LongPath(short)
	if err != nil {
		t.Fatal(err)
	}
	if !SamePath(long, f) || !IsUnder(long, dir) {
		t.Errorf("LongPath(%q) = %q, want %s", short, long, f)
	}
}

// volumeNameNT is GetFinalPathNameByHandleW's VOLUME_NAME_NT flag.
const volumeNameNT = 0x2

// TestReadMemoryStopsAtItsLimit: a walk bounded to a few regions stops there
// and says it was cut short, instead of reading the whole address space.
func TestReadMemoryStopsAtItsLimit(t *testing.T) {
	dll := dropDLL(t, "payload.dll", "modhunt_limit.dll")
	pid, _ := start(t, "loadlib.exe", "loaded", dll)
	full, err := ReadMemory(pid, nil, Limits{})
	if err != nil {
		t.Fatal(err)
	}
	if full.Truncated || len(full.Regions) < 10 {
		t.Fatalf("unbounded walk: %d regions, truncated %v", len(full.Regions), full.Truncated)
	}
	cut, err := ReadMemory(pid, nil, Limits{MaxRegions: 5})
	if err != nil {
		t.Fatal(err)
	}
	if !cut.Truncated || len(cut.Regions) != 5 {
		t.Errorf("walk bounded to 5 regions: %d regions, truncated %v", len(cut.Regions), cut.Truncated)
	}
	for i := 1; i < len(full.Regions); i++ {
		if full.Regions[i].Base < full.Regions[i-1].Base+full.Regions[i-1].Size {
			t.Fatalf("regions out of order or overlapping at %d: %+v after %+v", i, full.Regions[i], full.Regions[i-1])
		}
	}
}

// TestAccountsFallBackToTheSID: a SID no account maps to (a deleted user, a
// domain out of reach) is reported as the SID, not as a blank or an error
// that would drop the whole process.
func TestAccountsFallBackToTheSID(t *testing.T) {
	const unmapped = "S-1-5-21-1-2-3-4242"
	sid, err := windows.StringToSid(unmapped)
	if err != nil {
		t.Fatal(err)
	}
	var a Accounts
	if got := a.Name(sid); got != unmapped {
		t.Errorf("Name(%s) = %q, want the SID", unmapped, got)
	}
	system, err := windows.StringToSid("S-1-5-18")
	if err != nil {
		t.Fatal(err)
	}
	if got := a.Name(system); !strings.HasSuffix(got, `\SYSTEM`) {
		t.Errorf("Name(S-1-5-18) = %q, want ...\\SYSTEM", got)
	}
}

// TestScanModulesOpensOnlyTheRequestedPids: a query for one pid opens that
// process and no other (counted through the open hook), and still finds its
// modules; without pids every process is scanned.
func TestScanModulesOpensOnlyTheRequestedPids(t *testing.T) {
	dll := dropDLL(t, "payload.dll", "modhunt_scan.dll")
	pid, base := start(t, "loadlib.exe", "loaded", dll)
	opened := map[uint32]int{}
	openHook = func(p uint32) { opened[p]++ }
	t.Cleanup(func() { openHook = nil })

	got, err := ScanModules([]uint32{pid, 0xfffffff0}) // the second pid exists nowhere
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 1 || got[0].PID != pid || got[0].Err != nil || findModule(got[0].Modules, base) == nil {
		t.Fatalf("ScanModules([%d]) = %+v, want that process with its DLL at %#x", pid, got, base)
	}
	for p := range opened {
		if p != pid {
			t.Errorf("opened pid %d, asked only for %d (opened: %v)", p, pid, opened)
		}
	}

	clear(opened)
	all, err := ScanModules(nil)
	if err != nil {
		t.Fatal(err)
	}
	if len(all) < 2 || len(opened) < 2 {
		t.Errorf("ScanModules(nil): %d processes, %d opened; want every process", len(all), len(opened))
	}
}
