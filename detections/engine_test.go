package detections

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// ruleYAML wraps a detection block into a complete image_load rule.
func ruleYAML(product, detection string) string {
	return "title: t\nid: 11111111-1111-4111-8111-111111111111\nlogsource:\n  category: image_load\n  product: " +
		product + "\ndetection:\n" + detection
}

func mustCompile(t *testing.T, src string) *Engine {
	t.Helper()
	c, err := parseRule([]byte(src), "test")
	require.NoError(t, err)
	e := &Engine{byPlatform: map[string][]*compiled{}}
	e.keep(c)
	return e
}

func TestConstructs(t *testing.T) {
	t.Parallel()
	win := func(ev Event) Event { ev.Platform = PlatformWindows; return ev }
	cases := []struct {
		name      string
		detection string
		match     []Event
		nomatch   []Event
	}{
		{
			name:      "plain equality ignores case",
			detection: "  sel:\n    Image: 'C:\\Windows\\System32\\rundll32.exe'\n  condition: sel\n",
			match:     []Event{win(Event{Image: `c:\windows\system32\RUNDLL32.EXE`})},
			nomatch:   []Event{win(Event{Image: `C:\Windows\System32\rundll32.exe.bak`})},
		},
		{
			name:      "cased",
			detection: "  sel:\n    ImageLoaded|endswith|cased: '\\Comsvcs.dll'\n  condition: sel\n",
			match:     []Event{win(Event{ImageLoaded: `C:\x\Comsvcs.dll`})},
			nomatch:   []Event{win(Event{ImageLoaded: `C:\x\comsvcs.dll`})},
		},
		{
			name:      "contains startswith endswith",
			detection: "  sel:\n    ImageLoaded|startswith: 'C:\\Windows\\'\n    ImageLoaded|contains: '\\assembly\\'\n    ImageLoaded|endswith: '.ni.dll'\n  condition: sel\n",
			match:     []Event{win(Event{ImageLoaded: `C:\Windows\assembly\NativeImages_v4.0.30319_64\mscorlib\x\mscorlib.ni.dll`})},
			nomatch:   []Event{win(Event{ImageLoaded: `D:\Windows\assembly\x.ni.dll`}), win(Event{ImageLoaded: `C:\Windows\assembly\x.dll`})},
		},
		{
			name:      "contains all",
			detection: "  sel:\n    CommandLine|contains|all: [comsvcs, MiniDump, full]\n  condition: sel\n",
			match:     []Event{win(Event{CommandLine: `rundll32 C:\windows\system32\comsvcs.dll, MiniDump 624 C:\t\l.dmp full`})},
			nomatch:   []Event{win(Event{CommandLine: `rundll32 comsvcs.dll, MiniDump 624 x`})},
		},
		{
			name:      "wildcards and escapes",
			detection: "  sel:\n    Image|startswith: 'C:\\Windows\\Microsoft.NET\\Framework*\\'\n    ImageLoaded: '*\\x?.dll'\n  lit:\n    Description: 'a\\*b'\n  condition: sel or lit\n",
			match: []Event{
				win(Event{Image: `C:\Windows\Microsoft.NET\Framework64\v4\mscorsvw.exe`, ImageLoaded: `C:\a\x1.dll`}),
				win(Event{Description: `a*b`}),
			},
			nomatch: []Event{
				win(Event{Image: `C:\Windows\Microsoft.NET\Framework64\v4\mscorsvw.exe`, ImageLoaded: `C:\a\x12.dll`}),
				win(Event{Description: `axxb`}),
			},
		},
		{
			name:      "escaped backslashes mean a UNC prefix",
			detection: "  sel:\n    ImageLoaded|startswith: '\\\\\\\\'\n  condition: sel\n",
			match:     []Event{win(Event{ImageLoaded: `\\server\share\x.dll`})},
			nomatch:   []Event{win(Event{ImageLoaded: `C:\x.dll`}), win(Event{ImageLoaded: `\Device\x.dll`})},
		},
		{
			name:      "re with flags",
			detection: "  sel:\n    ImageLoaded|re: '\\\\[a-f0-9]{8}\\.dll$'\n  seli:\n    Image|re|i: 'RUNDLL32\\.EXE$'\n  condition: sel and seli\n",
			match:     []Event{win(Event{ImageLoaded: `C:\t\deadbeef.dll`, Image: `C:\rundll32.exe`})},
			nomatch:   []Event{win(Event{ImageLoaded: `C:\t\DEADBEEF.dll`, Image: `C:\rundll32.exe`})},
		},
		{
			name:      "windash",
			detection: "  sel:\n    CommandLine|windash|contains: ' -enc '\n  condition: sel\n",
			match:     []Event{win(Event{CommandLine: `powershell /enc AAAA`}), win(Event{CommandLine: "powershell \u2013enc AAAA"})},
			nomatch:   []Event{win(Event{CommandLine: `powershell enc AAAA`})},
		},
		{
			name:      "base64 and base64offset",
			detection: "  a:\n    CommandLine|base64: 'hello'\n  b:\n    ParentCommandLine|base64offset|contains: 'IEX'\n  condition: a or b\n",
			match:     []Event{win(Event{CommandLine: `aGVsbG8=`}), win(Event{ParentCommandLine: `x ` + "IHRlc3QgSUVY" + ` y`})},
			nomatch:   []Event{win(Event{CommandLine: `hello`})},
		},
		{
			name:      "utf16 encodings",
			detection: "  a:\n    CommandLine|wide|base64offset|contains: 'ping'\n  b:\n    ParentCommandLine|utf16be|base64: 'hi'\n  c:\n    Description|utf16|base64: 'hi'\n  condition: a or b or c\n",
			match: []Event{
				win(Event{CommandLine: "powershell -enc cABpAG4AZwAgADEALgAxAC4AMQAuADEA"}), // "ping 1.1.1.1", UTF-16LE
				win(Event{CommandLine: "powershell -enc eAB5ACAAcABpAG4AZwA="}),             // "xy ping"
				win(Event{CommandLine: "powershell -enc eAAgAHAAaQBuAGcA"}),                 // "x ping"
				win(Event{ParentCommandLine: "AGgAaQ=="}),                                   // "hi", UTF-16BE
				win(Event{Description: "//5oAGkA"}),                                         // "hi", UTF-16LE with its BOM
			},
			nomatch: []Event{
				win(Event{CommandLine: "ping 1.1.1.1"}),
				win(Event{ParentCommandLine: "aABpAA=="}), // "hi", UTF-16LE where BE is asked for
				win(Event{Description: "aABpAA=="}),       // no BOM
			},
		},
		{
			name:      "cidr and numbers",
			detection: "  sel:\n    Extra1|cidr: '10.0.0.0/8'\n    ProcessId|gte: 100\n  condition: sel\n",
			match:     []Event{win(Event{Extra: map[string]string{"Extra1": "10.1.2.3"}, ProcessId: 100})},
			nomatch:   []Event{win(Event{Extra: map[string]string{"Extra1": "11.1.2.3"}, ProcessId: 100}), win(Event{Extra: map[string]string{"Extra1": "10.1.2.3"}, ProcessId: 99})},
		},
		{
			// sigma-go v0.6.6 fails these with "expected scalar field matching value got: <nil>".
			name:      "null means absent (an empty text field of a Go event is absent)",
			detection: "  sel:\n    ImageLoaded|endswith: '.dll'\n  filter_null:\n    OriginalFileName: null\n  condition: sel and filter_null\n",
			match:     []Event{win(Event{ImageLoaded: `a.dll`}), win(Event{ImageLoaded: `a.dll`, OriginalFileName: ""})},
			nomatch:   []Event{win(Event{ImageLoaded: `a.dll`, OriginalFileName: "a.dll"}), win(Event{ImageLoaded: `a.dll`, OriginalFileName: "null"})},
		},
		{
			name:      "null in a value list with other values",
			detection: "  sel:\n    SignatureStatus: [null, '', '-', 'Unavailable']\n    RuleName: [null, 'x']\n  condition: sel\n",
			match: []Event{
				win(Event{}),
				win(Event{SignatureStatus: "-"}),
				win(Event{SignatureStatus: "unavailable", Extra: map[string]string{"RuleName": "x"}}),
			},
			nomatch: []Event{win(Event{SignatureStatus: "Valid"}), win(Event{Extra: map[string]string{"RuleName": "y"}})},
		},
		{
			name:      "exists",
			detection: "  sel:\n    RuleName|exists: true\n    Company|exists: false\n  condition: sel\n",
			match:     []Event{win(Event{Extra: map[string]string{"RuleName": "r"}})},
			nomatch:   []Event{win(Event{}), win(Event{Extra: map[string]string{"RuleName": "r"}, Company: "c"})},
		},
		{
			// sigma-go v0.6.6 compares a list element-wise only through a
			// config field mapping; here every list field does.
			name:      "list fields match element-wise",
			detection: "  sel:\n    Image|endswith: '\\rundll32.exe'\n    ProcessModules|contains|all: ['comsvcs.dll']\n    ProcessModules: ['dbgcore.dll', 'dbghelp.dll']\n  condition: sel\n",
			match: []Event{
				win(Event{Image: `C:\rundll32.exe`, ProcessModules: []string{"ntdll.dll", "COMSVCS.DLL", "dbghelp.dll"}}),
			},
			nomatch: []Event{
				win(Event{Image: `C:\rundll32.exe`, ProcessModules: []string{"ntdll.dll", "comsvcs.dll"}}),
				win(Event{Image: `C:\rundll32.exe`, ProcessModules: []string{"dbgcore.dll"}}),
				win(Event{Image: `C:\rundll32.exe`}),
			},
		},
		{
			name:      "list all needs every value",
			detection: "  sel:\n    UntrustedReasons|all: [temp_dir, user_writable]\n  empty:\n    ProcessModules: null\n  condition: sel and empty\n",
			match:     []Event{win(Event{UntrustedReasons: []string{"user_writable", "temp_dir", "hidden"}})},
			nomatch:   []Event{win(Event{UntrustedReasons: []string{"temp_dir"}}), win(Event{UntrustedReasons: []string{"user_writable", "temp_dir"}, ProcessModules: []string{"a"}})},
		},
		{
			name:      "1 of selection_* and not 1 of filter_*",
			detection: "  selection_a:\n    ImageLoaded|endswith: '\\a.dll'\n  selection_b:\n    ImageLoaded|endswith: '\\b.dll'\n  filter_main:\n    Image|startswith: 'C:\\Program Files\\'\n  filter_optional:\n    Image|endswith: '\\ok.exe'\n  condition: 1 of selection_* and not 1 of filter_*\n",
			match:     []Event{win(Event{ImageLoaded: `C:\b.dll`, Image: `C:\x.exe`})},
			nomatch:   []Event{win(Event{ImageLoaded: `C:\b.dll`, Image: `C:\Program Files\x.exe`}), win(Event{ImageLoaded: `C:\b.dll`, Image: `C:\ok.exe`}), win(Event{ImageLoaded: `C:\c.dll`})},
		},
		{
			name:      "all of selection_* and all of them",
			detection: "  selection_a:\n    ImageLoaded|endswith: '\\a.dll'\n  selection_b:\n    Image|endswith: '\\b.exe'\n  _helper:\n    Image: nothing\n  condition: all of selection_* and all of them\n",
			match:     []Event{win(Event{ImageLoaded: `C:\a.dll`, Image: `C:\b.exe`})},
			nomatch:   []Event{win(Event{ImageLoaded: `C:\a.dll`, Image: `C:\c.exe`})},
		},
		{
			name:      "a list of maps is an OR",
			detection: "  sel:\n    - ImageLoaded|endswith: '\\a.dll'\n    - Image|endswith: '\\b.exe'\n      Deleted: true\n  condition: sel\n",
			match:     []Event{win(Event{ImageLoaded: `C:\a.dll`}), win(Event{Image: `C:\b.exe`, Deleted: true})},
			nomatch:   []Event{win(Event{Image: `C:\b.exe`})},
		},
		{
			name:      "field names ignore case",
			detection: "  sel:\n    processid: 7\n    IMAGELOADED|endswith: 'x.dll'\n  condition: sel\n",
			match:     []Event{win(Event{ProcessId: 7, ImageLoaded: `C:\x.dll`})},
			nomatch:   []Event{win(Event{ProcessId: 8, ImageLoaded: `C:\x.dll`}), win(Event{ProcessId: 7, Extra: map[string]string{"IMAGELOADED": `C:\x.dll`}})},
		},
		{
			name:      "fieldref",
			detection: "  sel:\n    Image|fieldref: ParentImage\n  condition: sel\n",
			match:     []Event{win(Event{Image: `C:\a.exe`, ParentImage: `c:\A.exe`})},
			nomatch:   []Event{win(Event{Image: `C:\a.exe`, ParentImage: `C:\b.exe`})},
		},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			e := mustCompile(t, ruleYAML("windows", tc.detection))
			for i := range tc.match {
				assert.Len(t, e.Match(&tc.match[i]), 1, "should match %+v", tc.match[i])
			}
			for i := range tc.nomatch {
				assert.Empty(t, e.Match(&tc.nomatch[i]), "should not match %+v", tc.nomatch[i])
			}
		})
	}
}

