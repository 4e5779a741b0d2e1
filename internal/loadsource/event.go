package loadsource

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"strconv"
	"time"
)

// Kind is what made a load.
type Kind uint8

// The kinds of load the kernel side reports.
const (
	// KindMmap is a successful mmap(2) with PROT_EXEC of a file.
	KindMmap Kind = 1
	// KindMprotect is a successful mprotect(2) that added PROT_EXEC to a
	// file mapping that had none.
	KindMprotect Kind = 2
	// KindExec is an exec: the main image.
	KindExec Kind = 3
	// KindMemfdCreate is a memfd_create(2): not a load yet, but the
	// anonymous file fileless code is written to before it is mapped.
	KindMemfdCreate Kind = 4
)

func (k Kind) String() string {
	switch k {
	case KindMmap:
		return "mmap"
	case KindMprotect:
		return "mprotect"
	case KindExec:
		return "exec"
	case KindMemfdCreate:
		return "memfd_create"
	}
	return "kind(" + strconv.Itoa(int(k)) + ")"
}

// Device is a device number as the kernel keeps it.
type Device struct{ Major, Minor uint32 }

// String is "major:minor" in decimal, as /proc/PID/mountinfo writes it.
// (/proc/PID/maps writes the same numbers in hex.)
func (d Device) String() string {
	return strconv.FormatUint(uint64(d.Major), 10) + ":" + strconv.FormatUint(uint64(d.Minor), 10)
}

// Event is one load, as the kernel saw it at the moment it happened.
type Event struct {
	Kind Kind
	// Time is the wall-clock time of the load; BootNS the same instant on
	// CLOCK_BOOTTIME. Both are read once per CPU per kernel tick: an event
	// carries the reading of the first event its CPU made in that tick, at
	// most a tick (4 ms at HZ=250) before it happened. Events of one tick
	// on different CPUs may therefore be stamped out of their order.
	Time   time.Time
	BootNS uint64
	// CPU and Seq name the event: the CPU that made it and its number
	// there, counting events the ring had no room for, so a gap in one
	// CPU's numbers is events dropped in the kernel and no two events
	// share a name.
	CPU uint32
	Seq uint64

	// The process: PID is the thread group (what ps calls the pid), TID
	// the thread that loaded, PPID the real parent's thread group.
	PID, TID, PPID uint32
	// UID and EUID are the real and effective user ids in the initial
	// user namespace.
	UID, EUID uint32
	// Comm is the task's name (at most 15 bytes, as the kernel keeps it).
	Comm string
	// Exe is the process's executable path at the load (not for an exec,
	// whose Path is the executable); ExeTruncated as PathTruncated.
	Exe []byte

	// The file. Path is exactly the kernel's name for it: the name
	// /proc/PID/maps shows to a reader in the initial mount namespace,
	// without the " (deleted)" suffix; bytes, not necessarily UTF-8. A
	// memfd is "/memfd:NAME". When PathTruncated the leading components
	// are missing (the walk has a bound; see README.md).
	Path          []byte
	PathTruncated bool
	// Device and Inode are what /proc/PID/maps shows for the mapping: the
	// file's superblock device and inode number.
	Device Device
	Inode  uint64
	Nlink  uint32
	// Mode is the inode's st_mode.
	Mode    uint32
	FSMagic uint64
	// MountNS is the inode number of the mount namespace Path is rooted
	// in (compare /proc/self/ns/mnt); 0 for a kernel-internal mount.
	MountNS uint32
	// Memfd: a memfd_create file, decided from where it lives (the
	// kernel's internal shmem or hugetlbfs mount) and its "memfd:" name,
	// never from the name alone.
	Memfd bool
	// Internal: the file is on a kernel-internal mount (memfd, SysV shm,
	// shared anonymous memory reached through /proc/PID/map_files): no
	// path anyone can open names it.
	Internal bool
	// Deleted: the file was unlinked when it was loaded (its name was
	// removed, or it has no links left, as every memfd).
	Deleted bool
	// Interpreter: an mmap the kernel made during exec, of the program
	// interpreter the executable names (PT_INTERP, normally ld.so).
	Interpreter bool
	// PathCached: the kernel side took Path from its per-CPU record of
	// paths walked, having found every step of the walk unchanged, instead
	// of walking it again (README.md). Diagnostic: the path is the same.
	PathCached bool
	// NoFile: the fd or mapping had no file when the kernel side looked
	// (a race with close); the file fields are empty.
	NoFile bool

	// How it was mapped: mmap/mprotect's prot and mmap's flags (for
	// memfd_create, its flags), the file offset, the length and the
	// address of the mapping. FD is the descriptor mapped (-1 for
	// mprotect and exec; the new descriptor for memfd_create).
	Prot, Flags, Offset, Len, Addr uint64
	FD                             int32

	// Argv is an exec's arguments, each without its NUL, at most the
	// first 1024 bytes; AuxTruncated says when Argv (or Exe) was cut.
	Argv         [][]byte
	AuxTruncated bool
	// LoaderEnv is an exec's environment variables that the dynamic loader
	// reads (those named LD_*), in order, as "NAME=value"; the rest of the
	// environment is dropped as it is decoded. EnvTruncated: the
	// environment was longer than the 4 KiB the kernel side copies, so a
	// variable after it is missing.
	LoaderEnv    []string
	EnvTruncated bool

	// exeSent: the kernel side left Exe out because an earlier event of
	// the process carried it; the reader fills it in (exeCache).
	exeSent bool
}

