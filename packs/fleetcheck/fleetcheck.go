// Package fleetcheck reads Fleet GitOps lib files (the lists of reports,
// policies and labels a fleets/*.yml or default.yml includes with `- path:`)
// the way `fleetctl gitops` reads them, and reports everything Fleet would
// refuse, silently drop, or accept but never run.
//
// It encodes the rules of Fleet's GitOps parser (fleetdm/fleet
// pkg/spec/gitops.go and the fleet.*Spec structs it decodes into) for
// MinFleetVersion and every later release: a key is accepted only if
// MinFleetVersion already knows it (4.82 drops unknown keys silently, 4.83
// and later refuse them), and a value only if every release from
// MinFleetVersion on takes it. Where a rule comes from the server rather
// than the parser (label platforms, report storage, scheduling), the comment
// names the server file. Sources were read from fleetdm/fleet's main branch
// and its pull requests; each rule cites the function it mirrors.
package fleetcheck

import (
	"bytes"
	"fmt"
	"math"
	"regexp"
	"slices"
	"sort"
	"strings"

	"gopkg.in/yaml.v3"
)

// MinFleetVersion is the oldest Fleet the generated files are written for.
// 4.82.0 renamed the GitOps keys `queries:` to `reports:` and `teams/` to
// `fleets/` (fleetdm/fleet#39238, #39572, #40586), and the documented
// include (`reports: [{path: ...}]` in fleets/*.yml) is only accepted from
// there on: older releases refuse `reports` as an "unknown top-level field"
// (GitOpsFromFile's topKeys).
const MinFleetVersion = "4.82.0"

// File is one lib file: its name (for messages) and content.
type File struct {
	Name string
	Data []byte
}

// Files are the three lib files a modhunt deployment includes.
type Files struct {
	Reports, Policies, Labels File
}

// Problem is one thing Fleet would refuse, drop or never run, located by
// file, line and item.
type Problem struct {
	File string
	Line int
	Item string // e.g. `reports[2] "modhunt: x"`; empty for the whole file
	Msg  string
}

func (p Problem) Error() string {
	if p.Item == "" {
		return fmt.Sprintf("%s:%d: %s", p.File, p.Line, p.Msg)
	}
	return fmt.Sprintf("%s:%d: %s: %s", p.File, p.Line, p.Item, p.Msg)
}

// kind is the Go type of a Fleet struct field, which decides what
// encoding/json accepts for it after ghodss/yaml's YAMLToJSON.
type kind int

const (
	kString     kind = iota // string: a JSON string or null
	kUint                   // uint: a non-negative integral number or null
	kBool                   // bool: true/false or null
	kStrings                // []string: a list of strings or null
	kObject                 // a struct pointer (run_script): an object or null
	kBoolOrObj              // optjson.BoolOr (install_software): a bool or an object
	kMembership             // fleet.LabelMembershipType: its UnmarshalJSON takes three strings
)

// reportFields are the JSON keys of spec.Query at MinFleetVersion:
// fleet.BaseItem (path, paths) and fleet.QuerySpec (server/fleet/queries.go:
// name, description, query, team, interval, observer_can_run, platform,
// min_osquery_version, automations_enabled, logging, discard_data,
// labels_include_any). `team` is left out: parseReports overwrites it with
// the including file's fleet (`item.QuerySpec.TeamName = ...`), so a lib
// file that sets it is misleading. labels_include_all came after 4.82
// (fleetdm/fleet#39915) and is left out too.
var reportFields = map[string]kind{
	"name": kString, "description": kString, "query": kString,
	"interval": kUint, "observer_can_run": kBool, "platform": kString,
	"min_osquery_version": kString, "automations_enabled": kBool, "logging": kString,
	"discard_data": kBool, "labels_include_any": kStrings,
}

// policyFields are the JSON keys of spec.Policy at MinFleetVersion that
// every later release keeps: fleet.PolicySpec (server/fleet/policies.go:
// name, query, description, critical, resolution, platform,
// calendar_events_enabled, labels_include_any, labels_exclude_any) and
// spec.GitOpsPolicySpec (run_script, install_software). `team` is set from
// the including file (parsePolicies: `item.Team = *result.TeamName`).
var policyFields = map[string]kind{
	"name": kString, "description": kString, "query": kString, "resolution": kString,
	"platform": kString, "critical": kBool, "calendar_events_enabled": kBool,
	"labels_include_any": kStrings, "labels_exclude_any": kStrings,
	"run_script": kObject, "install_software": kBoolOrObj,
}

