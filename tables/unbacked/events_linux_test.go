package unbacked

import (
	"context"
	"path/filepath"
	"strconv"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/modhunt/modhunt/detections"
	"github.com/modhunt/modhunt/tables/inventory"
	"github.com/modhunt/modhunt/tables/moduleevents"
	"github.com/modhunt/modhunt/test/sim"
)

// TestLiveRegionEvents: the builder's region events for a real process
// holding an ELF image in anonymous RWX memory carry the region (address,
// size, protection, type, header, first-page hash) and the same process
// context as its module events (Image, CommandLine, ProcessModules with
// libc), with no ImageLoaded; and a Sigma rule combining a module with the
// region fires on it.
func TestLiveRegionEvents(t *testing.T) {
	t.Parallel()
	prog := buildC(t, "anonelf")
	out := filepath.Join(t.TempDir(), "addrs")
	p := sim.Start(t, prog, out, prog, "1")
	starts, sizes := addrs(t, out)

	inv := inventory.New(inventory.Config{ModulesOnly: true})
	s := newScanner(t, Config{Inventory: inv})
	b, err := moduleevents.New(moduleevents.Config{Inventory: inv, More: []moduleevents.More{NewEvents(s)}})
	require.NoError(t, err)
	var region, module *detections.Event
	err = b.Scan(context.Background(), []int{p.PID}, func(_ *moduleevents.Process, ev *detections.Event) error {
		c := *ev
		switch {
		case ev.RegionType != "" && ev.RegionAddress == "0x"+strconv.FormatUint(starts[0], 16):
			region = &c
		case ev.RegionType == "" && module == nil:
			module = &c
		}
		return nil
	})
	require.NoError(t, err)
	require.NotNil(t, region, "a region event for %#x", starts[0])
	require.NotNil(t, module, "module events come first")
	assert.Empty(t, region.ImageLoaded)
	assert.Equal(t, TypeAnonymous, region.RegionType)
	assert.Equal(t, "rwx", region.RegionProtection)
	assert.Equal(t, "elf", region.RegionHeader)
	assert.Equal(t, int64(sizes[0]), region.RegionSize)
	assert.Len(t, region.RegionSha256, 64)
	assert.True(t, region.Has("JitHost"), "present in a region event even when false")
	assert.Equal(t, module.Image, region.Image)
	assert.Equal(t, module.CommandLine, region.CommandLine)
	assert.Equal(t, module.ProcessModules, region.ProcessModules)
	assert.Contains(t, region.ProcessModules, "libc.so.6")
	assert.False(t, module.Has("RegionSize"), "a module event has no region")

	rule := `title: ELF image in anonymous RWX memory of a libc process
id: 1b4e28ba-2fa1-4d3b-a3f5-ef19b5a7633b
logsource:
    category: image_load
    product: linux
detection:
    selection:
        ProcessModules: libc.so.6
        RegionType: anonymous
        RegionProtection: rwx
        RegionHeader: elf
    condition: selection
level: high
`
	dir := t.TempDir()
	require.NoError(t, writeRule(dir, rule))
	e, rep, err := detections.Load(false, []string{dir})
	require.NoError(t, err)
	require.Empty(t, rep.Skipped)
	assert.Len(t, e.Match(region), 1)
	assert.Empty(t, e.Match(module))
	assert.True(t, e.ReadsAny(detections.PlatformLinux, RegionFields...))
	assert.False(t, e.ReadsAny(detections.PlatformWindows, RegionFields...), "the rule is for linux")
}
