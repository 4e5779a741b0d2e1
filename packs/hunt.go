// Package packs holds modhunt's hunts: one SQL file per hunt under hunts/,
// each with a header that says what it looks for, where it runs, how often
// and why. The osquery packs, the Fleet GitOps files and `modhunt.ext hunt`
// are all generated from these files, so a hunt is written once.
package packs

import (
	"bufio"
	"fmt"
	"regexp"
	"slices"
	"strconv"
	"strings"

	"github.com/modhunt/modhunt/internal/platform"
)

// Platform values a hunt may name, as osquery spells them (osquery's
// checkPlatform in osquery/core/system.cpp): the OS names of package
// platform, and two that stand for several.
const (
	PlatformLinux   = platform.Linux
	PlatformWindows = platform.Windows
	PlatformDarwin  = platform.Darwin
	PlatformPosix   = "posix"
	PlatformAll     = "all"
)

// headerPlatforms are the values a hunt's or a schema's `-- platform:` may take.
var headerPlatforms = []string{PlatformLinux, PlatformWindows, PlatformDarwin, PlatformPosix, PlatformAll}

// Logging modes, in Fleet's vocabulary; osquery's snapshot/removed options
// follow from them (Fleet server/fleet/queries.go GetSnapshot/GetRemoved).
const (
	LoggingSnapshot                   = "snapshot"
	LoggingDifferential               = "differential"
	LoggingDifferentialIgnoreRemovals = "differential_ignore_removals"
)

// Kinds of hunt. A detection returns no rows on a healthy host, so any row
// is a finding; an inventory always returns rows and exists to be stacked
// across the fleet in a SIEM, so `modhunt.ext hunt` does not treat its rows
// as findings.
const (
	KindDetection = "detection"
	KindInventory = "inventory"
)

// MaxInterval is osquery's kMaxQueryInterval (osquery/config/packs.cpp): a
// pack query with a longer interval, or one <= 0, is skipped with a warning.
const MaxInterval = 604800

// Hunt is one parsed hunt file.
type Hunt struct {
	File           string   // path relative to hunts/, e.g. linux/untrusted_module_memfd.sql
	Name           string   // equals the file's base name; becomes the osquery query name
	Description    string   // one line: what a row means
	Techniques     []string // ATT&CK ids, e.g. T1129, T1574.006
	Platform       string   // one of the Platform* values, as the header says
	Platforms      []string // where it can run: the header's platforms every table it reads exists on (set by Load)
	Interval       int      // seconds
	Logging        string   // one of the Logging* values
	Kind           string   // KindDetection or KindInventory
	Tables         []string // every table the query reads, modhunt's and osquery's
	Why            string   // the reason the hunt exists
	FalsePositives string   // what benign rows look like and how to allowlist them
	Policy         string   // optional: the name of the yes/no Fleet policy built from the query
	Resolution     string   // required with Policy: what to do when the policy fails
	SQL            string   // the query, without a trailing semicolon
}

// header fields, in the order they are documented; required ones first.
var (
	requiredFields = []string{"name", "description", "technique", "platform", "interval", "logging", "tables", "why", "false_positives"}
	optionalFields = []string{"kind", "policy", "resolution"}
)

var (
	// nameRE is snake_case, for hunt names and the table names they read.
	nameRE      = regexp.MustCompile(`^[a-z][a-z0-9_]*$`)
	techniqueRE = regexp.MustCompile(`^T[0-9]{4}(\.[0-9]{3})?$`)
	fieldRE     = regexp.MustCompile(`^--\s?([a-z_]+):\s*(.*)$`)
)

// ParseError names the file, line and header field a problem was found at.
type ParseError struct {
	File  string
	Line  int
	Field string
	Msg   string
}

func (e *ParseError) Error() string {
	if e.Field == "" {
		return fmt.Sprintf("%s:%d: %s", e.File, e.Line, e.Msg)
	}
	return fmt.Sprintf("%s:%d: %s: %s", e.File, e.Line, e.Field, e.Msg)
}

