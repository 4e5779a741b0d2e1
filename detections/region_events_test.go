package detections

import (
	"encoding/json"
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

var regionFieldNames = []string{"RegionAddress", "RegionSize", "RegionProtection", "RegionType", "RegionHeader",
	"RegionDotNet", "RegionSha256", "RegionInParent", "JitHost"}

// readsRegion reports whether a compiled rule reads a region field.
func readsRegion(c *compiled) bool {
	e := &Engine{byPlatform: map[string][]*compiled{"x": {c}}}
	return e.ReadsAny("x", regionFieldNames...)
}

// TestModuleRulesIgnoreRegionEvents: a memory-region event (no
// ImageLoaded) is matched only by rules that read region fields, so the
// image_load rules written for module loads do not fire once per region.
// Every region event of the fixtures is tried against every built-in rule.
func TestModuleRulesIgnoreRegionEvents(t *testing.T) {
	t.Parallel()
	e, _, err := Load(true, nil)
	require.NoError(t, err)
	regionRules := 0
	for _, c := range e.rules {
		if readsRegion(c) {
			regionRules++
		}
	}
	require.Positive(t, regionRules)
	files, err := filepath.Glob(filepath.Join("testdata", "*", "*", "*.jsonl"))
	require.NoError(t, err)
	events := 0
	for _, f := range files {
		fh, err := os.Open(f)
		require.NoError(t, err)
		_, err = ReadEvents(fh, f, "", func(line int, ev *Event) error {
			if !ev.Has("RegionType") {
				return nil
			}
			events++
			for _, m := range e.Match(ev) {
				for _, c := range e.rules {
					if c.rule == m.Rule {
						assert.True(t, readsRegion(c), "%s:%d: module rule %q fires on a region event", f, line, c.rule.Title)
					}
				}
			}
			return nil
		})
		_ = fh.Close()
		require.NoError(t, err)
	}
	assert.Positive(t, events)
}

// TestRegionNumbersAreOptional: a module event does not carry the
// region numbers and booleans (so RegionSize: 0 or JitHost: false never
// match it), a region event that sets them does, also at zero, and what
// Fields writes reads back as the same event.
func TestRegionNumbersAreOptional(t *testing.T) {
	t.Parallel()
	mod := Event{Platform: PlatformWindows, ImageLoaded: `C:\x.dll`}
	f := mod.Fields()
	for _, n := range []string{"RegionSize", "RegionDotNet", "RegionInParent", "JitHost"} {
		assert.NotContains(t, f, n)
		assert.False(t, mod.Has(n), n)
	}
	assert.Contains(t, f, "Deleted", "the module booleans stay present")

	reg := Event{Platform: PlatformWindows, RegionType: "private"}
	for _, n := range []string{"RegionSize", "RegionDotNet", "RegionInParent", "JitHost"} {
		require.True(t, reg.Set(n, map[string]string{"RegionSize": "0"}[n]+map[bool]string{true: "false"}[n != "RegionSize"]))
		assert.True(t, reg.Has(n), n)
	}
	f = reg.Fields()
	assert.Equal(t, int64(0), f["RegionSize"])
	assert.Equal(t, false, f["JitHost"])
	b, err := json.Marshal(f)
	require.NoError(t, err)
	var obj map[string]any
	require.NoError(t, json.Unmarshal(b, &obj))
	back, ok, err := DecodeEvent(obj, "")
	require.NoError(t, err)
	require.True(t, ok)
	assert.Equal(t, reg.Fields(), back.Fields())
}
