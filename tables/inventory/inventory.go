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
// Other OSes have stubs that return ErrUnsupported until their inventories
// arrive; the types here are shared so tables compile everywhere.
package inventory

import (
	"bytes"
	"encoding/binary"
	"errors"
	"log/slog"
	"strings"
	"time"
)

// ErrUnsupported is returned on platforms without an inventory yet.
var ErrUnsupported = errors.New("inventory: not supported on this platform")

// FileType is what a mapped file's first bytes say it is.
type FileType string

// File types, as the file_type column spells them.
const (
	FileELF     FileType = "elf"
	FilePE      FileType = "pe"
	FileMachO   FileType = "macho"
	FileScript  FileType = "script" // starts with "#!"
	FileData    FileType = "data"   // a readable regular file, none of the above
	FileUnknown FileType = "unknown"
)

// SniffSize is how many leading bytes DetectFileType wants: enough for a PE
// header at any usual e_lfanew.
const SniffSize = 4096

// DetectFileType classifies a file from its first bytes (up to SniffSize).
func DetectFileType(head []byte) FileType {
	switch {
	case bytes.HasPrefix(head, []byte("\x7fELF")):
		return FileELF
	case bytes.HasPrefix(head, []byte("#!")):
		return FileScript
	case bytes.HasPrefix(head, []byte("MZ")):
		// A bare MZ is a DOS stub; a PE image has "PE\0\0" at e_lfanew.
		if len(head) >= 0x40 {
			off := int(binary.LittleEndian.Uint32(head[0x3c:]))
			if off >= 0x40 && off <= len(head)-4 && string(head[off:off+4]) == "PE\x00\x00" {
				return FilePE
			}
		}
		return FileData
	case len(head) >= 8:
		switch binary.BigEndian.Uint32(head) {
		case 0xfeedface, 0xfeedfacf, 0xcefaedfe, 0xcffaedfe:
			return FileMachO
		case 0xcafebabe:
			// Fat Mach-O and Java class files share this magic; a fat
			// header counts architectures (few), a class file has a
			// class-file version (>= 45) in the same place.
			if n := binary.BigEndian.Uint32(head[4:]); n > 0 && n < 45 {
				return FileMachO
			}
		}
	}
	return FileData
}

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
	// UID is the owner procfs gives the process's files: its effective
	// uid, or 0 when the process is not dumpable (setuid programs, or after
	// prctl(PR_SET_DUMPABLE, 0)); -1 when unknown. The real uid costs a
	// read of /proc/PID/status, which on a small process costs more than
	// its maps: callers that need it use ReadFile(pid, "status", ...).
	UID     int64
	Modules []Module
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
	// Perms is the union of the mappings' permissions, e.g. "r-xp" or
	// "rwxp"; 's' when any mapping is shared.
	Perms string
	Inode uint64
	// Device is the kernel's text from maps, hex "major:minor", e.g.
	// "fd:01"; Major and Minor are the same numbers.
	Device       string
	Major, Minor uint32
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
	// Exe is true when the module is the process's executable: the very
	// file /proc/PID/exe links to (same device and inode), not a module
	// that merely has its name. Set only by walks with DetailExe.
	Exe bool
	// Executable is true when some mapping of the file is executable.
	Executable bool
	// FileType comes from the first bytes of the mapped file itself.
	FileType FileType
	// MapStart and MapEnd bound the lowest mapping of the file: the handle
	// OpenModule and StatModule use to reach the very file that is mapped.
	MapStart, MapEnd uint64
}

// FileInfo is what stat says about a module file or a path.
type FileInfo struct {
	Mode    uint32 // st_mode: file type and permission bits
	UID     uint32
	GID     uint32
	Size    int64
	ModTime time.Time
	Nlink   uint64
	Dev     uint64
	Ino     uint64
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
	// CacheSize bounds the file-type cache shared across walks (entries);
	// 0 means DefaultCacheSize.
	CacheSize int
	// CmdlineMax bounds Process.Cmdline in bytes; 0 means DefaultCmdlineMax.
	CmdlineMax int
	// ModulesOnly makes Walk skip processes that map no file (kernel
	// threads, zombies) after reading only their maps.
	ModulesOnly bool
	// OnProcess, when set, is called with each pid just before it is read,
	// so callers can count or trace reads.
	OnProcess func(pid int)
	// OnRead, when set, is called just before a walk reads one of a
	// process's files: "maps", "stat", "cmdline", "exe", or "module" (the
	// first bytes of a mapped file, for its type), so tests can count what
	// a walk reads.
	OnRead func(pid int, file string)
}

// Detail selects what a walk reads of each process besides its maps, from
// which every walk takes the modules (paths, deletion, permissions, sizes)
// and the uid. Fields a walk does not read keep their zero values.
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
	// bytes, cached across walks).
	DetailFileType
	// DetailAll is everything: what Walk reads.
	DetailAll = DetailStat | DetailCmdline | DetailExe | DetailFileType
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
	return c
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
