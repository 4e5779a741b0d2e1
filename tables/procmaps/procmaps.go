// Package procmaps parses the text of Linux /proc/PID/maps without touching
// the file system, so it builds and is tested on every OS.
//
// The kernel prints five fixed fields, pads with spaces, then the pathname
// exactly as d_path made it. Splitting on whitespace (as osquery and
// prometheus/procfs do) truncates or collapses pathnames with spaces; this
// parser splits off the first five fields only and hands back the rest of the
// line untouched: runs of spaces, bytes that are not UTF-8, and a trailing
// " (deleted)", which is only a candidate (a file may really be named so).
//
// Parsing allocates nothing: a Mapping's Device and Path alias the input.
package procmaps

import (
	"bytes"
	"errors"
	"fmt"
)

// ErrMalformed is wrapped by every ParseError so callers can test for it.
var ErrMalformed = errors.New("malformed maps line")

// ParseError names the bad line and what was wrong with it.
type ParseError struct {
	Line   int    // 1-based line number, 0 when Parse was given a lone line
	Text   string // the line, cut to MaxErrorText bytes
	Reason string
}

// MaxErrorText bounds how much of a bad line an error carries.
const MaxErrorText = 160

func (e *ParseError) Error() string {
	if e.Line > 0 {
		return fmt.Sprintf("maps line %d %q: %s", e.Line, e.Text, e.Reason)
	}
	return fmt.Sprintf("maps line %q: %s", e.Text, e.Reason)
}

func (e *ParseError) Unwrap() error { return ErrMalformed }

// Perms are a mapping's permission bits.
type Perms uint8

// Permission bits; a mapping without PermShared is private (copy on write).
const (
	PermRead Perms = 1 << iota
	PermWrite
	PermExec
	PermShared
)

var permStrings = func() (s [16]string) {
	for p := range Perms(16) {
		b := [4]byte{'-', '-', '-', 'p'}
		if p&PermRead != 0 {
			b[0] = 'r'
		}
		if p&PermWrite != 0 {
			b[1] = 'w'
		}
		if p&PermExec != 0 {
			b[2] = 'x'
		}
		if p&PermShared != 0 {
			b[3] = 's'
		}
		s[p] = string(b[:])
	}
	return s
}()

// String renders the permissions as the kernel does ("r-xp"); the strings
// are precomputed, so this does not allocate.
func (p Perms) String() string { return permStrings[p&15] }

// DeletedSuffix is what d_path appends to the name of an unlinked file.
const DeletedSuffix = " (deleted)"

// Mapping is one line of /proc/PID/maps. Device and Path alias the parsed
// line: copy them before the line's buffer is reused.
type Mapping struct {
	Start, End   uint64
	Perms        Perms
	Offset       uint64
	Major, Minor uint32
	Device       []byte // the kernel's text, hex "major:minor", e.g. "fd:01"
	Inode        uint64
	Path         []byte // verbatim; empty for anonymous memory
}

// Size is End-Start.
func (m *Mapping) Size() uint64 { return m.End - m.Start }

// DeletedCandidate reports whether Path ends with " (deleted)". The kernel
// appends that to unlinked files, but a file can also be named that way, so
// only a look at the file itself turns this into a verdict.
func (m *Mapping) DeletedCandidate() bool { return bytes.HasSuffix(m.Path, []byte(DeletedSuffix)) }

// TrimDeleted returns Path without a trailing " (deleted)".
func (m *Mapping) TrimDeleted() []byte { return bytes.TrimSuffix(m.Path, []byte(DeletedSuffix)) }

// IsFile reports whether the mapping is backed by a file with a path: the
// kernel printed a d_path, which always starts with '/'. Anonymous memory,
// [heap], [stack], [vdso], [vvar], [vsyscall], [anon:name],
// [anon_shmem:name] and the pseudo files whose names the kernel makes up
// (anon_inode:..., pipe:[...], socket:[...]) never do, whatever a process
// names its files.
//
// The inode is not looked at: inode 0 is a number a file system may give a
// file (a FUSE server chooses its own), and the first SysV segment has it.
// Nor is the name: shared anonymous memory ("/dev/zero (deleted)"), SysV
// segments ("/SYSV%08x (deleted)") and memfds ("/memfd:NAME (deleted)")
// are files of the kernel's internal shmem and hugetlbfs mounts, and a
// file anyone creates can carry the same name. Only the device tells them
// apart, and this package, which never looks at the system, cannot know
// which devices those mounts have: callers do (package inventory learns
// them from mappings of its own).
func (m *Mapping) IsFile() bool { return len(m.Path) > 0 && m.Path[0] == '/' }

