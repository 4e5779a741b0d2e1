package packs

import (
	"bytes"
	"encoding/json"
	"fmt"
	"slices"
	"strings"

	"gopkg.in/yaml.v3"
)

// MinOsqueryVersion goes into every pack and report as the oldest osquery
// that should run them. The 5.x line is the one modhunt is built and tested
// against (its extension protocol is what osquery-go speaks); an older
// osqueryd skips the queries instead of running them half-understood.
const MinOsqueryVersion = "5.0.0"

// ExtensionLabel names the Fleet label that plays the part of an osquery
// pack's discovery queries on one platform: reports and policies are scoped
// to hosts that have it.
func ExtensionLabel(platform string) string { return "modhunt extension loaded (" + platform + ")" }

// Outputs and the platform each osquery pack is for, keyed by path relative
// to packs/. macOS's file is named for the OS, its platform for osquery.
var packFiles = []struct{ file, platform string }{
	{"modhunt-linux.conf", PlatformLinux},
	{"modhunt-windows.conf", PlatformWindows},
	{"modhunt-macos.conf", PlatformDarwin},
}

// Paths of the Fleet GitOps outputs, relative to packs/.
const (
	FleetReportsFile  = "fleet/modhunt.reports.yml"
	FleetPoliciesFile = "fleet/modhunt.policies.yml"
	FleetLabelsFile   = "fleet/modhunt.labels.yml"
	IndexFile         = "HUNTS.md"
)

// Generate renders every output from the hunts: path (relative to packs/)
// to file content. It is a pure function of the hunts, so the committed
// outputs can be checked against a fresh run on any OS.
func Generate(hunts []*Hunt) (map[string][]byte, error) {
	out := map[string][]byte{}
	for _, pf := range packFiles {
		b, err := OsqueryPack(hunts, pf.platform)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", pf.file, err)
		}
		out[pf.file] = b
	}
	var err error
	if out[FleetReportsFile], err = FleetReports(hunts); err != nil {
		return nil, err
	}
	if out[FleetPoliciesFile], err = FleetPolicies(hunts); err != nil {
		return nil, err
	}
	if out[FleetLabelsFile], err = FleetLabels(hunts); err != nil {
		return nil, err
	}
	out[IndexFile] = Index(hunts)
	return out, nil
}

// OutputFiles lists every generated path, relative to packs/.
func OutputFiles() []string {
	var out []string
	for _, pf := range packFiles {
		out = append(out, pf.file)
	}
	return append(out, FleetReportsFile, FleetPoliciesFile, FleetLabelsFile, IndexFile)
}

// osqueryPack and osqueryQuery hold the keys osquery's pack parser reads
// (osquery/config/packs.cpp); field order is the order they are written in.
type osqueryPack struct {
	Platform  string                  `json:"platform"`
	Version   string                  `json:"version"`
	Discovery []string                `json:"discovery"`
	Queries   map[string]osqueryQuery `json:"queries"`
}

type osqueryQuery struct {
	Query       string `json:"query"`
	Interval    int    `json:"interval"`
	Platform    string `json:"platform"`
	Version     string `json:"version"`
	Snapshot    bool   `json:"snapshot"`
	Removed     bool   `json:"removed"`
	Description string `json:"description"`
	Value       string `json:"value"`
}

// SnapshotRemoved maps a Fleet logging mode onto osquery's two options, as
// Fleet does when it builds osquery's config (server/fleet/queries.go).
func SnapshotRemoved(logging string) (snapshot, removed bool) {
	switch logging {
	case LoggingSnapshot:
		return true, false
	case LoggingDifferential:
		return false, true
	default:
		return false, false
	}
}

// DiscoveryQueries returns one discovery query per modhunt table the hunts
// read. osquery ANDs a pack's discovery queries, so the pack runs only where
// the extension serving every one of its tables is loaded; elsewhere it is
// skipped quietly instead of failing each query at each interval.
func DiscoveryQueries(hunts []*Hunt) []string {
	tables := modhuntTables(hunts)
	out := make([]string, 0, len(tables))
	for _, t := range tables {
		out = append(out, discoveryQuery(t))
	}
	return out
}

func discoveryQuery(table string) string {
	return fmt.Sprintf("SELECT 1 FROM osquery_registry WHERE registry = 'table' AND name = '%s' AND active = 1", table)
}

