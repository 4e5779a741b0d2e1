package detections

import (
	"encoding/base64"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// Tests of the engine against the Sigma specification
// (SigmaHQ/sigma-specification, sigma-rules-specification.md and
// sigma-appendix-modifiers.md), one group per rule of the specification.

// recorded decodes one recorded event (JSON), as `detect` reads it.
func recorded(t *testing.T, js string) Event {
	t.Helper()
	var out []Event
	_, err := ReadEvents(strings.NewReader(js), "event", PlatformWindows, func(_ int, ev *Event) error {
		out = append(out, *ev)
		return nil
	})
	require.NoError(t, err)
	require.Len(t, out, 1)
	return out[0]
}

type specCase struct {
	name      string
	detection string
	match     []string // recorded events (JSON)
	nomatch   []string
}

func runSpecCases(t *testing.T, cases []specCase) {
	t.Helper()
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			e := mustCompile(t, ruleYAML("windows", tc.detection))
			for _, js := range tc.match {
				ev := recorded(t, js)
				assert.Len(t, e.Match(&ev), 1, "should match %s", js)
			}
			for _, js := range tc.nomatch {
				ev := recorded(t, js)
				assert.Empty(t, e.Match(&ev), "should not match %s", js)
			}
		})
	}
}

// Item: a list of startswith/endswith values long enough to be indexed,
// with an empty value first, crashed the loader (slice bounds out of range).
// An empty prefix or suffix matches any value the field has.
func TestEmptyAffixInLongLists(t *testing.T) {
	t.Parallel()
	b64 := base64.StdEncoding.EncodeToString
	runSpecCases(t, []specCase{
		{
			name:      "endswith with an empty value first",
			detection: "  sel:\n    ImageLoaded|endswith: ['', '\\aaa.dll', '\\bbb.dll', '\\ccc.dll']\n  condition: sel\n",
			match:     []string{`{"ImageLoaded": "C:\\x\\other.dll"}`, `{"ImageLoaded": "C:\\x\\bbb.dll"}`, `{"ImageLoaded": ""}`},
			nomatch:   []string{`{"Image": "C:\\x.exe"}`},
		},
		{
			name:      "startswith with an empty value in the middle",
			detection: "  sel:\n    ImageLoaded|startswith: ['C:\\Windows\\', '', 'D:\\', 'E:\\', 'F:\\']\n  condition: sel\n",
			match:     []string{`{"ImageLoaded": "Z:\\x.dll"}`},
			nomatch:   []string{`{"Image": "C:\\x.exe"}`},
		},
		{
			name:      "long list without empty values stays exact",
			detection: "  sel:\n    ImageLoaded|endswith: ['\\aaa.dll', '\\bb.dll', '\\ccc.dll', '\\dddd.dll', 'e']\n  condition: sel\n",
			match:     []string{`{"ImageLoaded": "C:\\x\\BB.dll"}`, `{"ImageLoaded": "C:\\x\\fe"}`},
			nomatch:   []string{`{"ImageLoaded": "C:\\x\\b.dll"}`, `{"ImageLoaded": "C:\\x\\ccc.dl"}`},
		},
		{
			// One-character values leave base64offset an empty variant.
			name:      "base64offset startswith of one-character values",
			detection: "  sel:\n    CommandLine|base64offset|startswith: ['a', 'b']\n  condition: sel\n",
			match:     []string{`{"CommandLine": "` + b64([]byte("zzz")) + `"}`},
			nomatch:   []string{`{"Image": "x"}`},
		},
	})
}

// The belt under the fixes: a panic while reading a rule becomes that
// rule's skip reason.
func TestRuleReaderRecoversPanic(t *testing.T) {
	t.Parallel()
	read := func() (c *compiled, err error) {
		defer recoverRule(&c, &err)
		var idx []int
		_ = idx[len(idx)-1] // what the index bug did
		return &compiled{}, nil
	}
	c, err := read()
	assert.Nil(t, c)
	require.Error(t, err)
	assert.Contains(t, err.Error(), "internal error reading the rule")
	assert.Contains(t, err.Error(), "index out of range")
}

