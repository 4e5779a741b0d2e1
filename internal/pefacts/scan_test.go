package pefacts

import (
	"bytes"
	"encoding/binary"
	"math/rand"
	"testing"
)

// metadataOf returns the metadata root bytes of a PE file (the CLR
// header's MetaData directory), found with debug/pe's help via mapImage.
func metadataOf(t testing.TB, file []byte) []byte {
	t.Helper()
	img := mapImage(t, file)
	lfanew := le32(img[0x3c:])
	opt := img[lfanew+24:]
	dirs := opt[96:] // PE32
	if le16(opt) == 0x20b {
		dirs = opt[112:]
	}
	cor := le32(dirs[8*dirCLR:])
	md, n := le32(img[cor+8:]), le32(img[cor+12:])
	return img[md : md+n]
}

// noise fills a buffer the way process memory looks: runs of zeros, text,
// pointers and random bytes, with signature bytes sprinkled in.
func noise(n int, seed int64) []byte {
	rng := rand.New(rand.NewSource(seed))
	b := make([]byte, n)
	text := []byte("MZ PE BSJB System.Private.CoreLib <Module> mscorlib v4.0.30319 #Strings #~ ")
	for i := 0; i < n; {
		run := min(n-i, 256+rng.Intn(8192))
		switch rng.Intn(4) {
		case 0: // zeros
		case 1:
			for k := range run {
				b[i+k] = text[(k+i)%len(text)]
			}
		case 2:
			for k := 0; k+8 <= run; k += 8 {
				binary.LittleEndian.PutUint64(b[i+k:], 0x00007f0000000000|uint64(rng.Int63n(1<<40)))
			}
		default:
			rng.Read(b[i : i+run])
		}
		i += run
	}
	return b
}

type planted struct {
	name   string
	off    int
	data   []byte
	hasPE  bool
	layout Layout
	want   *Assembly
}

func TestScanFindsEmbeddedAssemblies(t *testing.T) {
	signed := readFile(t, "testdata/assembly.dll")
	want, err := ParseBytes(signed, LayoutFile, Limits{})
	if err != nil || want.Assembly == nil {
		t.Fatalf("fixture: %v %v", err, want)
	}
	image := mapImage(t, signed)
	md := metadataOf(t, signed)
	plants := []planted{
		// Mono keeps Assembly.Load(byte[]) bytes as they were read.
		{name: "file-layout-at-odd-offset", off: 123457, data: signed, hasPE: true, layout: LayoutFile},
		// The PE straddles the first 1 MiB chunk boundary.
		{name: "file-layout-across-chunks", off: 1<<20 - 701, data: signed, hasPE: true, layout: LayoutFile},
		// The CLR lays images out in private memory.
		{name: "image-layout", off: 1<<21 + 4097, data: image, hasPE: true, layout: LayoutImage},
		// Only the metadata, its "BSJB" split by the third chunk boundary.
		{name: "bare-metadata-root", off: 3<<20 - 2, data: md},
	}
	buf := noise(4<<20, 7)
	for i := range plants {
		copy(buf[plants[i].off:], plants[i].data)
		plants[i].want = want.Assembly
	}
	scans := map[string]func() ([]Found, error){
		"Scan":         func() ([]Found, error) { return Scan(buf, ScanLimits{}) },
		"ScanReaderAt": func() ([]Found, error) { return ScanReaderAt(bytes.NewReader(buf), int64(len(buf)), ScanLimits{}) },
	}
	for name, scan := range scans {
		t.Run(name, func(t *testing.T) {
			found, err := scan()
			if err != nil {
				t.Fatal(err)
			}
			if len(found) != len(plants) {
				t.Errorf("found %d assemblies, planted %d: %+v", len(found), len(plants), found)
			}
			for _, p := range plants {
				var got *Found
				for i := range found {
					if found[i].Offset == int64(p.off) {
						got = &found[i]
					}
				}
				if got == nil {
					t.Errorf("%s: nothing found at %d", p.name, p.off)
					continue
				}
				if got.HasPE != p.hasPE || (p.hasPE && got.Layout != p.layout) {
					t.Errorf("%s: HasPE %v layout %v, want %v %v", p.name, got.HasPE, got.Layout, p.hasPE, p.layout)
				}
				if got.Assembly.FullName() != p.want.FullName() || got.Assembly.MVID != p.want.MVID {
					t.Errorf("%s: %s %s, want %s %s", p.name, got.Assembly.FullName(), got.Assembly.MVID, p.want.FullName(), p.want.MVID)
				}
				if got.Offset+got.Size > int64(p.off+len(p.data)) || got.Size <= 0 {
					t.Errorf("%s: size %d runs past the %d planted bytes", p.name, got.Size, len(p.data))
				}
				mdAt := int64(bytes.Index(buf[p.off:], md[:64]) + p.off)
				if got.MetadataOffset != mdAt {
					t.Errorf("%s: metadata at %d, want %d", p.name, got.MetadataOffset, mdAt)
				}
			}
		})
	}
}

