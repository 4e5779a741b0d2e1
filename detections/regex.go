package detections

import (
	"errors"
	"fmt"
	"regexp"
	"regexp/syntax"
	"strconv"
	"strings"
	"unicode/utf8"
)

// Sigma's |re names PCRE ("The supported flavor is PCRE", Sigma modifiers
// appendix). Go's regexp is RE2, which reads most PCRE patterns the same
// way but not all. compilePCRE translates what it can so that a pattern
// matches exactly where PCRE would, and refuses the rest with the construct
// named: a rule never matches differently without saying so.
//
// Translated:
//   - `$` and `\Z` outside multiline mode also match before a final newline
//     in PCRE; RE2's `$` is only the end. They become `\n?\z` where nothing
//     follows them in the pattern, and are refused anywhere else.
//   - `\s` and `\S` include the vertical tab in PCRE, not in RE2.
//   - `\v`/`\V` and `\h`/`\H` are vertical and horizontal white space in
//     PCRE; in RE2 `\v` is the vertical tab character and `\h` is an error.
//   - `\N` (not a newline), `\e`, `\cX`, `\0nn`, `\o{..}`, `\x` without
//     digits, `\Q..\E` inside a class, `\b` (backspace) inside a class,
//     `(?#...)` comments, `(?|` branch resets, `(?'name'..)` groups, the
//     flags n and J (they change capture numbering and names only).
//
// Refused: lookarounds, atomic groups, possessive quantifiers,
// backreferences, recursion and subroutine calls, conditionals, callouts,
// verbs, \R, \G, \K, \X, \C, the x (extended) flag, `{,n}` and quantifiers
// with spaces (PCRE versions read them differently), a multiline `^` that
// could match at the very end (PCRE never matches it after a final
// newline; RE2 does), and anything RE2 itself cannot parse.
func compilePCRE(pattern, flags string) (*regexp.Regexp, error) {
	tr, err := translatePCRE(pattern)
	if err != nil {
		return nil, fmt.Errorf("regular expression %q: %w", pattern, err)
	}
	if flags != "" {
		tr = "(?" + flags + ")" + tr
	}
	tree, err := syntax.Parse(tr, syntax.Perl)
	if err != nil {
		var se *syntax.Error
		if errors.As(err, &se) {
			return nil, fmt.Errorf("regular expression %q: %s: `%s`", pattern, se.Code, se.Expr)
		}
		return nil, fmt.Errorf("regular expression %q: %w", pattern, err)
	}
	if err := fixAnchors(tree, 0, true); err != nil {
		return nil, fmt.Errorf("regular expression %q: %w", pattern, err)
	}
	re, err := regexp.Compile(tree.String())
	if err != nil {
		return nil, fmt.Errorf("regular expression %q: %w", pattern, err)
	}
	return re, nil
}

// fixAnchors rewrites PCRE's non-multiline `$` (RE2 parses it as EndText
// marked WasDollar) into `\n?\z`, which is exact only where nothing follows
// it (final), and checks that a multiline `^` is followed by at least one
// character (followMin), so it cannot be asked to match after a final
// newline at the very end, where PCRE and RE2 disagree.
func fixAnchors(re *syntax.Regexp, followMin int, final bool) error {
	switch re.Op {
	case syntax.OpEndText:
		if re.Flags&syntax.WasDollar == 0 {
			return nil
		}
		if !final {
			return errors.New("`$` (or `\\Z`) with more pattern after it: PCRE lets it match before a final newline, and Go's RE2 cannot do the same there")
		}
		nl := &syntax.Regexp{Op: syntax.OpLiteral, Rune: []rune{'\n'}}
		*re = syntax.Regexp{Op: syntax.OpConcat, Sub: []*syntax.Regexp{
			{Op: syntax.OpQuest, Sub: []*syntax.Regexp{nl}},
			{Op: syntax.OpEndText},
		}}
	case syntax.OpBeginLine:
		if followMin < 1 {
			return errors.New("multiline `^` that can match at the very end: PCRE does not match it after a final newline, Go's RE2 does")
		}
	case syntax.OpConcat:
		for i, sub := range re.Sub {
			after := followMin
			for _, s := range re.Sub[i+1:] {
				after += minLen(s)
			}
			if err := fixAnchors(sub, after, final && i == len(re.Sub)-1); err != nil {
				return err
			}
		}
	case syntax.OpAlternate, syntax.OpCapture, syntax.OpQuest:
		for _, sub := range re.Sub {
			if err := fixAnchors(sub, followMin, final); err != nil {
				return err
			}
		}
	case syntax.OpStar, syntax.OpPlus, syntax.OpRepeat:
		// After one pass through the body comes another pass or the rest.
		once := re.Op == syntax.OpRepeat && re.Max == 1
		after := followMin
		if !once {
			after = min(followMin, minLen(re.Sub[0]))
		}
		if err := fixAnchors(re.Sub[0], after, final && once); err != nil {
			return err
		}
	}
	return nil
}

