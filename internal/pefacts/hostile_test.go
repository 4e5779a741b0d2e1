package pefacts

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"math/rand"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"
)

// synthPE builds a minimal PE32+ DLL with one section at RVA 0x1000 whose
// file data is body (at file offset 0x400), and the given data
// directories (RVAs inside the section). Hostile structures are written
// into body by the tests.
func synthPE(body []byte, dirs map[int][2]uint32) []byte {
	const hdr = 0x400
	raw := alignUp(uint32(len(body)), 0x200)
	f := make([]byte, hdr+int(raw))
	copy(f, "MZ")
	binary.LittleEndian.PutUint32(f[0x3c:], 0x80)
	copy(f[0x80:], "PE\x00\x00")
	fh := f[0x84:]
	binary.LittleEndian.PutUint16(fh[0:], 0x8664)
	binary.LittleEndian.PutUint16(fh[2:], 1)    // sections
	binary.LittleEndian.PutUint16(fh[16:], 240) // SizeOfOptionalHeader
	binary.LittleEndian.PutUint16(fh[18:], 0x2022)
	oh := f[0x98:]
	binary.LittleEndian.PutUint16(oh[0:], 0x20b)
	binary.LittleEndian.PutUint64(oh[24:], 0x180000000) // ImageBase
	binary.LittleEndian.PutUint32(oh[32:], 0x1000)      // SectionAlignment
	binary.LittleEndian.PutUint32(oh[36:], 0x200)       // FileAlignment
	binary.LittleEndian.PutUint32(oh[56:], 0x1000+alignUp(raw, 0x1000))
	binary.LittleEndian.PutUint32(oh[60:], hdr) // SizeOfHeaders
	binary.LittleEndian.PutUint32(oh[108:], 16) // NumberOfRvaAndSizes
	for i, d := range dirs {
		binary.LittleEndian.PutUint32(oh[112+8*i:], d[0])
		binary.LittleEndian.PutUint32(oh[116+8*i:], d[1])
	}
	sh := f[0x98+240:]
	copy(sh, ".data")
	binary.LittleEndian.PutUint32(sh[8:], raw)     // VirtualSize
	binary.LittleEndian.PutUint32(sh[12:], 0x1000) // VirtualAddress
	binary.LittleEndian.PutUint32(sh[16:], raw)    // SizeOfRawData
	binary.LittleEndian.PutUint32(sh[20:], hdr)    // PointerToRawData
	binary.LittleEndian.PutUint32(sh[36:], 0xc0000040)
	copy(f[hdr:], body)
	return f
}

func put32(b []byte, off int, v uint32) { binary.LittleEndian.PutUint32(b[off:], v) }

// countingReader counts the bytes and calls a parse reads, and can slow
// every read down.
type countingReader struct {
	r     io.ReaderAt
	bytes atomic.Int64
	calls atomic.Int64
	delay time.Duration
}

func (c *countingReader) ReadAt(p []byte, off int64) (int, error) {
	c.calls.Add(1)
	c.bytes.Add(int64(len(p)))
	if c.delay > 0 {
		time.Sleep(c.delay)
	}
	return c.r.ReadAt(p, off)
}

func noPanic(t *testing.T, errs ...error) {
	t.Helper()
	for _, err := range errs {
		if err != nil && strings.Contains(err.Error(), "parser panic") {
			t.Fatalf("a parser panicked: %v", err)
		}
	}
}