// IsExec reports whether the event is the process's main image.
func (e *Event) IsExec() bool { return e.Kind == KindExec }

// Size is what e holds on the heap beyond its own struct, for bounding
// buffers: the bytes of each string and slice, each rounded up to the
// allocator's 16-byte size class. A holder adds unsafe.Sizeof of whatever
// struct embeds the event.
func (e *Event) Size() int {
	n := heapBytes(len(e.Comm)) + heapBytes(len(e.Path)) + heapBytes(len(e.Exe))
	if len(e.Argv) > 0 {
		n += heapBytes(24 * len(e.Argv))
		for _, a := range e.Argv {
			n += heapBytes(len(a))
		}
	}
	if len(e.LoaderEnv) > 0 {
		n += heapBytes(16 * len(e.LoaderEnv))
		for _, v := range e.LoaderEnv {
			n += heapBytes(len(v))
		}
	}
	return n
}

// heapBytes is the allocation n bytes take: nothing for none, else at
// least one 16-byte size class.
func heapBytes(n int) int {
	if n == 0 {
		return 0
	}
	return (n + 15) &^ 15
}

// The wire layout of struct event in bpf/loadsource.bpf.c.
const (
	headerSize = 144

	offBootNS  = 0
	offSeq     = 8
	offIno     = 16
	offFSMagic = 24
	offProt    = 32
	offFlags   = 40
	offOffset  = 48
	offLen     = 56
	offAddr    = 64
	offDev     = 72
	offNlink   = 76
	offMode    = 80
	offPID     = 84
	offTID     = 88
	offPPID    = 92
	offUID     = 96
	offEUID    = 100
	offMountNS = 104
	offEvFlags = 108
	offFD      = 112
	offPathLen = 116
	offAuxLen  = 118
	offKind    = 120
	offEnvLen  = 122
	offComm    = 124
	commSize   = 16
)

// Bits of struct event's ev_flags.
const (
	evPathTruncated = 1 << 0
	evMemfd         = 1 << 1
	evInternal      = 1 << 2
	evUnlinked      = 1 << 3
	evNoFile        = 1 << 4
	evAuxTruncated  = 1 << 5
	evPseudo        = 1 << 6
	evExeSent       = 1 << 7
	evEnvTruncated  = 1 << 8
	evInterp        = 1 << 9
	evPathCached    = 1 << 10
)

// struct event's seq: the CPU above seqBits bits of that CPU's count.
const seqBits = 48

// kernel dev_t: 12 bits of major above 20 bits of minor (MINORBITS).
const minorBits = 20

var errShort = errors.New("record shorter than its header")

