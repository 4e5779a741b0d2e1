package detections

import (
	"io"
	"slices"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// One over-long record stops the read with an error naming the file and
// the line it starts on, after the records before it were delivered; the
// record is never held whole.
func TestReadEventsOverlongRecord(t *testing.T) {
	t.Parallel()
	good := `{"Image": "C:\\a.exe", "ImageLoaded": "C:\\b.dll"}` + "\n"
	huge := `{"Image": "` + strings.Repeat("x", maxRecord) + `"}` + "\n"
	in := io.MultiReader(strings.NewReader(good+"\n"), strings.NewReader(huge), strings.NewReader(good))
	var lines []int
	st, err := ReadEvents(in, "events.jsonl", PlatformWindows, func(line int, _ *Event) error {
		lines = append(lines, line)
		return nil
	})
	require.Error(t, err)
	assert.Equal(t, "events.jsonl:3: JSON object larger than 4194304 bytes", err.Error())
	assert.Equal(t, []int{1}, lines)
	assert.Equal(t, 1, st.Events)
}

// A recorded event may spell a known field in any case: it lands in the
// field, not in Extra.
func TestReadEventsFieldNamesIgnoreCase(t *testing.T) {
	t.Parallel()
	in := `{"imageloaded": "C:\\x.dll", "PROCESSID": 7, "processmodules": ["a.dll"]}`
	var got []Event
	_, err := ReadEvents(strings.NewReader(in), "events.jsonl", PlatformWindows, func(_ int, ev *Event) error {
		got = append(got, *ev)
		return nil
	})
	require.NoError(t, err)
	require.Len(t, got, 1)
	assert.Equal(t, `C:\x.dll`, got[0].ImageLoaded)
	assert.Equal(t, int64(7), got[0].ProcessId)
	assert.Equal(t, []string{"a.dll"}, got[0].ProcessModules)
	assert.Empty(t, got[0].Extra)
}

// An event's Platform is the OS's one name: darwin. Sigma's product name
// macos (what a hand-written or older record says) reads as darwin, so the
// macOS rules (product: macos) see it either way; a name that is neither
// is an error.
func TestReadEventsPlatformIsTheOSName(t *testing.T) {
	t.Parallel()
	e, _, err := Load(true, nil)
	require.NoError(t, err)
	const dylib = `"Image": "/Applications/Firefox.app/Contents/MacOS/firefox", "ImageLoaded": "/private/tmp/x.dylib"`
	in := `{"Platform": "darwin", ` + dylib + "}\n" + `{"Platform": "macos", ` + dylib + "}\n" + `{` + dylib + "}\n"
	var platforms, sources []string
	_, err = ReadEvents(strings.NewReader(in), "events.jsonl", "macos", func(_ int, ev *Event) error {
		platforms = append(platforms, ev.Platform)
		for _, m := range e.Match(ev) {
			sources = append(sources, m.Rule.Source)
		}
		return nil
	})
	require.NoError(t, err)
	assert.Equal(t, []string{PlatformDarwin, PlatformDarwin, PlatformDarwin}, platforms)
	assert.Equal(t, slices.Repeat([]string{"builtin:rules/darwin/dylib_from_temp_dir.yml"}, 3), sources)

	_, err = ReadEvents(strings.NewReader(`{"Platform": "osx"}`), "events.jsonl", "", func(int, *Event) error { return nil })
	require.EqualError(t, err, `events.jsonl:1: field Platform: "osx" is not windows, linux or darwin`)
}