// minLen is the fewest characters re can match.
func minLen(re *syntax.Regexp) int {
	switch re.Op {
	case syntax.OpLiteral:
		return len(re.Rune)
	case syntax.OpCharClass, syntax.OpAnyChar, syntax.OpAnyCharNotNL, syntax.OpNoMatch:
		return 1
	case syntax.OpCapture, syntax.OpPlus:
		return minLen(re.Sub[0])
	case syntax.OpRepeat:
		return re.Min * minLen(re.Sub[0])
	case syntax.OpConcat:
		n := 0
		for _, s := range re.Sub {
			n += minLen(s)
		}
		return n
	case syntax.OpAlternate:
		n := -1
		for _, s := range re.Sub {
			if m := minLen(s); n < 0 || m < n {
				n = m
			}
		}
		return max(n, 0)
	}
	return 0
}

// PCRE2's white space sets, as ranges.
var (
	pcreSpace  = [][2]rune{{'\t', '\r'}, {' ', ' '}}
	pcreHSpace = [][2]rune{{'\t', '\t'}, {' ', ' '}, {0xa0, 0xa0}, {0x1680, 0x1680}, {0x180e, 0x180e},
		{0x2000, 0x200a}, {0x202f, 0x202f}, {0x205f, 0x205f}, {0x3000, 0x3000}}
	pcreVSpace = [][2]rune{{'\n', '\r'}, {0x85, 0x85}, {0x2028, 0x2029}}
)

// classBody renders ranges (or their complement) for inside a [...] class.
func classBody(set [][2]rune, negate bool) string {
	if negate {
		var c [][2]rune
		next := rune(0)
		for _, r := range set {
			if r[0] > next {
				c = append(c, [2]rune{next, r[0] - 1})
			}
			next = r[1] + 1
		}
		if next <= utf8.MaxRune {
			c = append(c, [2]rune{next, utf8.MaxRune})
		}
		set = c
	}
	var b strings.Builder
	for _, r := range set {
		fmt.Fprintf(&b, `\x{%x}`, r[0])
		if r[1] != r[0] {
			fmt.Fprintf(&b, `-\x{%x}`, r[1])
		}
	}
	return b.String()
}

var (
	quantStrict = regexp.MustCompile(`^\{\d+(,\d*)?\}`)
	quantLoose  = regexp.MustCompile(`^\{[\d\s,]*\}`)
)

