package loadsource

import (
	"testing"
	"unsafe"
)

// TestHeaderLayout holds event.go's offsets to the layout clang gave
// struct event, as bpf2go read it from the object's BTF: a field added or
// moved on one side only fails here, not as garbage in the live tests.
func TestHeaderLayout(t *testing.T) {
	var s loadsourceScratch
	ev := s.Ev
	for _, c := range []struct {
		name      string
		got, want uintptr
	}{
		{"size", unsafe.Sizeof(s.Ev), headerSize},
		{"boot_ns", unsafe.Offsetof(ev.BootNs), offBootNS},
		{"cgroup_id", unsafe.Offsetof(ev.CgroupId), offCgroupID},
		{"ino", unsafe.Offsetof(ev.Ino), offIno},
		{"fs_magic", unsafe.Offsetof(ev.FsMagic), offFSMagic},
		{"prot", unsafe.Offsetof(ev.Prot), offProt},
		{"flags", unsafe.Offsetof(ev.Flags), offFlags},
		{"offset", unsafe.Offsetof(ev.Offset), offOffset},
		{"len", unsafe.Offsetof(ev.Len), offLen},
		{"addr", unsafe.Offsetof(ev.Addr), offAddr},
		{"dev", unsafe.Offsetof(ev.Dev), offDev},
		{"nlink", unsafe.Offsetof(ev.Nlink), offNlink},
		{"mode", unsafe.Offsetof(ev.Mode), offMode},
		{"pid", unsafe.Offsetof(ev.Pid), offPID},
		{"tid", unsafe.Offsetof(ev.Tid), offTID},
		{"ppid", unsafe.Offsetof(ev.Ppid), offPPID},
		{"uid", unsafe.Offsetof(ev.Uid), offUID},
		{"euid", unsafe.Offsetof(ev.Euid), offEUID},
		{"mnt_ns", unsafe.Offsetof(ev.MntNs), offMountNS},
		{"ev_flags", unsafe.Offsetof(ev.EvFlags), offEvFlags},
		{"fd", unsafe.Offsetof(ev.Fd), offFD},
		{"path_len", unsafe.Offsetof(ev.PathLen), offPathLen},
		{"aux_len", unsafe.Offsetof(ev.AuxLen), offAuxLen},
		{"kind", unsafe.Offsetof(ev.Kind), offKind},
		{"comm", unsafe.Offsetof(ev.Comm), offComm},
		{"comm size", unsafe.Sizeof(ev.Comm), commSize},
		{"data", unsafe.Offsetof(s.Data), headerSize},
	} {
		if c.got != c.want {
			t.Errorf("struct event %s: BPF object says %d, event.go %d", c.name, c.got, c.want)
		}
	}
}
