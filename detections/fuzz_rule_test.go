package detections

import (
	"regexp"
	"strconv"
	"strings"
	"testing"
	"unicode/utf8"
)

// ruleGen turns fuzz bytes into a structurally valid Sigma rule: every
// choice the grammar offers (fields, modifier chains, values, value lists,
// nested conditions) is one byte of input, so the fuzzer explores rules
// rather than YAML syntax errors. Past the end of the input every choice
// is 0.
type ruleGen struct {
	b []byte
	i int
}

func (g *ruleGen) n(k int) int {
	if g.i >= len(g.b) {
		return 0
	}
	v := int(g.b[g.i])
	g.i++
	return v % k
}

func (g *ruleGen) pick(xs ...string) string { return xs[g.n(len(xs))] }

var (
	genFields = []string{"Image", "ImageLoaded", "CommandLine", "ParentProcessId", "ProcessId", "Signed",
		"ProcessModules", "UntrustedReasons", "Deleted", "RuleName", "Description", "imageloaded", "DestinationIp"}
	genModifiers = []string{"contains", "startswith", "endswith", "all", "windash", "base64", "base64offset",
		"wide", "utf16le", "utf16be", "utf16", "re", "i", "m", "s", "cidr", "exists", "lt", "lte", "gt", "gte",
		"neq", "cased", "fieldref", "expand", "dotall", "bogus"}
	genValues = []string{"''", "'*'", "'?'", "'a'", "'\\*'", "'\\\\'", "'\\\\*'", "' -foo'", "'/bar'",
		"'C:\\x\\y.dll'", "'\u2013x'", "null", "0", "4", "-1", "1.5", "true", "false", "'10.0.0.0/8'",
		"'::1/128'", "'^a$'", "'(?=x)'", "'a\\Z'", "'[\\s]'", "'\u00e9'", "'a*b?c'", "'\\y.dll'", "'x -a -b -c -d -e'",
		"'ntdll.dll'", "'(?m)^a'", "'a++'", "'*\\'", "'Image'", "''''"}
	genNames    = []string{"selection", "sel_a", "sel_b_x", "filter_main", "_hidden", "sel1_x", "x"}
	genPatterns = []string{"them", "sel*", "*_x", "sel_*_x", "*", "_*", "nomatch*", "sel1_*", "selection"}
)

// value is one YAML value: a scalar, sometimes a random one from the input.
func (g *ruleGen) value() string {
	if g.n(6) == 0 {
		// Raw text from the input, single-quoted for YAML.
		n := g.n(8)
		var b strings.Builder
		for range n {
			c := byte(g.n(95) + 32)
			b.WriteByte(c)
		}
		return "'" + strings.ReplaceAll(b.String(), "'", "''") + "'"
	}
	return g.pick(genValues...)
}

// valueFor is a value of the kind a comparator reads, or any value.
func (g *ruleGen) valueFor(cmp string) string {
	if g.n(6) == 0 {
		return g.value()
	}
	switch cmp {
	case "re":
		return g.pick("'a$'", "'^C:\\\\'", "'\\s\\d+'", "'(?i)x|y'", "'[^a-z]'", "'.*'", "'\\.dll\\Z'", "'(a)(b)?'", "'\\v\\h'")
	case "cidr":
		return g.pick("'10.0.0.0/8'", "'::1/128'", "'fe80::/10'", "'10.1.0.0/16'", "'bad'")
	case "lt", "lte", "gt", "gte":
		return g.pick("0", "4", "-1", "1.5", "'7'")
	case "exists":
		return g.pick("true", "false")
	case "fieldref":
		return g.pick(genFields...)
	}
	return g.value()
}