// TestHostileStructures feeds structures built to loop, to multiply work
// or to point anywhere; each must end in a bounded parse that names what
// was wrong.
func TestHostileStructures(t *testing.T) {
	cases := []struct {
		name  string
		build func() []byte
		check func(t *testing.T, f *Facts, data []byte)
	}{
		{
			// 6000 descriptors sharing one 8000-entry thunk table: naively
			// 48 million imports. pefile's symbol ceiling (8192) and error
			// count end the walk.
			name: "import-descriptors-share-a-huge-thunk-table",
			build: func() []byte {
				const nDesc, nThunk = 6000, 8000
				body := make([]byte, 0x60000)
				thunks := nDesc*20 + 20
				dll := thunks + (nThunk+1)*8
				names := dll + 8
				copy(body[dll:], "a.dll\x00")
				for i := range nDesc {
					put32(body, i*20, uint32(0x1000+thunks))
					put32(body, i*20+12, uint32(0x1000+dll))
					put32(body, i*20+16, uint32(0x1000+thunks))
				}
				for i := range nThunk {
					n := names + 8*i
					copy(body[n+2:], fmt.Sprintf("F%04d", i))
					binary.LittleEndian.PutUint64(body[thunks+8*i:], uint64(0x1000+n))
				}
				return synthPE(body, map[int][2]uint32{dirImport: {0x1000, 20}})
			},
			check: func(t *testing.T, f *Facts, data []byte) {
				if f.ImportsErr != nil || f.Imphash == "" {
					t.Errorf("imphash %q err %v", f.Imphash, f.ImportsErr)
				}
				samePefileImphash(t, data, f.Imphash)
			},
		},
		{
			// Each thunk names the same string: pefile gives up on the table
			// after 15 repeats, so the descriptor counts as broken.
			name: "repeated-thunks",
			build: func() []byte {
				body := make([]byte, 0x1000)
				copy(body[0x800:], "\x00\x00Fn\x00")
				copy(body[0x810:], "a.dll\x00")
				put32(body, 0, 0x1100)
				put32(body, 12, 0x1810)
				put32(body, 16, 0x1100)
				for i := range 100 {
					binary.LittleEndian.PutUint64(body[0x100+8*i:], 0x1800)
				}
				return synthPE(body, map[int][2]uint32{dirImport: {0x1000, 40}})
			},
			check: func(t *testing.T, f *Facts, data []byte) {
				if f.ImportsErr != nil || f.Imphash != "" {
					t.Errorf("imphash %q err %v, want none", f.Imphash, f.ImportsErr)
				}
				samePefileImphash(t, data, f.Imphash)
			},
		},
		{
			// The RT_VERSION subdirectory points back at the root.
			name: "resource-directory-cycle",
			build: func() []byte {
				body := make([]byte, 0x200)
				binary.LittleEndian.PutUint16(body[14:], 1) // one ID entry
				put32(body, 16, rtVersion)
				put32(body, 20, 0x80000000) // subdirectory at offset 0: the root
				return synthPE(body, map[int][2]uint32{dirResource: {0x1000, 0x200}})
			},
			check: func(t *testing.T, f *Facts, data []byte) {
				if f.VersionErr == nil {
					t.Errorf("no error for a resource cycle: %+v", f.Version)
				}
			},
		},
		{
			name: "resource-directory-claims-65535-entries",
			build: func() []byte {
				body := make([]byte, 0x200)
				binary.LittleEndian.PutUint16(body[12:], 0xffff)
				binary.LittleEndian.PutUint16(body[14:], 0xffff)
				return synthPE(body, map[int][2]uint32{dirResource: {0x1000, 0x200}})
			},
			check: func(t *testing.T, f *Facts, data []byte) {
				if f.VersionErr == nil || !strings.Contains(f.VersionErr.Error(), "entries") {
					t.Errorf("version err %v", f.VersionErr)
				}
			},
		},
		{
			name: "clr-header-points-outside-the-image",
			build: func() []byte {
				body := make([]byte, 0x200)
				put32(body, 8, 0x7fff0000) // MetaData.VirtualAddress
				put32(body, 12, 0x1000)
				return synthPE(body, map[int][2]uint32{dirCLR: {0x1000, 72}})
			},
			check: func(t *testing.T, f *Facts, data []byte) {
				if !f.IsDotNet || f.AssemblyErr == nil || f.Assembly != nil {
					t.Errorf("IsDotNet %v assembly %v err %v", f.IsDotNet, f.Assembly, f.AssemblyErr)
				}
			},
		},
		{
			// A metadata root whose tables claim 2^24-1 rows each.
			name: "metadata-row-counts-beyond-the-stream",
			build: func() []byte {
				body := make([]byte, 0x400)
				put32(body, 8, 0x1100)
				put32(body, 12, 0x200)
				md := body[0x100:]
				put32(md, 0, metadataSignature)
				binary.LittleEndian.PutUint16(md[4:], 1)
				binary.LittleEndian.PutUint16(md[6:], 1)
				put32(md, 12, 4)
				copy(md[16:], "v4\x00\x00")
				binary.LittleEndian.PutUint16(md[22:], 2)
				put32(md, 24, 0x40)
				put32(md, 28, 0x40)
				copy(md[32:], "#~\x00\x00")
				put32(md, 36, 0x80)
				put32(md, 40, 0x10)
				copy(md[44:], "#Strings\x00\x00\x00\x00")
				tb := md[0x40:]
				tb[4] = 2
				binary.LittleEndian.PutUint64(tb[8:], 1|1<<tAssembly)
				put32(tb, 24, 0xffffff)
				put32(tb, 28, 0xffffff)
				return synthPE(body, map[int][2]uint32{dirCLR: {0x1000, 72}})
			},
			check: func(t *testing.T, f *Facts, data []byte) {
				if f.AssemblyErr == nil || !strings.Contains(f.AssemblyErr.Error(), "stream holds") {
					t.Errorf("assembly err %v", f.AssemblyErr)
				}
			},
		},
		{
			// The loader sees no directory past NumberOfRvaAndSizes, whatever
			// the bytes in its slot say.
			name: "clr-directory-past-NumberOfRvaAndSizes",
			build: func() []byte {
				body := make([]byte, 0x200)
				put32(body, 8, 0x1100)
				put32(body, 12, 0x100)
				b := synthPE(body, map[int][2]uint32{dirCLR: {0x1000, 72}})
				put32(b, 0x98+108, dirCLR) // directories 0..13 only
				return b
			},
			check: func(t *testing.T, f *Facts, data []byte) {
				if f.IsDotNet || f.Assembly != nil || f.AssemblyErr != nil {
					t.Errorf("IsDotNet %v assembly %v err %v", f.IsDotNet, f.Assembly, f.AssemblyErr)
				}
			},
		},
		{
			// Windows refuses an ImageBase that is not 64 KiB aligned, Mono
			// loads the assembly anyway: its identity must still be read.
			name: "unaligned-image-base",
			build: func() []byte {
				b := readFile(t, "testdata/assembly.dll")
				lfanew := int(le32(b[0x3c:]))
				put32(b, lfanew+24+28, 0x00401000) // PE32 ImageBase
				return b
			},
			check: func(t *testing.T, f *Facts, data []byte) {
				if f.Assembly == nil || f.Assembly.Name != "Fixture" {
					t.Errorf("assembly %v err %v", f.Assembly, f.AssemblyErr)
				}
			},
		},
		{
			name: "e_lfanew-beyond-the-file",
			build: func() []byte {
				b := synthPE(make([]byte, 0x200), nil)
				put32(b, 0x3c, 0x7ffffff0)
				return b
			},
		},
		{
			name: "65535-sections",
			build: func() []byte {
				b := synthPE(make([]byte, 0x200), nil)
				binary.LittleEndian.PutUint16(b[0x86:], 0xffff)
				return b
			},
		},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			data := c.build()
			cr := &countingReader{r: bytes.NewReader(data)}
			// The structural ceilings and the read budget are under test
			// here, not the clock: a generous timeout keeps a loaded CI host
			// (or Wine) from cutting the walk short. TestLimits tests the clock.
			f, err := Parse(cr, int64(len(data)), LayoutFile, Limits{Timeout: time.Minute})
			noPanic(t, err)
			if c.check == nil {
				if err == nil || !errors.Is(err, ErrNotPE) {
					t.Fatalf("Parse: %v, want ErrNotPE", err)
				}
				return
			}
			if err != nil {
				t.Fatalf("Parse: %v", err)
			}
			noPanic(t, f.ImportsErr, f.VersionErr, f.AssemblyErr)
			if read := cr.bytes.Load(); read > DefaultMaxRead {
				t.Errorf("read %d bytes, budget %d", read, DefaultMaxRead)
			}
			c.check(t, f, data)
		})
	}
}

