package detections

import (
	"encoding/base64"
	"fmt"
	"net"
	"regexp"
	"strconv"
	"strings"
	"unicode"
	"unicode/utf16"
	"unicode/utf8"
)

// testOp is how one expected value is compared with an event value.
type testOp uint8

const (
	opEqual testOp = iota
	opContains
	opPrefix
	opSuffix
	opGlob   // wildcards or windash dashes: a whole-value pattern
	opRegexp // the re modifier
	opCIDR
	opGT
	opGTE
	opLT
	opLTE
	// Tests from here on look at the field as a whole, not at one value.
	opNull   // field: null (absent or null)
	opExists // field|exists: true/false
	opFieldRef
)

// valueTest is one compiled expected value.
type valueTest struct {
	op     testOp
	lit    string // lower-cased unless the matcher is cased
	glob   []seg  // opGlob: matches the whole value
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

// segKind is one piece of a Sigma string value.
type segKind uint8

const (
	segLit   segKind = iota // literal text
	segClass                // one of alts, at one position (windash)
	segOne                  // ?: one character
	segStar                 // *: any run of characters
)

// seg is one piece of a parsed Sigma string. A class's alternatives are
// prefix-free (none starts another), so at a given position at most one of
// them matches and a pattern matches without backtracking into a class.
type seg struct {
	kind segKind
	lit  string
	alts []string
}

// sigmaValue is a Sigma string value after escapes are resolved: literal
// text, wildcards, and the character classes windash puts where a flag's
// dash is. Value modifiers transform it piece by piece.
type sigmaValue []seg

// parseSigmaValue splits a Sigma string into literal text and wildcards,
// with Sigma's escaping: \* \? \\ are literal; any other backslash is literal.
func parseSigmaValue(s string) sigmaValue {
	var out sigmaValue
	var lit strings.Builder
	flush := func() {
		if lit.Len() > 0 {
			out = append(out, seg{kind: segLit, lit: lit.String()})
			lit.Reset()
		}
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case c == '\\' && i+1 < len(s) && (s[i+1] == '*' || s[i+1] == '?' || s[i+1] == '\\'):
			i++
			lit.WriteByte(s[i])
		case c == '*':
			flush()
			out = append(out, seg{kind: segStar})
		case c == '?':
			flush()
			out = append(out, seg{kind: segOne})
		default:
			lit.WriteByte(c)
		}
	}
	flush()
	return out
}

// expand lists every literal string a value without wildcards stands for,
// one per choice of each class: an encoding that mixes neighbouring bytes
// (base64) cannot keep a class in place. It refuses more than limit.
func (v sigmaValue) expand(limit int) ([]string, error) {
	out := []string{""}
	for _, s := range v {
		switch s.kind {
		case segLit:
			for i := range out {
				out[i] += s.lit
			}
		case segClass:
			if len(out)*len(s.alts) > limit {
				return nil, fmt.Errorf("the value expands to more than %d variants before base64 (each windash flag multiplies them by %d)", limit, len(s.alts))
			}
			next := make([]string, 0, len(out)*len(s.alts))
			for _, o := range out {
				for _, a := range s.alts {
					next = append(next, o+a)
				}
			}
			out = next
		default:
			return nil, fmt.Errorf("base64 of a value with wildcards (* or ?) is not defined")
		}
	}
	return out, nil
}