// Parse reads one hunt file. The header is the leading block of `-- field:
// value` comment lines; a line `--   more text` (two or more spaces after the
// dashes) continues the previous field. The first line that is not a comment
// starts the SQL, which runs to the end of the file.
func Parse(file string, src []byte) (*Hunt, error) {
	fields := map[string]string{}
	lines := map[string]int{}
	var sqlLines []string
	last := ""
	inHeader := true
	sc := bufio.NewScanner(strings.NewReader(string(src)))
	sc.Buffer(make([]byte, 0, 64*1024), 1024*1024)
	n := 0
	for sc.Scan() {
		n++
		line := strings.TrimRight(sc.Text(), " \t\r")
		if !inHeader {
			sqlLines = append(sqlLines, line)
			continue
		}
		trimmed := strings.TrimSpace(line)
		switch {
		case trimmed == "" || trimmed == "--":
			last = ""
			continue
		case !strings.HasPrefix(trimmed, "--"):
			inHeader = false
			sqlLines = append(sqlLines, line)
			continue
		}
		if m := fieldRE.FindStringSubmatch(trimmed); m != nil && !strings.HasPrefix(trimmed, "--  ") {
			key, val := m[1], strings.TrimSpace(m[2])
			if !slices.Contains(requiredFields, key) && !slices.Contains(optionalFields, key) {
				return nil, &ParseError{file, n, key, "unknown header field (known: " + strings.Join(append(slices.Clone(requiredFields), optionalFields...), ", ") + ")"}
			}
			if _, dup := fields[key]; dup {
				return nil, &ParseError{file, n, key, fmt.Sprintf("given twice (first on line %d)", lines[key])}
			}
			fields[key], lines[key], last = val, n, key
			continue
		}
		if strings.HasPrefix(trimmed, "--  ") && last != "" {
			fields[last] = strings.TrimSpace(fields[last] + " " + strings.TrimSpace(trimmed[2:]))
			continue
		}
		return nil, &ParseError{file, n, "", "header line is neither `-- field: value` nor an indented continuation"}
	}
	if err := sc.Err(); err != nil {
		return nil, &ParseError{file, n, "", err.Error()}
	}

	h := &Hunt{File: file}
	for _, f := range requiredFields {
		if fields[f] == "" {
			l := lines[f]
			if l == 0 {
				l = 1 // missing: point at the header
			}
			return nil, &ParseError{file, l, f, "required header field missing or empty"}
		}
	}
	perr := func(f, format string, a ...any) error {
		return &ParseError{file, lines[f], f, fmt.Sprintf(format, a...)}
	}

	h.Name = fields["name"]
	if !nameRE.MatchString(h.Name) {
		return nil, perr("name", "%q is not snake_case ([a-z][a-z0-9_]*)", h.Name)
	}
	if base := baseName(file); base != h.Name {
		return nil, perr("name", "%q differs from the file name %q", h.Name, base)
	}
	h.Description = fields["description"]
	for _, t := range splitList(fields["technique"]) {
		if !techniqueRE.MatchString(t) {
			return nil, perr("technique", "%q is not an ATT&CK technique id (T1129 or T1574.006)", t)
		}
		h.Techniques = append(h.Techniques, t)
	}
	h.Platform = fields["platform"]
	if !slices.Contains(headerPlatforms, h.Platform) {
		return nil, perr("platform", "%q is not one of %s", h.Platform, strings.Join(headerPlatforms, ", "))
	}
	iv, err := strconv.Atoi(fields["interval"])
	if err != nil || iv < 1 || iv > MaxInterval {
		return nil, perr("interval", "%q is not a number of seconds in 1..%d", fields["interval"], MaxInterval)
	}
	h.Interval = iv
	h.Logging = fields["logging"]
	switch h.Logging {
	case LoggingSnapshot, LoggingDifferential, LoggingDifferentialIgnoreRemovals:
	default:
		return nil, perr("logging", "%q is not one of snapshot, differential, differential_ignore_removals", h.Logging)
	}
	h.Kind = KindDetection
	if k, ok := fields["kind"]; ok {
		if k != KindDetection && k != KindInventory {
			return nil, perr("kind", "%q is not detection or inventory", k)
		}
		h.Kind = k
	}
	for _, t := range splitList(fields["tables"]) {
		if !nameRE.MatchString(t) {
			return nil, perr("tables", "%q is not a table name", t)
		}
		if slices.Contains(h.Tables, t) {
			return nil, perr("tables", "%q listed twice", t)
		}
		h.Tables = append(h.Tables, t)
	}
	h.Why = fields["why"]
	h.FalsePositives = fields["false_positives"]
	h.Policy = fields["policy"]
	h.Resolution = fields["resolution"]
	if h.Policy != "" && h.Resolution == "" {
		return nil, perr("policy", "a policy needs a `-- resolution:` saying what to do when it fails")
	}
	if h.Policy == "" && h.Resolution != "" {
		return nil, perr("resolution", "given without a `-- policy:`")
	}
	if h.Policy != "" && h.Kind == KindInventory {
		return nil, perr("policy", "an inventory returns rows on healthy hosts, so it cannot be a yes/no policy")
	}

	h.SQL = cleanSQL(sqlLines)
	if h.SQL == "" {
		return nil, &ParseError{file, n, "", "no SQL after the header"}
	}
	if strings.Contains(h.SQL, ";") {
		return nil, &ParseError{file, n, "", "one statement per hunt: the SQL may end with a semicolon but contain no other"}
	}
	read := referencedTables(h.SQL)
	for _, t := range read {
		if !slices.Contains(h.Tables, t) {
			return nil, perr("tables", "the query reads %s, which the header does not list", t)
		}
	}
	// The list decides the pack a hunt goes into and what its discovery
	// waits for, so a table the query does not read would gate the hunt
	// behind an extension it does not need.
	for _, t := range h.Tables {
		if !slices.Contains(read, t) {
			return nil, perr("tables", "the header lists %s, which the query does not read", t)
		}
	}
	return h, nil
}