// labelFields are the JSON keys of spec.Label (fleet.LabelSpec in
// server/fleet/labels.go) a lib file may set: name, description, query,
// platform, label_membership_type, hosts, criteria. id and label_type are
// server-assigned.
var labelFields = map[string]kind{
	"name": kString, "description": kString, "query": kString, "platform": kString,
	"label_membership_type": kMembership, "hosts": kStrings, "criteria": kObject,
}

// Values Fleet's verify functions accept.
var (
	// verifyLogging (server/fleet/queries.go); "" means snapshot.
	loggingValues = []string{"", "snapshot", "differential", "differential_ignore_removals"}
	// verifyQueryPlatforms (server/fleet/queries.go).
	reportPlatforms = []string{"windows", "linux", "darwin", "chrome"}
	// verifyPolicyPlatforms (server/fleet/policies.go) in every release
	// from MinFleetVersion on.
	policyPlatforms = []string{"windows", "linux", "darwin"}
	// Label platforms every release from MinFleetVersion on accepts and
	// that name a whole OS. A label's platform is compared for equality
	// with the host's os_version platform (server/datastore/mysql/labels.go:
	// `(platform = ? OR platform = '')` with platformForHost), which on
	// Linux is the distribution (ubuntu, rhel, debian, ...). `linux` itself
	// is accepted only from Fleet 4.91 (fleetdm/fleet#50270); 4.82.1 refuses
	// it with "invalid platform: linux" (fleetdm/fleet#42477), earlier
	// releases stored it and matched no host (fleetdm/fleet#39083). A comma
	// list was never accepted (fleetdm/fleet#50292).
	labelPlatforms = []string{"", "darwin", "windows"}
	// The distribution values Fleet documents before 4.91
	// (docs/Configuration/yaml-files.md, quoted in fleetdm/fleet#50255):
	// accepted, but a label with one of them reaches that distribution only.
	labelDistros = []string{"ubuntu", "centos"}
	// LabelMembershipType.UnmarshalJSON (server/fleet/labels.go).
	membershipTypes = []string{"dynamic", "manual", "host_vitals"}

	// validateSQLRegexp (server/fleet/queries.go): Fleet refuses ATTACH.
	attachRE = regexp.MustCompile(`(?i)attach[^\w]+.*[^\w]+as[^\w]+`)
	// osquery's version strings (Pack::checkVersion compares dotted numbers).
	versionRE = regexp.MustCompile(`^[0-9]+(\.[0-9]+)*$`)
)

// maxInterval is osquery's kMaxQueryInterval (osquery/config/packs.cpp):
// Fleet hands the interval to osquery's schedule, which skips a query with
// a longer one.
const maxInterval = 604800

type item struct {
	file  string
	line  int
	label string // for messages
	vals  map[string]any
	lines map[string]int
}

type checker struct{ problems []Problem }

func (c *checker) add(file string, line int, it string, format string, a ...any) {
	c.problems = append(c.problems, Problem{File: file, Line: line, Item: it, Msg: fmt.Sprintf(format, a...)})
}

func (c *checker) addItem(it *item, key string, format string, a ...any) {
	line := it.line
	if l, ok := it.lines[key]; ok {
		line = l
	}
	c.add(it.file, line, it.label, format, a...)
}

// Check reads the three files and returns every problem, sorted by file
// and line. An empty result means Fleet takes the files as they are and
// runs every report.
func Check(f Files) []Problem {
	var c checker
	labels := c.items(f.Labels, "labels", labelFields)
	reports := c.items(f.Reports, "reports", reportFields)
	policies := c.items(f.Policies, "policies", policyFields)

	defined := c.checkLabels(labels)
	c.checkReports(reports, defined)
	c.checkPolicies(policies, defined)
	sort.SliceStable(c.problems, func(i, j int) bool {
		a, b := c.problems[i], c.problems[j]
		if a.File != b.File {
			return a.File < b.File
		}
		return a.Line < b.Line
	})
	return c.problems
}