func TestPlatformSelectsRules(t *testing.T) {
	t.Parallel()
	det := "  sel:\n    ImageLoaded|endswith: 'x.so'\n  condition: sel\n"
	linux := mustCompile(t, ruleYAML("linux", det))
	ev := Event{Platform: PlatformLinux, ImageLoaded: "/tmp/x.so"}
	assert.Len(t, linux.Match(&ev), 1)
	ev.Platform = PlatformDarwin
	assert.Empty(t, linux.Match(&ev))
	ev.Platform = PlatformWindows
	assert.Empty(t, linux.Match(&ev))

	any := mustCompile(t, strings.Replace(ruleYAML("x", det), "  product: x\n", "", 1))
	for _, p := range []string{PlatformWindows, PlatformLinux, PlatformDarwin} {
		ev.Platform = p
		assert.Len(t, any.Match(&ev), 1, p)
	}
}

func TestSkippedRulesAreReported(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	write := func(name, body string) {
		require.NoError(t, os.WriteFile(filepath.Join(dir, name), []byte(body), 0o600))
	}
	ok := "  sel:\n    ImageLoaded|endswith: 'x.dll'\n  condition: sel\n"
	write("good.yml", strings.Replace(ruleYAML("windows", ok), "11111111-1111-4111-8111-111111111111", "22222222-2222-4222-8222-222222222222", 1))
	write("broken.yml", "title: broken\nid: 3\ndetection:\n  sel: [\n")
	write("modifier.yml", ruleYAML("windows", "  sel:\n    ImageLoaded|expand: '%x%'\n  condition: sel\n"))
	write("category.yml", strings.Replace(ruleYAML("windows", ok), "image_load", "process_creation", 1))
	write("product.yml", ruleYAML("zos", ok))
	write("correlation.yml", "title: c\nid: 4\ncorrelation:\n  type: event_count\n  rules: [a]\n")
	write("aggregation.yml", strings.Replace(ruleYAML("windows", ok), "condition: sel", "condition: sel | count() by Image > 5", 1))
	write("timeframe.yml", strings.Replace(ruleYAML("windows", ok), "condition: sel", "condition: sel\n  timeframe: 5m", 1))
	write("huge.yml", ruleYAML("windows", ok)+"# "+strings.Repeat("x", maxRuleFile)+"\n")
	write("keywords.yml", ruleYAML("windows", "  kw:\n    - evil\n  condition: kw\n"))
	write("undefined.yml", ruleYAML("windows", "  sel:\n    Image: x\n  condition: sel and other\n"))
	write("zz_dup.yml", strings.Replace(ruleYAML("windows", ok), "11111111-1111-4111-8111-111111111111", "22222222-2222-4222-8222-222222222222", 1))
	write("notes.txt", "not a rule")

	e, rep, err := Load(true, []string{dir, filepath.Join(dir, "missing")})
	require.NoError(t, err)
	require.Len(t, rep.FolderErrors, 1)
	assert.Contains(t, rep.FolderErrors[0].String(), "missing: cannot read rule folder")

	reasons := map[string]Skipped{}
	for _, s := range rep.Skipped {
		reasons[filepath.Base(s.File)] = s
	}
	want := map[string]string{
		"broken.yml":      "invalid YAML",
		"modifier.yml":    `unsupported modifier "expand"`,
		"category.yml":    `logsource category "process_creation" is not image_load`,
		"product.yml":     `logsource product "zos"`,
		"correlation.yml": "correlation rules are not supported",
		"aggregation.yml": "aggregation",
		"timeframe.yml":   "timeframe (a temporal condition) is not supported",
		"huge.yml":        "rule file larger than 1048576 bytes",
		"keywords.yml":    "keywords",
		"undefined.yml":   `no search named "other"`,
		"zz_dup.yml":      "duplicate rule id",
	}
	for file, reason := range want {
		s, found := reasons[file]
		if assert.True(t, found, "%s should be skipped", file) {
			assert.Contains(t, s.Reason, reason, file)
		}
	}
	assert.Len(t, rep.Skipped, len(want))
	assert.Equal(t, 4, reasons["broken.yml"].Line, "broken YAML is reported with its line")
	assert.Equal(t, 8, reasons["modifier.yml"].Line)
	assert.Contains(t, reasons["modifier.yml"].String(), "modifier.yml:8: field \"ImageLoaded\": unsupported modifier")

	// The good extra rule and every built-in rule still load.
	builtin, brep, err := Load(true, nil)
	require.NoError(t, err)
	assert.Empty(t, brep.Skipped)
	assert.Equal(t, len(builtin.Rules())+1, rep.Loaded)
	assert.Len(t, e.Rules(), rep.Loaded)
}