// decode turns one ring buffer record into an Event. bootToWall converts
// a CLOCK_BOOTTIME instant to wall-clock time. It copies what it keeps, so
// the record's memory may be reused.
func decode(rec []byte, bootToWall func(ns uint64) time.Time) (Event, error) {
	if len(rec) < headerSize {
		return Event{}, fmt.Errorf("%w: %d bytes", errShort, len(rec))
	}
	le := binary.LittleEndian
	u64 := func(off int) uint64 { return le.Uint64(rec[off:]) }
	u32 := func(off int) uint32 { return le.Uint32(rec[off:]) }
	pathLen, auxLen := int(le.Uint16(rec[offPathLen:])), int(le.Uint16(rec[offAuxLen:]))
	if headerSize+pathLen+auxLen != len(rec) {
		return Event{}, fmt.Errorf("record of %d bytes holds a %d-byte header, a %d-byte path and %d bytes after it", len(rec), headerSize, pathLen, auxLen)
	}
	kind := Kind(rec[offKind])
	if kind < KindMmap || kind > KindMemfdCreate {
		return Event{}, fmt.Errorf("unknown event kind %d", kind)
	}
	flags := u32(offEvFlags)
	dev := u32(offDev)
	comm := rec[offComm : offComm+commSize]
	if i := bytes.IndexByte(comm, 0); i >= 0 {
		comm = comm[:i]
	}
	e := Event{
		Kind:          kind,
		BootNS:        u64(offBootNS),
		CPU:           uint32(u64(offSeq) >> seqBits),
		Seq:           u64(offSeq) & (1<<seqBits - 1),
		Inode:         u64(offIno),
		FSMagic:       u64(offFSMagic),
		Prot:          u64(offProt),
		Flags:         u64(offFlags),
		Offset:        u64(offOffset),
		Len:           u64(offLen),
		Addr:          u64(offAddr),
		Device:        Device{Major: dev >> minorBits, Minor: dev & (1<<minorBits - 1)},
		Nlink:         u32(offNlink),
		Mode:          u32(offMode),
		PID:           u32(offPID),
		TID:           u32(offTID),
		PPID:          u32(offPPID),
		UID:           u32(offUID),
		EUID:          u32(offEUID),
		MountNS:       u32(offMountNS),
		FD:            int32(u32(offFD)),
		Comm:          string(comm),
		PathTruncated: flags&evPathTruncated != 0,
		Memfd:         flags&evMemfd != 0,
		Internal:      flags&evInternal != 0,
		NoFile:        flags&evNoFile != 0,
		AuxTruncated:  flags&evAuxTruncated != 0,
		EnvTruncated:  flags&evEnvTruncated != 0,
		Interpreter:   flags&evInterp != 0,
		PathCached:    flags&evPathCached != 0,
		exeSent:       flags&evExeSent != 0,
	}
	if !e.NoFile {
		// What maps calls " (deleted)": an unlinked name, or a pseudo file
		// (memfd), which never had one; or no links left at all.
		e.Deleted = flags&(evUnlinked|evPseudo) != 0 || e.Nlink == 0
	}
	if bootToWall != nil {
		e.Time = bootToWall(e.BootNS)
	}
	body := rec[headerSize:]
	if pathLen > 0 {
		e.Path = bytes.Clone(body[:pathLen])
	}
	aux := body[pathLen:]
	if kind == KindExec {
		envLen := int(le.Uint16(rec[offEnvLen:]))
		if envLen > len(aux) {
			return Event{}, fmt.Errorf("an exec record's %d-byte environment is longer than its %d bytes after the path", envLen, len(aux))
		}
		e.Argv = splitArgv(aux[:len(aux)-envLen])
		e.LoaderEnv = loaderVars(aux[len(aux)-envLen:])
	} else if len(aux) > 0 {
		e.Exe = bytes.Clone(aux)
	}
	return e, nil
}

// loaderVars keeps the LD_* entries of a NUL-separated environment area.
// Everything else (tokens, passwords) is never copied out of the record.
func loaderVars(env []byte) []string {
	var out []string
	for len(env) > 0 {
		kv := env
		if i := bytes.IndexByte(env, 0); i >= 0 {
			kv, env = env[:i], env[i+1:]
		} else {
			env = nil
		}
		if bytes.HasPrefix(kv, []byte("LD_")) {
			out = append(out, string(kv))
		}
	}
	return out
}

// splitArgv splits the NUL-separated argument area, one copy for all.
func splitArgv(aux []byte) [][]byte {
	if len(aux) == 0 {
		return nil
	}
	area := bytes.Clone(bytes.TrimSuffix(aux, []byte{0}))
	return bytes.Split(area, []byte{0})
}
