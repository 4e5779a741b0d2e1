// Package inventory answers one question per OS: for these pids (or all),
// which processes exist and which files are mapped into them. Where it
// sits, and what above it still knows Linux: docs/ARCHITECTURE.md.
//
// On Linux it reads /proc directly: /proc/PID/maps for the mappings,
// /proc/PID/map_files for the mapped files themselves (which works for
// unlinked and memfd files and never resolves a path), /proc/PID/root for
// paths in the process's own mount namespace. gopsutil is not used: its
// MemoryMaps reads smaps (far costlier) and it allocates per line.
//
// On Windows it reads internal/winproc: the loader list of a Toolhelp
// module snapshot (full paths past MAX_PATH), the image mappings of the
// VirtualQueryEx memory view that list lacks (InLoaderList false), the
// token and PEB for the process context; a file's identity is its volume
// serial number and 128-bit file id. Windows has no handle to the very
// mapped file, so OpenModule opens the path and refuses a file that is no
// longer the one a walk identified.
//
// On macOS it walks libproc's region lists (internal/darwinproc) through
// Darwin (darwin.go, tested on Linux over recordings). Other OSes have stubs
// that return ErrUnsupported; the types here are shared so tables compile
// everywhere.
package inventory

import (
	"bytes"
	"context"
	"errors"
	"io"
	"log/slog"
	"os"
	"strings"
	"sync/atomic"
	"time"

	"github.com/modhunt/modhunt/tables/fileinfo"
)

// ErrUnsupported is returned on platforms without an inventory yet.
var ErrUnsupported = errors.New("inventory: not supported on this platform")

// ErrViewTruncated is wrapped by the error Regions returns with a memory
// view its limits cut short (Windows: the VirtualQueryEx walk's region
// count or time; see Config.MemoryMaxRegions). The regions returned are
// true, but what lies above the last one was not looked at: a caller keeps
// them, says at warn level that the view is partial, and claims nothing
// about the rest of the address space.
var ErrViewTruncated = errors.New("memory view cut short at its limit")

// truncatedViews counts the memory views cut short since start.
var truncatedViews atomic.Uint64

// TruncatedViews is how many process memory views (Walk's, for modules
// outside the loader list, and Regions') were cut short at their limits
// since the process started.
func TruncatedViews() uint64 { return truncatedViews.Load() }

// FileType is what a mapped file's first bytes say it is (see fileinfo).
type FileType = fileinfo.Type

// File types, as the file_type column spells them.
const (
	FileELF     = fileinfo.ELF
	FilePE      = fileinfo.PE
	FileMachO   = fileinfo.MachO
	FileScript  = fileinfo.Script
	FileData    = fileinfo.Data
	FileUnknown = fileinfo.Unknown
)

// SniffSize is how many leading bytes DetectFileType wants.
const SniffSize = fileinfo.SniffSize

// DetectFileType classifies a file from its first bytes (up to SniffSize).
func DetectFileType(head []byte) FileType { return fileinfo.Detect(head) }

// Process is one process and its modules.
type Process struct {
	PID  int
	PPID int    // parent pid; 0 for the root of a pid namespace or kernel threads
	Name string // the kernel's short name (comm)
	// Path is the executable as the process's mount namespace names it,
	// without " (deleted)" when the file really is unlinked (PathDeleted).
	Path        string
	PathDeleted bool
	// Cmdline is the argument vector joined by spaces, cut to
	// Config.CmdlineMax bytes.
	Cmdline string
	// UID is the process's numeric user id, -1 when unknown, not read
	// (a walk without DetailUser) or when the OS has none (Windows). On Linux it is the owner procfs gives the
	// process's files: its effective uid, or 0 when the process is not
	// dumpable (setuid programs, or after prctl(PR_SET_DUMPABLE, 0)). The
	// real uid costs a read of /proc/PID/status, which on a small process
	// costs more than its maps.
	UID int64
	// User names the process's user: on Linux the host's /etc/passwd name
	// of UID (its number when no entry names it; empty when UID is
	// unknown); on Windows DOMAIN\name from the token.
	User    string
	Modules []Module
	// Windows is what only Windows says of the process (its token's
	// integrity level and its session); zero on other OSes.
	Windows WindowsProcess
	// MemoryViewTruncated: the walk's memory view was cut short at its
	// limit (Windows: Config.MemoryMaxRegions or the walk's time), so
	// Modules may lack images mapped above where it stopped that the
	// loader list does not have (InLoaderList false: unlinked or
	// hand-mapped). The loader list's modules are all there. Logged at
	// warn and counted (TruncatedViews).
	MemoryViewTruncated bool
}