// The per-event scratch (lower-cased values, the list caches) must follow
// each event, also when one goroutine reuses it event after event.
func TestMatchStateFollowsEvents(t *testing.T) {
	e := mustCompile(t, ruleYAML("windows", "  sel:\n    ProcessModules: 'comsvcs.dll'\n    Image|endswith: '\\RUNDLL32.exe'\n  condition: sel\n"))
	mods := []string{"ntdll.dll", "COMSVCS.dll"}
	seq := []struct {
		ev   Event
		want bool
	}{
		{Event{Platform: PlatformWindows, Image: `C:\Rundll32.exe`, ProcessModules: mods}, true},
		{Event{Platform: PlatformWindows, Image: `C:\Rundll32.exe`}, false},
		{Event{Platform: PlatformWindows, Image: `C:\Rundll32.exe`, ProcessModules: []string{"x.dll"}}, false},
		{Event{Platform: PlatformWindows, Image: `C:\notepad.exe`, ProcessModules: mods}, false},
		{Event{Platform: PlatformWindows, Image: `C:\rundll32.exe`, ProcessModules: mods}, true},
	}
	for round := range 3 {
		for i, s := range seq {
			if round == 2 && i == 4 {
				mods[1] = "other.dll" // the same slice, changed in place
				s.want = false
			}
			assert.Equal(t, s.want, len(e.Match(&s.ev)) == 1, "round %d event %d", round, i)
		}
	}
}