// Item: with |all each value must match, through any of its variants
// (windash, base64offset, utf16): "all" links the values, not the variants.
func TestAllLinksValuesNotVariants(t *testing.T) {
	t.Parallel()
	b64 := base64.StdEncoding.EncodeToString
	wide := func(s string) []byte { return []byte(encodeUTF16(s, false)) }
	runSpecCases(t, []specCase{
		{
			name:      "windash contains all",
			detection: "  sel:\n    CommandLine|windash|contains|all: [' -foo', ' -bar']\n  condition: sel\n",
			match: []string{`{"CommandLine": "x -foo -bar"}`, `{"CommandLine": "x /bar \u2013foo"}`,
				`{"CommandLine": "x \u2014foo \u2015bar"}`},
			nomatch: []string{`{"CommandLine": "x -foo"}`, `{"CommandLine": "x foo bar"}`, `{"CommandLine": "x +foo +bar"}`},
		},
		{
			name:      "all on a single windash value",
			detection: "  sel:\n    CommandLine|windash|contains|all: ' -foo'\n  condition: sel\n",
			match:     []string{`{"CommandLine": "x /foo"}`},
			nomatch:   []string{`{"CommandLine": "x foo"}`},
		},
		{
			name:      "base64offset contains all",
			detection: "  sel:\n    CommandLine|base64offset|contains|all: ['Invoke-Mimikatz', 'DumpCreds']\n  condition: sel\n",
			match: []string{
				`{"CommandLine": "powershell -enc ` + b64([]byte("IEX; Invoke-Mimikatz -DumpCreds")) + `"}`,
				`{"CommandLine": "powershell -enc ` + b64([]byte("x DumpCreds Invoke-Mimikatz")) + `"}`,
			},
			nomatch: []string{`{"CommandLine": "powershell -enc ` + b64([]byte("IEX; Invoke-Mimikatz")) + `"}`},
		},
		{
			name:      "wide base64offset contains all",
			detection: "  sel:\n    CommandLine|wide|base64offset|contains|all: ['ping', 'whoami']\n  condition: sel\n",
			match:     []string{`{"CommandLine": "powershell -enc ` + b64(wide("ping x; whoami")) + `"}`},
			nomatch:   []string{`{"CommandLine": "powershell -enc ` + b64(wide("ping x")) + `"}`},
		},
		{
			name:      "cidr all",
			detection: "  sel:\n    DestinationIp|cidr|all: ['10.0.0.0/8', '10.1.0.0/16']\n  condition: sel\n",
			match:     []string{`{"DestinationIp": "10.1.2.3"}`},
			nomatch:   []string{`{"DestinationIp": "10.2.0.1"}`, `{"Image": "x"}`},
		},
	})
}