// WindowsProcess is the Windows token's view of a process, read with its
// User.
type WindowsProcess struct {
	// Integrity is the token's mandatory integrity level: untrusted, low,
	// medium, high, system or protected.
	Integrity string
	// Session is the Terminal Services session id (0: services).
	Session uint32
}

// Source is an inventory as tables and the event builder read it. *Inventory
// is this OS's; tests feed fakes shaped like another OS's processes.
type Source interface {
	// Walk calls fn for each process in pids (nil: every process; empty:
	// none); see Inventory.Walk for what may be kept of p.
	Walk(ctx context.Context, pids []int, fn func(p *Process) error) error
	// WalkDetail is Walk reading only the detail asked for besides the
	// modules (a source may read more; fields not asked for may be zero).
	WalkDetail(ctx context.Context, pids []int, detail Detail, fn func(p *Process) error) error
	// OpenModule opens the very file mapped as m in process pid (regular
	// files only); StatModule stats it; ModuleFSType names its file system.
	OpenModule(pid int, m *Module) (*os.File, error)
	StatModule(pid int, m *Module) (FileInfo, error)
	ModuleFSType(pid int, m *Module) (string, error)
	// Environ is the process's environment, at most limit bytes of it.
	Environ(pid int, limit int) (env []string, truncated bool, err error)
	// Regions is the process's memory view: every region, file-backed or
	// not, in address order.
	Regions(ctx context.Context, pid int) ([]Region, error)
	// OpenMemory opens the process's memory for reading at virtual
	// addresses (Linux /proc/PID/mem, Windows ReadProcessMemory). Readers
	// bound what they read: a region may be gigabytes.
	OpenMemory(pid int) (Memory, error)
	// Files is the file-facts cache to read module facts through.
	Files() *fileinfo.Cache
	// Platform is the OS whose processes these are, as runtime.GOOS names
	// it: what judges them (a fake Windows inventory read on Linux is not
	// judged by Linux's /proc).
	Platform() string
}

// Processes is Walk collecting deep copies.
func Processes(ctx context.Context, src Source, pids []int) ([]Process, error) {
	var out []Process
	err := src.Walk(ctx, pids, func(p *Process) error {
		out = append(out, p.Clone())
		return nil
	})
	return out, err
}

// IsAbs reports whether p is an absolute file path on any OS modhunt
// knows: /x, C:\x, \\server\share or \\?\C:\x. Module paths that are
// not (a kernel's [vdso], anon_inode:...) name no file.
func IsAbs(p string) bool {
	switch {
	case strings.HasPrefix(p, "/"), strings.HasPrefix(p, `\\`):
		return true
	case len(p) >= 3 && p[1] == ':' && (p[2] == '\\' || p[2] == '/'):
		c := p[0] | 0x20
		return c >= 'a' && c <= 'z'
	}
	return false
}

// Protection is a memory region's access, a set of Prot bits.
type Protection uint8

// Protection bits.
const (
	ProtRead Protection = 1 << iota
	ProtWrite
	ProtExec
	// ProtShared: the region is shared (Linux 's'), not copy-on-write.
	ProtShared
)

func (p Protection) String() string {
	b := []byte("---")
	if p&ProtRead != 0 {
		b[0] = 'r'
	}
	if p&ProtWrite != 0 {
		b[1] = 'w'
	}
	if p&ProtExec != 0 {
		b[2] = 'x'
	}
	return string(b)
}

// RegionType says what backs a memory region.
type RegionType string

