package loadsource

import (
	"bytes"
	"encoding/binary"
	"errors"
	"testing"
	"time"
)

// record builds a ring record the way the BPF program lays it out.
type record struct {
	kind                                            Kind
	bootNS, seq, ino, magic                         uint64
	prot, flags, offset, length, addr               uint64
	dev, nlink, mode, pid, tid, ppid, uid, euid, ns uint32
	evFlags                                         uint32
	fd                                              int32
	comm                                            string
	path, aux                                       []byte
	envLen                                          uint16 // the last envLen bytes of aux
}

func (r record) bytes() []byte {
	b := make([]byte, headerSize, headerSize+len(r.path)+len(r.aux))
	le := binary.LittleEndian
	for off, v := range map[int]uint64{offBootNS: r.bootNS, offSeq: r.seq, offIno: r.ino, offFSMagic: r.magic,
		offProt: r.prot, offFlags: r.flags, offOffset: r.offset, offLen: r.length, offAddr: r.addr} {
		le.PutUint64(b[off:], v)
	}
	for off, v := range map[int]uint32{offDev: r.dev, offNlink: r.nlink, offMode: r.mode, offPID: r.pid, offTID: r.tid,
		offPPID: r.ppid, offUID: r.uid, offEUID: r.euid, offMountNS: r.ns, offEvFlags: r.evFlags, offFD: uint32(r.fd)} {
		le.PutUint32(b[off:], v)
	}
	le.PutUint16(b[offPathLen:], uint16(len(r.path)))
	le.PutUint16(b[offAuxLen:], uint16(len(r.aux)))
	le.PutUint16(b[offEnvLen:], r.envLen)
	b[offKind] = byte(r.kind)
	copy(b[offComm:offComm+commSize], r.comm)
	return append(append(b, r.path...), r.aux...)
}

func TestDecodeLoad(t *testing.T) {
	boot := func(ns uint64) time.Time { return time.Unix(1_700_000_000, int64(ns)) }
	path := []byte("/tmp/\xff\xfeodd name.so") // not UTF-8: kept as the kernel's bytes
	rec := record{
		kind: KindMmap, bootNS: 5, seq: 3<<seqBits | 42, ino: 1234, magic: 0xef53, prot: 5, flags: 0x812, offset: 4096, length: 8192, addr: 0x7f00,
		dev: 259<<20 | 3, nlink: 1, mode: 0o100755, pid: 10, tid: 11, ppid: 1, uid: 1000, euid: 0, ns: 4026531840, fd: 3,
		evFlags: evPathCached, comm: "loader", path: path, aux: []byte("/usr/bin/loader"),
	}.bytes()
	ev, err := decode(rec, boot)
	if err != nil {
		t.Fatal(err)
	}
	want := Event{
		Kind: KindMmap, Time: boot(5), BootNS: 5, PID: 10, TID: 11, PPID: 1, UID: 1000, EUID: 0, Comm: "loader", CPU: 3, Seq: 42,
		Exe: []byte("/usr/bin/loader"), Path: path, Device: Device{259, 3}, Inode: 1234, Nlink: 1, Mode: 0o100755, FSMagic: 0xef53,
		MountNS: 4026531840, Prot: 5, Flags: 0x812, Offset: 4096, Len: 8192, Addr: 0x7f00, FD: 3, PathCached: true,
	}
	if !equalEvents(ev, want) {
		t.Fatalf("decoded\n%+v\nwant\n%+v", ev, want)
	}
	if ev.Device.String() != "259:3" || ev.Kind.String() != "mmap" {
		t.Errorf("device %s kind %s", ev.Device, ev.Kind)
	}
	// The record's memory is the ring's, reused after decode returns.
	for i := range rec {
		rec[i] = 0
	}
	if !bytes.Equal(ev.Path, path) || string(ev.Exe) != "/usr/bin/loader" {
		t.Fatalf("decode kept the record's memory: path %q exe %q", ev.Path, ev.Exe)
	}
}

func equalEvents(a, b Event) bool {
	return a.Kind == b.Kind && a.Time.Equal(b.Time) && a.BootNS == b.BootNS && a.PID == b.PID && a.TID == b.TID &&
		a.PPID == b.PPID && a.UID == b.UID && a.EUID == b.EUID && a.Comm == b.Comm && a.CPU == b.CPU && a.Seq == b.Seq &&
		bytes.Equal(a.Exe, b.Exe) && bytes.Equal(a.Path, b.Path) && a.PathTruncated == b.PathTruncated &&
		a.Device == b.Device && a.Inode == b.Inode && a.Nlink == b.Nlink && a.Mode == b.Mode && a.FSMagic == b.FSMagic &&
		a.MountNS == b.MountNS && a.Memfd == b.Memfd && a.Internal == b.Internal && a.Deleted == b.Deleted &&
		a.NoFile == b.NoFile && a.Prot == b.Prot && a.Flags == b.Flags && a.Offset == b.Offset && a.Len == b.Len &&
		a.Addr == b.Addr && a.FD == b.FD && a.AuxTruncated == b.AuxTruncated && len(a.Argv) == len(b.Argv) &&
		a.Interpreter == b.Interpreter && a.PathCached == b.PathCached
}

