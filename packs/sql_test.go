package packs

import (
	"context"
	"database/sql"
	"fmt"
	"slices"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	_ "modernc.org/sqlite" // registers the "sqlite" driver the parse check uses

	"github.com/modhunt/modhunt/tables"
	"github.com/modhunt/modhunt/tables/table"
)

// catalog is modhunt's table definitions (tables.Specs) by name.
func catalog() (map[string]table.Spec, error) {
	out := map[string]table.Spec{}
	for _, s := range tables.Specs() {
		out[s.Name] = s
	}
	return out, nil
}

// ddlFor builds the CREATE TABLE a hunt on platform is parsed against: the
// real definition for a modhunt table in tables.Specs (every platform's
// definitions are data, so hunts for Windows are checked on Linux too),
// else the declaration in schema/*.sql.
func ddlFor(name, platform string, defs map[string]table.Spec, schemas []Schema) (string, error) {
	if t, ok := defs[name]; ok {
		if !slices.Contains(t.Platforms, platform) {
			return "", fmt.Errorf("table %s is served on %s only, not on %s", name, strings.Join(t.Platforms, ", "), platform)
		}
		cols := make([]string, len(t.Columns))
		for i, c := range t.Columns {
			cols[i] = fmt.Sprintf("%q %s", c.Name, c.Type)
		}
		return fmt.Sprintf("CREATE TABLE %s (%s);", name, strings.Join(cols, ", ")), nil
	}
	for _, s := range schemas {
		if s.Name != name {
			continue
		}
		if !slices.Contains(expandPlatform(s.Platform), platform) {
			return "", fmt.Errorf("table %s exists on %s only, not on %s", name, s.Platform, platform)
		}
		return s.DDL, nil
	}
	return "", fmt.Errorf("table %s is neither served by this build nor declared in packs/schema/*.sql", name)
}

// parseDB returns an in-memory SQLite database holding empty tables for
// every table hunts on platform read, plus osquery_registry for discovery.
func parseDB(t *testing.T, hunts []*Hunt, platform string) *sql.DB {
	t.Helper()
	db, err := sql.Open("sqlite", ":memory:")
	require.NoError(t, err)
	db.SetMaxOpenConns(1) // one connection: :memory: is per connection
	t.Cleanup(func() { _ = db.Close() })
	defs, err := catalog()
	require.NoError(t, err)
	schemas := mustSchemas(t)
	created := map[string]bool{}
	need := []string{"osquery_registry"}
	for _, h := range hunts {
		need = append(need, h.Tables...)
	}
	for _, name := range need {
		if created[name] {
			continue
		}
		ddl, err := ddlFor(name, platform, defs, schemas)
		if err != nil {
			t.Errorf("%s: %v", platform, err)
			continue
		}
		_, err = db.Exec(ddl)
		require.NoError(t, err, ddl)
		created[name] = true
	}
	return db
}

// Every hunt, and every query generated from it, is parsed by SQLite with
// its tables declared, on every platform it is meant for: a misspelt column
// or table fails here, whichever OS CI runs on.
func TestEveryQueryParses(t *testing.T) {
	t.Parallel()
	hunts, err := Load()
	require.NoError(t, err)
	for _, platform := range []string{PlatformLinux, PlatformWindows, PlatformDarwin} {
		t.Run(platform, func(t *testing.T) {
			t.Parallel()
			mine := ForPlatform(hunts, platform)
			db := parseDB(t, mine, platform)
			prepare := func(what, q string) {
				st, err := db.PrepareContext(context.Background(), q)
				if !assert.NoError(t, err, "%s on %s does not parse:\n%s", what, platform, q) {
					return
				}
				_ = st.Close()
			}
			for _, h := range mine {
				prepare(h.File, h.SQL)
				if h.Policy != "" {
					prepare(h.File+" (policy form)", PolicyQuery(h))
				}
			}
			for _, d := range DiscoveryQueries(mine) {
				prepare("discovery", d)
			}
		})
	}
}

// The parse check must catch what it exists for: a column the table does
// not have.
func TestParseCheckCatchesMisspeltColumn(t *testing.T) {
	t.Parallel()
	h, err := Parse("linux/bad.sql", []byte(strings.Replace(goodHunt, "temp_loads", "bad", 1)))
	require.NoError(t, err)
	h.SQL = "SELECT pid, pathh FROM untrusted_module_loads"
	db := parseDB(t, []*Hunt{h}, PlatformLinux)
	_, err = db.Prepare(h.SQL)
	require.ErrorContains(t, err, "pathh")
}

// A declaration in schema/modhunt.sql stands in for a table until its
// definition is in tables.Specs; from then on the definition wins, and the
// declaration must agree with it (or be deleted).
func TestModhuntSchemaMatchesCatalog(t *testing.T) {
	t.Parallel()
	served, err := catalog()
	require.NoError(t, err)
	db, err := sql.Open("sqlite", ":memory:")
	require.NoError(t, err)
	db.SetMaxOpenConns(1)
	defer func() { _ = db.Close() }()
	checked := 0
	for _, s := range mustSchemas(t) {
		real, ok := served[s.Name]
		if !ok {
			continue
		}
		require.Equal(t, OriginModhunt, s.Origin, "%s is served by modhunt but declared as an osquery table", s.Name)
		_, err := db.Exec(s.DDL)
		require.NoError(t, err)
		rows, err := db.Query(fmt.Sprintf("SELECT name, type FROM pragma_table_info('%s')", s.Name))
		require.NoError(t, err)
		for rows.Next() {
			var name, typ string
			require.NoError(t, rows.Scan(&name, &typ))
			i := real.ColumnIndex(name)
			if !assert.GreaterOrEqual(t, i, 0, "packs/schema/modhunt.sql declares %s.%s, which the table does not have", s.Name, name) {
				continue
			}
			assert.Equal(t, string(real.Columns[i].Type), typ, "packs/schema/modhunt.sql: %s.%s type", s.Name, name)
		}
		require.NoError(t, rows.Err())
		_ = rows.Close()
		checked++
	}
	t.Logf("%d declared tables checked against their served definitions", checked)
}

func TestDeclaredColumns(t *testing.T) {
	t.Parallel()
	s, ok := Declared("process_memory_map")
	require.True(t, ok)
	names, types := s.Columns()
	assert.Equal(t, []string{"pid", "start", "end", "permissions", "offset", "device", "inode", "path", "pseudo"}, names)
	assert.Equal(t, "BIGINT", types[4])
	_, ok = Declared("no_such_table")
	assert.False(t, ok)
}
