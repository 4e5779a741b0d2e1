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
			mine := ForPlatform(hunts, pf.platform)
			needsExtension := false
			for _, h := range mine {
				needsExtension = needsExtension || len(h.ModhuntTables()) > 0
			}
			checkOsqueryPack(t, out[pf.file], pf.platform, len(mine), needsExtension)
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

// Keys Fleet's GitOps parser knows, for the three kinds of item written
// here. Sources: Fleet 4.82+ GitOps reference as summarised in
// shared/research/osquery.md §3.2 (server/fleet/queries.go, pkg/spec/gitops.go
// with its renameto tags; fleetdm/fleet-gitops 91a5b08 "Update for Fleet
// 4.82.0"). Fleet rejects unknown keys in GitOps files ("unknown key").
var (
	fleetReportKeys = []string{"name", "description", "query", "interval", "platform", "logging",
		"min_osquery_version", "observer_can_run", "automations_enabled", "discard_data", "labels_include_any"}
	fleetPolicyKeys = []string{"name", "description", "resolution", "query", "platform", "critical",
		"calendar_events_enabled", "labels_include_any", "labels_exclude_any", "run_script", "install_software"}
	fleetLabelKeys      = []string{"name", "description", "query", "platform", "label_membership_type", "hosts"}
	fleetLoggingValues  = []string{LoggingSnapshot, LoggingDifferential, LoggingDifferentialIgnoreRemovals}
	fleetPlatformValues = []string{"darwin", "linux", "windows", "chrome"}
)

func TestFleetYAMLHasOnlyKeysFleetKnows(t *testing.T) {
	t.Parallel()
	hunts, err := Load()
	require.NoError(t, err)
	out, err := Generate(hunts)
	require.NoError(t, err)

	reports := decodeYAMLList(t, out[FleetReportsFile])
	require.Len(t, reports, len(hunts), "one report per hunt")
	labels := decodeYAMLList(t, out[FleetLabelsFile])
	var labelNames []string
	for _, l := range labels {
		checkKeys(t, FleetLabelsFile, l, fleetLabelKeys)
		assert.Equal(t, "dynamic", l["label_membership_type"])
		labelNames = append(labelNames, l["name"].(string))
	}
	for _, r := range reports {
		checkKeys(t, FleetReportsFile, r, fleetReportKeys)
		assert.Contains(t, fleetLoggingValues, r["logging"])
		iv, ok := r["interval"].(int)
		require.True(t, ok, "interval must be an integer: %v", r["interval"])
		assert.True(t, iv > 0 && iv <= MaxInterval)
		checkFleetPlatform(t, r["platform"].(string))
		checkLabelsDefined(t, r, labelNames)
	}
	policies := decodeYAMLList(t, out[FleetPoliciesFile])
	var withPolicy int
	for _, h := range hunts {
		if h.Policy != "" {
			withPolicy++
		}
	}
	require.Len(t, policies, withPolicy)
	require.NotZero(t, withPolicy, "the issue asks for yes/no policies")
	for _, p := range policies {
		checkKeys(t, FleetPoliciesFile, p, fleetPolicyKeys)
		assert.True(t, strings.HasPrefix(p["query"].(string), "SELECT 1 WHERE NOT EXISTS ("), "a Fleet policy passes when its query returns a row")
		assert.NotEmpty(t, p["resolution"])
		checkFleetPlatform(t, p["platform"].(string))
		checkLabelsDefined(t, p, labelNames)
	}
}

func decodeYAMLList(t *testing.T, b []byte) []map[string]any {
	t.Helper()
	var items []map[string]any
	require.NoError(t, yaml.Unmarshal(b, &items))
	return items
}

func checkKeys(t *testing.T, file string, item map[string]any, allowed []string) {
	t.Helper()
	for k := range item {
		assert.Contains(t, allowed, k, "%s: %v: key %q is not a Fleet GitOps key", file, item["name"], k)
	}
	for _, req := range []string{"name", "query"} {
		assert.NotEmpty(t, item[req], "%s: %s is required", file, req)
	}
}

func checkFleetPlatform(t *testing.T, p string) {
	t.Helper()
	for part := range strings.SplitSeq(p, ",") {
		assert.Contains(t, fleetPlatformValues, part, "Fleet platform %q", p)
	}
}

func checkLabelsDefined(t *testing.T, item map[string]any, labels []string) {
	t.Helper()
	ls, _ := item["labels_include_any"].([]any)
	for _, l := range ls {
		assert.Contains(t, labels, l, "%v names a label the labels file does not define", item["name"])
	}
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