// samePefileImphash checks got against pefile's imphash of data, when a
// Python with pefile is installed (.ci/run installs one).
func samePefileImphash(t *testing.T, data []byte, got string) {
	t.Helper()
	for _, py := range []string{"/usr/bin/python3", "python3"} {
		if exec.Command(py, "-c", "import pefile").Run() != nil {
			continue
		}
		p := filepath.Join(t.TempDir(), "x.dll")
		if err := os.WriteFile(p, data, 0o644); err != nil {
			t.Fatal(err)
		}
		if want := pefileImphash(t, p)[p]; got != want {
			t.Errorf("imphash %q, pefile %q", got, want)
		}
		return
	}
	t.Log("no python3 with pefile: imphash not cross-checked")
}

// realFixtures are the committed PE files plus, where the tools exist, the
// ones the tests build.
func realFixtures(t *testing.T) map[string][]byte {
	t.Helper()
	out := map[string][]byte{
		"imports.dll":  readFile(t, "testdata/imports.dll"),
		"assembly.dll": readFile(t, "testdata/assembly.dll"),
	}
	if _, err := os.Stat(gacSystemXML); err == nil {
		out["System.Xml.dll"] = readFile(t, gacSystemXML)
	}
	return out
}

// TestTruncatedInputs cuts real files at many lengths: every parse must
// end in values or errors, never a panic, and an identity read from a cut
// file must be the whole file's.
func TestTruncatedInputs(t *testing.T) {
	for name, data := range realFixtures(t) {
		t.Run(name, func(t *testing.T) {
			full, err := ParseBytes(data, LayoutFile, Limits{})
			if err != nil {
				t.Fatal(err)
			}
			step := max(1, len(data)/400)
			for n := 0; n < len(data); n += step {
				cut := data[:n]
				f, err := ParseBytes(cut, LayoutFile, Limits{})
				g, err2 := Parse(bytes.NewReader(cut), int64(n), LayoutFile, Limits{})
				noPanic(t, err, err2)
				if (err == nil) != (err2 == nil) {
					t.Fatalf("cut at %d: bytes source %v, reader source %v", n, err, err2)
				}
				if err != nil {
					continue
				}
				noPanic(t, f.ImportsErr, f.VersionErr, f.AssemblyErr)
				if f.Assembly != nil && (full.Assembly == nil || f.Assembly.FullName() != full.Assembly.FullName() || f.Assembly.MVID != full.Assembly.MVID) {
					t.Fatalf("cut at %d: identity %+v, whole file %+v", n, f.Assembly, full.Assembly)
				}
				if f.Imphash != "" && f.Imphash != full.Imphash {
					t.Fatalf("cut at %d: imphash %s, whole file %s", n, f.Imphash, full.Imphash)
				}
				if g.Imphash != f.Imphash || g.Version != f.Version {
					t.Fatalf("cut at %d: the two sources disagree", n)
				}
			}
		})
	}
}