// Region types, OS-neutral: Windows' MEM_IMAGE, MEM_MAPPED and MEM_PRIVATE,
// and Linux's file and anonymous mappings.
const (
	// RegionImage is a file mapped as a loaded module (Windows MEM_IMAGE;
	// on Linux a mapping of a file the process maps executable).
	RegionImage RegionType = "image"
	// RegionMapped is any other file mapping (data files, MEM_MAPPED).
	RegionMapped RegionType = "mapped"
	// RegionPrivate is process-private memory no file backs: heap, stack,
	// anonymous mmap, VirtualAlloc (MEM_PRIVATE).
	RegionPrivate RegionType = "private"
	// RegionAnonymous is memory no file backs that is shared or the
	// kernel's own (shared anonymous memory, SysV segments, [vdso]).
	RegionAnonymous RegionType = "anonymous"
)

// Memory is a process's memory opened for reading: ReadAt's offset is a
// virtual address in that process. A read of an unmapped or unreadable
// address fails without stopping the caller's scan of other regions.
type Memory interface {
	io.ReaderAt
	io.Closer
}

// Region is one memory region of a process.
type Region struct {
	Start, Size uint64
	Prot        Protection
	Type        RegionType
	// File is the backing file's identity (image and mapped regions);
	// Path its path as the OS names it, or a pseudo name ([heap]).
	File fileinfo.Key
	Path string
	// Offset is where in the file the region starts.
	Offset uint64
	// Memfd: the backing file lives only in memory (Linux memfd_create,
	// decided by the kernel's memory mount, never by the name); Path is
	// then /memfd:NAME. Deleted: the backing file is unlinked, decided on
	// the file itself where the OS lets the inventory stat it; Path is
	// then without the OS's " (deleted)". A memfd is always Deleted. Both
	// stay false on OSes whose memory view cannot tell (Windows).
	Memfd, Deleted bool
}

// Module is one distinct file mapped into a process: all mappings of one
// (device, inode, path) folded together.
type Module struct {
	// Path is the file's path as the kernel prints it in the process's
	// mount namespace, byte for byte (not necessarily UTF-8), without
	// " (deleted)" when the file really is unlinked. maps escapes a newline
	// as "\012" and nothing else (not a backslash), so a path holding
	// "\012" is the name read through map_files instead, with its real
	// bytes, whenever that reads back as exactly what maps printed;
	// otherwise (no access, or longer than PATH_MAX) the kernel's text.
	Path string
	Name string // base name of Path
	// Base is the lowest start address of the file's mappings; Size is the
	// sum of their sizes.
	Base, Size uint64
	// Deleted is true when the file is unlinked: decided from the file
	// itself (its link count, through map_files), not from a " (deleted)"
	// suffix that a file may carry in its real name. A name unlinked while
	// another hard link survives is not deleted (the file is still on
	// disk), and Path keeps the kernel's text, suffix and all. Only without
	// access to map_files (not root) does the name decide: the suffix is
	// the kernel's unless the name, suffix and all, resolves to the mapped
	// inode.
	Deleted bool
	// Memfd is true for memfd_create files: decided by the device (the
	// kernel's internal memory mounts, where the kernel alone names files
	// and names memfds "memfd:..."), never by a name anyone can give a file.
	Memfd bool
	// PathTruncated is true when Path is only the head of the kernel's
	// path: the maps line was longer than MaxMapsLine, or the process had
	// spent its path budget on other modules. The path then names no file.
	PathTruncated bool
	// InLoaderList is true when the OS loader's own module list has the
	// module: on Linux for every mapped file but a memfd (reading ld.so's
	// link_map would mean reading process memory; a file-backed mapping is
	// almost always the loader's work, memfd code the typical loader
	// bypass), on Windows whether the PEB's loader
	// list has it (an image mapped by hand is not in it).
	InLoaderList bool
	// File is the mapped file's identity (on Linux the device and inode
	// maps gives), for reading facts through the file-facts cache.
	File fileinfo.Key
	// Exe is true when the module is the process's executable: the very
	// file /proc/PID/exe links to (same device and inode), not a module
	// that merely has its name. Set only by walks with DetailExe.
	Exe bool
	// Executable is true when some mapping of the file is executable.
	Executable bool
	// FileType comes from the first bytes of the mapped file itself.
	FileType FileType
	// Linux is what Linux's maps says of the module's mappings; zero on
	// other OSes.
	Linux LinuxMapping
}

