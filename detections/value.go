package detections

import (
	"encoding/base64"
	"fmt"
	"net"
	"regexp"
	"strconv"
	"strings"
	"unicode/utf16"
)

// testOp is how one expected value is compared with an event value.
type testOp uint8

const (
	opEqual testOp = iota
	opContains
	opPrefix
	opSuffix
	opRegexp // wildcards, or the re modifier
	opCIDR
	opGT
	opGTE
	opLT
	opLTE
	opNull   // field: null (absent or empty)
	opExists // field|exists: true/false
	opFieldRef
)

// valueTest is one compiled expected value.
type valueTest struct {
	op     testOp
	lit    string // lower-cased unless the matcher is cased
	re     *regexp.Regexp
	cidr   *net.IPNet
	num    float64
	exists bool
	ref    fieldRef
}

// fieldRef names an event field: a known one by index, or an Extra key.
type fieldRef struct {
	idx   int // -1: Extra
	extra string
}

// sigmaString splits a Sigma value into literal text and wildcards, with
// Sigma's escaping: \* \? \\ are literal; any other backslash is literal.
// It returns the unescaped literal when the value has no wildcard.
func sigmaString(s string) (literal string, pattern string, wild bool) {
	var lit, pat strings.Builder
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case c == '\\' && i+1 < len(s) && (s[i+1] == '*' || s[i+1] == '?' || s[i+1] == '\\'):
			i++
			lit.WriteByte(s[i])
			pat.WriteString(regexp.QuoteMeta(s[i : i+1]))
		case c == '*':
			wild = true
			pat.WriteString(".*")
		case c == '?':
			wild = true
			pat.WriteString(".")
		default:
			lit.WriteByte(c)
			pat.WriteString(regexp.QuoteMeta(s[i : i+1]))
		}
	}
	return lit.String(), pat.String(), wild
}

// scalarString renders a YAML scalar as Sigma compares it.
func scalarString(v any) (string, error) {
	switch x := v.(type) {
	case string:
		return x, nil
	case int:
		return strconv.Itoa(x), nil
	case int64:
		return strconv.FormatInt(x, 10), nil
	case uint64:
		return strconv.FormatUint(x, 10), nil
	case float64:
		return strconv.FormatFloat(x, 'f', -1, 64), nil
	case bool:
		return strconv.FormatBool(x), nil
	default:
		return "", fmt.Errorf("value %v (%T) is not a scalar", v, v)
	}
}

// transform is a value modifier: it maps one expected value to one or more.
type transform func(string) []string

func one(f func(string) string) transform {
	return func(s string) []string { return []string{f(s)} }
}

var transforms = map[string]transform{
	"base64": one(func(s string) string { return base64.StdEncoding.EncodeToString([]byte(s)) }),
	"base64offset": func(s string) []string {
		// Same three shifted encodings as pySigma, so the value is found at
		// any byte offset inside a larger encoded blob.
		start := [3]int{0, 2, 3}
		end := [3]int{0, 3, 2}
		out := make([]string, 0, 3)
		for i := range 3 {
			enc := base64.StdEncoding.EncodeToString([]byte(strings.Repeat(" ", i) + s))
			cut := end[(len(s)+i)%3]
			if len(enc)-cut < start[i] {
				continue
			}
			out = append(out, enc[start[i]:len(enc)-cut])
		}
		return out
	},
	"utf16le": one(func(s string) string { return encodeUTF16(s, false, false) }),
	"wide":    one(func(s string) string { return encodeUTF16(s, false, false) }),
	"utf16be": one(func(s string) string { return encodeUTF16(s, true, false) }),
	"utf16":   one(func(s string) string { return encodeUTF16(s, false, true) }),
	"windash": windash,
}

func encodeUTF16(s string, bigEndian, bom bool) string {
	u := utf16.Encode([]rune(s))
	var b strings.Builder
	put := func(x uint16) {
		if bigEndian {
			b.WriteByte(byte(x >> 8))
			b.WriteByte(byte(x))
		} else {
			b.WriteByte(byte(x))
			b.WriteByte(byte(x >> 8))
		}
	}
	if bom {
		put(0xFEFF)
	}
	for _, x := range u {
		put(x)
	}
	return b.String()
}

// windashChars are the characters Windows command-line parsers accept where
// a flag's "-" is written (pySigma's list).
var windashChars = []string{"-", "/", "\u2013", "\u2014", "\u2015"}

const windashLimit = 4 // flags per value expanded; 5^4 variants at most