// items decodes a lib file the way parseReports/parsePolicies/parseLabels
// do: YamlUnmarshal into a list of items, then validateYAMLKeys against the
// item type (pkg/spec/gitops_validate.go), then encoding/json's types.
func (c *checker) items(f File, section string, fields map[string]kind) []*item {
	if len(bytes.TrimSpace(f.Data)) == 0 {
		c.add(f.Name, 1, "", "empty file: Fleet reads it as no %s at all", section)
		return nil
	}
	var doc yaml.Node
	if err := yaml.Unmarshal(f.Data, &doc); err != nil {
		c.add(f.Name, 1, "", "not YAML: %v", err)
		return nil
	}
	root := &doc
	if root.Kind == yaml.DocumentNode && len(root.Content) > 0 {
		root = root.Content[0]
	}
	if root.Kind != yaml.SequenceNode {
		// YamlUnmarshal(fileBytes, &pathQueries) wants []*Query.
		c.add(f.Name, root.Line, "", "a %s lib file is a YAML list of items; Fleet cannot unmarshal anything else into it", section)
		return nil
	}
	var out []*item
	for i, n := range root.Content {
		label := fmt.Sprintf("%s[%d]", section, i)
		if n.Kind != yaml.MappingNode {
			c.add(f.Name, n.Line, label, "an item must be a mapping of keys to values")
			continue
		}
		it := &item{file: f.Name, line: n.Line, label: label, vals: map[string]any{}, lines: map[string]int{}}
		for j := 0; j+1 < len(n.Content); j += 2 {
			k, v := n.Content[j], n.Content[j+1]
			key := k.Value
			it.lines[key] = k.Line
			val, err := value(v)
			if err != nil {
				c.add(f.Name, k.Line, label, "%s: %v", key, err)
				continue
			}
			it.vals[key] = val
		}
		if name, ok := it.vals["name"].(string); ok && name != "" {
			it.label = fmt.Sprintf("%s %q", label, name)
		}
		keys := make([]string, 0, len(it.vals))
		for k := range it.vals {
			keys = append(keys, k)
		}
		slices.Sort(keys)
		for _, k := range keys {
			if k == "path" || k == "paths" {
				// parseReports & co.: `nested paths are not supported`.
				c.addItem(it, k, "%s: nested paths are not supported: a lib file holds items, not references to other files", k)
				continue
			}
			fk, known := fields[k]
			if !known {
				c.addItem(it, k, "unknown key %q: Fleet %s ignores it and Fleet 4.83+ refuses the file (validateYAMLKeys)", k, MinFleetVersion)
				continue
			}
			if msg := typeProblem(fk, it.vals[k]); msg != "" {
				c.addItem(it, k, "%s: %s (json.Unmarshal into Fleet's struct fails: ParseTypeError)", k, msg)
			}
		}
		out = append(out, it)
	}
	return out
}

// typeProblem says why encoding/json would refuse v for a field of kind k.
func typeProblem(k kind, v any) string {
	if v == nil {
		return "" // JSON null leaves the zero value
	}
	switch k {
	case kString:
		if _, ok := v.(string); !ok {
			return fmt.Sprintf("expected a string, YAML 1.1 reads %T %v (quote it)", v, v)
		}
	case kUint:
		switch n := v.(type) {
		case int64:
			if n < 0 {
				return fmt.Sprintf("expected a non-negative integer, got %d", n)
			}
		case uint64:
		case float64:
			if n < 0 || n != math.Trunc(n) || math.IsInf(n, 0) || math.IsNaN(n) {
				return fmt.Sprintf("expected a non-negative integer, got %v", n)
			}
		default:
			return fmt.Sprintf("expected a number, got %T %v", v, v)
		}
	case kBool:
		if _, ok := v.(bool); !ok {
			return fmt.Sprintf("expected true or false, got %T %v", v, v)
		}
	case kStrings:
		list, ok := v.([]any)
		if !ok {
			return fmt.Sprintf("expected a list of strings, got %T %v", v, v)
		}
		for _, e := range list {
			if _, ok := e.(string); !ok && e != nil {
				return fmt.Sprintf("expected a list of strings, has %T %v", e, e)
			}
		}
	case kObject:
		if _, ok := v.(map[string]any); !ok {
			return fmt.Sprintf("expected a mapping, got %T", v)
		}
	case kBoolOrObj:
		_, isBool := v.(bool)
		_, isObj := v.(map[string]any)
		if !isBool && !isObj {
			return fmt.Sprintf("expected true, false or a mapping, got %T", v)
		}
	case kMembership:
		s, ok := v.(string)
		if !ok || !slices.Contains(membershipTypes, s) {
			return fmt.Sprintf("expected one of %s, got %v (LabelMembershipType.UnmarshalJSON)", strings.Join(membershipTypes, ", "), v)
		}
	}
	return ""
}

