package moduleevents

import (
	"context"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/modhunt/modhunt/detections"
	"github.com/modhunt/modhunt/tables/inventory/fakeinv"
	"github.com/modhunt/modhunt/tables/trust"
	"github.com/modhunt/modhunt/tables/untrusted"
)

// TestWindowsEventsCarrySysmonImageFacts: a Windows-shaped host whose
// C:\Users\Public\evil.dll is a real PE with a version resource (built from
// test/wine/fixtures/versioned.{c,rc}) gives its event Sysmon's fields.
func TestWindowsEventsCarrySysmonImageFacts(t *testing.T) {
	b, err := os.ReadFile("../imagefacts/testdata/versioned.dll")
	require.NoError(t, err)
	p := filepath.Join(t.TempDir(), "evil.dll")
	require.NoError(t, os.WriteFile(p, b, 0o600))
	inv := fakeinv.Windows(p)
	j, err := untrusted.NewJudge(untrusted.Config{Inventory: inv, Policy: &trust.Policy{Source: "test"}})
	require.NoError(t, err)
	bld, err := New(Config{Inventory: inv, Judge: j})
	require.NoError(t, err)
	events := map[string]detections.Event{}
	require.NoError(t, bld.Scan(context.Background(), []int{fakeinv.PID}, func(_ *Process, ev *detections.Event) error {
		events[ev.ImageLoaded] = *ev
		return nil
	}))
	ev, ok := events[`C:\Users\Public\evil.dll`]
	require.True(t, ok)
	assert.Equal(t, "vendorlib.dll", ev.OriginalFileName)
	assert.Equal(t, "Modhunt Test Vendor", ev.Company)
	assert.Equal(t, "Modhunt Fixtures", ev.Product)
	assert.Equal(t, "modhunt versioned fixture", ev.Description)
	assert.Equal(t, "4.3.2.1 (fixture.251202)", ev.FileVersion)
	assert.Regexp(t, `(^|,)IMPHASH=[0-9a-f]{32}$`, ev.Hashes)
	if runtime.GOOS != "windows" {
		assert.Empty(t, ev.Signed, "no verdict off Windows: absent, not false")
	}
	// A module whose file cannot be read has none, and nothing leaks
	// from the event before it.
	other := events[`C:\Users\Public\mapped.dll`]
	assert.Empty(t, other.OriginalFileName)
	assert.False(t, strings.Contains(other.Hashes, "IMPHASH"), other.Hashes)
}