// translatePCRE rewrites a PCRE pattern into RE2 syntax with the same
// meaning, or says which construct it cannot carry over.
func translatePCRE(p string) (string, error) {
	if !utf8.ValidString(p) {
		return "", errors.New("the pattern is not UTF-8")
	}
	var b strings.Builder
	for i := 0; i < len(p); {
		c := p[i]
		switch c {
		case '\\':
			out, n, err := pcreEscape(p[i:], false)
			if err != nil {
				return "", err
			}
			b.WriteString(out)
			i += n
		case '[':
			out, n, err := pcreClass(p[i:])
			if err != nil {
				return "", err
			}
			b.WriteString(out)
			i += n
		case '(':
			out, n, err := pcreGroup(p[i:])
			if err != nil {
				return "", err
			}
			b.WriteString(out)
			i += n
		case '*', '+', '?':
			b.WriteByte(c)
			i++
			if err := pcreQuantSuffix(p, &i, &b); err != nil {
				return "", err
			}
		case '{':
			if m := quantStrict.FindString(p[i:]); m != "" {
				b.WriteString(m)
				i += len(m)
				if err := pcreQuantSuffix(p, &i, &b); err != nil {
					return "", err
				}
				continue
			}
			if m := quantLoose.FindString(p[i:]); m != "" && strings.ContainsAny(m, "0123456789") {
				return "", fmt.Errorf("quantifier `%s`: PCRE versions read it differently (a repeat or literal text)", m)
			}
			b.WriteString(`\{`)
			i++
		default:
			_, n := utf8.DecodeRuneInString(p[i:])
			b.WriteString(p[i : i+n])
			i += n
		}
	}
	return b.String(), nil
}

// pcreQuantSuffix copies a lazy `?` after a quantifier and refuses a
// possessive `+`.
func pcreQuantSuffix(p string, i *int, b *strings.Builder) error {
	if *i < len(p) && p[*i] == '+' {
		return errors.New("possessive quantifier (`*+`, `++`, `?+`, `{n}+`): Go's RE2 has none")
	}
	if *i < len(p) && p[*i] == '?' {
		b.WriteByte('?')
		*i++
	}
	return nil
}

// pcreGroup translates what follows an opening parenthesis.
func pcreGroup(p string) (string, int, error) {
	if strings.HasPrefix(p, "(*") {
		return "", 0, errors.New("PCRE verb `(*...)`: not supported")
	}
	if !strings.HasPrefix(p, "(?") {
		return "(", 1, nil
	}
	rest := p[2:]
	switch {
	case strings.HasPrefix(rest, "#"):
		end := strings.IndexByte(rest, ')')
		if end < 0 {
			return "", 0, errors.New("unterminated comment `(?#`")
		}
		return "", 2 + end + 1, nil
	case strings.HasPrefix(rest, ":"):
		return "(?:", 3, nil
	case strings.HasPrefix(rest, "|"):
		return "(?:", 3, nil
	case strings.HasPrefix(rest, "=") || strings.HasPrefix(rest, "!") ||
		strings.HasPrefix(rest, "<=") || strings.HasPrefix(rest, "<!"):
		return "", 0, fmt.Errorf("lookaround `(?%s`: Go's RE2 has none", rest[:min(len(rest), 2)])
	case strings.HasPrefix(rest, ">"):
		return "", 0, errors.New("atomic group `(?>`: Go's RE2 has none")
	case strings.HasPrefix(rest, "P<") || strings.HasPrefix(rest, "<"):
		return "(?P<", 2 + strings.IndexByte(rest, '<') + 1, nil
	case strings.HasPrefix(rest, "'"):
		end := strings.IndexByte(rest[1:], '\'')
		if end < 0 {
			return "", 0, errors.New("unterminated group name `(?'`")
		}
		return "(?P<" + rest[1:1+end] + ">", 2 + 1 + end + 1, nil
	case strings.HasPrefix(rest, "P=") || strings.HasPrefix(rest, "P>") || strings.HasPrefix(rest, "&") ||
		strings.HasPrefix(rest, "R") || len(rest) > 0 && (rest[0] >= '0' && rest[0] <= '9' || rest[0] == '+') ||
		len(rest) > 1 && rest[0] == '-' && rest[1] >= '0' && rest[1] <= '9':
		return "", 0, fmt.Errorf("backreference, recursion or subroutine call `(?%s`: Go's RE2 has none", rest[:min(len(rest), 2)])
	case strings.HasPrefix(rest, "("):
		return "", 0, errors.New("conditional group `(?(`: Go's RE2 has none")
	case strings.HasPrefix(rest, "C"):
		return "", 0, errors.New("callout `(?C`: not supported")
	}
	// Inline flags: (?flags) or (?flags:...).
	j := 0
	for j < len(rest) && strings.IndexByte("imsxnUJ-^", rest[j]) >= 0 {
		j++
	}
	if j == len(rest) || rest[j] != ')' && rest[j] != ':' {
		return "", 0, fmt.Errorf("unknown group `(?%s`", rest[:min(len(rest), j+1)])
	}
	var keep strings.Builder
	for _, f := range rest[:j] {
		switch f {
		case 'x':
			return "", 0, errors.New("extended mode (flag x): not supported")
		case '^':
			return "", 0, errors.New("flag reset `(?^`: not supported")
		case 'n', 'J':
			// No automatic captures, duplicate names: captures only.
		default:
			keep.WriteRune(f)
		}
	}
	flags := strings.TrimSuffix(keep.String(), "-")
	if rest[j] == ':' {
		return "(?" + flags + ":", 2 + j + 1, nil
	}
	if flags == "" {
		return "", 2 + j + 1, nil
	}
	return "(?" + flags + ")", 2 + j + 1, nil
}