func str(it *item, key string) string { s, _ := it.vals[key].(string); return s }

func boolean(it *item, key string) bool { b, _ := it.vals[key].(bool); return b }

func uintVal(it *item, key string) (uint64, bool) {
	switch n := it.vals[key].(type) {
	case int64:
		if n >= 0 {
			return uint64(n), true
		}
	case uint64:
		return n, true
	case float64:
		if n >= 0 && n == math.Trunc(n) {
			return uint64(n), true
		}
	}
	return 0, false
}

func strs(it *item, key string) []string {
	list, _ := it.vals[key].([]any)
	var out []string
	for _, e := range list {
		if s, ok := e.(string); ok {
			out = append(out, s)
		}
	}
	return out
}

func isASCII(s string) bool {
	for _, r := range s {
		if r > 127 {
			return false
		}
	}
	return true
}

// commonItem applies what every kind of item shares: a required ASCII name
// and query, unique names (getDuplicateNames), and no ATTACH.
func (c *checker) commonItem(it *item, seen map[string]*item, what string) {
	name := str(it, "name")
	switch {
	case strings.TrimSpace(name) == "":
		c.addItem(it, "name", "name is required for each %s", what)
	case !isASCII(name):
		c.addItem(it, "name", "name must be in ASCII: %s", name)
	}
	if prev, dup := seen[name]; dup && name != "" {
		c.addItem(it, "name", "duplicate %s name %q (also at line %d)", what, name, prev.line)
	} else {
		seen[name] = it
	}
	q := str(it, "query")
	if attachRE.MatchString(q) {
		c.addItem(it, "query", "ATTACH not allowed in queries (validateSQLRegexp)")
	}
}

// checkLabels checks the labels and returns the names they define.
func (c *checker) checkLabels(labels []*item) map[string]bool {
	seen := map[string]*item{}
	for _, it := range labels {
		c.commonItem(it, seen, "label")
		mt := str(it, "label_membership_type")
		if _, set := it.vals["label_membership_type"]; !set {
			// An omitted type does not give a dynamic label: Fleet created
			// an empty manual label (fleetdm/fleet#38868, #39556).
			c.addItem(it, "name", "label_membership_type is missing: say dynamic for a query label")
		}
		hosts, hasHosts := it.vals["hosts"]
		switch mt {
		case "dynamic", "":
			// fleet.ValidateLabelMembershipFields: a dynamic label has a
			// query and no host list.
			if strings.TrimSpace(str(it, "query")) == "" {
				c.addItem(it, "query", "a dynamic label needs a query")
			}
			if hasHosts && hosts != nil {
				c.addItem(it, "hosts", "a dynamic label cannot list hosts")
			}
		case "manual":
			if str(it, "query") != "" {
				c.addItem(it, "query", "a manual label cannot have a query")
			}
		}
		p := str(it, "platform")
		switch {
		case p != "" && mt != "dynamic" && mt != "":
			c.addItem(it, "platform", "platform is only supported on dynamic labels")
		case strings.Contains(p, ","):
			c.addItem(it, "platform", "platform %q: a label takes one platform, never a list (fleetdm/fleet#50292); leave it empty and let the query decide", p)
		case p == "linux":
			c.addItem(it, "platform", "platform linux is accepted only from Fleet 4.91 (fleetdm/fleet#50270): 4.82.1+ refuses it and older releases match no host; leave it empty and let the query decide")
		case slices.Contains(labelDistros, p):
			c.addItem(it, "platform", "platform %q reaches only hosts whose os_version platform is exactly %q, not every Linux host; leave it empty and let the query decide", p, p)
		case !slices.Contains(labelPlatforms, p):
			c.addItem(it, "platform", "platform %q is not one Fleet %s accepts for labels (darwin, windows, or empty)", p, MinFleetVersion)
		}
	}
	out := map[string]bool{}
	for name := range seen {
		out[name] = true
	}
	return out
}

