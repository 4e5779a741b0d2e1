package packs

import (
	"bytes"
	"encoding/json"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"gopkg.in/yaml.v3"

	"github.com/modhunt/modhunt/packs/fleetcheck"
)

// The committed outputs are what users download; they must be exactly what
// the hunts generate today.
func TestCommittedOutputsAreFresh(t *testing.T) {
	t.Parallel()
	hunts, err := Load()
	require.NoError(t, err)
	out, err := Generate(hunts)
	require.NoError(t, err)
	require.ElementsMatch(t, OutputFiles(), keys(out))
	for _, rel := range OutputFiles() {
		committed, err := os.ReadFile(filepath.FromSlash(rel))
		require.NoError(t, err, "%s is not committed; run make packs (go run ./packs/cmd/packgen)", rel)
		assert.True(t, bytes.Equal(committed, out[rel]), "packs/%s differs from a fresh generation; run make packs (go run ./packs/cmd/packgen)", rel)
	}
}

func keys[V any](m map[string]V) []string {
	var out []string
	for k := range m {
		out = append(out, k)
	}
	slices.Sort(out)
	return out
}

// Keys osquery's pack parser reads (osquery/config/packs.cpp at a5b14f63,
// Pack::initialize): anything else in a pack is a typo osquery ignores
// silently, so the test refuses it.
var (
	osqueryPackKeys  = []string{"shard", "platform", "version", "oncall", "discovery", "queries"}
	osqueryQueryKeys = []string{"query", "interval", "snapshot", "removed", "platform", "version", "shard", "denylist", "startup_priority", "description", "value"}
	// checkPlatform (osquery/core/system.cpp) matches substrings of these.
	osqueryPlatforms = []string{"linux", "darwin", "windows", "posix", "freebsd", "any", "all"}
	// kReservedDbPrefixes/Suffixes (osquery/database/database.cpp): names
	// osquery skips with a warning.
	reservedPrefixes = []string{"query.", "cache.", "config_views."}
	reservedSuffixes = []string{"epoch", "counter"}
)

func TestOsqueryPacksAreValidForOsquery(t *testing.T) {
	t.Parallel()
	hunts, err := Load()
	require.NoError(t, err)
	out, err := Generate(hunts)
	require.NoError(t, err)
	for _, pf := range packFiles {
		t.Run(pf.file, func(t *testing.T) {
			t.Parallel()
			mine := CorePack(hunts, pf.platform, pf.core)
			checkOsqueryPack(t, out[pf.file], pf.platform, len(mine), !pf.core && len(modhuntTables(mine)) > 0)
		})
	}
}

func checkOsqueryPack(t *testing.T, b []byte, platform string, nHunts int, needsExtension bool) {
	t.Helper()
	// Plain JSON: osquery's parser (rapidjson with default flags) takes no
	// comments or trailing commas, which encoding/json refuses too.
	require.True(t, json.Valid(b), "not plain JSON")
	var pack map[string]json.RawMessage
	require.NoError(t, json.Unmarshal(b, &pack))
	for k := range pack {
		assert.Contains(t, osqueryPackKeys, k, "pack key %q is not one osquery reads", k)
	}
	var p struct {
		Platform  string                                `json:"platform"`
		Discovery []string                              `json:"discovery"`
		Queries   map[string]map[string]json.RawMessage `json:"queries"`
	}
	require.NoError(t, json.Unmarshal(b, &p))
	assert.Equal(t, platform, p.Platform)
	require.Len(t, p.Queries, nHunts)
	// A pack that reads modhunt's tables must wait for them; one that reads
	// only osquery's runs anywhere.
	assert.Equal(t, needsExtension, len(p.Discovery) > 0, "discovery queries: %v", p.Discovery)
	for _, d := range p.Discovery {
		assert.Contains(t, d, "FROM osquery_registry")
		for _, s := range mustSchemas(t) {
			if s.Origin == OriginOsquery {
				assert.NotContains(t, d, "'"+s.Name+"'", "discovery waits for osquery's own table %s", s.Name)
			}
		}
	}
	for name, q := range p.Queries {
		for k := range q {
			assert.Contains(t, osqueryQueryKeys, k, "query %s: key %q is not one osquery reads", name, k)
		}
		for _, pre := range reservedPrefixes {
			assert.False(t, strings.HasPrefix(name, pre), "query name %s has a reserved prefix", name)
		}
		for _, suf := range reservedSuffixes {
			assert.False(t, strings.HasSuffix(name, suf), "query name %s has a reserved suffix", name)
		}
		var sql string
		require.NoError(t, json.Unmarshal(q["query"], &sql), name)
		assert.NotEmpty(t, sql, name)
		var interval int
		require.NoError(t, json.Unmarshal(q["interval"], &interval), "%s: interval must be a number", name)
		assert.True(t, interval >= 1 && interval <= MaxInterval, "%s: interval %d outside 1..%d", name, interval, MaxInterval)
		var qp string
		require.NoError(t, json.Unmarshal(q["platform"], &qp), name)
		for part := range strings.SplitSeq(qp, ",") {
			assert.Contains(t, osqueryPlatforms, part, "%s: platform %q", name, qp)
		}
		for _, flag := range []string{"snapshot", "removed"} {
			var v bool
			require.NoError(t, json.Unmarshal(q[flag], &v), "%s: %s must be a boolean", name, flag)
		}
	}
}

