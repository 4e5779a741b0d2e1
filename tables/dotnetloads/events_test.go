package dotnetloads

import (
	"context"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/modhunt/modhunt/detections"
	"github.com/modhunt/modhunt/tables/moduleevents"
)

// The managed loads of the fake Windows host reach the built-in rules
// with the assembly's identity: the MSBuild assembly renamed update.dll
// fires PT-CR-646 through AssemblyName (its path says nothing), and the
// PowerShell engine in rundll32 fires PT-CR-644.
func TestEventsKeyOnIdentity(t *testing.T) {
	w := compileWin(t)
	s := &Scanner{Inventory: windowsHosts(w)}
	engine, _, err := detections.Load(true, nil)
	require.NoError(t, err)

	fired := map[string][]string{} // SIEM rule -> ImageLoaded or assembly
	var events []detections.Event
	var matches []detections.Match
	err = s.Events(context.Background(), nil, func(p *moduleevents.Process, ev *detections.Event) error {
		assert.Equal(t, "windows", ev.Platform)
		assert.Equal(t, RuntimeCLR4, ev.Runtime)
		assert.Equal(t, p.Path, ev.Image)
		assert.Contains(t, ev.ProcessModules, "clr.dll")
		events = append(events, *ev)
		matches = engine.MatchAppend(matches[:0], ev)
		for _, m := range matches {
			for _, siem := range strings.Split(m.Rule.SiemRule(), ",") {
				fired[siem] = append(fired[siem], ev.ImageLoaded+"|"+ev.AssemblyName)
			}
		}
		return nil
	})
	require.NoError(t, err)

	assert.Contains(t, fired["PT-CR-646"], renamed+"|Microsoft.Build.Tasks.v4.0")
	assert.Contains(t, fired["PT-CR-644"], smaGAC+"|System.Management.Automation")
	var mem *detections.Event
	for i := range events {
		if events[i].InMemory {
			mem = &events[i]
		}
	}
	require.NotNil(t, mem, "the in-memory assembly is an event")
	assert.Equal(t, w.payloadID.Name, mem.AssemblyName)
	assert.Equal(t, w.payloadID.Version, mem.AssemblyVersion)
	assert.Equal(t, w.payloadID.PublicKeyToken, mem.PublicKeyToken)
	assert.Empty(t, mem.ImageLoaded)
	assert.False(t, mem.InLoaderList)
	f := mem.Fields()
	assert.Equal(t, w.payloadID.PublicKeyToken, f["PublicKeyToken"])
	assert.Equal(t, RuntimeCLR4, f["Runtime"])
}
