// Package textesc writes text that may not be UTF-8 (a Linux path or
// command line is any bytes) as valid UTF-8 from which the exact bytes come
// back. Every writer of modhunt's output uses it: query/shell/hunt --json,
// the text modes, and the event JSON of `events`, `detect` and the
// module_detections fields column.
//
// The escape:
//
//   - each byte of an invalid UTF-8 sequence is written \xNN (two
//     upper-case hex digits); with Controls, so are the C0 controls and DEL;
//   - a backslash is written \\ when it would otherwise be read as the start
//     of an escape: when it is followed by a backslash, by 'x', or by a byte
//     that is itself escaped;
//   - everything else is itself.
//
// So in the output every \\ is one backslash, every \xNN one byte, and any
// other backslash itself: Unescape reads it back in one pass. A value
// without bytes to escape and without such backslashes (almost every path,
// "C:\Windows", JSON text with \" or \n) comes out unchanged. Without the
// doubling, the file names c<0xff>.so and c\xFF.so (a backslash, then
// "xFF") would print the same.
//
// No escape can leave every valid string unchanged and still tell all
// invalid ones apart (a valid string is its own image, so an invalid one
// would have to map onto a string nobody else maps to): this one changes
// only valid strings holding a backslash before '\\' or 'x'.
package textesc

import (
	"strings"
	"unicode/utf8"
)

// Mode says which bytes besides invalid UTF-8 are escaped.
type Mode int

const (
	// Invalid escapes only bytes of invalid UTF-8 sequences: for JSON,
	// which has its own escapes for control characters.
	Invalid Mode = iota
	// Controls also escapes C0 controls and DEL: for a terminal.
	Controls
)

const hexDigits = "0123456789ABCDEF"

// escapedAt reports whether the character at s[i:] is written as \xNN.
func escapedAt(s string, i int, mode Mode) bool {
	r, size := utf8.DecodeRuneInString(s[i:])
	if r == utf8.RuneError && size == 1 {
		return true
	}
	return mode == Controls && (r < 0x20 || r == 0x7F)
}

// doubledAt reports whether the backslash at s[i] is written \\.
func doubledAt(s string, i int, mode Mode) bool {
	j := i + 1
	return j < len(s) && (s[j] == '\\' || s[j] == 'x' || escapedAt(s, j, mode))
}

// Needed reports whether Escape would change s.
func Needed(s string, mode Mode) bool {
	for i := 0; i < len(s); {
		if escapedAt(s, i, mode) || (s[i] == '\\' && doubledAt(s, i, mode)) {
			return true
		}
		_, size := utf8.DecodeRuneInString(s[i:])
		i += size
	}
	return false
}

// Escape returns s escaped (see the package comment); s itself when
// nothing needs escaping.
func Escape(s string, mode Mode) string {
	if !Needed(s, mode) {
		return s
	}
	return string(Append(make([]byte, 0, len(s)+8), s, mode))
}

// Append appends s escaped to dst.
func Append(dst []byte, s string, mode Mode) []byte {
	for i := 0; i < len(s); {
		switch {
		case escapedAt(s, i, mode):
			dst = append(dst, '\\', 'x', hexDigits[s[i]>>4], hexDigits[s[i]&0xF])
			i++ // an escaped character is one byte: invalid, or ASCII
		case s[i] == '\\':
			if doubledAt(s, i, mode) {
				dst = append(dst, '\\')
			}
			dst = append(dst, '\\')
			i++
		default:
			_, size := utf8.DecodeRuneInString(s[i:])
			dst = append(dst, s[i:i+size]...)
			i += size
		}
	}
	return dst
}

// Unescape gives back the bytes Escape was given, in either mode: \\ is a
// backslash, \xNN (hex, either case) the byte NN, any other backslash
// itself. It accepts any string.
func Unescape(s string) string {
	i := strings.IndexByte(s, '\\')
	if i < 0 {
		return s
	}
	b := make([]byte, 0, len(s))
	b = append(b, s[:i]...)
	for ; i < len(s); i++ {
		c := s[i]
		if c != '\\' || i+1 >= len(s) {
			b = append(b, c)
			continue
		}
		switch {
		case s[i+1] == '\\':
			b = append(b, '\\')
			i++
		case s[i+1] == 'x' && i+3 < len(s) && isHex(s[i+2]) && isHex(s[i+3]):
			b = append(b, unhex(s[i+2])<<4|unhex(s[i+3]))
			i += 3
		default:
			b = append(b, c)
		}
	}
	return string(b)
}

func isHex(c byte) bool {
	return '0' <= c && c <= '9' || 'a' <= c && c <= 'f' || 'A' <= c && c <= 'F'
}

func unhex(c byte) byte {
	switch {
	case c <= '9':
		return c - '0'
	case c >= 'a':
		return c - 'a' + 10
	}
	return c - 'A' + 10
}