// Item: windash makes every flag of a value interchangeable, not only the
// first four, and all five characters the specification lists.
func TestWindashEveryFlag(t *testing.T) {
	t.Parallel()
	runSpecCases(t, []specCase{
		{
			name:      "six flags",
			detection: "  sel:\n    CommandLine|windash|contains: ' -a -b -c -d -e -f'\n  condition: sel\n",
			match:     []string{`{"CommandLine": "x /a \u2013b \u2014c \u2015d -e /f"}`, `{"CommandLine": "x -a -b -c -d -e /f"}`},
			nomatch:   []string{`{"CommandLine": "x -a -b -c -d -e +f"}`},
		},
		{
			// Only a dash that starts a word is a flag (pySigma's \B[-/]\b).
			name:      "a dash inside a word is kept",
			detection: "  sel:\n    CommandLine|windash|contains: ' -param-name'\n  condition: sel\n",
			match:     []string{`{"CommandLine": "x /param-name"}`},
			nomatch:   []string{`{"CommandLine": "x /param/name"}`},
		},
		{
			name:      "a rule written with an en dash",
			detection: "  sel:\n    CommandLine|windash|endswith: \" \u2013s\"\n  condition: sel\n",
			match:     []string{`{"CommandLine": "x -s"}`, `{"CommandLine": "x /S"}`},
		},
		{
			name:      "windash with wildcards",
			detection: "  sel:\n    CommandLine|windash: '* -k *svc'\n  condition: sel\n",
			match:     []string{`{"CommandLine": "svchost.exe /k netsvc"}`},
			nomatch:   []string{`{"CommandLine": "svchost.exe k netsvc"}`},
		},
		{
			// SigmaHQ writes the comparator first as often as last.
			name:      "contains then windash",
			detection: "  sel:\n    CommandLine|contains|windash: ' -foo '\n  condition: sel\n",
			match:     []string{`{"CommandLine": "x /foo y"}`, `{"CommandLine": " \u2013foo "}`},
			nomatch:   []string{`{"CommandLine": "x foo y"}`},
		},
		{
			name:      "endswith then windash",
			detection: "  sel:\n    CommandLine|endswith|windash: ' -s'\n  condition: sel\n",
			match:     []string{`{"CommandLine": "x /s"}`},
			nomatch:   []string{`{"CommandLine": "x /s y"}`},
		},
		{
			name:      "windash then wide",
			detection: "  sel:\n    CommandLine|windash|wide|contains: ' -e '\n  condition: sel\n",
			match:     []string{`{"CommandLine": "` + jsonBytes(encodeUTF16("x /e y", false)) + `"}`},
			nomatch:   []string{`{"CommandLine": "` + jsonBytes(encodeUTF16("x +e y", false)) + `"}`},
		},
	})
	// base64 mixes neighbouring bytes, so a class cannot stay in place:
	// the flags are expanded before encoding, up to 1024 variants.
	b64 := base64.StdEncoding.EncodeToString
	runSpecCases(t, []specCase{{
		name:      "windash then base64offset",
		detection: "  sel:\n    CommandLine|windash|base64offset|contains: ' -e '\n  condition: sel\n",
		match:     []string{`{"CommandLine": "` + b64([]byte("powershell /e x")) + `"}`, `{"CommandLine": "` + b64([]byte("p \u2013e x")) + `"}`},
		nomatch:   []string{`{"CommandLine": "` + b64([]byte("powershell +e x")) + `"}`},
	}})
	_, err := parseRule([]byte(ruleYAML("windows", "  sel:\n    CommandLine|windash|base64: ' -a -b -c -d -e'\n  condition: sel\n")), "t")
	if assert.Error(t, err) {
		assert.Contains(t, err.Error(), "more than 1024 variants")
	}
	// Forty flags load as one pattern, not 5^40 strings.
	c, err := parseRule([]byte(ruleYAML("windows", "  sel:\n    CommandLine|windash|contains: '"+strings.Repeat(" -x", 40)+"'\n  condition: sel\n")), "t")
	require.NoError(t, err)
	assert.Len(t, c.searches[0].matchers[0][0].tests, 1)
}

// jsonBytes writes bytes as a JSON string body (\u00XX for each byte that
// is not printable ASCII).
func jsonBytes(s string) string {
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c < 0x20 || c >= 0x7f || c == '"' || c == '\\' {
			b.WriteString(`\u00`)
			b.WriteByte("0123456789abcdef"[c>>4])
			b.WriteByte("0123456789abcdef"[c&15])
			continue
		}
		b.WriteByte(c)
	}
	return b.String()
}

// Sibling: an escaped wildcard stays literal through an encoding modifier,
// and a wildcard stays a wildcard.
func TestEncodingKeepsEscapes(t *testing.T) {
	t.Parallel()
	runSpecCases(t, []specCase{
		{
			name:      "wide escaped star",
			detection: "  sel:\n    CommandLine|wide|contains: 'a\\*b'\n  condition: sel\n",
			match:     []string{`{"CommandLine": "` + jsonBytes(encodeUTF16("xa*by", false)) + `"}`},
			nomatch:   []string{`{"CommandLine": "` + jsonBytes(encodeUTF16("xaZby", false)) + `"}`},
		},
		{
			name:      "wide wildcard",
			detection: "  sel:\n    CommandLine|wide: 'a*b'\n  condition: sel\n",
			match:     []string{`{"CommandLine": "` + jsonBytes(encodeUTF16("aZZb", false)) + `"}`},
			nomatch:   []string{`{"CommandLine": "` + jsonBytes(encodeUTF16("aZZc", false)) + `"}`},
		},
	})
	// base64 of a wildcard is not defined (pySigma refuses it too), also
	// of the wildcards contains puts around a value before it.
	for _, mods := range []string{"base64: 'a*'", "contains|base64offset: 'a'"} {
		_, err := parseRule([]byte(ruleYAML("windows", "  sel:\n    CommandLine|"+mods+"\n  condition: sel\n")), "t")
		if assert.Error(t, err, mods) {
			assert.Contains(t, err.Error(), "wildcards", mods)
		}
	}
}

