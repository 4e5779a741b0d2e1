// Package fakeinv is an inventory of made-up processes shaped like another
// OS's (Windows: C:\ paths, modules missing from the loader list, no Linux
// device fields; macOS: dylibs under /usr/lib and /private/tmp), so the
// tables and the event builder can be tested with them on Linux CI.
package fakeinv

import (
	"cmp"
	"context"
	"errors"
	"io"
	"io/fs"
	"os"
	"slices"
	"sync"
	"syscall"

	"github.com/modhunt/modhunt/tables/fileinfo"
	"github.com/modhunt/modhunt/tables/inventory"
)

// Inventory serves Procs as an inventory of OS.
type Inventory struct {
	OS    string
	Procs []inventory.Process
	// Backing maps a module path to a real file of this host that stands
	// for its bytes (OpenModule and StatModule read it); a module without
	// one cannot be opened or statted.
	Backing map[string]string
	// Private adds regions no module stands for (heap, VirtualAlloc'd
	// memory) to a pid's Regions; Memory holds region contents by start
	// address for OpenMemory (an address no entry covers reads as EIO).
	Private map[int][]inventory.Region
	Memory  map[int]map[uint64][]byte

	facts  *fileinfo.Cache
	mu     sync.Mutex
	walked map[int]int
}

var _ inventory.Source = (*Inventory)(nil)

// Walk calls fn with a copy of each process in pids (nil: all), counting
// each read (Walked).
func (f *Inventory) Walk(ctx context.Context, pids []int, fn func(*inventory.Process) error) error {
	for i := range f.Procs {
		if err := ctx.Err(); err != nil {
			return err
		}
		p := f.Procs[i].Clone()
		if pids != nil && !slices.Contains(pids, p.PID) {
			continue
		}
		f.mu.Lock()
		if f.walked == nil {
			f.walked = map[int]int{}
		}
		f.walked[p.PID]++
		f.mu.Unlock()
		if err := fn(&p); err != nil {
			return err
		}
	}
	return nil
}

// WalkDetail is Walk: a fake has every detail at hand.
func (f *Inventory) WalkDetail(ctx context.Context, pids []int, _ inventory.Detail, fn func(*inventory.Process) error) error {
	return f.Walk(ctx, pids, fn)
}

// Walked is how many times pid was read.
func (f *Inventory) Walked(pid int) int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.walked[pid]
}

// OpenModule opens the module's backing file.
func (f *Inventory) OpenModule(_ int, m *inventory.Module) (*os.File, error) {
	b, ok := f.Backing[m.Path]
	if !ok {
		return nil, fs.ErrNotExist
	}
	return os.Open(b)
}

// StatModule stats the module's backing file.
func (f *Inventory) StatModule(_ int, m *inventory.Module) (inventory.FileInfo, error) {
	b, ok := f.Backing[m.Path]
	if !ok {
		return inventory.FileInfo{}, fs.ErrNotExist
	}
	fi, err := os.Stat(b)
	if err != nil {
		return inventory.FileInfo{}, err
	}
	out := inventory.FileInfo{Mode: uint32(fi.Mode().Perm()), Size: fi.Size(), ModTime: fi.ModTime(), Nlink: 1}
	k := fileKey(b, fi)
	out.Dev, out.Ino, out.InoHi = k.Dev, k.Ino, k.InoHi
	return out, nil
}

// ModuleFSType is unknown.
func (f *Inventory) ModuleFSType(int, *inventory.Module) (string, error) {
	return "", errors.ErrUnsupported
}

// Environ is empty.
func (f *Inventory) Environ(int, int) ([]string, bool, error) { return nil, false, nil }

// Regions are the modules' images.
func (f *Inventory) Regions(_ context.Context, pid int) ([]inventory.Region, error) {
	for i := range f.Procs {
		if p := &f.Procs[i]; p.PID == pid {
			var rs []inventory.Region
			for _, m := range p.Modules {
				rs = append(rs, inventory.Region{Start: m.Base, Size: m.Size, Prot: inventory.ProtRead | inventory.ProtExec,
					Type: inventory.RegionImage, File: m.File, Path: m.Path})
			}
			rs = append(rs, f.Private[pid]...)
			slices.SortFunc(rs, func(a, b inventory.Region) int { return cmp.Compare(a.Start, b.Start) })
			return rs, nil
		}
	}
	return nil, fs.ErrNotExist
}

// OpenMemory reads Memory[pid].
func (f *Inventory) OpenMemory(pid int) (inventory.Memory, error) {
	for i := range f.Procs {
		if f.Procs[i].PID == pid {
			return memory(f.Memory[pid]), nil
		}
	}
	return nil, fs.ErrNotExist
}

type memory map[uint64][]byte

func (m memory) ReadAt(p []byte, off int64) (int, error) {
	addr := uint64(off)
	for start, b := range m {
		if addr >= start && addr < start+uint64(len(b)) {
			n := copy(p, b[addr-start:])
			if n < len(p) {
				return n, io.EOF
			}
			return n, nil
		}
	}
	return 0, syscall.EIO
}