func TestDecodeExecArgv(t *testing.T) {
	rec := record{kind: KindExec, nlink: 1, comm: "0123456789abcdef", path: []byte("/bin/sh"), aux: []byte("sh\x00-c\x00\x00x y\x00"), fd: -1}.bytes()
	ev, err := decode(rec, nil)
	if err != nil {
		t.Fatal(err)
	}
	want := []string{"sh", "-c", "", "x y"}
	if len(ev.Argv) != len(want) || ev.Exe != nil || !ev.IsExec() || ev.FD != -1 {
		t.Fatalf("argv %q exe %q exec %v fd %d", ev.Argv, ev.Exe, ev.IsExec(), ev.FD)
	}
	for i := range want {
		if string(ev.Argv[i]) != want[i] {
			t.Fatalf("argv %q, want %q", ev.Argv, want)
		}
	}
	// A 16-byte comm has no NUL: all of it is the name.
	if ev.Comm != "0123456789abcdef" {
		t.Errorf("comm %q", ev.Comm)
	}
}

func TestDecodeFlags(t *testing.T) {
	for _, tc := range []struct {
		name                       string
		flags, nlink               uint32
		deleted, memfd, noFile, tr bool
	}{
		{"linked", 0, 1, false, false, false, false},
		{"unlinked name", evUnlinked, 1, true, false, false, false},
		{"no links left", 0, 0, true, false, false, false},
		{"memfd", evMemfd | evInternal | evPseudo, 0, true, true, false, false},
		{"truncated path", evPathTruncated, 1, false, false, false, true},
		// Without a file there is no link count to judge by.
		{"no file", evNoFile, 0, false, false, true, false},
	} {
		ev, err := decode(record{kind: KindMmap, evFlags: tc.flags, nlink: tc.nlink}.bytes(), nil)
		if err != nil {
			t.Fatal(err)
		}
		if ev.Deleted != tc.deleted || ev.Memfd != tc.memfd || ev.NoFile != tc.noFile || ev.PathTruncated != tc.tr {
			t.Errorf("%s: deleted %v memfd %v nofile %v truncated %v", tc.name, ev.Deleted, ev.Memfd, ev.NoFile, ev.PathTruncated)
		}
	}
}

// An exec's environment follows its argv; only the loader's variables are
// kept, in order (a later LD_PRELOAD is the one ld.so uses), and nothing
// else of the environment is held.
func TestDecodeExecLoaderEnv(t *testing.T) {
	env := "HOME=/root\x00LD_PRELOAD=/tmp/a.so\x00SECRET_TOKEN=hunter2\x00LD_AUDIT=/tmp/b.so\x00XLD_PRELOAD=no\x00LD_PRELOAD=/tmp/c.so"
	aux := "prog\x00arg\x00" + env
	rec := record{kind: KindExec, path: []byte("/bin/prog"), aux: []byte(aux), envLen: uint16(len(env)), evFlags: evEnvTruncated}.bytes()
	ev, err := decode(rec, nil)
	if err != nil {
		t.Fatal(err)
	}
	want := []string{"LD_PRELOAD=/tmp/a.so", "LD_AUDIT=/tmp/b.so", "LD_PRELOAD=/tmp/c.so"}
	if len(ev.Argv) != 2 || string(ev.Argv[1]) != "arg" || len(ev.LoaderEnv) != len(want) || !ev.EnvTruncated {
		t.Fatalf("argv %q loader env %q truncated %v", ev.Argv, ev.LoaderEnv, ev.EnvTruncated)
	}
	for i := range want {
		if ev.LoaderEnv[i] != want[i] {
			t.Fatalf("loader env %q, want %q", ev.LoaderEnv, want)
		}
	}
	// An environment that claims more than the record holds is refused.
	bad := record{kind: KindExec, path: []byte("/bin/prog"), aux: []byte("p\x00"), envLen: 3}.bytes()
	if _, err := decode(bad, nil); err == nil {
		t.Error("decoded an exec whose environment is longer than its aux")
	}
}

func TestDecodeRejectsBadRecords(t *testing.T) {
	good := record{kind: KindMmap, path: []byte("/x"), aux: []byte("/y")}.bytes()
	for name, rec := range map[string][]byte{
		"short":        good[:headerSize-1],
		"path too big": good[:len(good)-1],
		"trailing":     append(append([]byte(nil), good...), 0),
		"unknown kind": record{kind: 9}.bytes(),
		"kind zero":    record{}.bytes(),
	} {
		if _, err := decode(rec, nil); err == nil {
			t.Errorf("%s: decoded", name)
		} else if name == "short" && !errors.Is(err, errShort) {
			t.Errorf("short: %v", err)
		}
	}
}

func FuzzDecode(f *testing.F) {
	f.Add(record{kind: KindMmap, path: []byte("/lib/x.so"), aux: []byte("/bin/y")}.bytes())
	f.Add(record{kind: KindExec, path: []byte("/bin/sh"), aux: []byte("sh\x00-c\x00")}.bytes())
	f.Add([]byte{})
	f.Fuzz(func(t *testing.T, rec []byte) {
		ev, err := decode(rec, nil)
		if err != nil {
			return
		}
		if headerSize+len(ev.Path)+len(ev.Exe) > len(rec) || ev.Kind < KindMmap || ev.Kind > KindMemfdCreate {
			t.Fatalf("decoded an event larger than its record: %+v", ev)
		}
	})
}

func TestKindString(t *testing.T) {
	for k, want := range map[Kind]string{KindMmap: "mmap", KindMprotect: "mprotect", KindExec: "exec", KindMemfdCreate: "memfd_create", 7: "kind(7)"} {
		if k.String() != want {
			t.Errorf("%d: %q", k, k.String())
		}
	}
}
