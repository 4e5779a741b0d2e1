package main

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func runDetectIn(t *testing.T, stdin string, args ...string) (code int, stdout, stderr string) {
	t.Helper()
	r := runIn(t, stdin, append([]string{"detect"}, args...)...)
	return r.code, r.stdout, r.stderr
}

func writeDetectFile(t *testing.T, dir, name, body string) string {
	t.Helper()
	p := filepath.Join(dir, name)
	require.NoError(t, os.MkdirAll(filepath.Dir(p), 0o755))
	require.NoError(t, os.WriteFile(p, []byte(body), 0o600))
	return p
}

const comsvcsEvent = `{"Platform":"windows","ProcessId":4711,"Image":"C:\\Windows\\System32\\rundll32.exe","ImageLoaded":"C:\\Windows\\System32\\dbgcore.dll","ProcessModules":["rundll32.exe","ntdll.dll","comsvcs.dll","dbgcore.dll"]}`

func TestDetectBuiltinRulesText(t *testing.T) {
	t.Parallel()
	events := writeDetectFile(t, t.TempDir(), "ev.jsonl", `{"Platform":"windows","Image":"C:\\x\\notepad.exe","ImageLoaded":"C:\\Windows\\System32\\ntdll.dll"}`+"\n"+comsvcsEvent+"\n")
	code, out, errOut := runDetectIn(t, "", "--events", events)
	assert.Equal(t, 0, code, errOut)
	lines := strings.Split(strings.TrimSpace(out), "\n")
	require.Len(t, lines, 1, out)
	assert.True(t, strings.HasPrefix(lines[0], events+":2: high "), lines[0])
	assert.Contains(t, lines[0], "siem_rule=PT-CR-303")
	assert.Contains(t, lines[0], `"Rundll32 With Comsvcs And The Minidump Library Loaded"`)
	assert.Contains(t, lines[0], `"ProcessId":4711`)
	assert.Regexp(t, `rules: \d+ loaded, 0 skipped`, errOut)
	assert.Contains(t, errOut, "events: 2 read\nmatches: 1\n")
}

func TestDetectJSONAndStdin(t *testing.T) {
	t.Parallel()
	code, out, errOut := runDetectIn(t, comsvcsEvent+"\n", "--events", "-", "--json")
	require.Equal(t, 0, code, errOut)
	var m map[string]any
	require.NoError(t, json.Unmarshal([]byte(strings.TrimSpace(out)), &m), out)
	for _, k := range []string{"rule_id", "title", "level", "siem_rule", "tags", "source", "event"} {
		assert.Contains(t, m, k)
	}
	assert.Equal(t, "PT-CR-303", m["siem_rule"])
	assert.Equal(t, "stdin:1", m["source"])
	ev, _ := m["event"].(map[string]any)
	assert.Equal(t, `C:\Windows\System32\dbgcore.dll`, ev["ImageLoaded"])
}

// An evtx_dump (JSON, pretty-printed) export and a python-evtx/xmltodict
// record with EventData.Data as a list, plus a process-creation record
// that must be ignored.
const evtxExport = `{
  "Event": {
    "#attributes": {"xmlns": "http://schemas.microsoft.com/win/2004/08/events/event"},
    "System": {"Provider": {"#attributes": {"Name": "Microsoft-Windows-Sysmon"}}, "EventID": 7},
    "EventData": {
      "RuleName": "-",
      "ProcessId": 6672,
      "Image": "C:\\Windows\\System32\\rundll32.exe",
      "ImageLoaded": "\\\\10.1.1.1\\share\\x.dll",
      "Signed": "false",
      "SignatureStatus": "Unavailable"
    }
  }
}
{
  "Event": {
    "System": {"EventID": 1},
    "EventData": {"Image": "C:\\Windows\\System32\\rundll32.exe", "CommandLine": "rundll32"}
  }
}
{"Event": {"System": {"EventID": {"#text": "7"}}, "EventData": {"Data": [
  {"@Name": "Image", "#text": "C:\\Program Files\\Microsoft Office\\root\\Office16\\WINWORD.EXE"},
  {"@Name": "ImageLoaded", "#text": "C:\\Windows\\System32\\ieproxy.dll"}]}}}
`