// The generated Fleet files must pass the checker of Fleet's GitOps parser
// and server rules for the minimum Fleet version the README names
// (fleetcheck): a label platform before 4.91, a key Fleet does not know, a
// report whose page stays empty or that never runs all fail here.
func TestFleetFilesPassFleetCheck(t *testing.T) {
	t.Parallel()
	hunts, err := Load()
	require.NoError(t, err)
	out, err := Generate(hunts)
	require.NoError(t, err)
	probs := fleetcheck.Check(fleetcheck.Files{
		Reports:  fleetcheck.File{Name: FleetReportsFile, Data: out[FleetReportsFile]},
		Policies: fleetcheck.File{Name: FleetPoliciesFile, Data: out[FleetPoliciesFile]},
		Labels:   fleetcheck.File{Name: FleetLabelsFile, Data: out[FleetLabelsFile]},
	})
	for _, p := range probs {
		t.Error(p.Error())
	}

	reports := decodeYAMLList(t, out[FleetReportsFile])
	require.Len(t, reports, len(hunts), "one report per hunt")
	byName := map[string]*Hunt{}
	for _, h := range hunts {
		byName[FleetName(h)] = h
	}
	for _, r := range reports {
		h := byName[r["name"].(string)]
		require.NotNil(t, h, r["name"])
		// Fleet keeps rows on the page of snapshot reports only; every
		// other report says so with discard_data.
		assert.Equal(t, h.Logging != LoggingSnapshot, r["discard_data"], "%s: discard_data", h.Name)
		assert.Equal(t, true, r["automations_enabled"], "%s: rows go to the log destination", h.Name)
	}
	var withPolicy int
	for _, h := range hunts {
		if h.Policy != "" {
			withPolicy++
		}
	}
	policies := decodeYAMLList(t, out[FleetPoliciesFile])
	require.Len(t, policies, withPolicy)
	require.NotZero(t, withPolicy, "the issue asks for yes/no policies")
	for _, p := range policies {
		assert.True(t, strings.HasPrefix(p["query"].(string), "SELECT 1 WHERE NOT EXISTS ("), "a Fleet policy passes when its query returns a row")
	}
	for _, l := range decodeYAMLList(t, out[FleetLabelsFile]) {
		assert.NotContains(t, l, "platform", "%v: the query decides the platform", l["name"])
	}
}

func decodeYAMLList(t *testing.T, b []byte) []map[string]any {
	t.Helper()
	var items []map[string]any
	require.NoError(t, yaml.Unmarshal(b, &items))
	return items
}

func TestSnapshotRemovedFollowsFleet(t *testing.T) {
	t.Parallel()
	for logging, want := range map[string][2]bool{
		LoggingSnapshot:                   {true, false},
		LoggingDifferential:               {false, true},
		LoggingDifferentialIgnoreRemovals: {false, false},
	} {
		s, r := SnapshotRemoved(logging)
		assert.Equal(t, want, [2]bool{s, r}, logging)
	}
}

func mustSchemas(t *testing.T) []Schema {
	t.Helper()
	s, err := Schemas()
	require.NoError(t, err)
	return s
}

// The version the checker reads Fleet's rules for is the one the READMEs
// tell users to run, and the generated files claim no other.
func TestDocsNameTheCheckedFleetVersion(t *testing.T) {
	t.Parallel()
	for _, f := range []string{"README.md", filepath.Join("..", "README.md")} {
		b, err := os.ReadFile(f)
		require.NoError(t, err)
		assert.Contains(t, string(b), "Fleet "+fleetcheck.MinFleetVersion, f)
		assert.NotContains(t, string(b), "Fleet 4.82+", "%s: name the checked version exactly", f)
	}
	hunts, err := Load()
	require.NoError(t, err)
	out, err := Generate(hunts)
	require.NoError(t, err)
	for _, f := range []string{FleetReportsFile, FleetPoliciesFile, FleetLabelsFile} {
		assert.Contains(t, string(out[f]), "(Fleet "+fleetcheck.MinFleetVersion+"+)", f)
	}
}