func TestSiemRuleKey(t *testing.T) {
	t.Parallel()
	det := "  sel:\n    Image: x\n  condition: sel\n"
	one := mustCompile(t, strings.Replace(ruleYAML("windows", det), "title: t\n", "title: t\nsiem_rule: PT-CR-303\n", 1))
	two := mustCompile(t, strings.Replace(ruleYAML("windows", det), "title: t\n", "title: t\nsiem_rule: [PT-CR-1726, PT-CR-644]\n", 1))
	none := mustCompile(t, ruleYAML("windows", det))
	assert.Equal(t, "PT-CR-303", one.Rules()[0].SiemRule())
	assert.Equal(t, []string{"PT-CR-1726", "PT-CR-644"}, two.Rules()[0].SiemRules)
	assert.Empty(t, none.Rules()[0].SiemRule())
}

// The engine is shared by concurrent table scans: run it from several
// goroutines over events of different processes (go test -race).
func TestMatchConcurrent(t *testing.T) {
	t.Parallel()
	e, _, err := Load(true, nil)
	require.NoError(t, err)
	events := benchEvents(20, 10)
	hit := Event{Platform: PlatformWindows, Image: `C:\Windows\System32\rundll32.exe`,
		ImageLoaded: `C:\Windows\System32\dbgcore.dll`, ProcessModules: []string{"comsvcs.dll", "dbgcore.dll"}}
	done := make(chan int)
	for g := range 4 {
		go func() {
			n := 0
			var buf []Match
			for i := range events {
				buf = e.MatchAppend(buf[:0], &events[(i+g*7)%len(events)])
				n += len(buf)
				buf = e.MatchAppend(buf[:0], &hit)
				n += len(buf)
			}
			done <- n
		}()
	}
	first := <-done
	for range 3 {
		assert.Equal(t, first, <-done, "every goroutine sees the same matches")
	}
	assert.Positive(t, first)
}
