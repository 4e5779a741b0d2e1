package darwinproc

import (
	"bytes"
	"encoding/binary"
	"testing"
	"unsafe"
)

// The mirrors below copy the field lists of XNU bsd/sys/proc_info.h
// (apple-oss-distributions/xnu) field for field. binary.Write packs them
// without padding, so encoding through them is an independent check of the
// offsets the decoders use; the size assertions check that C's natural
// alignment adds no padding either (the Go compiler aligns the same way).

type cRegionInfo struct {
	Protection, MaxProtection, Inheritance, Flags uint32
	Offset                                        uint64
	Behavior, UserWiredCount, UserTag             uint32
	PagesResident, PagesSharedNowPrivate          uint32
	PagesSwappedOut, PagesDirtied, RefCount       uint32
	ShadowDepth, ShareMode                        uint32
	PrivatePagesResident, SharedPagesResident     uint32
	ObjID, Depth                                  uint32
	Address, Size                                 uint64
}

type cVinfoStat struct {
	Dev                      uint32
	Mode, Nlink              uint16
	Ino                      uint64
	UID, GID                 uint32
	Atime, AtimeNsec         int64
	Mtime, MtimeNsec         int64
	Ctime, CtimeNsec         int64
	Birthtime, BirthtimeNsec int64
	Size, Blocks             int64
	Blksize                  int32
	Flags, Gen, Rdev         uint32
	Qspare                   [2]int64
}

type cVnodeInfo struct {
	Stat      cVinfoStat
	Type, Pad int32
	Fsid      [2]int32
}

type cVnodeInfoPath struct {
	VI   cVnodeInfo
	Path [1024]byte
}

type cRegionWithPathInfo struct {
	PRI cRegionInfo
	VIP cVnodeInfoPath
}

type cBSDInfo struct {
	Flags, Status, Xstatus, PID, PPID  uint32
	UID, GID, RUID, RGID, SVUID, SVGID uint32
	Rfu1                               uint32
	Comm                               [16]byte
	Name                               [32]byte
	Nfiles, Pgid, Pjobc, Tdev, Tpgid   uint32
	Nice                               int32
	StartSec, StartUsec                uint64
}

func TestStructSizes(t *testing.T) {
	for _, tc := range []struct {
		name       string
		v          any
		goSize     uintptr
		want       int
		documented int
	}{
		{"proc_regioninfo", cRegionInfo{}, unsafe.Sizeof(cRegionInfo{}), SizeRegionInfo, 96},
		{"vinfo_stat", cVinfoStat{}, unsafe.Sizeof(cVinfoStat{}), SizeVinfoStat, 136},
		{"vnode_info", cVnodeInfo{}, unsafe.Sizeof(cVnodeInfo{}), SizeVnodeInfo, 152},
		{"vnode_info_path", cVnodeInfoPath{}, unsafe.Sizeof(cVnodeInfoPath{}), SizeVnodeInfoPath, 1176},
		{"proc_regionwithpathinfo", cRegionWithPathInfo{}, unsafe.Sizeof(cRegionWithPathInfo{}), SizeRegionWithPathInfo, 1272},
		{"proc_bsdinfo", cBSDInfo{}, unsafe.Sizeof(cBSDInfo{}), SizeBSDInfo, 136},
	} {
		packed := binary.Size(tc.v)
		if packed != tc.want || int(tc.goSize) != tc.want || tc.want != tc.documented {
			t.Errorf("%s: packed %d, aligned %d, constant %d, documented %d", tc.name, packed, tc.goSize, tc.want, tc.documented)
		}
	}
}

func encode(t testing.TB, v any) []byte {
	t.Helper()
	var b bytes.Buffer
	if err := binary.Write(&b, binary.LittleEndian, v); err != nil {
		t.Fatal(err)
	}
	return b.Bytes()
}