// Item: missing is not zero, empty is not missing (README.md, "Missing,
// null and empty").
func TestMissingNullEmpty(t *testing.T) {
	t.Parallel()
	// Sysmon Event ID 7 has no ParentProcessId.
	eid7 := `{"Event": {"System": {"EventID": 7}, "EventData": {"Image": "C:\\a.exe", "ImageLoaded": "C:\\b.dll", "ProcessId": "5", "Description": "", "RuleName": "-"}}}`
	runSpecCases(t, []specCase{
		{
			name:      "numeric comparison on a missing number",
			detection: "  sel:\n    ParentProcessId|lte: 4\n  condition: sel\n",
			match:     []string{`{"ParentProcessId": 3}`, `{"ParentProcessId": 0}`},
			nomatch:   []string{eid7, `{"Image": "x"}`, `{"ParentProcessId": null}`, `{"ParentProcessId": 5}`},
		},
		{
			name:      "equality with zero on a missing number",
			detection: "  sel:\n    ParentProcessId: 0\n  condition: sel\n",
			match:     []string{`{"ParentProcessId": 0}`},
			nomatch:   []string{eid7},
		},
		{
			name:      "false on a missing boolean",
			detection: "  sel:\n    Deleted: 'false'\n  condition: sel\n",
			match:     []string{`{"Deleted": false}`},
			nomatch:   []string{eid7},
		},
		{
			name:      "null matches a missing field",
			detection: "  sel:\n    ParentProcessId: null\n    OriginalFileName: null\n    ProcessGuid: null\n  condition: sel\n",
			match:     []string{eid7, `{"ParentProcessId": null, "OriginalFileName": null, "ProcessGuid": null}`},
			nomatch:   []string{`{"ParentProcessId": 1}`, `{"OriginalFileName": "x.dll"}`, `{"ProcessGuid": "{x}"}`},
		},
		{
			name:      "null does not match an empty value",
			detection: "  sel:\n    Description: null\n  condition: sel\n",
			match:     []string{`{"Image": "x"}`, `{"Description": null}`},
			nomatch:   []string{eid7, `{"Description": "d"}`},
		},
		{
			name:      "empty matches an empty value only",
			detection: "  sel:\n    Description: ''\n    RuleName: ''\n  condition: sel\n",
			match:     []string{`{"Description": "", "RuleName": ""}`},
			nomatch:   []string{`{"Image": "x"}`, `{"Description": null, "RuleName": ""}`, `{"Description": "", "RuleName": null}`, eid7},
		},
		{
			name:      "exists true on a present empty field",
			detection: "  sel:\n    Description|exists: true\n    RuleName|exists: true\n  condition: sel\n",
			match:     []string{eid7, `{"Description": "", "RuleName": ""}`, `{"Description": null, "RuleName": null}`},
			nomatch:   []string{`{"Image": "x"}`, `{"Description": ""}`},
		},
		{
			name:      "exists false on a present empty field",
			detection: "  sel:\n    Description|exists: false\n    ParentProcessId|exists: false\n  condition: sel\n",
			match:     []string{`{"Image": "x"}`},
			nomatch:   []string{eid7, `{"Description": ""}`, `{"ParentProcessId": 0}`},
		},
		{
			name:      "empty prefix on a missing field",
			detection: "  sel:\n    Description|startswith: ''\n  condition: sel\n",
			match:     []string{eid7},
			nomatch:   []string{`{"Image": "x"}`},
		},
		{
			name:      "empty list is present, missing list is not",
			detection: "  sel:\n    ProcessModules|exists: true\n  condition: sel\n",
			match:     []string{`{"ProcessModules": []}`, `{"ProcessModules": ["a.dll"]}`},
			nomatch:   []string{`{"Image": "x"}`},
		},
	})
}

// Events built in Go (the live tables) carry every number and boolean and
// no empty text: an empty text field is one the platform does not fill.
func TestLiveEventPresence(t *testing.T) {
	t.Parallel()
	e := mustCompile(t, ruleYAML("windows", "  sel:\n    Company: null\n    Company|exists: false\n    ParentProcessId|exists: true\n    ParentProcessId: 0\n  condition: sel\n"))
	ev := Event{Platform: PlatformWindows}
	assert.Len(t, e.Match(&ev), 1)
	ev.Unset("ParentProcessId")
	assert.Empty(t, e.Match(&ev))
	assert.False(t, ev.Has("ParentProcessId"))
	ev.Set("ParentProcessId", "0")
	assert.Len(t, e.Match(&ev), 1)
	ev.Set("Company", "")
	assert.True(t, ev.Has("Company"))
	assert.Empty(t, e.Match(&ev), "an empty Company set on purpose is present")
}

