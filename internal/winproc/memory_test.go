package winproc

import (
	"reflect"
	"testing"
)

func TestImageMappings(t *testing.T) {
	const exe, dll, hand = 0x140000000, 0x7ff800000000, 0x2a0000
	regions := []Region{
		{Base: 0x10000, Size: 0x1000, AllocationBase: 0x10000, Type: MemPrivate},
		{Base: hand, Size: 0x1000, AllocationBase: hand, Type: MemImage, NTPath: `\Device\HarddiskVolume3\Temp\x.dll`, Path: `C:\Temp\x.dll`},
		{Base: hand + 0x1000, Size: 0x3000, AllocationBase: hand, Type: MemImage},
		{Base: 0x300000, Size: 0x1000, AllocationBase: 0x300000, Type: MemMapped, NTPath: `\Device\HarddiskVolume3\data.bin`, Path: `C:\data.bin`},
		{Base: exe, Size: 0x1000, AllocationBase: exe, Type: MemImage, NTPath: `\Device\HarddiskVolume3\app.exe`, Path: `C:\app.exe`},
		{Base: exe + 0x1000, Size: 0x5000, AllocationBase: exe, Type: MemImage},
		// The kernel gave no name (Wine past MAX_PATH): the loader's path.
		{Base: dll, Size: 0x2000, AllocationBase: dll, Type: MemImage},
	}
	loader := []Module{
		{Base: exe, Size: 0x6000, Path: `C:\app.exe`},
		{Base: dll, Size: 0x2000, Path: `C:\long\x.dll`},
		// Toolhelp has the hand-mapped DLL's path for another base: the
		// mapping is matched by base, not by path.
		{Base: 0x7ff900000000, Size: 0x2000, Path: `C:\Temp\x.dll`},
	}
	want := []ImageMapping{
		{Base: hand, Size: 0x4000, NTPath: `\Device\HarddiskVolume3\Temp\x.dll`, Path: `C:\Temp\x.dll`, InLoaderList: false},
		{Base: exe, Size: 0x6000, NTPath: `\Device\HarddiskVolume3\app.exe`, Path: `C:\app.exe`, InLoaderList: true},
		{Base: dll, Size: 0x2000, Path: `C:\long\x.dll`, InLoaderList: true},
	}
	if got := ImageMappings(regions, loader); !reflect.DeepEqual(got, want) {
		t.Errorf("ImageMappings:\n got %+v\nwant %+v", got, want)
	}
}

func TestTypeName(t *testing.T) {
	for typ, want := range map[uint32]string{MemImage: "image", MemMapped: "mapped", MemPrivate: "private", 0: ""} {
		if got := TypeName(typ); got != want {
			t.Errorf("TypeName(%#x) = %q, want %q", typ, got, want)
		}
	}
}

func TestLimitsDefaults(t *testing.T) {
	l := Limits{}.withDefaults()
	if l.MaxRegions != DefaultMaxRegions || l.MaxTime != DefaultMaxTime {
		t.Errorf("defaults %+v", l)
	}
	l = Limits{MaxRegions: 5, MaxTime: 1}.withDefaults()
	if l.MaxRegions != 5 || l.MaxTime != 1 {
		t.Errorf("explicit limits changed: %+v", l)
	}
}

func TestAccess(t *testing.T) {
	type rwx struct{ r, w, x bool }
	for _, c := range []struct {
		protect uint32
		want    rwx
	}{
		{pageNoAccess, rwx{}},
		{pageReadOnly, rwx{r: true}},
		{pageReadWrite, rwx{r: true, w: true}},
		{pageWriteCopy, rwx{r: true, w: true}},
		{pageExecute, rwx{x: true}},
		{pageExecuteRead, rwx{r: true, x: true}},
		{pageExecuteReadWrite, rwx{true, true, true}},
		{pageExecuteWriteCopy, rwx{true, true, true}},
		// Modifiers: a guard page reads as nothing; caching bits change
		// nothing.
		{pageExecuteRead | pageGuard, rwx{}},
		{pageReadWrite | 0x200, rwx{r: true, w: true}},
		{pageExecuteReadWrite | 0x400, rwx{true, true, true}},
		// A reserved region has protection 0.
		{0, rwx{}},
	} {
		r, w, x := Access(c.protect)
		if got := (rwx{r, w, x}); got != c.want {
			t.Errorf("Access(%#x) = %+v, want %+v", c.protect, got, c.want)
		}
	}
}
