package packs

import (
	_ "embed"
	"fmt"
	"regexp"
	"slices"
	"strings"
	"sync"
)

// Origins of a declared table.
const (
	OriginOsquery = "osquery" // an osquery core table (schema/osquery.sql)
	OriginModhunt = "modhunt" // one of modhunt's own tables (schema/modhunt.sql)
)

// Schema is one declared table: enough to create it in SQLite so a hunt can
// be parsed where the real table is not served.
type Schema struct {
	Name     string
	Platform string // all, posix, linux, windows, darwin
	Origin   string
	DDL      string // CREATE TABLE ...
}

var (
	//go:embed schema/osquery.sql
	osquerySchemaSQL string
	//go:embed schema/modhunt.sql
	modhuntSchemaSQL string
)

var createRE = regexp.MustCompile(`(?is)^CREATE TABLE\s+([a-z_][a-z0-9_]*)\s*\(`)

// Schemas returns every declared table, osquery's first.
func Schemas() ([]Schema, error) {
	all, err := schemas()
	return slices.Clone(all), err
}

// schemas parses the embedded declarations once: Load looks a table up for
// every table every hunt reads, and the files never change in a process.
var schemas = sync.OnceValues(func() ([]Schema, error) {
	core, err := parseSchemas("schema/osquery.sql", osquerySchemaSQL, OriginOsquery)
	if err != nil {
		return nil, err
	}
	own, err := parseSchemas("schema/modhunt.sql", modhuntSchemaSQL, OriginModhunt)
	if err != nil {
		return nil, err
	}
	return append(core, own...), nil
})

// parseSchemas reads a schema file: CREATE TABLE statements, each preceded
// by a `-- platform:` comment. Comments may hold semicolons; statements end
// at a line ending in one.
func parseSchemas(file, src, origin string) ([]Schema, error) {
	var out []Schema
	platform, start := "", 0
	var ddl []string
	for i, l := range strings.Split(src, "\n") {
		t := strings.TrimSpace(l)
		if p, ok := strings.CutPrefix(t, "-- platform:"); ok {
			platform = strings.TrimSpace(p)
			continue
		}
		if strings.HasPrefix(t, "--") || (t == "" && len(ddl) == 0) {
			continue
		}
		if len(ddl) == 0 {
			start = i + 1
		}
		ddl = append(ddl, l)
		if !strings.HasSuffix(t, ";") {
			continue
		}
		text := strings.TrimSpace(strings.Join(ddl, "\n"))
		ddl = nil
		m := createRE.FindStringSubmatch(text)
		if m == nil {
			return nil, fmt.Errorf("%s:%d: statement is not CREATE TABLE name (...)", file, start)
		}
		if !slices.Contains(headerPlatforms, platform) {
			return nil, fmt.Errorf("%s:%d: table %s: missing or bad `-- platform:` line (%q)", file, start, m[1], platform)
		}
		out = append(out, Schema{Name: strings.ToLower(m[1]), Platform: platform, Origin: origin, DDL: text})
		platform = ""
	}
	if len(ddl) > 0 {
		return nil, fmt.Errorf("%s:%d: statement does not end with a semicolon", file, start)
	}
	return out, nil
}

// coreTables is the set of table names in schema/osquery.sql. The package
// tests parse the embedded files, so a parse error never reaches a release;
// if it did, every table would count as modhunt's, which makes discovery
// stricter, not looser.
var coreTables = sync.OnceValue(func() map[string]bool {
	set := map[string]bool{}
	all, _ := schemas()
	for _, s := range all {
		if s.Origin == OriginOsquery {
			set[s.Name] = true
		}
	}
	return set
})

// IsCoreTable reports whether name is an osquery core table declared in
// schema/osquery.sql. Every other table a hunt names is taken to be modhunt's.
func IsCoreTable(name string) bool { return coreTables()[name] }

// ModhuntTables returns the modhunt tables a hunt reads, in header order.
func (h *Hunt) ModhuntTables() []string {
	var out []string
	for _, t := range h.Tables {
		if !IsCoreTable(t) {
			out = append(out, t)
		}
	}
	return out
}

// CoreOnly reports whether the hunt reads osquery's core tables only, so it
// runs without the extension and goes into the platform's core pack.
func (h *Hunt) CoreOnly() bool { return len(h.ModhuntTables()) == 0 }

// Columns returns the declared column names and types, in order.
func (s Schema) Columns() (names, types []string) {
	body := s.DDL[strings.IndexByte(s.DDL, '(')+1 : strings.LastIndexByte(s.DDL, ')')]
	for col := range strings.SplitSeq(body, ",") {
		f := strings.Fields(col)
		if len(f) < 2 {
			continue
		}
		names = append(names, strings.Trim(f[0], `"`+"`"))
		types = append(types, strings.ToUpper(f[1]))
	}
	return names, types
}

// Declared returns the declaration of a table in schema/*.sql.
func Declared(name string) (Schema, bool) {
	all, err := schemas()
	if err != nil {
		return Schema{}, false
	}
	for _, s := range all {
		if s.Name == name {
			return s, true
		}
	}
	return Schema{}, false
}
