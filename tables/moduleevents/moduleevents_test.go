package moduleevents

import (
	"bytes"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/modhunt/modhunt/detections"
)

// TestMarshalFieldsIsWhatDetectReads: the JSON line decodes back to the
// same event, so a recording replays exactly.
func TestMarshalFieldsIsWhatDetectReads(t *testing.T) {
	t.Parallel()
	ev := detections.Event{
		Platform: detections.PlatformLinux, ProcessId: 42, Image: "/usr/bin/python3.11", ImageLoaded: "/tmp/<x>&.so",
		User: "root", CommandLine: `python3 -c "import ctypes"`, ParentProcessId: 1, ParentImage: "/usr/lib/systemd/systemd",
		ProcessModules: []string{"python3.11", "x.so"}, UntrustedReasons: []string{"outside_trusted_dirs", "temp_dir"},
		Hashes: "SHA256=ab", InLoaderList: true,
	}
	line, err := MarshalFields(&ev)
	require.NoError(t, err)
	assert.NotContains(t, string(line), "\n")
	assert.Contains(t, string(line), `"ImageLoaded":"/tmp/<x>&.so"`, "no HTML escaping: paths stay readable")
	n := 0
	_, err = detections.ReadEvents(bytes.NewReader(line), "line", "", func(_ int, got *detections.Event) error {
		n++
		assert.Equal(t, ev, *got)
		return nil
	})
	require.NoError(t, err)
	assert.Equal(t, 1, n)
}