// What `events` writes reads back with the same presence.
func TestFieldsKeepPresence(t *testing.T) {
	t.Parallel()
	in := recorded(t, `{"Event": {"System": {"EventID": 7}, "EventData": {"Image": "C:\\a.exe", "Description": "", "Company": null, "RuleName": null, "Hashes": "x", "ProcessModules": []}}}`)
	f := in.Fields()
	assert.NotContains(t, f, "ParentProcessId")
	assert.Contains(t, f, "Description")
	assert.Nil(t, f["Company"])
	assert.Contains(t, f, "Company")
	assert.Contains(t, f, "RuleName")
	assert.Equal(t, []string{}, f["ProcessModules"])
	line, err := json.Marshal(f)
	require.NoError(t, err)
	out := recorded(t, string(line))
	for _, name := range []string{"ParentProcessId", "Description", "Company", "RuleName", "ProcessModules", "Deleted", "Image", "OriginalFileName"} {
		assert.Equal(t, in.Has(name), out.Has(name), name)
	}
	assert.Equal(t, in, out)
}

// Item: Sigma's |re is PCRE. Where RE2 reads a pattern differently the
// engine translates it; where it cannot, the rule is refused, saying where
// and what.
func TestRegexRefusals(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct{ re, reason string }{
		{`foo(?=bar)`, "lookaround"},
		{`(?<!x)foo`, "lookaround"},
		{`(a)\1`, "backreference"},
		{`(?P<n>a)(?P=n)`, "backreference"},
		{`a++`, "possessive"},
		{`a{2}+`, "possessive"},
		{`(?>a|ab)c`, "atomic"},
		{`a$b`, "`$`"},
		{`(?m)^`, "multiline `^`"},
		{`a\Rb`, `\R`},
		{`(?x) a b `, "extended"},
		{`a{,3}`, "PCRE versions"},
		{`(?(1)a|b)`, "conditional"},
		{`(?R)`, "recursion"},
		{`\Gfoo`, `\G`},
		{`[a`, "unterminated"},
	} {
		det := "  sel:\n    CommandLine|re: '" + strings.ReplaceAll(tc.re, "'", "''") + "'\n  condition: sel\n"
		_, err := parseRule([]byte(ruleYAML("windows", det)), "t")
		if assert.Error(t, err, tc.re) {
			assert.Contains(t, err.Error(), tc.reason, tc.re)
			assert.Contains(t, err.Error(), `field "CommandLine"`, tc.re)
		}
	}
	// Load reports the file and the value's line.
	dir := t.TempDir()
	body := ruleYAML("windows", "  sel:\n    Image|endswith: x\n    CommandLine|re:\n      - 'ok'\n      - 'a(?=b)'\n  condition: sel\n")
	require.NoError(t, os.WriteFile(filepath.Join(dir, "r.yml"), []byte(body), 0o600))
	_, rep, err := Load(false, []string{dir})
	require.NoError(t, err)
	require.Len(t, rep.Skipped, 1)
	assert.Equal(t, 11, rep.Skipped[0].Line)
	assert.Contains(t, rep.Skipped[0].String(), `r.yml:11: field "CommandLine": regular expression "a(?=b)": lookaround`)
}