func TestDecodeRegionWithPath(t *testing.T) {
	var c cRegionWithPathInfo
	c.PRI = cRegionInfo{Protection: 5, MaxProtection: 7, Flags: 2, Offset: 0x4000, UserTag: 11,
		ShareMode: 4, Address: 0x1000a0000, Size: 0x8000, RefCount: 3, ObjID: 99, Depth: 0}
	c.VIP.VI.Stat = cVinfoStat{Dev: 0x1000011, Mode: 0o100755, Nlink: 1, Ino: 4411, UID: 501, GID: 20,
		Mtime: 1700000000, MtimeNsec: 123, Size: 33456, Atime: -1, Ctime: -2, Blksize: 4096}
	c.VIP.VI.Type = 1
	c.VIP.VI.Fsid = [2]int32{7, 8}
	copy(c.VIP.Path[:], "/private/tmp/evil.dylib")
	r, err := DecodeRegionWithPath(encode(t, c))
	if err != nil {
		t.Fatal(err)
	}
	want := Region{
		Address: 0x1000a0000, Size: 0x8000, Protection: 5, MaxProtection: 7, Offset: 0x4000,
		Flags: 2, ShareMode: ShareShared, UserTag: 11,
		Vnode: Vnode{Dev: 0x1000011, Inode: 4411, Mode: 0o100755, Nlink: 1, UID: 501, GID: 20,
			Size: 33456, Mtime: 1700000000, MtimeNsec: 123, Type: 1, Path: "/private/tmp/evil.dylib"},
	}
	if r != want {
		t.Fatalf("decoded\n%+v\nwant\n%+v", r, want)
	}
	if r.Perms() != "r-x" || r.Submap() || r.End() != 0x1000a8000 || r.ShareMode.String() != "shared" {
		t.Errorf("perms %q submap %v end %#x mode %s", r.Perms(), r.Submap(), r.End(), r.ShareMode)
	}
}

func TestDecodeRegionPathUnterminated(t *testing.T) {
	var c cRegionWithPathInfo
	c.VIP.VI.Stat.Ino = 1
	for i := range c.VIP.Path {
		c.VIP.Path[i] = 'a'
	}
	r, err := DecodeRegionWithPath(encode(t, c))
	if err != nil {
		t.Fatal(err)
	}
	if len(r.Vnode.Path) != MaxPathLen {
		t.Fatalf("path of %d bytes, want the whole %d-byte field", len(r.Vnode.Path), MaxPathLen)
	}
}

func TestDecodeWrongSizes(t *testing.T) {
	for _, n := range []int{0, SizeRegionInfo, SizeRegionWithPathInfo - 1, SizeRegionWithPathInfo + 8} {
		if _, err := DecodeRegionWithPath(make([]byte, n)); err == nil {
			t.Errorf("DecodeRegionWithPath(%d bytes): no error", n)
		}
	}
	for _, n := range []int{0, SizeBSDInfo - 8, SizeBSDInfo + 8} {
		if _, err := DecodeBSDInfo(make([]byte, n)); err == nil {
			t.Errorf("DecodeBSDInfo(%d bytes): no error", n)
		}
	}
}

func TestDecodeBSDInfo(t *testing.T) {
	c := cBSDInfo{Flags: 0x10, PID: 4242, PPID: 1, UID: 501, GID: 20, RUID: 502, RGID: 21,
		SVUID: 9, SVGID: 9, Nfiles: 3, Nice: -5, StartSec: 1700000000, StartUsec: 42}
	copy(c.Comm[:], "0123456789abcdef") // exactly MAXCOMLEN: no NUL
	copy(c.Name[:], "Google Chrome Helper")
	b, err := DecodeBSDInfo(encode(t, c))
	if err != nil {
		t.Fatal(err)
	}
	want := BSDInfo{PID: 4242, PPID: 1, UID: 501, RUID: 502, GID: 20, Flags: 0x10,
		Comm: "0123456789abcdef", Name: "Google Chrome Helper", StartSec: 1700000000, StartUsec: 42}
	if b != want {
		t.Fatalf("decoded\n%+v\nwant\n%+v", b, want)
	}
}
