package packs

import (
	"bytes"
	"encoding/json"
	"fmt"
	"slices"
	"strings"

	"gopkg.in/yaml.v3"

	"github.com/modhunt/modhunt/packs/fleetcheck"
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

// packFile is one osquery pack output: the platform it is for, and whether
// it holds the core-only hunts (no discovery) or the hunts that read
// modhunt's tables (discovery on those tables).
type packFile struct {
	file     string // relative to packs/
	platform string
	core     bool
}

// Outputs and the platform each osquery pack is for, named after it:
// modhunt-<platform>.conf and modhunt-<platform>-core.conf. Each platform
// gets two packs because osquery ANDs a pack's discovery queries over the
// whole pack: a hunt that reads only osquery's own tables must not sit
// behind the extension's discovery, or it never runs where the extension is
// missing, which is where it is most useful.
var packFiles = func() []packFile {
	var out []packFile
	for _, p := range []string{PlatformLinux, PlatformWindows, PlatformDarwin} {
		out = append(out,
			packFile{"modhunt-" + p + ".conf", p, false},
			packFile{"modhunt-" + p + "-core.conf", p, true})
	}
	return out
}()

// platformMask is the bit osquery_info.platform_mask has set on each
// platform (osquery's PlatformType, osquery/utils/info/platform_type.h:
// TYPE_WINDOWS 0x02, TYPE_LINUX 0x08, TYPE_OSX 0x10). The Fleet labels test
// it in their query instead of carrying a label platform, which Fleet before
// 4.91 compares with the host's distribution (see fleetcheck).
var platformMask = map[string]int{PlatformWindows: 0x02, PlatformLinux: 0x08, PlatformDarwin: 0x10}

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
		b, err := OsqueryPack(hunts, pf.platform, pf.core)
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

// CorePack returns the hunts of one platform that go into its core pack
// (core true: they read osquery's tables only) or its extension pack.
func CorePack(hunts []*Hunt, platform string, core bool) []*Hunt {
	var out []*Hunt
	for _, h := range ForPlatform(hunts, platform) {
		if h.CoreOnly() == core {
			out = append(out, h)
		}
	}
	return out
}

// OsqueryPack renders one osquery pack as plain JSON (no comments: osquery's
// parser takes none): the platform's core-only hunts without discovery, or
// its other hunts behind one discovery query per modhunt table they read.
func OsqueryPack(hunts []*Hunt, platform string, core bool) ([]byte, error) {
	mine := CorePack(hunts, platform, core)
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

// fleetReport and fleetPolicy use the GitOps keys of reports: and policies:
// items from fleetcheck.MinFleetVersion on (fleetcheck lists them with their
// Fleet sources); field order is the order they are written in.
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
	DiscardData        bool     `yaml:"discard_data"`
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

// fleetLabel has no platform: before Fleet 4.91 a label's platform must be
// a host's exact os_version platform (a distribution on Linux), so the
// query says which OS it is for (platformMask).
type fleetLabel struct {
	Name                string `yaml:"name"`
	Description         string `yaml:"description"`
	Query               string `yaml:"query"`
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

// KeepsReportRows reports whether Fleet keeps a hunt's rows on its report
// page: Fleet stores results of snapshot reports only
// (saveResultLogsToQueryReports in fleetdm/fleet server/service/osquery.go);
// any other logging sends rows to the log destination alone.
func KeepsReportRows(h *Hunt) bool { return h.Logging == LoggingSnapshot }

// FleetReports renders the reports file: every hunt, scheduled. Reports
// send their rows to the log destination (automations_enabled) because the
// SIEM is where a fleet's findings are triaged and stacked; a snapshot
// report also keeps its latest rows per host on its Fleet page, and any
// other report says discard_data so its page is not mistaken for "nothing
// found". Observers may not run them live because module rows carry
// command lines.
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
			DiscardData:        !KeepsReportRows(h),
			LabelsIncludeAny:   labelsFor(h),
		})
	}
	return renderYAML(fmt.Sprintf("# Fleet GitOps reports (Fleet %s+): include with `reports: [{path: ...}]`, see packs/README.md.\n", fleetcheck.MinFleetVersion), items)
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
	return renderYAML(fmt.Sprintf("# Fleet GitOps policies (Fleet %s+): include with `policies: [{path: ...}]`, see packs/README.md.\n"+
		"# Fleet runs policies on its own policy interval (osquery.policy_update_interval, 1h by default), not on the hunt's interval.\n", fleetcheck.MinFleetVersion), items)
}