// TestCorruptedInputs flips random bytes of real files (a fixed seed, so a
// failure reproduces) and parses every layout and the scanner over them.
func TestCorruptedInputs(t *testing.T) {
	rng := rand.New(rand.NewSource(1))
	for name, data := range realFixtures(t) {
		t.Run(name, func(t *testing.T) {
			for range 300 {
				b := append([]byte(nil), data...)
				for range 1 + rng.Intn(16) {
					b[rng.Intn(min(len(b), 0x4000))] = byte(rng.Intn(256))
				}
				for _, layout := range []Layout{LayoutFile, LayoutImage} {
					f, err := ParseBytes(b, layout, Limits{})
					noPanic(t, err)
					if err == nil {
						noPanic(t, f.ImportsErr, f.VersionErr, f.AssemblyErr)
					}
				}
				_, err := Scan(b, ScanLimits{})
				noPanic(t, err)
			}
		})
	}
}

// TestParseReadsOnlyWhatItNeeds parses a PE at the head of a 900 MiB
// input: only the headers, imports, resource and metadata pages are read.
func TestParseReadsOnlyWhatItNeeds(t *testing.T) {
	data := readFile(t, "testdata/assembly.dll")
	const size = 900 << 20
	cr := &countingReader{r: padReader{data}}
	f, err := Parse(cr, size, LayoutFile, Limits{})
	if err != nil {
		t.Fatal(err)
	}
	if f.Assembly == nil {
		t.Fatalf("no assembly: %v", f.AssemblyErr)
	}
	if read := cr.bytes.Load(); read > int64(len(data))+pageSize {
		t.Errorf("read %d bytes of a %d-byte PE", read, len(data))
	}
}

// padReader is data followed by zeros, as far as anyone reads.
type padReader struct{ data []byte }

func (p padReader) ReadAt(b []byte, off int64) (int, error) {
	for i := range b {
		b[i] = 0
	}
	if off < int64(len(p.data)) {
		copy(b, p.data[off:])
	}
	return len(b), nil
}

func TestLimits(t *testing.T) {
	data := readFile(t, "testdata/imports.dll")
	t.Run("read-budget", func(t *testing.T) {
		cr := &countingReader{r: bytes.NewReader(data)}
		f, err := Parse(cr, int64(len(data)), LayoutFile, Limits{MaxRead: pageSize})
		if err == nil {
			err = errors.Join(f.ImportsErr, f.VersionErr)
		}
		if !errors.Is(err, ErrLimit) {
			t.Errorf("err %v, want ErrLimit", err)
		}
		if read := cr.bytes.Load(); read > pageSize {
			t.Errorf("read %d bytes with a budget of %d", read, pageSize)
		}
	})
	t.Run("deadline", func(t *testing.T) {
		cr := &countingReader{r: bytes.NewReader(data), delay: 20 * time.Millisecond}
		f, err := Parse(cr, int64(len(data)), LayoutFile, Limits{Timeout: 30 * time.Millisecond})
		if err == nil {
			err = errors.Join(f.ImportsErr, f.VersionErr)
		}
		if !errors.Is(err, ErrLimit) {
			t.Errorf("err %v, want ErrLimit", err)
		}
	})
	t.Run("input-size", func(t *testing.T) {
		_, err := Parse(bytes.NewReader(data), 2<<30, LayoutFile, Limits{})
		if !errors.Is(err, ErrLimit) {
			t.Errorf("err %v, want ErrLimit", err)
		}
	})
	t.Run("scan-candidates", func(t *testing.T) {
		// Roots plausible enough to be parsed (each is then rejected).
		buf := bytes.Repeat([]byte("BSJB\x01\x00\x01\x00\x00\x00\x00\x00\x0c\x00\x00\x00v4.0.30319\x00\x00\x00\x00\x63\x00...."), 100)
		_, err := Scan(buf, ScanLimits{MaxCandidates: 10})
		if !errors.Is(err, ErrLimit) {
			t.Errorf("err %v, want ErrLimit", err)
		}
	})
}
