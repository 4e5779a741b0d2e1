// Package darwinproc reads macOS processes and the files mapped into them
// without cgo and without task_for_pid: libproc's proc_listallpids,
// proc_pidinfo (PROC_PIDTBSDINFO, PROC_PIDREGIONPATHINFO) and proc_pidpath,
// reached through purego as gopsutil does, and the KERN_PROCARGS2 sysctl.
//
// Everything that can be pure is: the C structs are decoded from bytes by the
// functions in this file, the argument area by ParseProcArgs2, the region walk
// by Walk over a fetch function, and the folding of regions into modules by
// Fold. Only the *_darwin.go files touch the OS. See README.md.
package darwinproc

import (
	"encoding/binary"
	"fmt"
)

// Sizes of the structs from XNU bsd/sys/proc_info.h (checked against
// apple-oss-distributions/xnu). Every field is naturally aligned and the
// layout is the same on arm64 and x86_64; both are little-endian.
const (
	// SizeRegionInfo is sizeof(struct proc_regioninfo).
	SizeRegionInfo = 96
	// SizeVinfoStat is sizeof(struct vinfo_stat).
	SizeVinfoStat = 136
	// SizeVnodeInfo is sizeof(struct vnode_info): vinfo_stat, vi_type,
	// vi_pad, fsid_t (two int32).
	SizeVnodeInfo = SizeVinfoStat + 4 + 4 + 8
	// MaxPathLen is MAXPATHLEN, the size of vip_path.
	MaxPathLen = 1024
	// SizeVnodeInfoPath is sizeof(struct vnode_info_path).
	SizeVnodeInfoPath = SizeVnodeInfo + MaxPathLen
	// SizeRegionWithPathInfo is sizeof(struct proc_regionwithpathinfo), the
	// PROC_PIDREGIONPATHINFO_SIZE the kernel returns on success.
	SizeRegionWithPathInfo = SizeRegionInfo + SizeVnodeInfoPath
	// SizeBSDInfo is sizeof(struct proc_bsdinfo), PROC_PIDTBSDINFO_SIZE.
	SizeBSDInfo = 136
	// maxComLen is MAXCOMLEN.
	maxComLen = 16
)

// pri_flags bits.
const (
	regionSubmap = 1 // PROC_REGION_SUBMAP
)

// ShareMode is pri_share_mode (SM_*).
type ShareMode uint32

// Share modes, from proc_info.h.
const (
	ShareCOW            ShareMode = 1
	SharePrivate        ShareMode = 2
	ShareEmpty          ShareMode = 3
	ShareShared         ShareMode = 4
	ShareTrueShared     ShareMode = 5
	SharePrivateAliased ShareMode = 6
	ShareSharedAliased  ShareMode = 7
	ShareLargePage      ShareMode = 8
)

func (m ShareMode) String() string {
	switch m {
	case ShareCOW:
		return "cow"
	case SharePrivate:
		return "private"
	case ShareEmpty:
		return "empty"
	case ShareShared:
		return "shared"
	case ShareTrueShared:
		return "true_shared"
	case SharePrivateAliased:
		return "private_aliased"
	case ShareSharedAliased:
		return "shared_aliased"
	case ShareLargePage:
		return "large_page"
	}
	return fmt.Sprintf("sm_%d", uint32(m))
}

// Protection bits (VM_PROT_*).
const (
	ProtRead    = 1
	ProtWrite   = 2
	ProtExecute = 4
)

// Vnode is the file behind a region, from struct vnode_info_path. It is the
// zero value when the region has no file (anonymous memory, a submap).
type Vnode struct {
	Dev   uint32 // vst_dev
	Inode uint64 // vst_ino
	Mode  uint16 // vst_mode
	Nlink uint16 // vst_nlink
	UID   uint32
	GID   uint32
	Size  int64
	// Mtime and MtimeNsec are vst_mtime, vst_mtimensec.
	Mtime     int64
	MtimeNsec int64
	// Type is vi_type (enum vtype: 1 VREG, 2 VDIR, ...).
	Type int32
	// Path is vip_path up to its NUL: the kernel's vn_getpath, which may be
	// empty when the name cache has no path for the vnode.
	Path string
}

// HasFile reports whether the kernel gave a file for the region. A file with
// inode 0 does not exist on macOS, so the identity doubles as the flag.
func (v Vnode) HasFile() bool { return v.Inode != 0 || v.Path != "" }

// Region is one VM map entry of a process, as PROC_PIDREGIONPATHINFO reports
// it.
type Region struct {
	Address       uint64
	Size          uint64
	Protection    uint32 // pri_protection, VM_PROT_* bits
	MaxProtection uint32
	Offset        uint64 // pri_offset: offset into the backing object
	Flags         uint32 // pri_flags: PROC_REGION_SUBMAP, PROC_REGION_SHARED
	ShareMode     ShareMode
	UserTag       uint32 // pri_user_tag: VM_MEMORY_* of anonymous memory
	Vnode         Vnode
}