// Item: valid conditions and the neq modifier are supported.
func TestConditionPatterns(t *testing.T) {
	t.Parallel()
	win := func(ev Event) Event { ev.Platform = PlatformWindows; return ev }
	a := win(Event{ImageLoaded: `C:\a.dll`})
	b := win(Event{Image: `C:\b.exe`})
	ab := win(Event{ImageLoaded: `C:\a.dll`, Image: `C:\b.exe`})
	none := win(Event{})
	searches := "  sel_a_x:\n    ImageLoaded|endswith: '\\a.dll'\n  sel1_b_x:\n    Image|endswith: '\\b.exe'\n  _h_x:\n    Image: never\n  other:\n    Image: never\n"
	for _, tc := range []struct {
		cond    string
		match   []Event
		nomatch []Event
	}{
		{"1 of *_x", []Event{a, b, ab}, []Event{none}},
		{"all of *_x", []Event{ab}, []Event{a, b}},
		{"all of sel*_x", []Event{ab}, []Event{a}},
		{"1 of sel1_*", []Event{b}, []Event{a}},
		{"all of sel_*_x", []Event{a}, []Event{b}},
		{"any of *_b_*", []Event{b}, []Event{a}},
		{"not 1 of _*", []Event{a, b}, nil},
		{"1 of them and not other", []Event{a}, []Event{none}},
		{"NOT (sel_a_x OR sel1_b_x)", []Event{none}, []Event{a}},
		{"sel_a_x and not sel1_b_x or other", []Event{a}, []Event{ab}},
		{"not not sel_a_x", []Event{a}, []Event{b}},
		{"(sel_a_x)", []Event{a}, []Event{b}},
	} {
		e := mustCompile(t, ruleYAML("windows", searches+"  condition: "+tc.cond+"\n"))
		for i := range tc.match {
			assert.Len(t, e.Match(&tc.match[i]), 1, "%s should match %+v", tc.cond, tc.match[i])
		}
		for i := range tc.nomatch {
			assert.Empty(t, e.Match(&tc.nomatch[i]), "%s should not match %+v", tc.cond, tc.nomatch[i])
		}
	}
	for _, tc := range []struct{ cond, reason string }{
		{"1 of nope_*", `no search matches "nope_*"`},
		{"sel_a_x and", "ends where a search name"},
		{"(sel_a_x", `missing ")"`},
		{"sel_a_x)", `unexpected ")"`},
		{"sel_*", "must follow"},
		{"2 of them", `no search named "2"`},
		{"sel_a_x | count() > 2", "aggregation"},
	} {
		_, err := parseRule([]byte(ruleYAML("windows", searches+"  condition: "+tc.cond+"\n")), "t")
		if assert.Error(t, err, tc.cond) {
			assert.Contains(t, err.Error(), tc.reason, tc.cond)
		}
	}
}

func TestNeq(t *testing.T) {
	t.Parallel()
	runSpecCases(t, []specCase{
		{
			name:      "neq one value",
			detection: "  sel:\n    Image|neq: 'C:\\a.exe'\n  condition: sel\n",
			match:     []string{`{"Image": "C:\\b.exe"}`, `{"Image": ""}`},
			nomatch:   []string{`{"Image": "c:\\A.exe"}`, `{"ImageLoaded": "x"}`, `{"Image": null}`},
		},
		{
			name:      "neq a list: none of the values",
			detection: "  sel:\n    Image|neq: ['C:\\a.exe', 'C:\\b.exe']\n  condition: sel\n",
			match:     []string{`{"Image": "C:\\c.exe"}`},
			nomatch:   []string{`{"Image": "C:\\a.exe"}`, `{"Image": "C:\\b.exe"}`},
		},
		{
			name:      "neq a number",
			detection: "  sel:\n    ProcessId|neq: 4\n  condition: sel\n",
			match:     []string{`{"ProcessId": 5}`},
			nomatch:   []string{`{"ProcessId": 4}`, `{"Image": "x"}`},
		},
		{
			name:      "neq with contains",
			detection: "  sel:\n    CommandLine|contains|neq: 'safe'\n    CommandLine|contains: 'run'\n  condition: sel\n",
			match:     []string{`{"CommandLine": "run evil"}`},
			nomatch:   []string{`{"CommandLine": "run safe"}`},
		},
		{
			name:      "neq with fieldref",
			detection: "  sel:\n    Image|fieldref|neq: ParentImage\n  condition: sel\n",
			match:     []string{`{"Image": "a", "ParentImage": "b"}`},
			nomatch:   []string{`{"Image": "a", "ParentImage": "A"}`, `{"Image": "a"}`},
		},
		{
			name:      "neq null: present with a value",
			detection: "  sel:\n    Description|neq: null\n  condition: sel\n",
			match:     []string{`{"Description": "d"}`, `{"Description": ""}`},
			nomatch:   []string{`{"Description": null}`, `{"Image": "x"}`},
		},
	})
}
