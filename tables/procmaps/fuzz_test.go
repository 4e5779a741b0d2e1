package procmaps

import (
	"bytes"
	"testing"
)

// FuzzParse checks that no line panics the parser, that an accepted line's
// Path is the verbatim tail of the input, and that Format/Parse round-trip.
func FuzzParse(f *testing.F) {
	for _, s := range []string{
		"55d9c8553000-55d9c8555000 r--p 00000000 fe:00 247026                     /usr/bin/cat",
		"7eff22faa000-7eff22fcc000 rw-p 00000000 00:00 0 ",
		"7f0000000000-7f0000001000 r-xp 00001000 103:02 1234567                   /tmp/dir with  two  spaces/lib x.so",
		"7f0000001000-7f0000002000 r--p 00000000 fd:01 42                         /tmp/gone.so (deleted)",
		"ffffffffff600000-ffffffffff601000 --xp 00000000 00:00 0                  [vsyscall]",
		"1000-2000 r-xp 0 0:0 0",
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, line []byte) {
		m, err := Parse(line)
		if err != nil {
			return
		}
		if !bytes.HasSuffix(line, m.Path) {
			t.Fatalf("path %q is not the tail of %q", m.Path, line)
		}
		if m.End < m.Start {
			t.Fatalf("accepted end %x < start %x", m.End, m.Start)
		}
		if len(m.Path) > 0 && m.Path[0] == ' ' {
			t.Fatalf("path %q keeps padding", m.Path)
		}
		again, err := Parse([]byte(Format(&m)))
		if err != nil {
			t.Fatalf("formatted line does not parse: %v", err)
		}
		if again.Start != m.Start || again.End != m.End || again.Perms != m.Perms || again.Offset != m.Offset ||
			again.Major != m.Major || again.Minor != m.Minor || again.Inode != m.Inode || !bytes.Equal(again.Path, m.Path) {
			t.Fatalf("round trip changed %+v into %+v", m, again)
		}
	})
}

// FuzzScan checks that a whole file never panics the Scanner and that every
// non-empty line is reported exactly once, good or bad.
func FuzzScan(f *testing.F) {
	f.Add([]byte("1000-2000 r-xp 0 fd:01 5 /a\ngarbage\n\n3000-4000 r--p 0 fd:01 6 /b"))
	f.Add([]byte("\n\n"))
	f.Fuzz(func(t *testing.T, data []byte) {
		want := 0
		for _, l := range bytes.Split(data, []byte("\n")) {
			if len(l) > 0 {
				want++
			}
		}
		got := 0
		s := NewScanner(data)
		for s.Scan() {
			got++
			if s.Err() == nil && !bytes.Contains(data, s.Mapping().Path) {
				t.Fatalf("line %d: path %q is not from the input", s.Line(), s.Mapping().Path)
			}
		}
		if got != want {
			t.Fatalf("scanned %d lines, want %d", got, want)
		}
	})
}

// FuzzEscapedEqual checks EscapedEqual against the kernel's escaping done
// the slow way: it accepts exactly the text maps would print for name.
func FuzzEscapedEqual(f *testing.F) {
	f.Add([]byte("/a\nb.so (deleted)"), []byte(`/a\012b.so (deleted)`))
	f.Add([]byte(`/lit\012`), []byte(`/lit\012`))
	f.Add([]byte("/x\n"), []byte(`/x\01`))
	f.Fuzz(func(t *testing.T, name, text []byte) {
		want := bytes.Equal(text, bytes.ReplaceAll(name, []byte("\n"), []byte(`\012`)))
		if got := EscapedEqual(name, text); got != want {
			t.Fatalf("EscapedEqual(%q, %q) = %v, want %v", name, text, got, want)
		}
		if !EscapedEqual(name, bytes.ReplaceAll(name, []byte("\n"), []byte(`\012`))) {
			t.Fatalf("%q does not equal its own escaped form", name)
		}
	})
}
