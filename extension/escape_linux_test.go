package main

import (
	"encoding/json"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/modhunt/modhunt/detections"
	"github.com/modhunt/modhunt/internal/textesc"
	"github.com/modhunt/modhunt/test/sim"
)

// A real process loads c<0xff>.so and c\xFF.so (a backslash, then "xFF"):
// `query --json` and `events` must tell them apart and give back each
// name's exact bytes.
func TestLiveOutputKeepsNameBytes(t *testing.T) {
	t.Parallel()
	sim.NeedRoot(t)
	dir := sim.ExecDirIn(t, "/tmp", "modhunt-esc-")
	byteName := sim.BuildLib(t, filepath.Join(dir, "c\xff.so"))
	textName := sim.BuildLib(t, filepath.Join(dir, `c\xFF.so`))
	p := sim.Start(t, sim.BuildMultiLoader(t, dir), byteName, textName)
	pid := strconv.Itoa(p.PID)

	q := runIn(t, "", "query", "--json", "SELECT path FROM process_loaded_modules WHERE pid = "+pid)
	require.Equal(t, 0, q.code, q.stderr)
	var rows []map[string]string
	require.NoError(t, json.Unmarshal([]byte(q.stdout), &rows), q.stdout)
	paths := map[string]int{}
	for _, r := range rows {
		paths[textesc.Unescape(r["path"])]++
	}
	assert.Equal(t, 1, paths[byteName], "query --json: %s", q.stdout)
	assert.Equal(t, 1, paths[textName], "query --json: %s", q.stdout)

	ev := runEventsIn(t, "--pid", pid)
	require.Equal(t, 0, ev.code, ev.stderr)
	loaded := map[string]int{}
	_, err := detections.ReadEvents(strings.NewReader(ev.stdout), "events", "", func(_ int, e *detections.Event) error {
		loaded[e.ImageLoaded]++
		return nil
	})
	require.NoError(t, err)
	assert.Equal(t, 1, loaded[byteName], "events: %s", ev.stdout)
	assert.Equal(t, 1, loaded[textName], "events: %s", ev.stdout)
}