// EscapedEqual reports whether text is name as maps prints it. The kernel
// escapes one byte in maps paths, the newline, as the octal "\012", and
// leaves everything else (a backslash too) as it is, so text alone cannot
// say whether "\012" was a newline or those four characters; a name read
// elsewhere (readlink of map_files) can be checked against it.
func EscapedEqual(name, text []byte) bool {
	const esc = `\012`
	for _, c := range name {
		if c == '\n' {
			if len(text) < len(esc) || string(text[:len(esc)]) != esc {
				return false
			}
			text = text[len(esc):]
			continue
		}
		if len(text) == 0 || text[0] != c {
			return false
		}
		text = text[1:]
	}
	return len(text) == 0
}

// Parse parses one line, without its newline.
func Parse(line []byte) (Mapping, error) {
	var m Mapping
	if reason := parseInto(&m, line); reason != "" {
		return Mapping{}, newError(0, line, reason)
	}
	return m, nil
}

func newError(n int, line []byte, reason string) *ParseError {
	if len(line) > MaxErrorText {
		line = line[:MaxErrorText]
	}
	return &ParseError{Line: n, Text: string(line), Reason: reason}
}

// parseInto fills m from line and returns "" or why the line is bad. Reasons
// are constants, so the good path allocates nothing.
func parseInto(m *Mapping, line []byte) string {
	i := 0
	var ok bool
	if m.Start, i, ok = hexField(line, i); !ok {
		return "bad start address"
	}
	if i >= len(line) || line[i] != '-' {
		return "expected '-' after start address"
	}
	if m.End, i, ok = hexField(line, i+1); !ok {
		return "bad end address"
	}
	if m.End < m.Start {
		return "end address below start address"
	}
	if i >= len(line) || line[i] != ' ' {
		return "expected space after address range"
	}
	i++
	if len(line)-i < 5 || line[i+4] != ' ' {
		return "permissions must be four characters"
	}
	p, okp := parsePerms(line[i : i+4])
	if !okp {
		return "bad permissions"
	}
	m.Perms = p
	i += 5
	if m.Offset, i, ok = hexField(line, i); !ok {
		return "bad offset"
	}
	if i >= len(line) || line[i] != ' ' {
		return "expected space after offset"
	}
	i++
	devStart := i
	var maj, minr uint64
	if maj, i, ok = hexField(line, i); !ok || maj > 0xffffffff {
		return "bad device major"
	}
	if i >= len(line) || line[i] != ':' {
		return "expected ':' in device"
	}
	if minr, i, ok = hexField(line, i+1); !ok || minr > 0xffffffff {
		return "bad device minor"
	}
	m.Major, m.Minor = uint32(maj), uint32(minr)
	m.Device = line[devStart:i]
	if i >= len(line) || line[i] != ' ' {
		return "expected space after device"
	}
	i++
	if m.Inode, i, ok = decField(line, i); !ok {
		return "bad inode"
	}
	switch {
	case i == len(line):
		m.Path = line[i:]
	case line[i] != ' ':
		return "expected space after inode"
	default:
		// The kernel pads to a column, then prints the name; d_path names
		// and pseudo names never start with a space, so every leading
		// space is padding and everything after is the name.
		for i < len(line) && line[i] == ' ' {
			i++
		}
		m.Path = line[i:]
	}
	return ""
}

func parsePerms(b []byte) (Perms, bool) {
	var p Perms
	for k, want := range [3]byte{'r', 'w', 'x'} {
		switch b[k] {
		case want:
			p |= 1 << k
		case '-':
		default:
			return 0, false
		}
	}
	switch b[3] {
	case 's':
		p |= PermShared
	case 'p':
	default:
		return 0, false
	}
	return p, true
}