func (g *ruleGen) fieldLine(indent string) string {
	key := g.pick(genFields...)
	cmp := ""
	if g.n(8) == 0 {
		for range g.n(5) {
			key += "|" + g.pick(genModifiers...)
		}
	} else {
		for range g.n(4) / 2 {
			key += "|" + g.pick("windash", "base64", "base64offset", "wide", "utf16le", "utf16be", "utf16")
		}
		cmp = g.pick("", "", "contains", "startswith", "endswith", "re", "cidr", "lt", "lte", "gt", "gte", "exists", "fieldref")
		if cmp != "" {
			key += "|" + cmp
		}
		if cmp == "re" {
			for range g.n(3) {
				key += "|" + g.pick("i", "m", "s")
			}
		}
		for _, m := range []string{"all", "neq", "cased"} {
			if g.n(3) == 0 {
				key += "|" + m
			}
		}
	}
	switch g.n(3) {
	case 0:
		return indent + key + ": " + g.valueFor(cmp) + "\n"
	case 1:
		n := g.n(6)
		if n == 0 && g.n(4) != 0 {
			n = 4 // long enough for the value index
		}
		vals := make([]string, n)
		for i := range vals {
			vals[i] = g.valueFor(cmp)
		}
		return indent + key + ": [" + strings.Join(vals, ", ") + "]\n"
	default:
		var b strings.Builder
		b.WriteString(indent + key + ":\n")
		for range 1 + g.n(5) {
			b.WriteString(indent + "  - " + g.valueFor(cmp) + "\n")
		}
		return b.String()
	}
}

func (g *ruleGen) search(name string) string {
	var b strings.Builder
	b.WriteString("  " + name + ":\n")
	if g.n(4) == 0 {
		for range 1 + g.n(2) {
			for j := range 1 + g.n(3) {
				prefix := "      "
				if j == 0 {
					prefix = "    - "
				}
				line := g.fieldLine("")
				b.WriteString(prefix + strings.ReplaceAll(strings.TrimSuffix(line, "\n"), "\n", "\n      ") + "\n")
			}
		}
		return b.String()
	}
	for range 1 + g.n(3) {
		b.WriteString(g.fieldLine("    "))
	}
	return b.String()
}

func (g *ruleGen) cond(names []string, depth int) string {
	k := g.n(8)
	if depth > 2 {
		k %= 3
	}
	switch k {
	case 0, 1:
		return names[g.n(len(names))]
	case 2:
		return g.pick("1", "all", "any") + " of " + g.pick(genPatterns...)
	case 3:
		return "not " + g.cond(names, depth+1)
	case 4:
		return "(" + g.cond(names, depth+1) + ")"
	case 5:
		return g.cond(names, depth+1) + " and " + g.cond(names, depth+1)
	case 6:
		return g.cond(names, depth+1) + " or " + g.cond(names, depth+1)
	default:
		return g.cond(names, depth+1) + g.pick(" AND ", " or not ", " and not ") + g.cond(names, depth+1)
	}
}

// rule returns the rule's detection block and its condition.
func (g *ruleGen) rule() (searches, cond string) {
	var b strings.Builder
	var names []string
	used := map[string]bool{}
	for range 1 + g.n(4) {
		name := g.pick(genNames...)
		if used[name] {
			continue
		}
		used[name] = true
		names = append(names, name)
		b.WriteString(g.search(name))
	}
	return b.String(), g.cond(names, 0)
}

// fuzzEvents are events with fields present, absent, null and empty.
func fuzzEvents() []Event {
	var out []Event
	for _, js := range []string{
		`{"Image": "C:\\x\\rundll32.exe", "ImageLoaded": "C:\\x\\y.dll", "CommandLine": "x /foo \u2013bar -a -b -c -d -e", "ProcessId": 4, "ParentProcessId": 0, "ProcessModules": ["ntdll.dll", "a"], "RuleName": "", "DestinationIp": "10.1.2.3"}`,
		`{"Event": {"System": {"EventID": 7}, "EventData": {"Image": "", "Description": null, "Signed": "true", "RuleName": null}}}`,
		`{"Image": "a", "ImageLoaded": "", "CommandLine": "aGVsbG8= IAB", "ProcessModules": [], "Deleted": true, "Description": "\u00e9", "DestinationIp": "::1"}`,
		`{"Platform": "windows"}`,
	} {
		_, _ = ReadEvents(strings.NewReader(js), "fuzz", PlatformWindows, func(_ int, ev *Event) error {
			out = append(out, *ev)
			return nil
		})
	}
	return append(out, Event{Platform: PlatformWindows, Image: `C:\a.exe`, CommandLine: "a\nb\n", ProcessModules: []string{"x"}})
}

