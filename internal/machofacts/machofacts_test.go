package machofacts

import (
	"bytes"
	"debug/macho"
	"encoding/binary"
	"errors"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

// image describes a minimal Mach-O the tests build byte by byte: a 64-bit
// (or 32-bit) header and the load commands asked for, each padded to the
// pointer size as ld does. There is no Mach-O linker on the Linux runners.
type image struct {
	cpu, sub    uint32
	filetype    uint32
	bits32      bool
	installName string // LC_ID_DYLIB when set
	signed      bool   // LC_CODE_SIGNATURE
	loadDylib   string // an LC_LOAD_DYLIB, which must not be taken for the id
	symtab      *[2]uint32
}

func (im image) build() []byte {
	le := binary.LittleEndian
	align := 8
	if im.bits32 {
		align = 4
	}
	var cmds [][]byte
	pad := func(b []byte) []byte {
		for len(b)%align != 0 {
			b = append(b, 0)
		}
		le.PutUint32(b[4:], uint32(len(b)))
		return b
	}
	dylib := func(cmd uint32, name string) []byte {
		b := le.AppendUint32(nil, cmd)
		b = le.AppendUint32(b, 0)       // cmdsize, set by pad
		b = le.AppendUint32(b, 24)      // name offset
		b = le.AppendUint32(b, 2)       // timestamp
		b = le.AppendUint32(b, 0x10000) // current version
		b = le.AppendUint32(b, 0x10000) // compatibility version
		return pad(append(append(b, name...), 0))
	}
	if im.loadDylib != "" {
		cmds = append(cmds, dylib(0xc, im.loadDylib))
	}
	if im.installName != "" {
		cmds = append(cmds, dylib(lcIDDylib, im.installName))
	}
	if im.symtab != nil {
		b := le.AppendUint32(nil, uint32(macho.LoadCmdSymtab))
		b = le.AppendUint32(b, 24)
		b = le.AppendUint32(b, 0)            // symoff
		b = le.AppendUint32(b, im.symtab[0]) // nsyms
		b = le.AppendUint32(b, 0)            // stroff
		b = le.AppendUint32(b, im.symtab[1]) // strsize
		cmds = append(cmds, b)
	}
	if im.signed {
		b := le.AppendUint32(nil, lcCodeSignature)
		b = le.AppendUint32(b, 16)
		b = le.AppendUint32(b, 0x4000) // dataoff
		b = le.AppendUint32(b, 0x200)  // datasize
		cmds = append(cmds, b)
	}
	var body []byte
	for _, c := range cmds {
		body = append(body, c...)
	}
	magic := macho.Magic64
	if im.bits32 {
		magic = macho.Magic32
	}
	h := le.AppendUint32(nil, magic)
	h = le.AppendUint32(h, im.cpu)
	h = le.AppendUint32(h, im.sub)
	h = le.AppendUint32(h, im.filetype)
	h = le.AppendUint32(h, uint32(len(cmds)))
	h = le.AppendUint32(h, uint32(len(body)))
	h = le.AppendUint32(h, 0x85) // MH_NOUNDEFS|MH_DYLDLINK|MH_TWOLEVEL
	if !im.bits32 {
		h = le.AppendUint32(h, 0)
	}
	return append(h, body...)
}

// fat wraps slices in a fat header, each slice at a 4 KiB boundary.
func fat(slices ...[]byte) []byte {
	be := binary.BigEndian
	out := be.AppendUint32(nil, fatMagic)
	out = be.AppendUint32(out, uint32(len(slices)))
	off := uint32(0x1000)
	var offs []uint32
	for _, s := range slices {
		offs = append(offs, off)
		off += (uint32(len(s)) + 0xfff) &^ 0xfff
	}
	for i, s := range slices {
		cpu := binary.LittleEndian.Uint32(s[4:])
		sub := binary.LittleEndian.Uint32(s[8:])
		out = be.AppendUint32(out, cpu)
		out = be.AppendUint32(out, sub)
		out = be.AppendUint32(out, offs[i])
		out = be.AppendUint32(out, uint32(len(s)))
		out = be.AppendUint32(out, 12)
	}
	for i, s := range slices {
		out = append(out, make([]byte, int(offs[i])-len(out))...)
		out = append(out, s...)
	}
	return out
}

const (
	cpuARM64  = uint32(macho.CpuArm64)
	cpuX86_64 = uint32(macho.CpuAmd64)
	mhExecute = uint32(macho.TypeExec)
	mhDylib   = uint32(macho.TypeDylib)
	mhBundle  = uint32(macho.TypeBundle)
)

func parse(t *testing.T, b []byte, lim Limits) (Facts, error) {
	t.Helper()
	return Parse(bytes.NewReader(b), int64(len(b)), lim)
}

func TestThin(t *testing.T) {
	for _, tc := range []struct {
		name string
		im   image
		want Slice
	}{
		{"arm64 signed dylib", image{cpu: cpuARM64, filetype: mhDylib, installName: "@rpath/libevil.dylib", signed: true, loadDylib: "/usr/lib/libSystem.B.dylib"},
			Slice{Arch: "arm64", CPU: cpuARM64, FileType: "dylib", IsDylib: true, Signed: true, InstallName: "@rpath/libevil.dylib"}},
		{"x86_64 unsigned dylib", image{cpu: cpuX86_64, sub: 3, filetype: mhDylib, installName: "/tmp/libx.dylib"},
			Slice{Arch: "x86_64", CPU: cpuX86_64, CPUSubtype: 3, FileType: "dylib", IsDylib: true, InstallName: "/tmp/libx.dylib"}},
		{"x86_64h bundle", image{cpu: cpuX86_64, sub: 8, filetype: mhBundle, signed: true},
			Slice{Arch: "x86_64h", CPU: cpuX86_64, CPUSubtype: 8, FileType: "bundle", IsDylib: true, Signed: true}},
		{"arm64e executable with ABI bits", image{cpu: cpuARM64, sub: 0x80000002, filetype: mhExecute, signed: true, loadDylib: "/usr/lib/libSystem.B.dylib"},
			Slice{Arch: "arm64e", CPU: cpuARM64, CPUSubtype: 0x80000002, FileType: "execute", Signed: true}},
		{"i386 32-bit dylib", image{cpu: uint32(macho.Cpu386), sub: 3, filetype: mhDylib, bits32: true, installName: "/usr/lib/libold.dylib"},
			Slice{Arch: "i386", CPU: uint32(macho.Cpu386), CPUSubtype: 3, FileType: "dylib", IsDylib: true, InstallName: "/usr/lib/libold.dylib"}},
		{"unknown cpu", image{cpu: 0x1234, filetype: mhDylib},
			Slice{Arch: "cpu_0x1234", CPU: 0x1234, FileType: "dylib", IsDylib: true}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			b := tc.im.build()
			f, err := parse(t, b, Limits{})
			if err != nil {
				t.Fatal(err)
			}
			tc.want.Size = int64(len(b))
			if f.Fat || len(f.Slices) != 1 || f.Slices[0] != tc.want {
				t.Fatalf("got %+v\nwant %+v", f, tc.want)
			}
			if f.IsDylib() != tc.want.IsDylib || f.Signed() != tc.want.Signed {
				t.Fatalf("IsDylib %v Signed %v", f.IsDylib(), f.Signed())
			}
		})
	}
}