// LinuxMapping is /proc/PID/maps' view of a module.
type LinuxMapping struct {
	// Perms is the union of the mappings' permissions, e.g. "r-xp" or
	// "rwxp"; 's' when any mapping is shared.
	Perms string
	Inode uint64
	// Device is the kernel's text from maps, hex "major:minor", e.g.
	// "fd:01"; Major and Minor are the same numbers.
	Device       string
	Major, Minor uint32
	// MapStart and MapEnd bound the lowest mapping of the file: the handle
	// OpenModule and StatModule use to reach the very file that is mapped
	// (/proc/PID/map_files/START-END).
	MapStart, MapEnd uint64
}

// FileInfo is what stat says about a module file or a path.
type FileInfo struct {
	Mode    uint32 // st_mode: file type and permission bits
	UID     uint32
	GID     uint32
	Size    int64
	ModTime time.Time
	// ChangeTime is the status change time (ctime): no one can set it back,
	// so a file rewritten in place and re-dated still shows a new one.
	ChangeTime time.Time
	Nlink      uint64
	// Dev is st_dev on Unix, the volume serial number on Windows; Ino the
	// inode, on Windows the low half of the 128-bit file id (FILE_ID_INFO)
	// and InoHi its high half (0 on NTFS, used by ReFS).
	Dev   uint64
	Ino   uint64
	InoHi uint64
	// MountID is the mount the file was reached through (statx
	// STATX_MNT_ID); 0 when unknown (kernels before 5.8, or FileInfoOf).
	MountID uint64
}

// Named is what a path the kernel printed leads to.
type Named struct {
	FileInfo
	// FSMagic is the file system's statfs type (e.g. 0x794c7630, overlayfs).
	FSMagic int64
}

// OverlayFSMagic is overlayfs's statfs type.
const OverlayFSMagic = 0x794c7630

// SameFile reports whether a path's file (named) is the mapped file (a
// stat through map_files): the same device and inode. One exception keeps
// old kernels right: there, maps and map_files may reach an overlayfs
// layer's file while the name shows overlayfs's own device; when the name
// is on overlayfs, the same inode, size and modification time count as the
// same file. Nowhere else is a device allowed to differ.
func SameFile(named Named, mapped FileInfo) bool {
	if named.Dev == mapped.Dev && named.Ino == mapped.Ino {
		return true
	}
	return named.FSMagic == OverlayFSMagic && named.Ino == mapped.Ino &&
		named.Size == mapped.Size && named.ModTime.Equal(mapped.ModTime)
}

// Config tunes an Inventory. The zero Config is ready for use.
type Config struct {
	// ProcRoot is where procfs is mounted; "" means /proc. Tests point it
	// at fixtures.
	ProcRoot string
	Log      *slog.Logger
	// Files is the file-facts cache the inventory records file types in,
	// shared with whatever else reads facts through the inventory (Files());
	// nil means a new one of CacheSize entries.
	Files *fileinfo.Cache
	// CacheSize bounds a new Files cache (entries); 0 means DefaultCacheSize.
	CacheSize int
	// CmdlineMax bounds Process.Cmdline in bytes; 0 means DefaultCmdlineMax.
	CmdlineMax int
	// ModulesOnly makes Walk skip processes that map no file (kernel
	// threads, zombies) after reading only their maps.
	ModulesOnly bool
	// Passwd is the user database Process.User is named from; "" means
	// /etc/passwd (Linux).
	Passwd string
	// OnProcess, when set, is called with each pid just before it is read,
	// so callers can count or trace reads.
	OnProcess func(pid int)
	// OnRead, when set, is called just before a walk reads one of a
	// process's files: "maps", "stat", "cmdline", "exe", or "module" (the
	// first bytes of a mapped file, for its type), so tests can count what
	// a walk reads.
	OnRead func(pid int, file string)
	// MemoryMaxRegions and MemoryMaxTime bound one process's memory view
	// where the OS walks it region by region (Windows VirtualQueryEx); 0
	// means the walker's defaults (65,536 regions, 2 s). A view cut short
	// is reported (ErrViewTruncated, Process.MemoryViewTruncated).
	MemoryMaxRegions int
	MemoryMaxTime    time.Duration
}