// End is the first address after the region, saturated at the top of the
// address space so a hostile size cannot wrap the walk back to the start.
func (r Region) End() uint64 {
	if r.Address+r.Size < r.Address {
		return ^uint64(0)
	}
	return r.Address + r.Size
}

// Submap reports whether the entry is a nested submap: the kernel does not
// descend into it and gives no file for it. The dyld shared region is one.
func (r Region) Submap() bool { return r.Flags&regionSubmap != 0 }

// Kind is what backs a region: "file" (a vnode), "submap" (a nested map:
// the dyld shared region, the x86_64 commpage) or "anonymous" (memory no file
// backs: heap, stacks, JIT and anything written there by a loader of its
// own). Executable anonymous memory is what the reflective-loading hunts look
// for.
func (r Region) Kind() string {
	switch {
	case r.Submap():
		return "submap"
	case r.Vnode.HasFile():
		return "file"
	}
	return "anonymous"
}

// Perms renders the protection as "r-x".
func (r Region) Perms() string {
	b := []byte("---")
	if r.Protection&ProtRead != 0 {
		b[0] = 'r'
	}
	if r.Protection&ProtWrite != 0 {
		b[1] = 'w'
	}
	if r.Protection&ProtExecute != 0 {
		b[2] = 'x'
	}
	return string(b)
}

var le = binary.LittleEndian

// DecodeRegionWithPath decodes a struct proc_regionwithpathinfo. The buffer
// must be exactly the size the kernel returned; a short or long buffer means
// the layout is not the one this package knows, and is an error rather than a
// guess.
func DecodeRegionWithPath(b []byte) (Region, error) {
	if len(b) != SizeRegionWithPathInfo {
		return Region{}, fmt.Errorf("proc_regionwithpathinfo: %d bytes, want %d", len(b), SizeRegionWithPathInfo)
	}
	r := Region{
		Protection:    le.Uint32(b[0:]),
		MaxProtection: le.Uint32(b[4:]),
		Flags:         le.Uint32(b[12:]),
		Offset:        le.Uint64(b[16:]),
		UserTag:       le.Uint32(b[32:]),
		ShareMode:     ShareMode(le.Uint32(b[60:])),
		Address:       le.Uint64(b[80:]),
		Size:          le.Uint64(b[88:]),
	}
	r.Vnode = decodeVnodeInfoPath(b[SizeRegionInfo:])
	return r, nil
}

// decodeVnodeInfoPath decodes struct vnode_info_path (len(v) is
// SizeVnodeInfoPath, checked by the caller).
func decodeVnodeInfoPath(v []byte) Vnode {
	return Vnode{
		Dev:       le.Uint32(v[0:]),
		Mode:      le.Uint16(v[4:]),
		Nlink:     le.Uint16(v[6:]),
		Inode:     le.Uint64(v[8:]),
		UID:       le.Uint32(v[16:]),
		GID:       le.Uint32(v[20:]),
		Mtime:     int64(le.Uint64(v[40:])),
		MtimeNsec: int64(le.Uint64(v[48:])),
		Size:      int64(le.Uint64(v[88:])),
		Type:      int32(le.Uint32(v[SizeVinfoStat:])),
		Path:      cString(v[SizeVnodeInfo : SizeVnodeInfo+MaxPathLen]),
	}
}

// BSDInfo is the part of struct proc_bsdinfo the inventory needs.
type BSDInfo struct {
	PID   uint32
	PPID  uint32
	UID   uint32 // pbi_uid, the effective user
	RUID  uint32
	GID   uint32
	Flags uint32 // pbi_flags: PROC_FLAG_LP64 etc.
	// Comm is pbi_comm (at most 16 bytes), Name pbi_name (32, may be empty).
	Comm string
	Name string
	// StartSec and StartUsec are the process start time (wall clock).
	StartSec  uint64
	StartUsec uint64
}

// DecodeBSDInfo decodes a struct proc_bsdinfo of exactly SizeBSDInfo bytes.
func DecodeBSDInfo(b []byte) (BSDInfo, error) {
	if len(b) != SizeBSDInfo {
		return BSDInfo{}, fmt.Errorf("proc_bsdinfo: %d bytes, want %d", len(b), SizeBSDInfo)
	}
	return BSDInfo{
		Flags:     le.Uint32(b[0:]),
		PID:       le.Uint32(b[12:]),
		PPID:      le.Uint32(b[16:]),
		UID:       le.Uint32(b[20:]),
		GID:       le.Uint32(b[24:]),
		RUID:      le.Uint32(b[28:]),
		Comm:      cString(b[48 : 48+maxComLen]),
		Name:      cString(b[64 : 64+2*maxComLen]),
		StartSec:  le.Uint64(b[120:]),
		StartUsec: le.Uint64(b[128:]),
	}, nil
}

// cString returns b up to its first NUL (all of b when there is none: the
// kernel truncates vip_path and pbi_comm without always terminating them).
func cString(b []byte) string {
	for i, c := range b {
		if c == 0 {
			return string(b[:i])
		}
	}
	return string(b)
}