func TestDetectEvtxShapes(t *testing.T) {
	t.Parallel()
	events := writeDetectFile(t, t.TempDir(), "sysmon.json", evtxExport)
	code, out, errOut := runDetectIn(t, "", "--events", events, "--json")
	require.Equal(t, 0, code, errOut)
	var siem []string
	for _, l := range strings.Split(strings.TrimSpace(out), "\n") {
		var m map[string]any
		require.NoError(t, json.Unmarshal([]byte(l), &m))
		siem = append(siem, m["siem_rule"].(string)+"@"+m["source"].(string))
	}
	assert.ElementsMatch(t, []string{"PT-CR-1751@" + events + ":1", "PT-CR-933@" + events + ":21"}, siem)
	assert.Contains(t, errOut, "events: 2 read, 1 other records ignored (not Sysmon Event ID 7)")
}

func TestDetectExtraRuleFolders(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	writeDetectFile(t, dir, "mine/good.yml", `title: Mine
id: 5b0f5c3e-8f0a-4c43-9d57-2d9b1b0f0a11
level: low
logsource: {category: image_load, product: windows}
detection:
  sel:
    ImageLoaded|endswith: '\dbgcore.dll'
    OriginalFileName: null
  condition: sel
`)
	broken := writeDetectFile(t, dir, "mine/broken.yml", "title: x\ndetection:\n  sel: {a: [\n")
	events := writeDetectFile(t, dir, "ev.jsonl", comsvcsEvent+"\n")

	// --rules replaces the built-in rules: only "Mine" matches.
	code, out, errOut := runDetectIn(t, "", "--rules", filepath.Join(dir, "mine"), "--events", events)
	require.Equal(t, 0, code, errOut)
	assert.Equal(t, 1, strings.Count(out, "\n"), out)
	assert.Contains(t, out, `low 5b0f5c3e-8f0a-4c43-9d57-2d9b1b0f0a11 "Mine" event=`)
	assert.Contains(t, errOut, "rules: 1 loaded, 1 skipped\n")
	assert.Contains(t, errOut, "skipped: "+broken+":3: invalid YAML")

	// --builtin adds them back.
	code, out, _ = runDetectIn(t, "", "--rules", filepath.Join(dir, "mine"), "--builtin", "--events", events)
	require.Equal(t, 0, code)
	assert.Equal(t, 2, strings.Count(out, "\n"), out)
}

func TestDetectBadInput(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	bad := writeDetectFile(t, dir, "bad.jsonl", comsvcsEvent+"\n\n{\"Image\": \"x\", \"ProcessId\": \"abc\"}\n")
	code, out, errOut := runDetectIn(t, "", "--events", bad)
	assert.Equal(t, 1, code)
	assert.Contains(t, out, ":1: high", "matches before the bad line are printed")
	assert.Contains(t, errOut, bad+`:3: field ProcessId: "abc" is not a valid number`)

	code, _, errOut = runDetectIn(t, "", "--events", writeDetectFile(t, dir, "trunc.json", "{\"Image\":\n\"x\"\n"))
	assert.Equal(t, 1, code)
	assert.Contains(t, errOut, "trunc.json:1: unexpected end of input")

	code, _, errOut = runDetectIn(t, "", "--events", writeDetectFile(t, dir, "arr.json", "[1]"))
	assert.Equal(t, 1, code)
	assert.Contains(t, errOut, "arr.json:1: expected a JSON object")

	code, _, errOut = runDetectIn(t, "", "--events", filepath.Join(dir, "missing.jsonl"))
	assert.Equal(t, 1, code)
	assert.Contains(t, errOut, "missing.jsonl")

	code, _, errOut = runDetectIn(t, "", "--events", bad, "--rules", filepath.Join(dir, "nope"))
	assert.Equal(t, 1, code)
	assert.Contains(t, errOut, "nope: cannot read rule folder")

	code, _, _ = runDetectIn(t, "")
	assert.Equal(t, 2, code, "--events is required")
	code, _, _ = runDetectIn(t, "", "--events", bad, "--platform", "beos")
	assert.Equal(t, 2, code)
}
