package textesc

import (
	"math/rand/v2"
	"testing"
	"unicode/utf8"

	"github.com/stretchr/testify/assert"
)

func TestEscape(t *testing.T) {
	t.Parallel()
	cases := []struct {
		in, json, text string
	}{
		{"/usr/lib/libc.so.6", "/usr/lib/libc.so.6", "/usr/lib/libc.so.6"},
		// The two names the issue found printed alike.
		{"c\xff.so", `c\xFF.so`, `c\xFF.so`},
		{`c\xFF.so`, `c\\xFF.so`, `c\\xFF.so`},
		// A backslash is doubled only before '\\', 'x' or an escaped byte.
		{`C:\Windows\System32`, `C:\Windows\System32`, `C:\Windows\System32`},
		{`{"a":"q\"n\n"}`, `{"a":"q\"n\n"}`, `{"a":"q\"n\n"}`},
		{`\\server\share`, `\\\server\share`, `\\\server\share`},
		{"\\\xff", `\\\xFF`, `\\\xFF`},
		{"tab\there\\\n", "tab\there\\\n", `tab\x09here\\\x0A`},
		{`end\`, `end\`, `end\`},
		{"\x7f\u00e9\ufffd", "\x7f\u00e9\ufffd", "\\x7F\u00e9\ufffd"}, // valid U+FFFD stays
		{"\xed\xa0\x80", `\xED\xA0\x80`, `\xED\xA0\x80`},              // a UTF-8 surrogate is invalid
	}
	for _, c := range cases {
		assert.Equal(t, c.json, Escape(c.in, Invalid), "%q", c.in)
		assert.Equal(t, c.text, Escape(c.in, Controls), "%q", c.in)
		assert.Equal(t, c.in, Unescape(c.json), "%q", c.json)
		assert.Equal(t, c.in, Unescape(c.text), "%q", c.text)
		assert.Equal(t, c.in != c.json, Needed(c.in, Invalid), "%q", c.in)
	}
	assert.NotEqual(t, Escape("c\xff.so", Invalid), Escape(`c\xFF.so`, Invalid))
	// Unescape takes any string; a backslash that starts no escape is itself.
	assert.Equal(t, `\q\x4`, Unescape(`\q\x4`))
	assert.Equal(t, "\xab\xcd", Unescape(`\xab\xCD`))
}

// Every byte string comes back, in both modes, and the escape is valid
// UTF-8; strings over a small alphabet of the bytes that matter.
func TestRoundTripRandom(t *testing.T) {
	t.Parallel()
	alphabet := []byte{'\\', 'x', 'F', '0', 'a', '\n', 0x7f, 0xff, 0xc3, 0xa9, 0x80, 0}
	rng := rand.New(rand.NewPCG(1, 2))
	for range 20000 {
		b := make([]byte, rng.IntN(12))
		for i := range b {
			b[i] = alphabet[rng.IntN(len(alphabet))]
		}
		roundTrip(t, string(b))
	}
}

func FuzzRoundTrip(f *testing.F) {
	for _, s := range []string{"", `\`, `\\x`, "\\\xff", `c\xFF.so`, "c\xff.so", "\x00\\\x7f"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) { roundTrip(t, s) })
}

func roundTrip(t *testing.T, s string) {
	t.Helper()
	for _, mode := range []Mode{Invalid, Controls} {
		e := Escape(s, mode)
		if got := Unescape(e); got != s {
			t.Fatalf("mode %d: %q escaped to %q came back as %q", mode, s, e, got)
		}
		if !utf8Valid(e) {
			t.Fatalf("mode %d: %q escaped to invalid UTF-8 %q", mode, s, e)
		}
		if mode == Controls {
			for _, r := range e {
				if r < 0x20 || r == 0x7f {
					t.Fatalf("%q escaped for a terminal still holds control %U", s, r)
				}
			}
		}
	}
}

func utf8Valid(s string) bool { return utf8.ValidString(s) }