func TestFat(t *testing.T) {
	arm := image{cpu: cpuARM64, filetype: mhDylib, installName: "/opt/x/libu.dylib", signed: true}.build()
	x86 := image{cpu: cpuX86_64, sub: 3, filetype: mhDylib, installName: "/opt/x/libu.dylib"}.build()
	b := fat(x86, arm)
	f, err := parse(t, b, Limits{})
	if err != nil {
		t.Fatal(err)
	}
	if !f.Fat || !slices.Equal(f.Arches(), []string{"x86_64", "arm64"}) || !f.IsDylib() {
		t.Fatalf("facts %+v", f)
	}
	// The x86_64 slice is unsigned, so the file is not signed as a whole:
	// on an Intel Mac (or under Rosetta) that slice is what loads.
	if f.Signed() || f.Slices[0].Signed || !f.Slices[1].Signed {
		t.Fatalf("signed: file %v, slices %v %v", f.Signed(), f.Slices[0].Signed, f.Slices[1].Signed)
	}
	if f.Slices[1].Offset != 0x1000+((int64(len(x86))+0xfff)&^0xfff) || f.Slices[1].Size != int64(len(arm)) {
		t.Fatalf("slice location %d+%d", f.Slices[1].Offset, f.Slices[1].Size)
	}
	both := fat(image{cpu: cpuX86_64, sub: 3, filetype: mhDylib, signed: true}.build(), arm)
	if f, err := parse(t, both, Limits{}); err != nil || !f.Signed() {
		t.Fatalf("both slices signed: %v %v", f.Signed(), err)
	}
}

