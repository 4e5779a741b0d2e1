package detections

import (
	"bytes"
	"encoding/json"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// An event whose paths are not UTF-8 survives being written as JSON and
// read back, byte for byte; names that differ only in how a byte is spelt
// stay different; and text that is valid UTF-8 is written as plain JSON,
// so a Sysmon export's backslashes are never touched.
func TestEventJSONKeepsBytes(t *testing.T) {
	t.Parallel()
	in := Event{
		Platform:       PlatformLinux,
		Image:          `/tmp/c\xFF`, // a backslash and "xFF": valid UTF-8
		ImageLoaded:    "/tmp/c\xff.so",
		CommandLine:    "run \\\xfe",
		ProcessModules: []string{"libc.so.6", "c\xff.so", `c\xFF.so`},
		Extra:          map[string]string{"RuleName": "r\x80"},
	}
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	require.NoError(t, enc.Encode(in.Fields()))
	assert.NotContains(t, buf.String(), "\ufffd", "bytes were replaced")
	var raw map[string]any
	require.NoError(t, json.Unmarshal(buf.Bytes(), &raw))
	assert.Equal(t, `/tmp/c\xFF`, raw["Image"], "valid text is written as is")
	assert.Equal(t, `/tmp/c\xFF.so`, raw["ImageLoaded"])

	var out []Event
	_, err := ReadEvents(&buf, "mem", "", func(_ int, ev *Event) error { out = append(out, *ev); return nil })
	require.NoError(t, err)
	require.Len(t, out, 1)
	got := out[0]
	assert.Equal(t, in.Image, got.Image)
	assert.Equal(t, in.ImageLoaded, got.ImageLoaded)
	assert.Equal(t, in.CommandLine, got.CommandLine)
	assert.Equal(t, in.ProcessModules, got.ProcessModules)
	assert.Equal(t, in.Extra, got.Extra, "EscapedFields is consumed, not kept as a field")

	// A Sysmon-style record without EscapedFields keeps its backslashes.
	sysmon := `{"Platform":"windows","ImageLoaded":"C:\\x64\\a.dll","Image":"\\\\srv\\s\\b.exe"}`
	out = out[:0]
	_, err = ReadEvents(strings.NewReader(sysmon), "mem", "", func(_ int, ev *Event) error { out = append(out, *ev); return nil })
	require.NoError(t, err)
	assert.Equal(t, `C:\x64\a.dll`, out[0].ImageLoaded)
	assert.Equal(t, `\\srv\s\b.exe`, out[0].Image)

	_, err = ReadEvents(strings.NewReader(`{"EscapedFields":"Image"}`), "mem", "", func(int, *Event) error { return nil })
	assert.ErrorContains(t, err, "EscapedFields")
}
