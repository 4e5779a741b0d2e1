package inventory

import (
	"context"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/modhunt/modhunt/internal/winproc"
	"github.com/modhunt/modhunt/tables/fileinfo"
	"github.com/modhunt/modhunt/test/wine/winfix"
)

// These tests start mingw-built fixture programs (test/wine/fixtures) and
// read them through the inventory, as every table does. They run for real
// under Wine (make test-windows, or GOOS=windows go test -exec
// test/wine/go_windows_amd64_exec with MODHUNT_WINE_FIXTURES set).

// dropDLL copies a fixture DLL into a fresh temp folder under name.
func dropDLL(t *testing.T, fixture, name string) string {
	t.Helper()
	dll := filepath.Join(t.TempDir(), name)
	winfix.CopyFile(t, filepath.Join(winfix.Dir(t), fixture), dll)
	return dll
}

// startFixture runs program on dll and returns its pid and the addresses
// it printed after word.
func startFixture(t *testing.T, program, word, dll string) (int, []uint64) {
	t.Helper()
	pid, addrs := winfix.Start(t, filepath.Join(winfix.Dir(t), program), word, dll)
	return int(pid), addrs
}

// walkOne walks pid alone with detail.
func walkOne(t *testing.T, inv *Inventory, pid int, detail Detail) *Process {
	t.Helper()
	var got *Process
	err := inv.WalkDetail(context.Background(), []int{pid}, detail, func(p *Process) error {
		c := p.Clone()
		got = &c
		return nil
	})
	if err != nil {
		t.Fatalf("walk of pid %d: %v", pid, err)
	}
	return got
}

func countingInventory() (*Inventory, func() map[int]int) {
	var mu sync.Mutex
	read := map[int]int{}
	inv := New(Config{OnProcess: func(pid int) {
		mu.Lock()
		read[pid]++
		mu.Unlock()
	}})
	return inv, func() map[int]int {
		mu.Lock()
		defer mu.Unlock()
		return read
	}
}

func moduleAt(p *Process, base uint64) *Module {
	for i := range p.Modules {
		if p.Modules[i].Base == base {
			return &p.Modules[i]
		}
	}
	return nil
}

func listModules(p *Process) string {
	var b strings.Builder
	for _, m := range p.Modules {
		b.WriteString("  " + m.Path)
		if !m.InLoaderList {
			b.WriteString(" (not in loader list)")
		}
		b.WriteString("\n")
	}
	return b.String()
}