func TestRejects(t *testing.T) {
	good := image{cpu: cpuARM64, filetype: mhDylib, signed: true, installName: "/a"}.build()
	goodFat := fat(good, image{cpu: cpuX86_64, sub: 3, filetype: mhDylib}.build())
	manyArch := binary.BigEndian.AppendUint32(binary.BigEndian.AppendUint32(nil, fatMagic), 1000)
	manyArch = append(manyArch, make([]byte, 1000*20)...)
	javaClass := append([]byte{0xca, 0xfe, 0xba, 0xbe, 0, 0, 0, 52}, make([]byte, 64)...)
	hugeCmds := slices.Clone(good)
	binary.LittleEndian.PutUint32(hugeCmds[20:], 0xfffffff0) // sizeofcmds
	fat64 := binary.BigEndian.AppendUint32(nil, fatMagic64)
	fat64 = append(fat64, 0, 0, 0, 1)
	symtab := image{cpu: cpuARM64, filetype: mhDylib, symtab: &[2]uint32{0, 0x7fffffff}}.build()
	symtab = append(symtab, make([]byte, 4<<20)...)
	for _, tc := range []struct {
		name string
		b    []byte
		lim  Limits
		want error
	}{
		{"empty", nil, Limits{}, ErrNotMachO},
		{"text", []byte("#!/bin/sh\necho hi\n"), Limits{}, ErrNotMachO},
		{"ELF", append([]byte("\x7fELF\x02\x01\x01"), make([]byte, 64)...), Limits{}, ErrNotMachO},
		{"java class", javaClass, Limits{}, ErrNotMachO},
		{"fat with 1000 arches", manyArch, Limits{}, ErrNotMachO},
		{"fat64", fat64, Limits{}, ErrUnsupported},
		{"over the size limit", good, Limits{MaxSize: int64(len(good)) - 1}, ErrTooLarge},
		{"symtab over the read budget", symtab, Limits{MaxRead: 1 << 20}, ErrReadBudget},
		{"load commands past the end", hugeCmds, Limits{}, nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := parse(t, tc.b, tc.lim)
			if err == nil || (tc.want != nil && !errors.Is(err, tc.want)) {
				t.Fatalf("err %v, want %v", err, tc.want)
			}
		})
	}
	// Every truncation of a valid thin and fat file is an error, never a
	// panic and never facts invented from a partial header.
	for _, b := range [][]byte{good, goodFat} {
		for n := 0; n < len(b); n++ {
			if n >= 0x1000 && n%64 != 0 {
				continue
			}
			if f, err := parse(t, b[:n], Limits{}); err == nil {
				t.Fatalf("truncated to %d of %d bytes: facts %+v", n, len(b), f)
			}
		}
	}
}

func TestSniff(t *testing.T) {
	for _, tc := range []struct {
		b    []byte
		want bool
	}{
		{image{cpu: cpuARM64, filetype: mhDylib}.build(), true},
		{image{cpu: 7, filetype: mhDylib, bits32: true}.build(), true},
		{fat(image{cpu: cpuARM64, filetype: mhDylib}.build()), true},
		{[]byte{0xfe, 0xed, 0xfa, 0xce}, true}, // big-endian 32-bit (ppc)
		{[]byte("\x7fELF"), false},
		{[]byte("MZ\x90\x00"), false},
		{[]byte{0xfe, 0xed}, false},
	} {
		if got := Sniff(tc.b); got != tc.want {
			t.Errorf("Sniff(% x) = %v", tc.b[:min(4, len(tc.b))], got)
		}
	}
}

// TestSeedCorpus keeps the committed fuzz seeds parseable by the fuzz
// harness: they are the regression inputs the fuzz target starts from.
func TestSeedCorpus(t *testing.T) {
	files, err := filepath.Glob("testdata/fuzz/FuzzParse/*")
	if err != nil || len(files) == 0 {
		t.Fatalf("no seed corpus: %v", err)
	}
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil || !strings.HasPrefix(string(b), "go test fuzz v1\n") {
			t.Fatalf("%s: %v", f, err)
		}
	}
}

func FuzzParse(f *testing.F) {
	f.Add(image{cpu: cpuARM64, filetype: mhDylib, signed: true, installName: "@rpath/a.dylib"}.build())
	f.Add(fat(image{cpu: cpuX86_64, sub: 3, filetype: mhDylib}.build(), image{cpu: cpuARM64, filetype: mhDylib, signed: true}.build()))
	f.Add(image{cpu: 7, filetype: mhBundle, bits32: true}.build())
	f.Fuzz(func(t *testing.T, b []byte) {
		fs, err := Parse(bytes.NewReader(b), int64(len(b)), Limits{MaxRead: 1 << 20})
		if err != nil {
			return
		}
		if len(fs.Slices) == 0 || (!fs.Fat && len(fs.Slices) != 1) || len(fs.Slices) > DefaultMaxArches {
			t.Fatalf("facts %+v", fs)
		}
		for _, s := range fs.Slices {
			if s.Arch == "" || s.FileType == "" || len(s.InstallName) > len(b) {
				t.Fatalf("slice %+v", s)
			}
		}
	})
}