// cleanSQL joins the SQL lines, dropping blank edges and one trailing
// semicolon; the result is embedded in JSON and YAML, so it is kept as the
// author wrote it otherwise.
func cleanSQL(lines []string) string {
	s := strings.TrimSpace(strings.Join(lines, "\n"))
	s = strings.TrimSpace(strings.TrimSuffix(s, ";"))
	return s
}

func splitList(s string) []string {
	var out []string
	for p := range strings.SplitSeq(s, ",") {
		if p = strings.TrimSpace(p); p != "" {
			out = append(out, p)
		}
	}
	return out
}

func baseName(file string) string {
	if i := strings.LastIndexByte(file, '/'); i >= 0 {
		file = file[i+1:]
	}
	return strings.TrimSuffix(file, ".sql")
}

// fromRE finds the table names after FROM and JOIN. It is a check that the
// header is complete, not a SQL parser: the header's list is what decides
// where a hunt can run, and the SQLite parse in the tests catches the rest.
var fromRE = regexp.MustCompile(`(?i)\b(?:from|join)\s+([a-z_][a-z0-9_]*)`)

// cteRE finds the names a WITH clause defines, which FROM may name too.
var cteRE = regexp.MustCompile(`(?i)\b([a-z_][a-z0-9_]*)\s+as\s*\(`)

func referencedTables(sql string) []string {
	sql = stripComments(sql)
	var ctes []string
	for _, m := range cteRE.FindAllStringSubmatch(sql, -1) {
		ctes = append(ctes, strings.ToLower(m[1]))
	}
	var out []string
	for _, m := range fromRE.FindAllStringSubmatch(sql, -1) {
		t := strings.ToLower(m[1])
		if !slices.Contains(out, t) && !slices.Contains(ctes, t) {
			out = append(out, t)
		}
	}
	return out
}

func stripComments(sql string) string {
	var b strings.Builder
	for line := range strings.SplitSeq(sql, "\n") {
		if i := strings.Index(line, "--"); i >= 0 {
			line = line[:i]
		}
		b.WriteString(line)
		b.WriteByte('\n')
	}
	return b.String()
}

// osPlatforms are the platforms packs are generated for, in the order
// Fleet lists them.
var osPlatforms = []string{PlatformDarwin, PlatformLinux, PlatformWindows}

// expandPlatform turns a header platform into the OS platforms it means.
func expandPlatform(p string) []string {
	switch p {
	case PlatformAll:
		return slices.Clone(osPlatforms)
	case PlatformPosix:
		return []string{PlatformDarwin, PlatformLinux}
	default:
		return []string{p}
	}
}

// RunsOn reports whether the hunt runs on the given osquery platform
// (linux, windows or darwin): one its header names and every table it reads
// exists on.
func (h *Hunt) RunsOn(platform string) bool {
	if h.Platforms != nil {
		return slices.Contains(h.Platforms, platform)
	}
	return slices.Contains(expandPlatform(h.Platform), platform)
}