// windash expands every "-" or "/" that starts a word into each dash variant.
func windash(s string) []string {
	var at []int
	for i := 0; i < len(s); i++ {
		if (s[i] == '-' || s[i] == '/') && (i == 0 || !isWordByte(s[i-1])) && i+1 < len(s) && isWordByte(s[i+1]) {
			at = append(at, i)
		}
	}
	if len(at) > windashLimit {
		at = at[:windashLimit]
	}
	out := []string{""}
	prev := 0
	for _, i := range at {
		next := make([]string, 0, len(out)*len(windashChars))
		for _, o := range out {
			for _, d := range windashChars {
				next = append(next, o+s[prev:i]+d)
			}
		}
		out = next
		prev = i + 1
	}
	for j := range out {
		out[j] += s[prev:]
	}
	return out
}

func isWordByte(c byte) bool {
	return c == '_' || c >= '0' && c <= '9' || c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z'
}

// compileTest builds the test for one expected value under a comparator
// modifier ("" is plain equality).
func compileTest(cmp string, value string, cased bool, reFlags string) (valueTest, error) {
	switch cmp {
	case "", "contains", "startswith", "endswith":
		lit, pat, wild := sigmaString(value)
		if wild {
			switch cmp {
			case "":
				pat = "^" + pat + "$"
			case "startswith":
				pat = "^" + pat
			case "endswith":
				pat += "$"
			}
			flags := "(?s)"
			if !cased {
				flags = "(?is)"
			}
			re, err := regexp.Compile(flags + pat)
			if err != nil {
				return valueTest{}, fmt.Errorf("wildcard value %q: %w", value, err)
			}
			return valueTest{op: opRegexp, re: re}, nil
		}
		if !cased {
			lit = strings.ToLower(lit)
		}
		op := map[string]testOp{"": opEqual, "contains": opContains, "startswith": opPrefix, "endswith": opSuffix}[cmp]
		return valueTest{op: op, lit: lit}, nil
	case "re":
		flags := ""
		if reFlags != "" {
			flags = "(?" + reFlags + ")"
		}
		re, err := regexp.Compile(flags + value)
		if err != nil {
			return valueTest{}, fmt.Errorf("regular expression %q: %w", value, err)
		}
		return valueTest{op: opRegexp, re: re}, nil
	case "cidr":
		_, n, err := net.ParseCIDR(value)
		if err != nil {
			return valueTest{}, fmt.Errorf("cidr %q: %w", value, err)
		}
		return valueTest{op: opCIDR, cidr: n}, nil
	case "gt", "gte", "lt", "lte":
		n, err := strconv.ParseFloat(strings.TrimSpace(value), 64)
		if err != nil {
			return valueTest{}, fmt.Errorf("%s needs a number, got %q", cmp, value)
		}
		op := map[string]testOp{"gt": opGT, "gte": opGTE, "lt": opLT, "lte": opLTE}[cmp]
		return valueTest{op: op, num: n}, nil
	case "exists":
		b, err := strconv.ParseBool(value)
		if err != nil {
			return valueTest{}, fmt.Errorf("exists needs true or false, got %q", value)
		}
		return valueTest{op: opExists, exists: b}, nil
	case "fieldref":
		ref := fieldRef{idx: -1, extra: value}
		if i, ok := lookupField(value); ok {
			ref = fieldRef{idx: i}
		}
		return valueTest{op: opFieldRef, ref: ref}, nil
	}
	return valueTest{}, fmt.Errorf("unsupported modifier %q", cmp)
}

// matches compares one event value (raw, and lower-cased) with the test.
func (t *valueTest) matches(raw, lower string, cased bool) bool {
	v := lower
	if cased {
		v = raw
	}
	switch t.op {
	case opEqual:
		return v == t.lit
	case opContains:
		return strings.Contains(v, t.lit)
	case opPrefix:
		return strings.HasPrefix(v, t.lit)
	case opSuffix:
		return strings.HasSuffix(v, t.lit)
	case opRegexp:
		return t.re.MatchString(raw)
	case opCIDR:
		ip := net.ParseIP(strings.TrimSpace(raw))
		return ip != nil && t.cidr.Contains(ip)
	case opGT, opGTE, opLT, opLTE:
		n, err := strconv.ParseFloat(strings.TrimSpace(raw), 64)
		if err != nil {
			return false
		}
		switch t.op {
		case opGT:
			return n > t.num
		case opGTE:
			return n >= t.num
		case opLT:
			return n < t.num
		default:
			return n <= t.num
		}
	}
	return false
}