// pcreEscape translates the escape at the start of p (inside a class when
// inClass), returning the RE2 text and the bytes read.
func pcreEscape(p string, inClass bool) (string, int, error) {
	if len(p) < 2 {
		return "", 0, errors.New("the pattern ends with a backslash")
	}
	c := p[1]
	set := func(s [][2]rune, neg bool) string {
		if inClass {
			return classBody(s, neg)
		}
		if neg {
			return "[^" + classBody(s, false) + "]"
		}
		return "[" + classBody(s, false) + "]"
	}
	switch c {
	case 'd', 'D', 'w', 'W', 'n', 'r', 't', 'f', 'a':
		return p[:2], 2, nil
	case 'A', 'z', 'b', 'B':
		if inClass {
			if c == 'b' {
				return `\x08`, 2, nil
			}
			return "", 0, fmt.Errorf("`\\%c` inside a character class", c)
		}
		return p[:2], 2, nil
	case 'Z':
		if inClass {
			return "", 0, errors.New("`\\Z` inside a character class")
		}
		return "(?-m:$)", 2, nil
	case 's', 'S':
		return set(pcreSpace, c == 'S'), 2, nil
	case 'h', 'H':
		return set(pcreHSpace, c == 'H'), 2, nil
	case 'v', 'V':
		return set(pcreVSpace, c == 'V'), 2, nil
	case 'e':
		return `\x1b`, 2, nil
	case 'N':
		if inClass || strings.HasPrefix(p[2:], "{") {
			return "", 0, errors.New("`\\N` here is not supported")
		}
		return `[^\n]`, 2, nil
	case 'x':
		if strings.HasPrefix(p[2:], "{") {
			end := strings.IndexByte(p, '}')
			if end < 0 {
				return "", 0, errors.New("unterminated `\\x{`")
			}
			return p[:end+1], end + 1, nil
		}
		n := 2
		for n < len(p) && n < 4 && isHex(p[n]) {
			n++
		}
		v, _ := strconv.ParseUint("0"+p[2:n], 16, 32)
		return fmt.Sprintf(`\x{%x}`, v), n, nil
	case 'o':
		end := strings.IndexByte(p, '}')
		if !strings.HasPrefix(p[2:], "{") || end < 0 {
			return "", 0, errors.New("malformed `\\o{...}`")
		}
		v, err := strconv.ParseUint(p[3:end], 8, 32)
		if err != nil || v > utf8.MaxRune {
			return "", 0, fmt.Errorf("malformed `%s`", p[:end+1])
		}
		return fmt.Sprintf(`\x{%x}`, v), end + 1, nil
	case '0':
		n := 2
		for n < len(p) && n < 4 && p[n] >= '0' && p[n] <= '7' {
			n++
		}
		v, _ := strconv.ParseUint("0"+p[2:n], 8, 32)
		return fmt.Sprintf(`\x{%x}`, v), n, nil
	case '1', '2', '3', '4', '5', '6', '7', '8', '9', 'g', 'k':
		return "", 0, fmt.Errorf("backreference `\\%c`: Go's RE2 has none", c)
	case 'c':
		if len(p) < 3 || p[2] >= utf8.RuneSelf {
			return "", 0, errors.New("malformed `\\c`")
		}
		x := p[2]
		if 'a' <= x && x <= 'z' {
			x -= 'a' - 'A'
		}
		return fmt.Sprintf(`\x{%x}`, x^0x40), 3, nil
	case 'p', 'P':
		if strings.HasPrefix(p[2:], "{") {
			end := strings.IndexByte(p, '}')
			if end < 0 {
				return "", 0, errors.New("unterminated `\\p{`")
			}
			return p[:end+1], end + 1, nil
		}
		if len(p) < 3 {
			return "", 0, errors.New("malformed `\\p`")
		}
		return p[:3], 3, nil
	case 'Q':
		body := p[2:]
		end := strings.Index(body, `\E`)
		n := len(p)
		if end >= 0 {
			body, n = body[:end], 2+end+2
		}
		if !inClass {
			return regexp.QuoteMeta(body), n, nil
		}
		var b strings.Builder
		for _, r := range body {
			b.WriteString(classLiteral(r))
		}
		return b.String(), n, nil
	case 'E':
		return "", 2, nil
	case 'R', 'G', 'K', 'X', 'C':
		return "", 0, fmt.Errorf("`\\%c`: not supported", c)
	}
	if c < utf8.RuneSelf {
		if isAlnum(c) {
			return "", 0, fmt.Errorf("unknown escape `\\%c`", c)
		}
		return p[:2], 2, nil
	}
	// An escaped non-ASCII character stands for itself.
	r, n := utf8.DecodeRuneInString(p[1:])
	if inClass {
		return classLiteral(r), 1 + n, nil
	}
	return regexp.QuoteMeta(string(r)), 1 + n, nil
}