func (memory) Close() error { return nil }

// Files is the inventory's file-facts cache.
func (f *Inventory) Files() *fileinfo.Cache {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.facts == nil {
		f.facts = fileinfo.New(0, 0)
	}
	return f.facts
}

// Platform is OS.
func (f *Inventory) Platform() string { return f.OS }

// Pids far above any pid_max (2^22): never a process of the host running
// the tests.
const (
	ParentPID = 1<<24 + 4
	PID       = 1<<24 + 100
)

func mod(path, name string, vol uint64, idx uint64, loader bool, ft fileinfo.Type) inventory.Module {
	return inventory.Module{
		Path: path, Name: name, Base: 0x7ff800000000 + idx<<20, Size: 0x10000, Executable: true,
		InLoaderList: loader, File: fileinfo.Key{Dev: vol, Ino: idx}, FileType: ft,
	}
}

// Windows is a Windows-shaped host: explorer.exe starting
// "rundll32.exe C:\Windows\System32\comsvcs.dll, MiniDump 624 C:\Users\Public\d.bin full",
// which holds comsvcs.dll and dbghelp.dll (PT-CR-303's module set), a DLL
// from C:\Users\Public, and one mapped by hand (not in the loader list).
// evil is the file standing for C:\Users\Public\evil.dll's bytes.
func Windows(evil string) *Inventory {
	const vol = 0x5a3c1e2f // a volume serial number
	exe := mod(`C:\Windows\System32\rundll32.exe`, "rundll32.exe", vol, 1, true, fileinfo.PE)
	exe.Exe = true
	return &Inventory{
		OS: "windows",
		Procs: []inventory.Process{
			{PID: ParentPID, PPID: 0, Name: "explorer.exe", Path: `C:\Windows\explorer.exe`, Cmdline: `C:\Windows\explorer.exe`,
				UID: -1, User: `DESKTOP-7\alice`, Modules: []inventory.Module{
					func() inventory.Module {
						m := mod(`C:\Windows\explorer.exe`, "explorer.exe", vol, 9, true, fileinfo.PE)
						m.Exe = true
						return m
					}(),
					mod(`C:\Windows\System32\kernel32.dll`, "kernel32.dll", vol, 2, true, fileinfo.PE),
				}},
			{PID: PID, PPID: ParentPID, Name: "rundll32.exe", Path: `C:\Windows\System32\rundll32.exe`,
				Cmdline: `rundll32.exe C:\Windows\System32\comsvcs.dll, MiniDump 624 C:\Users\Public\d.bin full`,
				UID:     -1, User: `DESKTOP-7\alice`, Modules: []inventory.Module{
					exe,
					mod(`C:\Windows\System32\kernel32.dll`, "kernel32.dll", vol, 2, true, fileinfo.PE),
					mod(`C:\Windows\System32\comsvcs.dll`, "comsvcs.dll", vol, 3, true, fileinfo.PE),
					mod(`C:\Windows\System32\dbghelp.dll`, "dbghelp.dll", vol, 4, true, fileinfo.PE),
					mod(`C:\Users\Public\evil.dll`, "evil.dll", vol, 5, true, fileinfo.PE),
					mod(`C:\Users\Public\mapped.dll`, "mapped.dll", vol, 6, false, fileinfo.PE),
				}},
		},
		Backing: map[string]string{`C:\Users\Public\evil.dll`: evil},
	}
}

// MacOS is a macOS-shaped host: an app under /Applications holding
// libSystem from /usr/lib and a dylib from /private/tmp. inject is the
// file standing for the dylib's bytes.
func MacOS(inject string) *Inventory {
	const dev = 0x1000004 // an APFS volume's st_dev
	exe := mod("/Applications/Notes.app/Contents/MacOS/Notes", "Notes", dev, 11, true, fileinfo.MachO)
	exe.Exe = true
	return &Inventory{
		OS: "darwin",
		Procs: []inventory.Process{
			{PID: ParentPID, Name: "launchd", Path: "/sbin/launchd", Cmdline: "/sbin/launchd", UID: 0, User: "root",
				Modules: []inventory.Module{func() inventory.Module {
					m := mod("/sbin/launchd", "launchd", dev, 12, true, fileinfo.MachO)
					m.Exe = true
					return m
				}(), mod("/usr/lib/libSystem.B.dylib", "libSystem.B.dylib", dev, 13, true, fileinfo.MachO)}},
			{PID: PID, PPID: ParentPID, Name: "Notes", Path: "/Applications/Notes.app/Contents/MacOS/Notes",
				Cmdline: "/Applications/Notes.app/Contents/MacOS/Notes", UID: 501, User: "alice",
				Modules: []inventory.Module{
					exe,
					mod("/usr/lib/libSystem.B.dylib", "libSystem.B.dylib", dev, 13, true, fileinfo.MachO),
					mod("/private/tmp/libinject.dylib", "libinject.dylib", dev, 14, true, fileinfo.MachO),
				}},
		},
		Backing: map[string]string{"/private/tmp/libinject.dylib": inject},
	}
}
