package imagefacts

import (
	"bytes"
	"os"
	"testing"
	"time"
)

// FuzzParsePE drives the wrapper the file-facts layer calls: no input may
// panic, fail with anything but a read error, or outlast the time limit by
// much (pefacts itself is fuzzed part by part; this checks the wrapper's
// mapping of its errors).
func FuzzParsePE(f *testing.F) {
	for _, p := range []string{"testdata/versioned.dll", "../../internal/pefacts/testdata/imports.dll", "../../internal/pefacts/testdata/assembly.dll"} {
		b, err := os.ReadFile(p)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b)
		f.Add(b[:len(b)/2])
	}
	f.Add([]byte("MZ"))
	f.Fuzz(func(t *testing.T, b []byte) {
		start := time.Now()
		pe, err := parsePE(bytes.NewReader(b), int64(len(b)))
		if err != nil {
			t.Fatalf("parsePE: %v (a file is a PE with facts, or not one, never an error of its own)", err)
		}
		if !pe.IsPE && pe != (PE{}) {
			t.Fatalf("facts of a non-PE: %+v", pe)
		}
		if d := time.Since(start); d > 10*time.Second {
			t.Fatalf("parse took %v", d)
		}
	})
}
