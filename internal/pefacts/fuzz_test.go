package pefacts

import (
	"bytes"
	"errors"
	"testing"
)

// FuzzParse drives every entry point over the same bytes: both layouts
// through both sources (in-memory and paged reader), a bare metadata root
// at the first "BSJB", and the scanner. No input may panic (a recovered
// panic shows as a "parser panic" error), the two sources must agree, and
// whatever the scanner reports must lie inside the input.
//
// The seed corpus in testdata/fuzz/FuzzParse holds a native DLL with
// imports and a version resource, a signed assembly and its bare metadata
// root; the image layout of the assembly is added here.
func FuzzParse(f *testing.F) {
	f.Add(readFile(f, "testdata/imports.dll"))
	f.Add(mapImage(f, readFile(f, "testdata/assembly.dll")))
	f.Fuzz(func(t *testing.T, data []byte) {
		lim := Limits{MaxRead: 1 << 20}
		for _, layout := range []Layout{LayoutFile, LayoutImage} {
			a, errA := ParseBytes(data, layout, lim)
			b, errB := Parse(bytes.NewReader(data), int64(len(data)), layout, lim)
			noPanic(t, errA, errB)
			if (errA == nil) != (errB == nil) {
				t.Fatalf("%v: bytes source %v, reader source %v", layout, errA, errB)
			}
			if errA != nil {
				continue
			}
			noPanic(t, a.ImportsErr, a.VersionErr, a.AssemblyErr, b.ImportsErr, b.VersionErr, b.AssemblyErr)
			if a.Machine != b.Machine || a.IsDLL != b.IsDLL || a.IsDotNet != b.IsDotNet {
				t.Fatalf("%v: headers differ between sources", layout)
			}
			// The in-memory source charges every look at a byte, the reader
			// source each page once, so only a part that stayed within both
			// budgets has to agree.
			if !limited(a.ImportsErr, b.ImportsErr) && a.Imphash != b.Imphash {
				t.Fatalf("%v: imphash %q vs %q", layout, a.Imphash, b.Imphash)
			}
			if !limited(a.VersionErr, b.VersionErr) && a.Version != b.Version {
				t.Fatalf("%v: version %+v vs %+v", layout, a.Version, b.Version)
			}
			if !limited(a.AssemblyErr, b.AssemblyErr) && (a.Assembly == nil) != (b.Assembly == nil) {
				t.Fatalf("%v: assembly %v vs %v", layout, a.AssemblyErr, b.AssemblyErr)
			}
		}
		if i := bytes.Index(data, sigBSJB); i >= 0 {
			_, err := ReadMetadata(bytes.NewReader(data), int64(len(data)), int64(i), lim)
			noPanic(t, err)
		}
		found, err := Scan(data, ScanLimits{MaxCandidates: 64})
		noPanic(t, err)
		for _, fd := range found {
			if fd.Offset < 0 || fd.Offset+fd.Size > int64(len(data)) || fd.MetadataOffset < fd.Offset || fd.MetadataOffset >= int64(len(data)) {
				t.Fatalf("found %+v outside %d bytes", fd, len(data))
			}
		}
	})
}

func limited(errs ...error) bool {
	for _, err := range errs {
		if errors.Is(err, ErrLimit) {
			return true
		}
	}
	return false
}