// TestScanRejectsLookalikes plants what a careless scanner would take for
// assemblies: signatures followed by noise, and real metadata broken in
// one place. Nothing may be reported.
func TestScanRejectsLookalikes(t *testing.T) {
	signed := readFile(t, "testdata/assembly.dll")
	md := metadataOf(t, signed)
	mutate := func(off int, b byte) []byte {
		m := append([]byte(nil), md...)
		m[off] = b
		return m
	}
	vlen := int(le32(md[12:]))
	streams := 16 + vlen + 4
	tables := int(le32(md[streams:])) // the first stream is #~ for mcs output
	lookalikes := map[string][]byte{
		"signature-then-noise":    append([]byte("BSJB"), noise(4096, 3)...),
		"root-version-2":          mutate(4, 2),
		"stream-offset-unaligned": mutate(streams, md[streams]+1),
		"tables-unknown-schema":   mutate(tables+4, 9),
		"no-module-row":           mutate(tables+24, 0),
		"truncated-root":          md[:40],
		"pe-header-then-noise":    append(append([]byte("MZ"), make([]byte, 0x3a)...), append([]byte{0x40, 0, 0, 0}, append([]byte("PE\x00\x00"), noise(2048, 4)...)...)...),
	}
	for name, b := range lookalikes {
		t.Run(name, func(t *testing.T) {
			buf := noise(1<<20, 11)
			for off := 1001; off+len(b) < len(buf); off += 150001 {
				copy(buf[off:], b)
			}
			found, err := Scan(buf, ScanLimits{})
			if err != nil {
				t.Fatal(err)
			}
			if len(found) != 0 {
				t.Errorf("found %+v", found)
			}
		})
	}
	t.Run("pe-cut-by-buffer-end-reports-its-metadata-only", func(t *testing.T) {
		buf := noise(1<<20, 12)
		off := len(buf) - len(signed)/2
		copy(buf[off:], signed)
		found, err := Scan(buf, ScanLimits{})
		if err != nil {
			t.Fatal(err)
		}
		mdAt := int64(bytes.Index(buf[off:], md[:64]) + off)
		if len(found) != 1 || found[0].HasPE || found[0].Offset != mdAt || found[0].Offset+found[0].Size > int64(len(buf)) {
			t.Errorf("found %+v, want the bare root at %d", found, mdAt)
		}
	})
}

func TestReadMetadataBareRoot(t *testing.T) {
	signed := readFile(t, "testdata/assembly.dll")
	want, _ := ParseBytes(signed, LayoutFile, Limits{})
	md := metadataOf(t, signed)
	buf := append(noise(999, 5), md...)
	a, err := ReadMetadata(bytes.NewReader(buf), int64(len(buf)), 999, Limits{})
	if err != nil {
		t.Fatal(err)
	}
	if a.FullName() != want.Assembly.FullName() || a.MVID != want.Assembly.MVID || a.RuntimeVersion != want.Assembly.RuntimeVersion {
		t.Errorf("%+v, want %+v", a, want.Assembly)
	}
}