// Detail selects what a walk reads of each process besides its maps, from
// which every walk takes the modules (paths, deletion, permissions, sizes).
// Fields a walk does not read keep their zero values (UID: -1).
type Detail uint8

// What a walk can read besides the maps.
const (
	// DetailStat is Process.Name and PPID (/proc/PID/stat).
	DetailStat Detail = 1 << iota
	// DetailCmdline is Process.Cmdline.
	DetailCmdline
	// DetailExe is Process.Path and PathDeleted (the exe link), and
	// Module.Exe, which compares each module with the file exe links to.
	DetailExe
	// DetailFileType is every Module.FileType (the mapped file's first
	// bytes, cached across walks); on Windows also Module.File, which
	// there needs the file opened.
	DetailFileType
	// DetailUser is Process.UID, User and Process.Windows. Linux reads the
	// owner of the open maps file, one fstat per process: on procfs that
	// costs about a tenth of reading the maps, for a column most queries do
	// not read. Windows reads the token.
	DetailUser
	// DetailAll is everything: what Walk reads.
	DetailAll = DetailStat | DetailCmdline | DetailExe | DetailFileType | DetailUser
)

// Defaults for Config's zero fields.
const (
	DefaultCacheSize  = 4096
	DefaultCmdlineMax = 16 << 10
	// DefaultEnvironMax is a sensible limit for Environ.
	DefaultEnvironMax = 64 << 10
)

func (c Config) withDefaults() Config {
	if c.ProcRoot == "" {
		c.ProcRoot = "/proc"
	}
	c.ProcRoot = strings.TrimSuffix(c.ProcRoot, "/")
	if c.Log == nil {
		c.Log = slog.New(slog.DiscardHandler)
	}
	if c.CacheSize <= 0 {
		c.CacheSize = DefaultCacheSize
	}
	if c.CmdlineMax <= 0 {
		c.CmdlineMax = DefaultCmdlineMax
	}
	if c.Files == nil {
		c.Files = fileinfo.New(c.CacheSize, 0)
	}
	return c
}

// IDOf is the file-facts identity of a file as FileInfo describes it.
func IDOf(fi FileInfo) fileinfo.ID {
	return fileinfo.ID{
		Key:  fileinfo.Key{Dev: fi.Dev, Ino: fi.Ino, InoHi: fi.InoHi},
		Size: fi.Size, MTime: fi.ModTime.UnixNano(), CTime: fi.ChangeTime.UnixNano(),
	}
}

// Clone returns a deep copy of p that stays valid after a Walk callback
// returns.
func (p *Process) Clone() Process {
	c := *p
	c.Modules = append([]Module(nil), p.Modules...)
	return c
}

// LookupEnv finds key in an environment as Environ returns it.
func LookupEnv(env []string, key string) (string, bool) {
	for _, kv := range env {
		if len(kv) > len(key) && kv[len(key)] == '=' && kv[:len(key)] == key {
			return kv[len(key)+1:], true
		}
	}
	return "", false
}

// splitEnviron splits NUL-separated entries; when truncated, the last entry
// may be cut and is dropped.
func splitEnviron(b []byte, truncated bool) []string {
	var env []string
	for len(b) > 0 {
		i := bytes.IndexByte(b, 0)
		if i < 0 {
			if !truncated {
				env = append(env, string(b))
			}
			break
		}
		if i > 0 {
			env = append(env, string(b[:i]))
		}
		b = b[i+1:]
	}
	return env
}