// pcreClass translates a [...] class at the start of p.
func pcreClass(p string) (string, int, error) {
	var b strings.Builder
	b.WriteByte('[')
	i := 1
	if i < len(p) && p[i] == '^' {
		b.WriteByte('^')
		i++
	}
	if i < len(p) && p[i] == ']' {
		// A "]" first is literal in PCRE.
		b.WriteString(`\]`)
		i++
	}
	shorthand := false // the last item was a set: a "-" after it is literal
	for i < len(p) {
		c := p[i]
		switch {
		case c == ']':
			b.WriteByte(']')
			return b.String(), i + 1, nil
		case c == '[':
			if m := posixClass.FindString(p[i:]); m != "" {
				b.WriteString(m)
				i += len(m)
				shorthand = true
				continue
			}
			b.WriteString(`\[`)
			i++
		case c == '\\':
			out, n, err := pcreEscape(p[i:], true)
			if err != nil {
				return "", 0, err
			}
			b.WriteString(out)
			i += n
			shorthand = n == 2 && strings.IndexByte("dDwWsShHvV", p[i-1]) >= 0 || p[i-n+1] == 'p' || p[i-n+1] == 'P'
			continue
		case c == '-' && shorthand:
			b.WriteString(`\-`)
			i++
		default:
			_, n := utf8.DecodeRuneInString(p[i:])
			b.WriteString(p[i : i+n])
			i += n
		}
		shorthand = false
	}
	return "", 0, errors.New("unterminated character class `[`")
}

var posixClass = regexp.MustCompile(`^\[:\^?[a-z]+:\]`)

// classLiteral writes one character for inside a [...] class.
func classLiteral(r rune) string {
	if r < utf8.RuneSelf && !isAlnum(byte(r)) {
		return `\` + string(r)
	}
	return string(r)
}

func isHex(c byte) bool {
	return '0' <= c && c <= '9' || 'a' <= c && c <= 'f' || 'A' <= c && c <= 'F'
}

func isAlnum(c byte) bool {
	return '0' <= c && c <= '9' || 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z'
}