func TestWalkReadsDLLLoadedFromTempWithItsProcess(t *testing.T) {
	dll := dropDLL(t, "payload.dll", "modhunt_inv_payload.dll")
	pid, addrs := startFixture(t, "loadlib.exe", "loaded", dll)
	inv, reads := countingInventory()
	p := walkOne(t, inv, pid, DetailAll)
	if p == nil {
		t.Fatalf("walk of pid %d gave no process", pid)
	}
	// Only the pid asked for is read (the process snapshot opens none).
	if r := reads(); len(r) != 1 || r[pid] != 1 {
		t.Errorf("walk of pid %d read pids %v", pid, r)
	}
	m := moduleAt(p, addrs[0])
	if m == nil {
		t.Fatalf("no module at %#x, where LoadLibraryW put %s; modules:\n%s", addrs[0], dll, listModules(p))
	}
	if !strings.EqualFold(m.Path, dll) || !strings.EqualFold(m.Name, filepath.Base(dll)) {
		t.Errorf("module at %#x is %q (%q), want %q", addrs[0], m.Path, m.Name, dll)
	}
	if !m.InLoaderList || !m.Executable || m.FileType != FilePE || m.Exe {
		t.Errorf("module %+v: want in the loader list, executable, a PE, not the exe", *m)
	}
	if m.File == (fileinfo.Key{}) {
		t.Errorf("module %s has no file identity", dll)
	}

	exe := filepath.Join(winfix.Dir(t), "loadlib.exe")
	if !winproc.SamePath(p.Path, exe) {
		t.Errorf("process path %q, want %q", p.Path, exe)
	}
	if !strings.Contains(p.Cmdline, dll) || p.PPID != os.Getpid() || !strings.EqualFold(p.Name, "loadlib.exe") {
		t.Errorf("process %d: cmdline %q, parent %d (want %d), name %q", pid, p.Cmdline, p.PPID, os.Getpid(), p.Name)
	}
	if p.UID != -1 || !strings.Contains(p.User, `\`) || p.Windows.Integrity == "" {
		t.Errorf("process %d: uid %d, user %q, integrity %q: want -1, DOMAIN\\name and a level", pid, p.UID, p.User, p.Windows.Integrity)
	}
	exes := 0
	for _, m := range p.Modules {
		if m.Exe {
			exes++
			if !winproc.SamePath(m.Path, exe) {
				t.Errorf("module %s marked as the exe", m.Path)
			}
		}
	}
	if exes != 1 {
		t.Errorf("%d modules marked as the exe, want 1:\n%s", exes, listModules(p))
	}

	// Without the details, the context is not read: a query of paths
	// does not pay for the token and the PEB.
	var what []string
	bare := New(Config{OnRead: func(_ int, file string) { what = append(what, file) }})
	q := walkOne(t, bare, pid, 0)
	if q == nil || moduleAt(q, addrs[0]) == nil {
		t.Fatalf("bare walk lost the module")
	}
	if q.Cmdline != "" || q.User != "" || q.Path != "" || moduleAt(q, addrs[0]).FileType != "" {
		t.Errorf("bare walk read details: %+v", *q)
	}
	if strings.Join(what, ",") != "modules,memory" {
		t.Errorf("bare walk read %v, want the modules and the memory view only", what)
	}
}

func TestWalkShowsHandMappedImageOutsideLoaderList(t *testing.T) {
	dll := dropDLL(t, "payload.dll", "modhunt_inv_mapped.dll")
	pid, addrs := startFixture(t, "mapimage.exe", "mapped", dll)
	p := walkOne(t, New(Config{}), pid, DetailAll)
	if p == nil {
		t.Fatalf("no process %d", pid)
	}
	m := moduleAt(p, addrs[0])
	if m == nil {
		t.Fatalf("no module at %#x, where MapViewOfFile(SEC_IMAGE) put %s:\n%s", addrs[0], dll, listModules(p))
	}
	if m.InLoaderList || !strings.EqualFold(m.Path, dll) || m.FileType != FilePE {
		t.Errorf("hand-mapped image %+v: want outside the loader list, path %s, a PE", *m, dll)
	}
	// The same file mapped as data (the second address) is no module.
	if d := moduleAt(p, addrs[1]); d != nil {
		t.Errorf("a data view is a module: %+v", *d)
	}
}

func TestWalkShowsUnlinkedModuleOutsideLoaderList(t *testing.T) {
	dll := dropDLL(t, "payload.dll", "modhunt_inv_unlinked.dll")
	pid, addrs := startFixture(t, "unlink.exe", "unlinked", dll)
	p := walkOne(t, New(Config{}), pid, DetailAll)
	if p == nil {
		t.Fatalf("no process %d", pid)
	}
	n := 0
	for _, m := range p.Modules {
		if strings.EqualFold(m.Path, dll) {
			n++
			if m.InLoaderList || m.Base != addrs[0] {
				t.Errorf("unlinked module %+v: want outside the loader list at %#x", m, addrs[0])
			}
		}
	}
	if n != 1 {
		t.Errorf("%d modules for %s, want one:\n%s", n, dll, listModules(p))
	}
}

func TestWalkPidFilter(t *testing.T) {
	dll := dropDLL(t, "payload.dll", "modhunt_inv_filter.dll")
	a, _ := startFixture(t, "loadlib.exe", "loaded", dll)
	b, _ := startFixture(t, "loadlib.exe", "loaded", dll)
	inv, reads := countingInventory()
	var got []int
	err := inv.WalkDetail(context.Background(), []int{b, a, a, -1, 0}, DetailAll, func(p *Process) error {
		got = append(got, p.PID)
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 2 || (got[0] != a && got[0] != b) || got[0] == got[1] {
		t.Errorf("pid IN (%d, %d, %d, -1, 0) gave %v", b, a, a, got)
	}
	if r := reads(); len(r) != 2 || r[a] != 1 || r[b] != 1 {
		t.Errorf("read pids %v, want %d and %d once each", r, a, b)
	}
	if err := inv.Walk(context.Background(), []int{}, func(p *Process) error {
		t.Errorf("empty pid list read %d", p.PID)
		return nil
	}); err != nil {
		t.Fatal(err)
	}

	// An exited process is skipped: no row, no error.
	cmd := exec.Command(filepath.Join(winfix.Dir(t), "loadlib.exe"))
	_ = cmd.Run()
	if err := inv.Walk(context.Background(), []int{cmd.Process.Pid}, func(p *Process) error {
		t.Errorf("exited pid %d has a row with %d modules", p.PID, len(p.Modules))
		return nil
	}); err != nil {
		t.Fatal(err)
	}
}

func TestWalkOfEveryProcessFindsTheFixture(t *testing.T) {
	dll := dropDLL(t, "payload.dll", "modhunt_inv_all.dll")
	pid, addrs := startFixture(t, "loadlib.exe", "loaded", dll)
	found := false
	procs := 0
	err := New(Config{}).Walk(context.Background(), nil, func(p *Process) error {
		procs++
		if p.PID == 0 {
			t.Errorf("the idle process has a row")
		}
		for _, m := range p.Modules {
			if m.Path == "" {
				t.Errorf("pid %d: module at %#x without a path", p.PID, m.Base)
			}
		}
		if p.PID == pid && moduleAt(p, addrs[0]) != nil {
			found = true
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if !found || procs < 3 {
		t.Errorf("walk of %d processes did not find %s in pid %d", procs, dll, pid)
	}
}

func TestModuleIdentityIsVolumeAndFileID(t *testing.T) {
	dir := t.TempDir()
	dll := dropDLL(t, "payload.dll", "modhunt_inv_id.dll")
	link := filepath.Join(dir, "hardlink.dll")
	if err := os.Link(dll, link); err != nil {
		t.Fatal(err)
	}
	other := dropDLL(t, "payload.dll", "modhunt_inv_copy.dll")
	inv := New(Config{})
	stat := func(path string) FileInfo {
		t.Helper()
		fi, err := inv.StatModule(0, &Module{Path: path})
		if err != nil {
			t.Fatalf("StatModule(%s): %v", path, err)
		}
		return fi
	}
	a, l, c := stat(dll), stat(link), stat(other)
	if a.Dev == 0 || (a.Ino == 0 && a.InoHi == 0) || a.Size == 0 || a.ModTime.IsZero() || a.ChangeTime.IsZero() {
		t.Fatalf("StatModule(%s) = %+v: want a volume serial, a file id, size and times", dll, a)
	}
	if IDOf(a).Key != IDOf(l).Key {
		t.Errorf("a hard link has another identity: %+v, %+v", IDOf(a).Key, IDOf(l).Key)
	}
	if l.Nlink != 2 {
		t.Errorf("link count %d, want 2", l.Nlink)
	}
	if IDOf(a).Key == IDOf(c).Key {
		t.Errorf("a copy has the same identity %+v", IDOf(a).Key)
	}
	if f, err := os.Open(link); err != nil {
		t.Fatal(err)
	} else {
		k, err := FileKey(f)
		_ = f.Close()
		if err != nil || k != IDOf(a).Key {
			t.Errorf("FileKey of the open hard link = %+v, %v; want %+v", k, err, IDOf(a).Key)
		}
	}
	fs, err := inv.ModuleFSType(0, &Module{Path: dll})
	if err != nil || fs == "" {
		t.Errorf("ModuleFSType: %q, %v", fs, err)
	}

	// A module whose identity is known opens only while its path still
	// leads to that file.
	m := &Module{Path: dll, File: IDOf(a).Key}
	f, err := inv.OpenModule(0, m)
	if err != nil {
		t.Fatalf("OpenModule: %v", err)
	}
	_ = f.Close()
	if err := os.Remove(dll); err != nil {
		t.Fatal(err)
	}
	winfix.CopyFile(t, other, dll)
	if f, err := inv.OpenModule(0, m); err == nil {
		_ = f.Close()
		t.Errorf("OpenModule opened the file that replaced the mapped one")
	}

	// Folders and device-namespace paths are not module files.
	for _, p := range []string{dir, `\\.\pipe\modhunt-none`, `\\.\NUL`, dll + ":stream"} {
		if f, err := inv.OpenModule(0, &Module{Path: p}); err == nil {
			_ = f.Close()
			t.Errorf("OpenModule(%s) opened it", p)
		}
	}
}

func TestRegionsAndMemoryOfLoadedDLL(t *testing.T) {
	dll := dropDLL(t, "payload.dll", "modhunt_inv_regions.dll")
	pid, addrs := startFixture(t, "loadlib.exe", "loaded", dll)
	inv := New(Config{})
	regions, err := inv.Regions(context.Background(), pid)
	if err != nil {
		t.Fatal(err)
	}
	var image, exec, private bool
	for _, r := range regions {
		if r.Start >= addrs[0] && r.Start < addrs[0]+0x100000 && strings.EqualFold(r.Path, dll) {
			image = image || r.Type == RegionImage
			exec = exec || r.Prot&ProtExec != 0
		}
		private = private || r.Type == RegionPrivate
	}
	if !image || !exec || !private {
		t.Errorf("regions of pid %d: image of %s %v, executable %v, private memory %v", pid, dll, image, exec, private)
	}
	mem, err := inv.OpenMemory(pid)
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = mem.Close() }()
	head := make([]byte, 2)
	if _, err := mem.ReadAt(head, int64(addrs[0])); err != nil || string(head) != "MZ" {
		t.Errorf("ReadAt(%#x) = %q, %v; want the image's MZ", addrs[0], head, err)
	}
	// Address 0 is never mapped: an error, not a crash or zeros.
	if n, err := mem.ReadAt(head, 0); err == nil {
		t.Errorf("ReadAt(0) read %d bytes", n)
	}
	if _, err := inv.OpenMemory(-1); err == nil {
		t.Errorf("OpenMemory(-1) succeeded")
	}
	if _, err := inv.Regions(context.Background(), 0); err == nil {
		t.Errorf("Regions(0) succeeded")
	}
	var se *winproc.SkipError
	if _, err := inv.Regions(context.Background(), 1<<30); !errors.As(err, &se) {
		t.Errorf("Regions of a pid that does not exist: %v, want a SkipError", err)
	}
}
