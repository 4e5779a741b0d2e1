package fleetcheck

import (
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

const goodLabels = `- name: ext loaded (linux)
  description: hosts with the extension
  query: SELECT 1 FROM osquery_info WHERE (platform_mask & 8) = 8
  label_membership_type: dynamic
`

const goodReports = `- name: 'modhunt: a'
  description: one
  query: |-
    SELECT pid
    FROM untrusted_module_loads
  interval: 900
  platform: linux
  logging: snapshot
  min_osquery_version: 5.0.0
  observer_can_run: false
  automations_enabled: true
  discard_data: false
  labels_include_any:
    - ext loaded (linux)
- name: 'modhunt: b'
  description: two
  query: SELECT 1
  interval: 21600
  platform: darwin,linux,windows
  logging: differential
  automations_enabled: true
  discard_data: true
`

const goodPolicies = `- name: 'modhunt: no a'
  description: one
  resolution: fix it
  query: SELECT 1 WHERE NOT EXISTS (SELECT 1)
  platform: linux
  critical: false
  labels_include_any:
    - ext loaded (linux)
`

func files(reports, policies, labels string) Files {
	return Files{
		Reports:  File{"r.yml", []byte(reports)},
		Policies: File{"p.yml", []byte(policies)},
		Labels:   File{"l.yml", []byte(labels)},
	}
}

func TestGoodFilesPass(t *testing.T) {
	t.Parallel()
	assert.Empty(t, Check(files(goodReports, goodPolicies, goodLabels)))
}

// Each case breaks one rule of Fleet's parser or server and must be
// reported, with the file and line it is on: a checker that lets any of
// them through would pass files Fleet refuses or never runs.
func TestEachRuleRejects(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name                      string
		reports, policies, labels string
		file                      string
		line                      int
		want                      string
	}{
		// Keys (validateYAMLKeys against spec.Query / spec.Policy / spec.Label).
		{name: "unknown report key", reports: strings.Replace(goodReports, "  discard_data: false\n", "  snapshot: true\n", 1),
			file: "r.yml", line: 12, want: `unknown key "snapshot"`},
		{name: "misspelt policy key", policies: strings.Replace(goodPolicies, "resolution:", "resolve:", 1),
			file: "p.yml", line: 3, want: `unknown key "resolve"`},
		{name: "report key added after 4.82", reports: strings.Replace(goodReports, "  discard_data: false\n", "  labels_include_all: [x]\n", 1),
			file: "r.yml", line: 12, want: `unknown key "labels_include_all"`},
		{name: "team in a lib file", reports: strings.Replace(goodReports, "  discard_data: false\n", "  team: Servers\n", 1),
			file: "r.yml", line: 12, want: `unknown key "team"`},
		{name: "nested path", reports: goodReports + "- path: ../other.yml\n",
			file: "r.yml", line: 23, want: "nested paths are not supported"},
		{name: "not a list", labels: "name: x\nquery: SELECT 1\n",
			file: "l.yml", line: 1, want: "YAML list of items"},
		{name: "empty file", policies: "\n",
			file: "p.yml", line: 1, want: "empty file"},

		// Types, as YAMLToJSON (yaml.v2, YAML 1.1) + encoding/json see them.
		{name: "interval as a string", reports: strings.Replace(goodReports, "interval: 900", "interval: '900'", 1),
			file: "r.yml", line: 6, want: "interval: expected a number"},
		{name: "negative interval", reports: strings.Replace(goodReports, "interval: 900", "interval: -1", 1),
			file: "r.yml", line: 6, want: "non-negative integer"},
		{name: "fractional interval", reports: strings.Replace(goodReports, "interval: 900", "interval: 900.5", 1),
			file: "r.yml", line: 6, want: "non-negative integer"},
		{name: "YAML 1.1 bool where a string goes", reports: strings.Replace(goodReports, "description: one", "description: yes", 1),
			file: "r.yml", line: 2, want: "expected a string, YAML 1.1 reads bool true"},
		{name: "YAML 1.1 float version", reports: strings.Replace(goodReports, "min_osquery_version: 5.0.0", "min_osquery_version: 5.10", 1),
			file: "r.yml", line: 9, want: "expected a string, YAML 1.1 reads float64"},
		{name: "bool as a string", reports: strings.Replace(goodReports, "automations_enabled: true\n  discard_data: false", "automations_enabled: 'true'\n  discard_data: false", 1),
			file: "r.yml", line: 11, want: "expected true or false"},
		{name: "labels as a string", policies: strings.Replace(goodPolicies, "labels_include_any:\n    - ext loaded (linux)", "labels_include_any: ext loaded (linux)", 1),
			file: "p.yml", line: 7, want: "expected a list of strings"},
		{name: "bad membership type", labels: strings.Replace(goodLabels, "dynamic", "automatic", 1),
			file: "l.yml", line: 4, want: "LabelMembershipType"},

		// Values Fleet's verify functions refuse.
		{name: "logging", reports: strings.Replace(goodReports, "logging: snapshot", "logging: events", 1),
			file: "r.yml", line: 8, want: "invalid logging value"},
		{name: "report platform", reports: strings.Replace(goodReports, "platform: linux", "platform: posix", 1),
			file: "r.yml", line: 7, want: `platform "posix"`},
		{name: "policy platform", policies: strings.Replace(goodPolicies, "platform: linux", "platform: linux,chrome", 1),
			file: "p.yml", line: 5, want: "darwin"},
		{name: "report without query", reports: strings.Replace(goodReports, "  query: SELECT 1\n", "", 1),
			file: "r.yml", line: 15, want: "`query` is required"},
		{name: "policy without name", policies: strings.Replace(goodPolicies, "- name: 'modhunt: no a'\n  description", "- description", 1),
			file: "p.yml", line: 1, want: "name is required"},
		{name: "non-ASCII name", reports: strings.Replace(goodReports, "'modhunt: a'", "'modhunt: ä'", 1),
			file: "r.yml", line: 1, want: "ASCII"},
		{name: "duplicate report", reports: strings.Replace(goodReports, "'modhunt: b'", "'modhunt: a'", 1),
			file: "r.yml", line: 15, want: "duplicate report name"},
		{name: "ATTACH", policies: strings.Replace(goodPolicies, "SELECT 1 WHERE", "ATTACH '/tmp/x' AS x; SELECT 1 WHERE", 1),
			file: "p.yml", line: 4, want: "ATTACH"},
		{name: "version", reports: strings.Replace(goodReports, "min_osquery_version: 5.0.0", "min_osquery_version: latest", 1),
			file: "r.yml", line: 9, want: "dotted osquery version"},

		// Labels: membership rules and the platform a label can carry.
		{name: "label platform linux", labels: goodLabels + "  platform: linux\n",
			file: "l.yml", line: 5, want: "Fleet 4.91"},
		{name: "label platform list", labels: goodLabels + "  platform: darwin,linux\n",
			file: "l.yml", line: 5, want: "never a list"},
		{name: "label platform distro", labels: goodLabels + "  platform: ubuntu\n",
			file: "l.yml", line: 5, want: "reaches only hosts"},
		{name: "label platform unknown", labels: goodLabels + "  platform: solaris\n",
			file: "l.yml", line: 5, want: `platform "solaris"`},
		{name: "label without type", labels: strings.Replace(goodLabels, "  label_membership_type: dynamic\n", "", 1),
			file: "l.yml", line: 1, want: "label_membership_type is missing"},
		{name: "dynamic label with hosts", labels: goodLabels + "  hosts: [a]\n",
			file: "l.yml", line: 5, want: "cannot list hosts"},
		{name: "dynamic label without query", labels: strings.Replace(goodLabels, "  query: SELECT 1 FROM osquery_info WHERE (platform_mask & 8) = 8\n", "", 1),
			file: "l.yml", line: 1, want: "needs a query"},
		{name: "undefined label", reports: strings.Replace(goodReports, "- ext loaded (linux)", "- ext loaded (windows)", 1),
			file: "r.yml", line: 13, want: `label "ext loaded (windows)"`},

		// Scheduling and storage semantics.
		{name: "interval 0", reports: strings.Replace(goodReports, "interval: 900", "interval: 0", 1),
			file: "r.yml", line: 6, want: "never schedules"},
		{name: "interval above osquery's maximum", reports: strings.Replace(goodReports, "interval: 900", "interval: 604801", 1),
			file: "r.yml", line: 6, want: "osquery skips"},
		{name: "report that sends rows nowhere", reports: strings.Replace(goodReports, "  automations_enabled: true\n  discard_data: true\n", "  automations_enabled: false\n  discard_data: true\n", 1),
			file: "r.yml", line: 21, want: "leaves it out of every host's schedule"},
		{name: "differential report with an empty page", reports: strings.Replace(goodReports, "discard_data: true", "discard_data: false", 1),
			file: "r.yml", line: 22, want: "keeps no rows on the report page"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			r, p, l := goodReports, goodPolicies, goodLabels
			if tc.reports != "" {
				r = tc.reports
			}
			if tc.policies != "" {
				p = tc.policies
			}
			if tc.labels != "" {
				l = tc.labels
			}
			probs := Check(files(r, p, l))
			require.NotEmpty(t, probs, "the checker accepted a file Fleet would not")
			var found bool
			for _, pr := range probs {
				if strings.Contains(pr.Error(), tc.want) {
					found = true
					assert.Equal(t, tc.file, pr.File, pr.Error())
					assert.Equal(t, tc.line, pr.Line, pr.Error())
				}
			}
			assert.True(t, found, "want a problem containing %q, got %v", tc.want, probs)
		})
	}
}

// The YAML 1.1 resolution is what makes the type checks true to Fleet:
// yaml.v2 (under ghodss/yaml) reads these plain scalars differently from
// YAML 1.2.
func TestResolvePlainFollowsYAMLv2(t *testing.T) {
	t.Parallel()
	for in, want := range map[string]any{
		"yes": true, "On": true, "n": false, "OFF": false, "~": nil, "": nil, "Null": nil,
		"900": int64(900), "0x10": int64(16), "1_000": int64(1000), "-0b11": int64(-3),
		"5.10": 5.1, "1e3": 1000.0, "5.0.0": "5.0.0", "linux": "linux",
		"2026-01-02": "2026-01-02", "18446744073709551615": uint64(18446744073709551615),
	} {
		assert.Equal(t, want, resolvePlain(in), in)
	}
}
