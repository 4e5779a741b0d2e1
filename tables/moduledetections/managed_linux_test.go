package moduledetections

import (
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"strconv"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/modhunt/modhunt/tables/deps"
	"github.com/modhunt/modhunt/test/sim"
)

// TestManagedLoadsReachTheRules: a real Mono host's Assembly.Load(byte[])
// assembly is an event the rules see (no path; AssemblyName, InMemory,
// Runtime), and a native process beside it brings no managed event.
func TestManagedLoadsReachTheRules(t *testing.T) {
	t.Parallel()
	sim.NeedRoot(t)
	dir := t.TempDir()
	require.NoError(t, os.WriteFile(filepath.Join(dir, "inmem.yml"), []byte(`title: In-Memory Assembly In A Mono Host
id: 5d0f3f8e-2b7a-4c55-9d61-0c6a1b2e7f10
level: informational
logsource: {category: image_load, product: linux}
detection:
    sel:
        AssemblyName: 'InMemory'
        InMemory: true
        Runtime: 'mono'
    condition: sel
`), 0o644))
	tb, err := New(deps.Deps{RuleDirs: []string{dir}})
	require.NoError(t, err)
	mono := sim.StartMonoHost(t)
	native := sim.StartNoWait(t, "sleep", "3600")

	rows, err := tb.Generate(context.Background(), pidQuery(mono.PID, native.PID))
	require.NoError(t, err)
	var hits []map[string]any
	for _, r := range rows {
		if r[col("rule_title")] != "In-Memory Assembly In A Mono Host" {
			continue
		}
		assert.Equal(t, strconv.Itoa(mono.PID), r[col("pid")])
		assert.Empty(t, r[col("path")], "an assembly only in memory has no path")
		var ev map[string]any
		require.NoError(t, json.Unmarshal([]byte(r[col("fields")]), &ev))
		hits = append(hits, ev)
	}
	require.Len(t, hits, 1, "one event for the one in-memory assembly")
	assert.Equal(t, "1.0.0.0", hits[0]["AssemblyVersion"])
	assert.Equal(t, true, hits[0]["InMemory"])
	assert.Contains(t, hits[0]["Image"], "mono")
}