// OsqueryPack renders the osquery pack for one platform as plain JSON (no
// comments: osquery's parser takes none).
func OsqueryPack(hunts []*Hunt, platform string) ([]byte, error) {
	mine := ForPlatform(hunts, platform)
	p := osqueryPack{
		Platform:  platform,
		Version:   MinOsqueryVersion,
		Discovery: DiscoveryQueries(mine),
		Queries:   map[string]osqueryQuery{},
	}
	for _, h := range mine {
		snap, removed := SnapshotRemoved(h.Logging)
		p.Queries[h.Name] = osqueryQuery{
			Query:       h.SQL,
			Interval:    h.Interval,
			Platform:    platform,
			Version:     MinOsqueryVersion,
			Snapshot:    snap,
			Removed:     removed,
			Description: h.Description,
			Value:       h.Why,
		}
	}
	var b bytes.Buffer
	enc := json.NewEncoder(&b)
	enc.SetIndent("", "  ")
	enc.SetEscapeHTML(false)
	if err := enc.Encode(p); err != nil {
		return nil, err
	}
	return b.Bytes(), nil
}

// FleetPlatform spells where a hunt runs the way Fleet's platform field
// does: a comma list of darwin, linux, windows.
func FleetPlatform(h *Hunt) string {
	var out []string
	for _, p := range osPlatforms {
		if h.RunsOn(p) {
			out = append(out, p)
		}
	}
	return strings.Join(out, ",")
}

// FleetName is the name a hunt has in Fleet: prefixed, so modhunt's reports
// and policies sort together and never collide with a fleet's own.
func FleetName(h *Hunt) string { return "modhunt: " + h.Name }

func fleetDescription(h *Hunt) string {
	return fmt.Sprintf("%s Techniques: %s. Why: %s False positives: %s",
		h.Description, strings.Join(h.Techniques, ", "), h.Why, h.FalsePositives)
}

// fleetReport and fleetPolicy use Fleet 4.82+ GitOps keys (reports: items
// and policies: items); field order is the order they are written in.
type fleetReport struct {
	Name               string   `yaml:"name"`
	Description        string   `yaml:"description"`
	Query              string   `yaml:"query"`
	Interval           int      `yaml:"interval"`
	Platform           string   `yaml:"platform"`
	Logging            string   `yaml:"logging"`
	MinOsqueryVersion  string   `yaml:"min_osquery_version"`
	ObserverCanRun     bool     `yaml:"observer_can_run"`
	AutomationsEnabled bool     `yaml:"automations_enabled"`
	LabelsIncludeAny   []string `yaml:"labels_include_any,omitempty"`
}

type fleetPolicy struct {
	Name             string   `yaml:"name"`
	Description      string   `yaml:"description"`
	Resolution       string   `yaml:"resolution"`
	Query            string   `yaml:"query"`
	Platform         string   `yaml:"platform"`
	Critical         bool     `yaml:"critical"`
	LabelsIncludeAny []string `yaml:"labels_include_any,omitempty"`
}

type fleetLabel struct {
	Name                string `yaml:"name"`
	Description         string `yaml:"description"`
	Query               string `yaml:"query"`
	Platform            string `yaml:"platform"`
	LabelMembershipType string `yaml:"label_membership_type"`
}

const yamlHeader = "# Generated by `make packs` (go run ./packs/cmd/packgen) from packs/hunts/. Do not edit:\n" +
	"# change the hunt's .sql file and regenerate.\n"

func renderYAML(comment string, v any) ([]byte, error) {
	var b bytes.Buffer
	b.WriteString(yamlHeader)
	b.WriteString(comment)
	enc := yaml.NewEncoder(&b)
	enc.SetIndent(2)
	if err := enc.Encode(v); err != nil {
		return nil, err
	}
	if err := enc.Close(); err != nil {
		return nil, err
	}
	return b.Bytes(), nil
}

// FleetReports renders the reports file: every hunt, scheduled. Reports
// send their rows to the log destination (automations_enabled) because the
// SIEM is where a fleet's findings are triaged and stacked; observers may not
// run them live because module rows carry command lines.
func FleetReports(hunts []*Hunt) ([]byte, error) {
	items := make([]fleetReport, 0, len(hunts))
	for _, h := range hunts {
		items = append(items, fleetReport{
			Name:               FleetName(h),
			Description:        fleetDescription(h),
			Query:              h.SQL,
			Interval:           h.Interval,
			Platform:           FleetPlatform(h),
			Logging:            h.Logging,
			MinOsqueryVersion:  MinOsqueryVersion,
			ObserverCanRun:     false,
			AutomationsEnabled: true,
			LabelsIncludeAny:   labelsFor(h),
		})
	}
	return renderYAML("# Fleet GitOps reports (Fleet 4.82+): include with `reports: [{path: ...}]`, see packs/README.md.\n", items)
}

// PolicyQuery turns a detection into Fleet's yes/no form: a Fleet policy
// passes when its query returns a row, so it returns one exactly when the
// hunt finds nothing.
func PolicyQuery(h *Hunt) string {
	return "SELECT 1 WHERE NOT EXISTS (\n" + h.SQL + "\n)"
}