// hexTable maps a byte to its hex value, or -1: a lookup instead of
// branches, since every line has 40-odd hex digits.
var hexTable = func() (t [256]int8) {
	for i := range t {
		t[i] = -1
	}
	for c := '0'; c <= '9'; c++ {
		t[c] = int8(c - '0')
	}
	for c := 'a'; c <= 'f'; c++ {
		t[c] = int8(c-'a') + 10
		t[c-'a'+'A'] = int8(c-'a') + 10
	}
	return t
}()

func hexVal(c byte) int { return int(hexTable[c]) }

// hexField reads hex digits from line[i:] up to the first non-digit.
func hexField(line []byte, i int) (v uint64, next int, ok bool) {
	start := i
	for ; i < len(line); i++ {
		d := hexVal(line[i])
		if d < 0 {
			break
		}
		if v>>60 != 0 {
			return 0, i, false // overflow
		}
		v = v<<4 | uint64(d)
	}
	return v, i, i > start
}

func decField(line []byte, i int) (v uint64, next int, ok bool) {
	start := i
	for ; i < len(line); i++ {
		c := line[i]
		if c < '0' || c > '9' {
			break
		}
		d := uint64(c - '0')
		if v > (^uint64(0)-d)/10 {
			return 0, i, false
		}
		v = v*10 + d
	}
	return v, i, i > start
}

// Scanner walks a whole maps file held in memory, line by line. A bad line
// is reported through Err and the walk goes on with the next one. The zero
// Scanner is empty; Reset gives it data, so one Scanner serves many files.
type Scanner struct {
	data []byte
	pos  int
	line int
	m    Mapping
	err  *ParseError
}

// NewScanner returns a Scanner over data.
func NewScanner(data []byte) *Scanner {
	s := &Scanner{}
	s.Reset(data)
	return s
}

// Reset points the Scanner at data, from its first line.
func (s *Scanner) Reset(data []byte) {
	*s = Scanner{data: data}
}

// Scan moves to the next line and reports whether there was one. Empty
// lines (a file ends with a newline) are skipped.
func (s *Scanner) Scan() bool {
	for s.pos < len(s.data) {
		rest := s.data[s.pos:]
		n := bytes.IndexByte(rest, '\n')
		var line []byte
		if n < 0 {
			line, s.pos = rest, len(s.data)
		} else {
			line, s.pos = rest[:n], s.pos+n+1
		}
		s.line++
		if len(line) == 0 {
			continue
		}
		s.err = nil
		if reason := parseInto(&s.m, line); reason != "" {
			s.m = Mapping{}
			s.err = newError(s.line, line, reason)
		}
		return true
	}
	return false
}

// Mapping is the current line's mapping; it is valid until the next Scan
// and zero when Err is not nil.
func (s *Scanner) Mapping() *Mapping { return &s.m }

// Err is the current line's error, or nil. It never stops the Scanner.
func (s *Scanner) Err() error {
	if s.err == nil {
		return nil
	}
	return s.err
}

// Line is the current line's 1-based number.
func (s *Scanner) Line() int { return s.line }

// ParseAll parses every line of data, returning the good mappings (whose
// slices alias data) and one error per bad line.
func ParseAll(data []byte) ([]Mapping, []error) {
	var ms []Mapping
	var errs []error
	s := NewScanner(data)
	for s.Scan() {
		if err := s.Err(); err != nil {
			errs = append(errs, err)
			continue
		}
		ms = append(ms, *s.Mapping())
	}
	return ms, errs
}

// Format renders m the way the kernel does (64-bit layout), so tests and
// fuzzing can round-trip lines.
func Format(m *Mapping) string {
	s := fmt.Sprintf("%08x-%08x %s %08x %s %d ", m.Start, m.End, m.Perms, m.Offset, m.Device, m.Inode)
	if len(m.Path) > 0 {
		const col = 25 + 8*6 - 1 // seq_setwidth in fs/proc/task_mmu.c
		for len(s) < col {
			s += " "
		}
		s += " " + string(m.Path)
	}
	return s
}