func (c *checker) checkPlatforms(it *item, allowed []string) {
	p := str(it, "platform")
	if p == "" {
		return
	}
	for part := range strings.SplitSeq(p, ",") {
		if !slices.Contains(allowed, strings.TrimSpace(part)) {
			c.addItem(it, "platform", "platform %q: each entry must be one of %s", p, strings.Join(allowed, ", "))
			return
		}
	}
}

// checkScope: labels_include_any must name labels that exist. With `labels:`
// managed by GitOps, every label a report or policy names must be in it
// (fleetdm/fleet#27887); the labels file here is where they come from.
func (c *checker) checkScope(it *item, defined map[string]bool) {
	for _, key := range []string{"labels_include_any", "labels_exclude_any"} {
		for _, l := range strs(it, key) {
			if !defined[l] {
				c.addItem(it, key, "%s names label %q, which the labels file does not define", key, l)
			}
		}
	}
}

func (c *checker) checkReports(reports []*item, labels map[string]bool) {
	seen := map[string]*item{}
	for _, it := range reports {
		c.commonItem(it, seen, "report")
		// validateReport (pkg/spec/gitops.go): name and query are required.
		if strings.TrimSpace(str(it, "query")) == "" {
			c.addItem(it, "query", "`query` is required for each report")
		}
		logging := str(it, "logging")
		if !slices.Contains(loggingValues, logging) {
			c.addItem(it, "logging", "logging %q: invalid logging value, must be one of snapshot, differential, differential_ignore_removals", logging)
		}
		c.checkPlatforms(it, reportPlatforms)
		if v := str(it, "min_osquery_version"); v != "" && !versionRE.MatchString(v) {
			c.addItem(it, "min_osquery_version", "min_osquery_version %q is not a dotted osquery version", v)
		}
		c.checkScope(it, labels)

		interval, _ := uintVal(it, "interval")
		automations := boolean(it, "automations_enabled")
		discard := boolean(it, "discard_data")
		snapshot := logging == "" || logging == "snapshot"
		switch {
		case interval == 0:
			// Query.Interval: "if 0 then, this query will never run".
			c.addItem(it, "interval", "interval is 0 or missing: Fleet never schedules the report")
		case interval > maxInterval:
			c.addItem(it, "interval", "interval %d is above osquery's maximum %d: osquery skips the query", interval, maxInterval)
		}
		// A report is in a host's schedule only when it sends rows
		// somewhere: `q.automations_enabled IS TRUE OR (q.discard_data IS
		// FALSE AND q.logging_type = 'snapshot')` (server/datastore/mysql,
		// the scheduled-queries filter).
		if interval > 0 && !automations && (discard || !snapshot) {
			c.addItem(it, "automations_enabled", "the report sends its rows nowhere (no automations, and no stored snapshot): Fleet leaves it out of every host's schedule")
		}
		// saveResultLogsToQueryReports (server/service/osquery.go) skips a
		// result `if dbQuery.DiscardData || dbQuery.Logging !=
		// fleet.LoggingSnapshot`: only snapshot reports keep rows on their
		// page. A differential report that does not say discard_data shows
		// an empty page that looks like "no findings".
		if !snapshot && !discard {
			c.addItem(it, "discard_data", "logging %s keeps no rows on the report page (Fleet stores snapshot results only): set discard_data: true so the page says so, or use snapshot", logging)
		}
	}
}

func (c *checker) checkPolicies(policies []*item, labels map[string]bool) {
	seen := map[string]*item{}
	for _, it := range policies {
		c.commonItem(it, seen, "policy")
		// parsePolicies: `policy query is required for each policy`.
		if strings.TrimSpace(str(it, "query")) == "" {
			c.addItem(it, "query", "policy query is required for each policy")
		}
		c.checkPlatforms(it, policyPlatforms)
		c.checkScope(it, labels)
	}
}
