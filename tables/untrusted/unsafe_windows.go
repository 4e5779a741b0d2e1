package untrusted

import "unsafe"

// unsafePointer: an ACE's SID starts at its SidStart field and runs past
// the struct, as winnt.h lays it out.
func unsafePointer(p *uint32) unsafe.Pointer { return unsafe.Pointer(p) }