// FleetPolicies renders the policies file: the hunts whose header names a
// policy.
func FleetPolicies(hunts []*Hunt) ([]byte, error) {
	var items []fleetPolicy
	for _, h := range hunts {
		if h.Policy == "" {
			continue
		}
		items = append(items, fleetPolicy{
			Name:             "modhunt: " + h.Policy,
			Description:      fleetDescription(h),
			Resolution:       h.Resolution,
			Query:            PolicyQuery(h),
			Platform:         FleetPlatform(h),
			Critical:         false,
			LabelsIncludeAny: labelsFor(h),
		})
	}
	return renderYAML("# Fleet GitOps policies (Fleet 4.82+): include with `policies: [{path: ...}]`, see packs/README.md.\n", items)
}

// FleetLabels renders one label per platform that scopes the reports and
// policies to hosts running the extension with every table that platform's
// hunts read: Fleet's counterpart of a pack's discovery queries. Labels are
// global in Fleet, so this file is included from default.yml.
func FleetLabels(hunts []*Hunt) ([]byte, error) {
	var items []fleetLabel
	for _, pf := range packFiles {
		tables := modhuntTables(ForPlatform(hunts, pf.platform))
		if len(tables) == 0 {
			continue
		}
		quoted := make([]string, len(tables))
		for i, t := range tables {
			quoted[i] = "'" + t + "'"
		}
		items = append(items, fleetLabel{
			Name: ExtensionLabel(pf.platform),
			Description: "Hosts whose osqueryd has the modhunt extension loaded with every table the " +
				pf.platform + " reports and policies read: " + strings.Join(tables, ", ") + ".",
			// A scalar subquery instead of HAVING without GROUP BY, which
			// older SQLite releases reject.
			Query: fmt.Sprintf("SELECT 1 WHERE (SELECT COUNT(DISTINCT name) FROM osquery_registry WHERE registry = 'table' AND active = 1 AND name IN (%s)) = %d",
				strings.Join(quoted, ", "), len(tables)),
			Platform:            pf.platform,
			LabelMembershipType: "dynamic",
		})
	}
	return renderYAML("# Fleet GitOps labels: include from default.yml with `labels: [{path: ...}]`, see packs/README.md.\n", items)
}

func modhuntTables(hunts []*Hunt) []string {
	var tables []string
	for _, h := range hunts {
		for _, t := range h.ModhuntTables() {
			if !slices.Contains(tables, t) {
				tables = append(tables, t)
			}
		}
	}
	slices.Sort(tables)
	return tables
}

// labelsFor returns the extension labels of the platforms a hunt runs on.
func labelsFor(h *Hunt) []string {
	var out []string
	for _, pf := range packFiles {
		if h.RunsOn(pf.platform) && len(h.ModhuntTables()) > 0 {
			out = append(out, ExtensionLabel(pf.platform))
		}
	}
	return out
}

// Index renders HUNTS.md: every hunt with where it runs, how often, what it
// reads and why, for people choosing what to deploy.
func Index(hunts []*Hunt) []byte {
	var b bytes.Buffer
	b.WriteString("# modhunt hunts\n\n")
	b.WriteString("Generated by `make packs` from `packs/hunts/`; do not edit. One section per hunt: what a row means,\n")
	b.WriteString("where and how often it runs, why it exists, and what its false positives look like.\n\n")
	b.WriteString("| hunt | ATT&CK | runs on | interval | logging | tables | Fleet policy |\n|---|---|---|---|---|---|---|\n")
	for _, h := range hunts {
		fmt.Fprintf(&b, "| [%s](#%s) | %s | %s | %d s | %s | %s | %s |\n", h.Name, h.Name, strings.Join(h.Techniques, ", "),
			FleetPlatform(h), h.Interval, h.Logging, strings.Join(h.Tables, ", "), h.Policy)
	}
	for _, h := range hunts {
		fmt.Fprintf(&b, "\n## %s\n\n%s\n\n", h.Name, h.Description)
		fmt.Fprintf(&b, "- Source: [`hunts/%s`](hunts/%s)\n", h.File, h.File)
		if h.Kind == KindInventory {
			b.WriteString("- Kind: inventory (returns rows on every host; stack them in the SIEM)\n")
		}
		fmt.Fprintf(&b, "- Why: %s\n- False positives: %s\n", h.Why, h.FalsePositives)
		if h.Policy != "" {
			fmt.Fprintf(&b, "- Fleet policy \"%s\"; when it fails: %s\n", h.Policy, h.Resolution)
		}
		fmt.Fprintf(&b, "\n```sql\n%s\n```\n", h.SQL)
	}
	return b.Bytes()
}