// mapText applies f to every literal and class alternative; wildcards stay.
func (v sigmaValue) mapText(f func(string) string) sigmaValue {
	out := make(sigmaValue, len(v))
	for i, s := range v {
		out[i] = s
		switch s.kind {
		case segLit:
			out[i].lit = f(s.lit)
		case segClass:
			alts := make([]string, len(s.alts))
			for j, a := range s.alts {
				alts[j] = f(a)
			}
			out[i].alts = alts
		}
	}
	return out
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

// maxVariants bounds the literal strings one value may expand to (windash
// before base64): past it the rule is refused, not slowed down.
const maxVariants = 1024

// transform is a value modifier. It maps one value to its variants, which
// are alternatives: any of them matching is that value matching (|all
// requires each value, not each variant).
type transform func(sigmaValue) ([]sigmaValue, error)

func literals(ss []string) []sigmaValue {
	out := make([]sigmaValue, len(ss))
	for i, s := range ss {
		out[i] = sigmaValue{{kind: segLit, lit: s}}
	}
	return out
}

var transforms = map[string]transform{
	"base64": func(v sigmaValue) ([]sigmaValue, error) {
		vars, err := v.expand(maxVariants)
		if err != nil {
			return nil, err
		}
		for i, s := range vars {
			vars[i] = base64.StdEncoding.EncodeToString([]byte(s))
		}
		return literals(vars), nil
	},
	"base64offset": func(v sigmaValue) ([]sigmaValue, error) {
		vars, err := v.expand(maxVariants)
		if err != nil {
			return nil, err
		}
		var out []string
		for _, s := range vars {
			out = append(out, base64Offsets(s)...)
		}
		return literals(out), nil
	},
	"utf16le": encoding(func(s string) string { return encodeUTF16(s, false) }),
	"wide":    encoding(func(s string) string { return encodeUTF16(s, false) }),
	"utf16be": encoding(func(s string) string { return encodeUTF16(s, true) }),
	"utf16": func(v sigmaValue) ([]sigmaValue, error) {
		// The byte order mark goes once in front of the whole value.
		out := append(sigmaValue{{kind: segLit, lit: "\xff\xfe"}}, v.mapText(func(s string) string { return encodeUTF16(s, false) })...)
		return []sigmaValue{out}, nil
	},
	"windash": func(v sigmaValue) ([]sigmaValue, error) { return []sigmaValue{windash(v)}, nil },
}

func encoding(f func(string) string) transform {
	return func(v sigmaValue) ([]sigmaValue, error) { return []sigmaValue{v.mapText(f)}, nil }
}

// base64Offsets is pySigma's base64offset: the value encoded after 0, 1 and
// 2 bytes of padding, cut to the characters that do not depend on what comes
// before or after it. A one-character value leaves one variant empty, which
// (as a contains) matches any value: such a short value cannot be told apart
// inside base64.
func base64Offsets(s string) []string {
	start := [3]int{0, 2, 3}
	end := [3]int{0, 3, 2}
	out := make([]string, 0, 3)
	for i := range 3 {
		enc := base64.StdEncoding.EncodeToString([]byte(strings.Repeat(" ", i) + s))
		cut := end[(len(s)+i)%3]
		if len(enc)-cut < start[i] {
			out = append(out, "")
			continue
		}
		out = append(out, enc[start[i]:len(enc)-cut])
	}
	return out
}

func encodeUTF16(s string, bigEndian bool) string {
	u := utf16.Encode([]rune(s))
	var b strings.Builder
	for _, x := range u {
		if bigEndian {
			b.WriteByte(byte(x >> 8))
			b.WriteByte(byte(x))
		} else {
			b.WriteByte(byte(x))
			b.WriteByte(byte(x >> 8))
		}
	}
	return b.String()
}

// windashChars are the characters the Sigma specification's windash
// modifier makes interchangeable: "-", "/", en dash, em dash, horizontal bar.
var windashChars = []string{"-", "/", "\u2013", "\u2014", "\u2015"}

func isWindash(r rune) bool {
	return r == '-' || r == '/' || r == '\u2013' || r == '\u2014' || r == '\u2015'
}

// isWordRune is Python's \w for str patterns (pySigma finds flags with
// the regular expression \B[-/]\b).
func isWordRune(r rune) bool {
	return r == '_' || unicode.IsLetter(r) || unicode.IsNumber(r)
}

// windash puts a class of every dash character at each flag: a dash that
// does not follow a word character and comes before one (pySigma's
// \B[-/]\b, within each literal piece). Every flag of the value gets its
// class, and the value stays one pattern: five characters at each of n
// positions, not 5^n strings.
func windash(v sigmaValue) sigmaValue {
	var out sigmaValue
	for _, s := range v {
		if s.kind != segLit {
			out = append(out, s)
			continue
		}
		text, start := s.lit, 0
		prev := rune(-1)
		for i, r := range text {
			if isWindash(r) && (prev < 0 || !isWordRune(prev)) {
				next, _ := utf8.DecodeRuneInString(text[i+utf8.RuneLen(r):])
				if i+utf8.RuneLen(r) < len(text) && isWordRune(next) {
					if i > start {
						out = append(out, seg{kind: segLit, lit: text[start:i]})
					}
					out = append(out, seg{kind: segClass, alts: windashChars})
					start = i + utf8.RuneLen(r)
				}
			}
			prev = r
		}
		if start < len(text) {
			out = append(out, seg{kind: segLit, lit: text[start:]})
		}
	}
	return out
}

// lowerText lower-cases text rune by rune and keeps bytes that are not
// UTF-8 as they are (strings.ToLower would turn them into U+FFFD, and an
// encoded value such as UTF-16 is not UTF-8).
func lowerText(s string) string {
	ascii := true
	for i := 0; i < len(s); i++ {
		if s[i] >= utf8.RuneSelf {
			ascii = false
			break
		}
	}
	if ascii {
		return strings.ToLower(s)
	}
	var b strings.Builder
	b.Grow(len(s))
	for i := 0; i < len(s); {
		r, n := utf8.DecodeRuneInString(s[i:])
		if r == utf8.RuneError && n == 1 {
			b.WriteByte(s[i])
		} else {
			b.WriteRune(unicode.ToLower(r))
		}
		i += n
	}
	return b.String()
}

// withComparator puts the wildcards of contains, startswith or endswith
// around a value, as pySigma does: "*" where the value does not already
// have one.
func (v sigmaValue) withComparator(cmp string) sigmaValue {
	star := seg{kind: segStar}
	out := v
	if (cmp == "contains" || cmp == "endswith") && (len(out) == 0 || out[0].kind != segStar) {
		out = append(sigmaValue{star}, out...)
	}
	if (cmp == "contains" || cmp == "startswith") && (len(out) == 0 || out[len(out)-1].kind != segStar) {
		out = append(out[:len(out):len(out)], star)
	}
	return out
}

// compileText builds the test for one Sigma string value that must match
// a whole event value. The common shapes (text, text*, *text, *text*) get
// the literal tests, which the value index can look up; the rest is a
// pattern.
func compileText(v sigmaValue, cased bool) valueTest {
	if !cased {
		v = v.mapText(lowerText)
	}
	g := make([]seg, 0, len(v))
	for _, s := range v {
		n := len(g)
		switch {
		case s.kind == segLit && s.lit == "":
			continue
		case s.kind == segLit && n > 0 && g[n-1].kind == segLit:
			g[n-1].lit += s.lit
			continue
		case s.kind == segStar && n > 0 && g[n-1].kind == segStar:
			continue
		}
		g = append(g, s)
	}
	star := func(i int) bool { return i >= 0 && i < len(g) && g[i].kind == segStar }
	lit := func(i int) bool { return i >= 0 && i < len(g) && g[i].kind == segLit }
	switch {
	case len(g) == 0:
		return valueTest{op: opEqual}
	case len(g) == 1 && lit(0):
		return valueTest{op: opEqual, lit: g[0].lit}
	case len(g) == 1 && star(0):
		return valueTest{op: opContains}
	case len(g) == 2 && lit(0) && star(1):
		return valueTest{op: opPrefix, lit: g[0].lit}
	case len(g) == 2 && star(0) && lit(1):
		return valueTest{op: opSuffix, lit: g[1].lit}
	case len(g) == 3 && star(0) && lit(1) && star(2):
		return valueTest{op: opContains, lit: g[1].lit}
	}
	return valueTest{op: opGlob, glob: g}
}

// matchGlob reports whether the pattern matches all of v. Every piece but
// "*" matches at most one way at a given position, so the leftmost match of
// each run between stars is the one to take, and going back to the last
// star is the only backtracking needed.
func matchGlob(g []seg, v string) bool {
	ti, vi := 0, 0
	starT, starV := -1, 0
	for {
		if ti < len(g) {
			s := &g[ti]
			if s.kind == segStar {
				if ti == len(g)-1 {
					return true
				}
				starT, starV = ti, vi
				ti++
				continue
			}
			if n, ok := s.matchAt(v[vi:]); ok {
				ti++
				vi += n
				continue
			}
		} else if vi == len(v) {
			return true
		}
		if starT < 0 || starV >= len(v) {
			return false
		}
		_, n := utf8.DecodeRuneInString(v[starV:])
		starV += n
		ti, vi = starT+1, starV
	}
}

// matchAt says whether the piece matches at the start of v, and its length.
func (s *seg) matchAt(v string) (int, bool) {
	switch s.kind {
	case segLit:
		return len(s.lit), strings.HasPrefix(v, s.lit)
	case segOne:
		if v == "" {
			return 0, false
		}
		_, n := utf8.DecodeRuneInString(v)
		return n, true
	case segClass:
		for _, a := range s.alts {
			if strings.HasPrefix(v, a) {
				return len(a), true
			}
		}
	}
	return 0, false
}

// compileTest builds the test for one value under a comparator that does
// not take Sigma's wildcards: re, cidr, the numeric ones, exists, fieldref.
func compileTest(cmp string, value string, reFlags string) (valueTest, error) {
	switch cmp {
	case "re":
		re, err := compilePCRE(value, reFlags)
		if err != nil {
			return valueTest{}, err
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
	case opGlob:
		return matchGlob(t.glob, v)
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
