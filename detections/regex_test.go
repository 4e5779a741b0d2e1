package detections

import (
	"bufio"
	"encoding/hex"
	"fmt"
	"os/exec"
	"regexp"
	"runtime"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// perlScript matches each line's pattern against its subject with Perl,
// whose regular expressions PCRE follows. /a keeps \d, \s and \w to ASCII,
// as PCRE does without its UCP option; \h, \v and case folding stay
// Unicode, as in PCRE's UTF mode. Lines: flags TAB hex(pattern) TAB
// hex(subject); answers: 1, 0, or E (Perl refused the pattern).
const perlScript = `
while (my $line = <STDIN>) {
	chomp $line;
	my ($flags, $ph, $sh) = split /\t/, $line, -1;
	my $p = pack('H*', $ph); utf8::decode($p);
	my $s = pack('H*', $sh); utf8::decode($s);
	my $re = eval { qr/(?$flags:$p)/a };
	if (!defined $re) { print "E\n"; next }
	print(($s =~ $re) ? "1\n" : "0\n");
}
`

// perlPath finds Perl, the PCRE reference. The Linux CI host has it
// (.ci/run installs it); the Windows suites run under Wine, which has none,
// and the translation they would check is the same code on every OS.
func perlPath(t *testing.T) string {
	t.Helper()
	if runtime.GOOS == "windows" {
		t.Skip("Perl, the PCRE reference, is on the Linux CI host only; the regex translation is OS-independent")
	}
	perl, err := exec.LookPath("perl")
	require.NoError(t, err, "perl is the PCRE reference of this test (.ci/run installs it)")
	return perl
}

// TestRegexAgreesWithPerl runs |re patterns whose RE2 reading differs from
// PCRE's (and some that do not) through the engine and through Perl, and
// wants the same answer for every subject.
func TestRegexAgreesWithPerl(t *testing.T) {
	t.Parallel()
	perl := perlPath(t)

	patterns := []string{
		`a$`, `^a$`, `a\Z`, `a$|b$`, `(a$)`, `(?:a|b)$`, `a\n?$`, `a\n$`, `^$`, `(a|b$)`, `(a$)?`, `a\z`,
		`\s`, `\S`, `a\sb`, `[\s]`, `[^\s]`, `[\S]`, `[\s\S]`, `[\s,]`, `[a\S]`, `[\s-x]`,
		`\v`, `\V`, `[\v]`, `\h`, `\H`, `[\h]`, `[^\h\v]`,
		`\N`, `a\N*b`, `\e`, `\cA`, `\x41`, `\x{41}`, `\x{e9}`, `\o{101}`, `\012`, `\0`,
		`(?#comment)a`, `(?|a|b)c`, `(?'n'a)b`, `(?<n>a)b`, `(?P<n>a)b`,
		`(?i)A$`, `(?m)a$`, `(?m)^a`, `(?m)^\w+$`, `(?s)a.b`, `a.b`, `(?i:x)Y`,
		`[]a]`, `[^]a]`, `[a\]]`, `[[:digit:]]+`, `[[:^alpha:]]`, `[\b]`,
		`a{2}`, `a{2,}`, `a{1,2}?`, `x{`, `a{x}`, `\bfoo\b`, `\Bfoo`, `\d+$`, `\w+\.dll$`,
		`\\`, `\.`, `\/`, `é$`, `(?i)é`, `^C:\\Windows\\.*\.dll$`, `(?n)(a)b`,
	}
	subjects := []string{
		"", "a", "a\n", "a\n\n", "\na", "ab\nc", "A", "b\n", "x a\x0bb", "a b", "a\tb", "a\x0b", "\xc2\xa0",
		"\u2028", "\u3000", "a\r\n", "a\x1bb", "\x01", "A\n", "é", "É\n", "a]b", "]", "a-b", "x-",
		"aab", "a.b$", "a.b", "a\nb", "aXb", "foo bar", "xfoo", "123\n", "12a", "x.dll\n", "C:\\Windows\\x.dll\n",
		"\\", ".", "/", "x{", "a{x}", "\x08", "\t", "Y", "xY", "x\nY", "ac", "bc", "a\nb\nc\n",
	}
	sigmaFlags := []string{"", "i", "m", "s"}

	type tc struct{ flags, pattern, subject string }
	var cases []tc
	var in strings.Builder
	for _, p := range patterns {
		for _, f := range sigmaFlags {
			for _, s := range subjects {
				cases = append(cases, tc{f, p, s})
				fmt.Fprintf(&in, "%s\t%s\t%s\n", f, hex.EncodeToString([]byte(p)), hex.EncodeToString([]byte(s)))
			}
		}
	}
	cmd := exec.Command(perl, "-e", perlScript)
	cmd.Stdin = strings.NewReader(in.String())
	out, err := cmd.Output()
	require.NoError(t, err)
	answers := bufio.NewScanner(strings.NewReader(string(out)))
	// Where PCRE and RE2 cannot be made to agree the engine refuses the
	// pattern: here only a multiline ^ with nothing after it.
	wantRefused := map[string]bool{"m ^$": true}
	compiled := map[string]*regexp.Regexp{}
	compared := 0
	for _, c := range cases {
		require.True(t, answers.Scan(), "perl answered fewer lines than asked")
		want := answers.Text()
		require.NotEqual(t, "E", want, "perl refused %q", c.pattern)
		key := c.flags + " " + c.pattern
		re, seen := compiled[key]
		if !seen {
			var err error
			re, err = compilePCRE(c.pattern, c.flags)
			if wantRefused[key] {
				assert.Error(t, err, "pattern %q flags %q", c.pattern, c.flags)
			} else {
				assert.NoError(t, err, "pattern %q flags %q", c.pattern, c.flags)
			}
			compiled[key] = re
		}
		if re == nil {
			continue
		}
		got := "0"
		if re.MatchString(c.subject) {
			got = "1"
		}
		assert.Equal(t, want, got, "pattern %q flags %q subject %q (RE2 form %s)", c.pattern, c.flags, c.subject, re)
		compared++
	}
	t.Logf("%d pattern/subject pairs agree with Perl", compared)
}

// A refused pattern is one Perl (PCRE) accepts: the engine refuses it
// because RE2 would read it differently, not because it is broken.
func TestRegexRefusedPatternsAreValidPCRE(t *testing.T) {
	t.Parallel()
	perl := perlPath(t)
	refused := []string{`foo(?=bar)`, `(?<!x)foo`, `(a)\1`, `a++`, `(?>a|ab)c`, `a$b`, `a$\n`, `(?m)^`, `(?m)^a*`, `a\Rb`, `\Gfoo`, `(?(1)a|b)`, `(a)(?1)`}
	var in strings.Builder
	for _, p := range refused {
		fmt.Fprintf(&in, "\t%s\t%s\n", hex.EncodeToString([]byte(p)), hex.EncodeToString([]byte("a")))
	}
	cmd := exec.Command(perl, "-e", perlScript)
	cmd.Stdin = strings.NewReader(in.String())
	out, err := cmd.Output()
	require.NoError(t, err)
	lines := strings.Split(strings.TrimSpace(string(out)), "\n")
	require.Len(t, lines, len(refused))
	for i, p := range refused {
		assert.NotEqual(t, "E", lines[i], "perl should accept %q", p)
		_, err := compilePCRE(p, "")
		assert.Error(t, err, "%q should be refused", p)
	}
}

// \Q...\E quoting is PCRE syntax that Perl handles in string interpolation
// rather than in its regex engine, so it is checked here against the PCRE
// documentation: "characters between \Q and \E are treated literally".
func TestRegexQuoted(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		pattern string
		match   []string
		nomatch []string
	}{
		{`\Qa.b$\E`, []string{"a.b$", "xa.b$y"}, []string{"aXb", "a.b"}},
		{`x\Q(*)`, []string{"x(*)"}, []string{"x"}},
		{`[\Q]\E]`, []string{"]"}, []string{"a"}},
		{`[\Q^-\E]`, []string{"^", "-"}, []string{"a"}},
		{`a\Eb`, []string{"ab"}, []string{"a"}},
	} {
		re, err := compilePCRE(tc.pattern, "")
		require.NoError(t, err, tc.pattern)
		for _, s := range tc.match {
			assert.True(t, re.MatchString(s), "%q should match %q", tc.pattern, s)
		}
		for _, s := range tc.nomatch {
			assert.False(t, re.MatchString(s), "%q should not match %q", tc.pattern, s)
		}
	}
}
