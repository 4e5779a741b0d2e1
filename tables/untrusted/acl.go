package untrusted

import "slices"

// A Windows DACL as user_writable reads it: pure, so the evaluation is
// tested on every OS; acl_windows.go reads real ones with
// GetNamedSecurityInfoW.

// The well-known SIDs a low-privileged user's token holds, whatever the
// user: a grant to any of them is a grant to every standard user.
const (
	SIDEveryone           = "S-1-1-0"
	SIDAuthenticatedUsers = "S-1-5-11"
	SIDUsers              = "S-1-5-32-545"
	SIDInteractive        = "S-1-5-4"
	// SIDOwnerRights: an ACE for it replaces the owner's implied
	// READ_CONTROL and WRITE_DAC.
	SIDOwnerRights = "S-1-3-4"
)

// LowPrivilegeSIDs are the groups every standard user's token holds.
var LowPrivilegeSIDs = []string{SIDEveryone, SIDAuthenticatedUsers, SIDUsers, SIDInteractive}

// Access rights (winnt.h).
const (
	fileWriteData = 0x0002 // FILE_WRITE_DATA on a file, FILE_ADD_FILE on a folder
	writeDAC      = 0x00040000
	writeOwner    = 0x00080000
	genericAll    = 0x10000000
	genericWrite  = 0x40000000
	// fileGenericWrite and fileAllAccess are what the generic rights mean
	// for a file (FILE_GENERIC_WRITE, FILE_ALL_ACCESS).
	fileGenericWrite = 0x00120116
	fileAllAccess    = 0x001F01FF
)

// writeRights are the rights that let a user put other code where the
// module is: change the file's bytes (FILE_WRITE_DATA), or create a file in
// its folder (FILE_ADD_FILE, the same bit), or take either right by
// rewriting the DACL or the owner. FILE_APPEND_DATA is left out: bytes
// appended after a PE's sections are never loaded.
const writeRights = fileWriteData | writeDAC | writeOwner

// ACE is one access control entry: allow or deny Mask to SID.
type ACE struct {
	Allow bool
	// InheritOnly ACEs only pass to children (CREATOR OWNER templates):
	// they grant nothing on the object itself.
	InheritOnly bool
	Mask        uint32
	SID         string
}

// DACL is an object's discretionary ACL and owner. Null is a NULL DACL,
// which grants everyone everything (an empty one grants nothing).
type DACL struct {
	Null  bool
	Owner string
	ACEs  []ACE
}

// mapGeneric turns generic rights into the file rights they stand for.
func mapGeneric(m uint32) uint32 {
	if m&genericAll != 0 {
		m |= fileAllAccess
	}
	if m&genericWrite != 0 {
		m |= fileGenericWrite
	}
	return m
}

// GrantsWrite reports whether the DACL lets a token holding sids change the
// object (writeRights), evaluated as AccessCheck does: ACEs in order, the
// first ACE to decide a right (deny or allow) decides it; the owner holds
// WRITE_DAC unless an OWNER RIGHTS ACE says otherwise.
func (d DACL) GrantsWrite(sids []string) bool {
	if d.Null {
		return true
	}
	holds := func(s string) bool { return slices.Contains(sids, s) }
	var granted, denied uint32
	ownerRights := false
	for _, a := range d.ACEs {
		if a.SID == SIDOwnerRights && !a.InheritOnly {
			ownerRights = true
		}
	}
	if d.Owner != "" && holds(d.Owner) && !ownerRights {
		granted |= writeDAC
	}
	for _, a := range d.ACEs {
		if a.InheritOnly {
			continue
		}
		// OWNER RIGHTS applies to whoever owns the object.
		ownerACE := a.SID == SIDOwnerRights && d.Owner != "" && holds(d.Owner)
		if !holds(a.SID) && !ownerACE {
			continue
		}
		m := mapGeneric(a.Mask)
		if a.Allow {
			granted |= m &^ denied
		} else {
			denied |= m &^ granted
		}
	}
	return granted&writeRights != 0
}