// FuzzLoadRule loads rules generated from the Sigma grammar. A rule either
// compiles or is skipped with a reason, never a panic; a compiled rule
// evaluates on events with present, absent, null and empty fields; and the
// rule with its condition negated compiles too and matches exactly the
// events the rule does not.
func FuzzLoadRule(f *testing.F) {
	for _, seed := range [][]byte{
		{}, {1, 2, 3, 4, 5, 6, 7, 8, 9}, []byte("\x00\x01\x02\x03\x00\x04\x05"),
		[]byte("windash contains all"), []byte("\x03\x01\x02\x03\x02\x01\x00\x00\x1b\x05\x1b\x0b\x00\x00"),
	} {
		f.Add(seed)
	}
	events := fuzzEvents()
	f.Fuzz(func(t *testing.T, data []byte) {
		g := &ruleGen{b: data}
		searches, cond := g.rule()
		src := ruleYAML("windows", searches+"  condition: "+cond+"\n")
		c, err := parseRule([]byte(src), "fuzz")
		if err != nil {
			if err.Error() == "" {
				t.Fatalf("skip without a reason:\n%s", src)
			}
			if strings.Contains(err.Error(), "internal error") {
				t.Fatalf("%v\n%s", err, src)
			}
			return
		}
		neg, err := parseRule([]byte(ruleYAML("windows", searches+"  condition: not ("+cond+")\n")), "fuzz")
		if err != nil {
			t.Fatalf("the negated rule does not load: %v\n%s", err, src)
		}
		e := &Engine{byPlatform: map[string][]*compiled{}}
		e.keep(c)
		en := &Engine{byPlatform: map[string][]*compiled{}}
		en.keep(neg)
		for i := range events {
			if len(e.Match(&events[i])) == len(en.Match(&events[i])) {
				t.Fatalf("the rule and its negation agree on event %d:\n%s", i, src)
			}
		}
	})
}

// FuzzGlob checks the wildcard matcher against Go's regexp on the same
// pattern: "*" is .*, "?" is one character, a class is an alternation.
func FuzzGlob(f *testing.F) {
	f.Add("a*b?c", "aXXbYc")
	f.Add("* -k *", "svchost /k x")
	f.Add("**?*", "\u00e9")
	f.Add("-a-b", "/a-b")
	f.Fuzz(func(t *testing.T, pattern, subject string) {
		if !utf8.ValidString(pattern) || !utf8.ValidString(subject) || len(pattern) > 64 {
			return
		}
		v := windash(parseSigmaValue(pattern))
		var re strings.Builder
		re.WriteString("^(?s:")
		for _, s := range v {
			switch s.kind {
			case segLit:
				re.WriteString(regexp.QuoteMeta(s.lit))
			case segStar:
				re.WriteString(".*")
			case segOne:
				re.WriteString(".")
			case segClass:
				alts := make([]string, len(s.alts))
				for i, a := range s.alts {
					alts[i] = regexp.QuoteMeta(a)
				}
				re.WriteString("(?:" + strings.Join(alts, "|") + ")")
			}
		}
		re.WriteString(")$")
		want := regexp.MustCompile(re.String()).MatchString(subject)
		for _, cmp := range []string{"", "contains", "startswith", "endswith"} {
			tst := compileText(v.withComparator(cmp), true)
			got := tst.matches(subject, subject, true)
			w := want
			switch cmp {
			case "contains":
				w = regexp.MustCompile(strings.TrimSuffix(strings.TrimPrefix(re.String(), "^"), "$")).MatchString(subject)
			case "startswith":
				w = regexp.MustCompile(strings.TrimSuffix(re.String(), "$")).MatchString(subject)
			case "endswith":
				w = regexp.MustCompile(strings.TrimPrefix(re.String(), "^")).MatchString(subject)
			}
			if got != w {
				t.Fatalf("%s %q on %q: glob %v, regexp %v (%s)", cmp, pattern, subject, got, w, strconv.Quote(re.String()))
			}
		}
	})
}
