// Package fileinfo is what modhunt knows about a file, whatever process
// maps it: its type, its sha256 and, later, its PE version resource,
// imphash, signature, CLI assembly identity or Mach-O header. Facts are
// kept per file identity in one bounded cache that inventory, the trust
// judgement and the event builder all read through, and are computed only
// when a table asks for them.
//
// An identity names one version of a file's bytes: the file (device and
// inode on Unix; volume serial number and 128-bit file index on Windows)
// plus its size, modification time and change time. A file rewritten in
// place keeps its inode but gets a new change time, which userspace cannot
// set back (utimensat moves mtime, never ctime), so its old facts are never
// served for its new bytes. On a file system whose server answers stat
// itself (FUSE, a network file system) every field is the server's word,
// and two different contents can share an identity; no stat-based identity
// can do better, and a hash there only says what one read was served.
package fileinfo

import (
	"bytes"
	"encoding/binary"
)

// Key names a file, not a version of its contents: one cache slot per key.
type Key struct {
	// Dev is st_dev on Unix, the volume serial number on Windows.
	Dev uint64
	// Ino is the inode on Unix; on Windows the low and high halves of the
	// 128-bit file index (FILE_ID_INFO; ReFS uses all of it).
	Ino, InoHi uint64
}

// ID is one version of a file: its Key plus what changes when its bytes
// may have. Two IDs are equal only when every field is.
type ID struct {
	Key
	Size int64
	// MTime and CTime are nanoseconds since the Unix epoch (CTime is the
	// status change time on Unix, ChangeTime on Windows); 0 when unknown.
	MTime, CTime int64
}

// Type is what a file's first bytes say it is.
type Type string

// File types, as the file_type column spells them.
const (
	ELF     Type = "elf"
	PE      Type = "pe"
	MachO   Type = "macho"
	Script  Type = "script" // starts with "#!"
	Data    Type = "data"   // a readable regular file, none of the above
	Unknown Type = "unknown"
)

// SniffSize is how many leading bytes Detect wants: enough for a PE header
// at any usual e_lfanew.
const SniffSize = 4096

// Detect classifies a file from its first bytes (up to SniffSize).
func Detect(head []byte) Type {
	switch {
	case bytes.HasPrefix(head, []byte("\x7fELF")):
		return ELF
	case bytes.HasPrefix(head, []byte("#!")):
		return Script
	case bytes.HasPrefix(head, []byte("dyld_v1 ")):
		// The dyld shared cache ("dyld_v1   arm64e"): Apple's Mach-O
		// images in one file, code, not data.
		return MachO
	case bytes.HasPrefix(head, []byte("MZ")):
		// A bare MZ is a DOS stub; a PE image has "PE\0\0" at e_lfanew.
		if len(head) >= 0x40 {
			off := int(binary.LittleEndian.Uint32(head[0x3c:]))
			if off >= 0x40 && off <= len(head)-4 && string(head[off:off+4]) == "PE\x00\x00" {
				return PE
			}
		}
		return Data
	case len(head) >= 8:
		switch binary.BigEndian.Uint32(head) {
		case 0xfeedface, 0xfeedfacf, 0xcefaedfe, 0xcffaedfe:
			return MachO
		case 0xcafebabe:
			// Fat Mach-O and Java class files share this magic; a fat
			// header counts architectures (few), a class file has a
			// class-file version (>= 45) in the same place.
			if n := binary.BigEndian.Uint32(head[4:]); n > 0 && n < 45 {
				return MachO
			}
		}
	}
	return Data
}
