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
	for _, c := range []struct {
		name      string
		got, want uintptr
	}{
		{"size", unsafe.Sizeof(s.Ev), headerSize},
		{"boot_ns", unsafe.Offsetof(s.Ev.BootNs), offBootNS},
		{"seq", unsafe.Offsetof(s.Ev.Seq), offSeq},
		{"ino", unsafe.Offsetof(s.Ev.Ino), offIno},
		{"fs_magic", unsafe.Offsetof(s.Ev.FsMagic), offFSMagic},
		{"prot", unsafe.Offsetof(s.Ev.Prot), offProt},
		{"flags", unsafe.Offsetof(s.Ev.Flags), offFlags},
		{"offset", unsafe.Offsetof(s.Ev.Offset), offOffset},
		{"len", unsafe.Offsetof(s.Ev.Len), offLen},
		{"addr", unsafe.Offsetof(s.Ev.Addr), offAddr},
		{"dev", unsafe.Offsetof(s.Ev.Dev), offDev},
		{"nlink", unsafe.Offsetof(s.Ev.Nlink), offNlink},
		{"mode", unsafe.Offsetof(s.Ev.Mode), offMode},
		{"pid", unsafe.Offsetof(s.Ev.Pid), offPID},
		{"tid", unsafe.Offsetof(s.Ev.Tid), offTID},
		{"ppid", unsafe.Offsetof(s.Ev.Ppid), offPPID},
		{"uid", unsafe.Offsetof(s.Ev.Uid), offUID},
		{"euid", unsafe.Offsetof(s.Ev.Euid), offEUID},
		{"mnt_ns", unsafe.Offsetof(s.Ev.MntNs), offMountNS},
		{"ev_flags", unsafe.Offsetof(s.Ev.EvFlags), offEvFlags},
		{"fd", unsafe.Offsetof(s.Ev.Fd), offFD},
		{"path_len", unsafe.Offsetof(s.Ev.PathLen), offPathLen},
		{"aux_len", unsafe.Offsetof(s.Ev.AuxLen), offAuxLen},
		{"kind", unsafe.Offsetof(s.Ev.Kind), offKind},
		{"env_len", unsafe.Offsetof(s.Ev.EnvLen), offEnvLen},
		{"comm", unsafe.Offsetof(s.Ev.Comm), offComm},
		{"comm size", unsafe.Sizeof(s.Ev.Comm), commSize},
		{"data", unsafe.Offsetof(s.Data), headerSize},
	} {
		if c.got != c.want {
			t.Errorf("struct event %s: BPF object says %d, event.go %d", c.name, c.got, c.want)
		}
	}
}
