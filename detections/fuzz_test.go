package detections

import (
	"bytes"
	"io/fs"
	"os"
	"path/filepath"
	"testing"
)

// FuzzReadEvents feeds arbitrary bytes to the recorded-event reader: it must
// return events or an error, never panic or hang.
func FuzzReadEvents(f *testing.F) {
	files, _ := filepath.Glob(filepath.Join("testdata", "*", "*", "*.jsonl"))
	for _, p := range files[:min(len(files), 8)] {
		if b, err := os.ReadFile(p); err == nil {
			f.Add(b)
		}
	}
	f.Add([]byte(`{"Event":{"System":{"EventID":7},"EventData":{"Data":[{"@Name":"Image","#text":"x"}]}}}`))
	f.Add([]byte("{\"a\":\"\\\"}\"}\n{"))
	f.Fuzz(func(t *testing.T, data []byte) {
		_, _ = ReadEvents(bytes.NewReader(data), "fuzz", PlatformLinux, func(_ int, ev *Event) error {
			if ev.Platform == "" {
				t.Fatal("event without platform")
			}
			return nil
		})
	})
}

// FuzzParseRule feeds arbitrary bytes to the rule loader: a rule either
// compiles or is skipped with a reason, and a compiled rule evaluates.
func FuzzParseRule(f *testing.F) {
	_ = fs.WalkDir(builtinRules, "rules", func(p string, d fs.DirEntry, err error) error {
		if err == nil && !d.IsDir() {
			b, _ := builtinRules.ReadFile(p)
			f.Add(b)
		}
		return nil
	})
	// Rules that once crashed the loader.
	for _, det := range []string{
		"  sel:\n    ImageLoaded|endswith: ['', '\\aaa.dll', '\\bbb.dll', '\\ccc.dll']\n  condition: sel\n",
		"  sel:\n    CommandLine|base64offset|startswith: ['a', 'b']\n  condition: sel\n",
	} {
		f.Add([]byte(ruleYAML("windows", det)))
	}
	ev := Event{Platform: PlatformWindows, Image: `C:\x\rundll32.exe`, ImageLoaded: `C:\x\y.dll`,
		ProcessModules: []string{"a.dll"}, Extra: map[string]string{"RuleName": "-"}}
	f.Fuzz(func(t *testing.T, data []byte) {
		c, err := parseRule(data, "fuzz")
		if err != nil {
			if (err.Error()) == "" {
				t.Fatal("skip without a reason")
			}
			return
		}
		e := &Engine{byPlatform: map[string][]*compiled{PlatformWindows: {c}}}
		_ = e.Match(&ev)
	})
}
