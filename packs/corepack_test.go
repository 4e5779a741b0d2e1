package packs

import (
	"database/sql"
	"encoding/json"
	"fmt"
	"slices"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// schemaDB is an in-memory SQLite database with every table a hunt may
// read, modhunt's (as served, else as declared) and osquery's, whatever
// platform it is on.
func schemaDB(t *testing.T) *sql.DB {
	t.Helper()
	db, err := sql.Open("sqlite", ":memory:")
	require.NoError(t, err)
	db.SetMaxOpenConns(1)
	t.Cleanup(func() { _ = db.Close() })
	defs, err := catalog()
	require.NoError(t, err)
	created := map[string]bool{}
	for name, def := range defs {
		ddl, err := ddlFor(name, def.Platforms[0], defs, nil)
		require.NoError(t, err)
		_, err = db.Exec(ddl)
		require.NoError(t, err, ddl)
		created[name] = true
	}
	for _, s := range mustSchemas(t) {
		if created[s.Name] {
			continue
		}
		_, err := db.Exec(s.DDL)
		require.NoError(t, err, s.DDL)
		created[s.Name] = true
	}
	return db
}

// tablesRead asks SQLite which tables a statement opens: the OpenRead
// instructions of its program, mapped from root page to table name. It is
// independent of the header's `tables:` list and of the regular expression
// Parse checks that list with.
func tablesRead(t *testing.T, db *sql.DB, query string) []string {
	t.Helper()
	roots := map[int64]string{}
	rows, err := db.Query("SELECT name, rootpage FROM sqlite_schema WHERE type = 'table'")
	require.NoError(t, err)
	for rows.Next() {
		var name string
		var root int64
		require.NoError(t, rows.Scan(&name, &root))
		roots[root] = name
	}
	require.NoError(t, rows.Err())
	_ = rows.Close()

	rows, err = db.Query("EXPLAIN " + query)
	require.NoError(t, err, query)
	defer func() { _ = rows.Close() }()
	cols, err := rows.Columns()
	require.NoError(t, err)
	var out []string
	for rows.Next() {
		vals := make([]any, len(cols))
		ptrs := make([]any, len(cols))
		for i := range vals {
			ptrs[i] = &vals[i]
		}
		require.NoError(t, rows.Scan(ptrs...))
		// addr, opcode, p1, p2, p3, ...: OpenRead p2 is the root page, p3
		// the database (0 = main).
		if fmt.Sprint(vals[1]) != "OpenRead" || fmt.Sprint(vals[4]) != "0" {
			continue
		}
		var root int64
		_, err := fmt.Sscan(fmt.Sprint(vals[3]), &root)
		require.NoError(t, err)
		if name, ok := roots[root]; ok && !slices.Contains(out, name) {
			out = append(out, name)
		}
	}
	require.NoError(t, rows.Err())
	slices.Sort(out)
	return out
}

func isOsqueryTable(t *testing.T, name string) bool {
	t.Helper()
	for _, s := range mustSchemas(t) {
		if s.Name == name {
			return s.Origin == OriginOsquery
		}
	}
	return false
}

// A hunt that reads only osquery's core tables (as SQLite reads its SQL,
// against the declared schemas) goes into its platform's core pack, which
// has no discovery query, and its Fleet report and policy carry no
// extension label; every other hunt goes into the extension pack, whose
// discovery waits for each modhunt table its hunts read.
func TestCoreOnlyHuntsRunWithoutDiscovery(t *testing.T) {
	t.Parallel()
	hunts, err := Load()
	require.NoError(t, err)
	out, err := Generate(hunts)
	require.NoError(t, err)
	db := schemaDB(t)

	type pack struct {
		Discovery []string                   `json:"discovery"`
		Queries   map[string]json.RawMessage `json:"queries"`
	}
	packs := map[string]pack{}
	for _, pf := range packFiles {
		var p pack
		require.NoError(t, json.Unmarshal(out[pf.file], &p), pf.file)
		packs[pf.file] = p
		if pf.core {
			assert.Empty(t, p.Discovery, "%s: a core pack must not wait for the extension", pf.file)
		}
	}
	reports := map[string]map[string]any{}
	for _, r := range decodeYAMLList(t, out[FleetReportsFile]) {
		reports[r["name"].(string)] = r
	}

	var core []string
	for _, h := range hunts {
		read := tablesRead(t, db, h.SQL)
		require.NotEmpty(t, read, "%s: SQLite opens no table for its query", h.Name)
		coreOnly := true
		var ext []string
		for _, tbl := range read {
			if !isOsqueryTable(t, tbl) {
				coreOnly = false
				ext = append(ext, tbl)
			}
		}
		if coreOnly {
			core = append(core, h.Name)
		}
		for _, pf := range packFiles {
			if !h.RunsOn(pf.platform) {
				continue
			}
			_, in := packs[pf.file].Queries[h.Name]
			assert.Equal(t, pf.core == coreOnly, in, "%s in %s (reads %v)", h.Name, pf.file, read)
			if in && !pf.core {
				for _, tbl := range ext {
					found := false
					for _, d := range packs[pf.file].Discovery {
						found = found || strings.Contains(d, "'"+tbl+"'")
					}
					assert.True(t, found, "%s: no discovery query waits for %s", pf.file, tbl)
				}
			}
		}
		_, scoped := reports[FleetName(h)]["labels_include_any"]
		assert.Equal(t, !coreOnly, scoped, "%s: a Fleet report carries the extension label exactly when it needs the extension", h.Name)
	}
	// The two hunts the issue names read osquery's tables only.
	assert.Subset(t, core, []string{"ld_preload_environment", "ld_so_preload_file"})
}

// The extension label of each platform has a row on a host of that OS with
// every table active, and on no other host: its query, not a label
// platform, decides where it applies.
func TestLabelQuerySelectsItsPlatformAndTables(t *testing.T) {
	t.Parallel()
	hunts, err := Load()
	require.NoError(t, err)
	out, err := Generate(hunts)
	require.NoError(t, err)
	labels := decodeYAMLList(t, out[FleetLabelsFile])
	require.NotEmpty(t, labels)

	// osquery_info.platform_mask as osquery builds it: POSIX|LINUX,
	// WINDOWS, POSIX|BSD|OSX.
	masks := map[string]int{PlatformLinux: 0x09, PlatformWindows: 0x02, PlatformDarwin: 0x15}
	for _, pf := range packFiles {
		if pf.core {
			continue
		}
		tables := modhuntTables(ForPlatform(hunts, pf.platform))
		var label map[string]any
		for _, l := range labels {
			if l["name"] == ExtensionLabel(pf.platform) {
				label = l
			}
		}
		if len(tables) == 0 {
			assert.Nil(t, label, "%s has no extension hunts, so no label", pf.platform)
			continue
		}
		require.NotNil(t, label, pf.platform)
		q := label["query"].(string)
		for host, mask := range masks {
			for _, missing := range []bool{false, true} {
				db := schemaDB(t)
				_, err := db.Exec("INSERT INTO osquery_info (platform_mask) VALUES (?)", mask)
				require.NoError(t, err)
				active := tables
				if missing {
					active = tables[1:]
				}
				for _, tbl := range active {
					_, err := db.Exec("INSERT INTO osquery_registry (registry, name, active) VALUES ('table', ?, 1)", tbl)
					require.NoError(t, err)
				}
				_, err = db.Exec("INSERT INTO osquery_registry (registry, name, active) VALUES ('table', 'processes', 1)")
				require.NoError(t, err)
				var n int
				require.NoError(t, db.QueryRow("SELECT COUNT(*) FROM ("+q+")").Scan(&n))
				want := 0
				if host == pf.platform && !missing {
					want = 1
				}
				assert.Equal(t, want, n, "label %s on a %s host (a table missing: %v)", label["name"], host, missing)
			}
		}
	}
}
