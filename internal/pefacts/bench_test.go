package pefacts

import (
	"bytes"
	"os"
	"testing"
	"time"
)

// BenchmarkParseFile is the cost of one file's facts through an *os.File,
// as the file-facts layer pays it on a cache miss.
func BenchmarkParseFile(b *testing.B) {
	files := map[string]string{
		"native-dll": "testdata/imports.dll",
		"assembly":   "testdata/assembly.dll",
	}
	if _, err := os.Stat(gacSystemXML); err == nil {
		files["system-xml-1.2MB"] = gacSystemXML
	}
	for name, p := range files {
		b.Run(name, func(b *testing.B) {
			f, err := os.Open(p)
			if err != nil {
				b.Fatal(err)
			}
			defer f.Close()
			st, _ := f.Stat()
			b.ReportAllocs()
			for b.Loop() {
				if _, err := Parse(f, st.Size(), LayoutFile, Limits{}); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// scanBuffer is 36 MiB of memory-like noise (the anonymous memory of a
// typical Mono host) holding three assemblies.
func scanBuffer(b *testing.B) []byte {
	asm := readFile(b, "testdata/assembly.dll")
	buf := noise(36<<20, 42)
	copy(buf[5<<20+3:], asm)
	copy(buf[17<<20+4096:], mapImage(b, asm))
	copy(buf[30<<20+77:], metadataOf(b, asm))
	return buf
}

// indexAll is the baseline: find every "BSJB" and nothing more.
func indexAll(buf []byte) int {
	n := 0
	for i := 0; ; {
		j := bytes.Index(buf[i:], sigBSJB)
		if j < 0 {
			return n
		}
		n++
		i += j + 1
	}
}

// BenchmarkScan measures the scanner over 36 MiB against a bare
// bytes.Index("BSJB") pass over the same buffer. Each iteration times both,
// back to back, so a busy machine slows both alike: x-index is the ratio
// of their total times, scan-MB/s and index-MB/s their throughputs.
func BenchmarkScan(b *testing.B) {
	buf := scanBuffer(b)
	var idx, scan time.Duration
	b.ReportAllocs()
	for b.Loop() {
		t0 := time.Now()
		indexAll(buf)
		t1 := time.Now()
		found, err := Scan(buf, ScanLimits{})
		scan += time.Since(t1)
		idx += t1.Sub(t0)
		if err != nil || len(found) != 3 {
			b.Fatalf("found %d, err %v", len(found), err)
		}
	}
	mb := float64(len(buf)) * float64(b.N) / (1 << 20)
	b.ReportMetric(mb/scan.Seconds(), "scan-MB/s")
	b.ReportMetric(mb/idx.Seconds(), "index-MB/s")
	b.ReportMetric(float64(scan)/float64(idx), "x-index")
}