// FleetLabels renders one label per platform that scopes the reports and
// policies to hosts running the extension with every table that platform's
// hunts read: Fleet's counterpart of a pack's discovery queries. Labels are
// global in Fleet, so this file is included from default.yml. The label
// carries no platform (Fleet before 4.91 matches a label platform against
// the host's distribution, so `linux` reaches no host); its query checks the
// OS through osquery_info.platform_mask instead.
func FleetLabels(hunts []*Hunt) ([]byte, error) {
	var items []fleetLabel
	for _, pf := range packFiles {
		if pf.core {
			continue
		}
		tables := modhuntTables(ForPlatform(hunts, pf.platform))
		if len(tables) == 0 {
			continue
		}
		items = append(items, fleetLabel{
			Name: ExtensionLabel(pf.platform),
			Description: "Hosts on " + pf.platform + " whose osqueryd has the modhunt extension loaded with every table the " +
				pf.platform + " reports and policies read: " + strings.Join(tables, ", ") + ".",
			Query:               LabelQuery(pf.platform, tables),
			LabelMembershipType: "dynamic",
		})
	}
	return renderYAML(fmt.Sprintf("# Fleet GitOps labels (Fleet %s+): include from default.yml with `labels: [{path: ...}]`, see packs/README.md\n"+
		"# (a labels: key makes GitOps manage every label, and Fleet 4.84+ refuses it unless the labels exception is off).\n", fleetcheck.MinFleetVersion), items)
}

// LabelQuery is the query of a platform's extension label: one row when the
// host runs that OS and osqueryd has every table active.
func LabelQuery(platform string, tables []string) string {
	quoted := make([]string, len(tables))
	for i, t := range tables {
		quoted[i] = "'" + t + "'"
	}
	// A scalar subquery instead of HAVING without GROUP BY, which older
	// SQLite releases reject.
	return fmt.Sprintf("SELECT 1 FROM osquery_info WHERE (platform_mask & %d) != 0 AND (SELECT COUNT(DISTINCT name) FROM osquery_registry WHERE registry = 'table' AND active = 1 AND name IN (%s)) = %d",
		platformMask[platform], strings.Join(quoted, ", "), len(tables))
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

// labelsFor returns the extension labels of the platforms a hunt runs on;
// a core-only hunt needs none, like its osquery pack needs no discovery.
func labelsFor(h *Hunt) []string {
	var out []string
	for _, pf := range packFiles {
		if !pf.core && h.RunsOn(pf.platform) && !h.CoreOnly() {
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
	b.WriteString("- **pack**: `core` hunts read osquery's own tables only and go into `modhunt-<os>-core.conf`, which has no\n")
	b.WriteString("  discovery query, so they run where the extension is missing; `extension` hunts go into `modhunt-<os>.conf`\n")
	b.WriteString("  behind its discovery queries (and, in Fleet, its label).\n")
	b.WriteString("- **Fleet report page**: Fleet keeps rows on a report's page for `snapshot` logging only; other hunts send\n")
	b.WriteString("  rows to the log destination alone and say `discard_data: true`.\n")
	b.WriteString("- **Fleet policy**: runs on Fleet's policy interval (1 h by default), not on the hunt's interval.\n\n")
	b.WriteString("| hunt | ATT&CK | runs on | pack | interval | logging | Fleet report page | tables | Fleet policy |\n|---|---|---|---|---|---|---|---|---|\n")
	for _, h := range hunts {
		pack, page := "extension", "log only"
		if h.CoreOnly() {
			pack = "core"
		}
		if KeepsReportRows(h) {
			page = "latest rows per host"
		}
		fmt.Fprintf(&b, "| [%s](#%s) | %s | %s | %s | %d s | %s | %s | %s | %s |\n", h.Name, h.Name, strings.Join(h.Techniques, ", "),
			FleetPlatform(h), pack, h.Interval, h.Logging, page, strings.Join(h.Tables, ", "), h.Policy)
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
