package detections

import (
	"io"
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
