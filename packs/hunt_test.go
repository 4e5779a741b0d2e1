package packs

import (
	"errors"
	"strings"
	"testing"
	"testing/fstest"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

const goodHunt = `-- name: temp_loads
-- description: A module from a temp dir.
-- technique: T1129, T1574.006
-- platform: linux
-- interval: 600
-- logging: differential_ignore_removals
-- tables: untrusted_module_loads
-- why: droppers load from /tmp;
--   legitimate software does not.
-- false_positives: installers.
-- policy: No temp loads
-- resolution: kill it.

SELECT pid, path
FROM untrusted_module_loads
WHERE reasons LIKE '%temp_dir%';
`

func TestParseGood(t *testing.T) {
	t.Parallel()
	h, err := Parse("linux/temp_loads.sql", []byte(goodHunt))
	require.NoError(t, err)
	assert.Equal(t, "temp_loads", h.Name)
	assert.Equal(t, []string{"T1129", "T1574.006"}, h.Techniques)
	assert.Equal(t, 600, h.Interval)
	assert.Equal(t, KindDetection, h.Kind, "kind defaults to detection")
	assert.Equal(t, "droppers load from /tmp; legitimate software does not.", h.Why, "continuation lines join with one space")
	assert.Equal(t, "SELECT pid, path\nFROM untrusted_module_loads\nWHERE reasons LIKE '%temp_dir%'", h.SQL, "trailing semicolon dropped")
	assert.Equal(t, "No temp loads", h.Policy)
	assert.True(t, h.RunsOn(PlatformLinux))
	assert.False(t, h.RunsOn(PlatformDarwin))
}

// Each broken header must fail with the file, the line and the field that
// is wrong, so the author can go straight to it.
func TestParseErrorsNameFileLineField(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name    string
		edit    func(string) string
		line    int
		field   string
		message string
	}{
		{"bad platform", repl("-- platform: linux", "-- platform: solaris"), 4, "platform", "not one of"},
		{"interval too long", repl("-- interval: 600", "-- interval: 604801"), 5, "interval", "1..604800"},
		{"interval zero", repl("-- interval: 600", "-- interval: 0"), 5, "interval", "1..604800"},
		{"bad logging", repl("-- logging: differential_ignore_removals", "-- logging: events"), 6, "logging", "not one of"},
		{"bad technique", repl("T1574.006", "T15746"), 3, "technique", "not an ATT&CK technique id"},
		{"name differs from file", repl("-- name: temp_loads", "-- name: other"), 1, "name", "differs from the file name"},
		{"unknown field", repl("-- why:", "-- reason:"), 8, "reason", "unknown header field"},
		{"duplicate field", repl("-- false_positives: installers.", "-- false_positives: installers.\n-- interval: 5"), 11, "interval", "given twice"},
		{"missing required", repl("-- false_positives: installers.\n", ""), 1, "false_positives", "required"},
		{"table not in header", repl("-- tables: untrusted_module_loads", "-- tables: processes"), 7, "tables", "reads untrusted_module_loads"},
		{"header table not read", repl("-- tables: untrusted_module_loads", "-- tables: untrusted_module_loads, processes"), 7, "tables", "lists processes, which the query does not read"},
		{"policy without resolution", repl("-- resolution: kill it.\n", ""), 11, "policy", "needs a `-- resolution:`"},
		{"stray comment in header", repl("-- why:", "-- just a note\n-- why:"), 8, "", "neither"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			_, err := Parse("linux/temp_loads.sql", []byte(tc.edit(goodHunt)))
			require.Error(t, err)
			var pe *ParseError
			require.True(t, errors.As(err, &pe), "want a *ParseError, got %T: %v", err, err)
			assert.Equal(t, "linux/temp_loads.sql", pe.File)
			assert.Equal(t, tc.line, pe.Line, err.Error())
			assert.Equal(t, tc.field, pe.Field, err.Error())
			assert.Contains(t, err.Error(), tc.message)
			assert.True(t, strings.HasPrefix(err.Error(), "linux/temp_loads.sql:"), err.Error())
		})
	}
}

func repl(from, to string) func(string) string {
	return func(s string) string {
		if !strings.Contains(s, from) {
			panic("test edit does not apply: " + from)
		}
		return strings.Replace(s, from, to, 1)
	}
}

func TestParseRejectsSecondStatement(t *testing.T) {
	t.Parallel()
	_, err := Parse("linux/temp_loads.sql", []byte(strings.Replace(goodHunt, "'%temp_dir%';", "'%temp_dir%'; DELETE FROM x;", 1)))
	require.ErrorContains(t, err, "one statement per hunt")
}

func TestParseInventoryCannotBePolicy(t *testing.T) {
	t.Parallel()
	_, err := Parse("linux/temp_loads.sql", []byte(strings.Replace(goodHunt, "-- policy:", "-- kind: inventory\n-- policy:", 1)))
	require.ErrorContains(t, err, "cannot be a yes/no policy")
}

func TestReferencedTablesIgnoresCTEsAndComments(t *testing.T) {
	t.Parallel()
	got := referencedTables("WITH recent AS (SELECT * FROM untrusted_module_loads)\n-- FROM commented_out\nSELECT * FROM recent JOIN processes USING (pid)")
	assert.Equal(t, []string{"untrusted_module_loads", "processes"}, got)
}

func TestLoadFSChecksFoldersAndNames(t *testing.T) {
	t.Parallel()
	good := []byte(goodHunt)
	_, err := LoadFS(fstest.MapFS{"darwin/temp_loads.sql": {Data: good}})
	require.ErrorContains(t, err, `platform "linux" does not belong in darwin/`)

	_, err = LoadFS(fstest.MapFS{"linux/temp_loads.txt": {Data: good}})
	require.ErrorContains(t, err, "not a .sql hunt")

	_, err = LoadFS(fstest.MapFS{"linux/deeper/temp_loads.sql": {Data: good}})
	require.ErrorContains(t, err, "one level deep")

	hunts, err := LoadFS(fstest.MapFS{"linux/temp_loads.sql": {Data: good}, "windows/README.md": {Data: []byte("x")}})
	require.NoError(t, err)
	require.Len(t, hunts, 1)
}

// The shipped hunts all parse, and every one of them says why it exists and
// how to allowlist its false positives (the parser requires both).
func TestShippedHuntsLoad(t *testing.T) {
	t.Parallel()
	hunts, err := Load()
	require.NoError(t, err)
	require.NotEmpty(t, hunts)
	names := map[string]bool{}
	for _, h := range hunts {
		names[h.Name] = true
	}
	// The hunts the issue asks for, by what they look for.
	for _, want := range []string{
		"module_detection_high", "untrusted_module_temp_dir", "untrusted_module_memfd",
		"untrusted_module_deleted", "untrusted_module_preloaded", "untrusted_module_remote",
		"untrusted_module_hidden", "untrusted_module_unowned_system_dir", "untrusted_module_inventory",
		"ld_preload_environment", "dyld_insert_libraries_environment",
	} {
		assert.True(t, names[want], "hunt %s is missing", want)
	}
}

// A hunt runs where its header says and every table it reads exists:
// osquery's file is everywhere, process_envs on posix only. (Core tables,
// so the test does not move when a modhunt table gains a platform.)
func TestPlatformsNarrowToTheTables(t *testing.T) {
	t.Parallel()
	src := strings.NewReplacer("-- tables: untrusted_module_loads", "-- tables: file, process_envs",
		"FROM untrusted_module_loads", "FROM file JOIN process_envs ON file.path = process_envs.value")
	all := strings.Replace(src.Replace(goodHunt), "-- platform: linux", "-- platform: all", 1)
	hunts, err := LoadFS(fstest.MapFS{"common/temp_loads.sql": {Data: []byte(all)}})
	require.NoError(t, err)
	assert.Equal(t, []string{PlatformDarwin, PlatformLinux}, hunts[0].Platforms)
	assert.False(t, hunts[0].RunsOn(PlatformWindows))
	assert.Equal(t, "darwin,linux", FleetPlatform(hunts[0]))

	win := strings.Replace(src.Replace(goodHunt), "-- platform: linux", "-- platform: windows", 1)
	_, err = LoadFS(fstest.MapFS{"windows/temp_loads.sql": {Data: []byte(win)}})
	require.ErrorContains(t, err, "can run nowhere: its header says windows, and process_envs exists on darwin, linux only")

	unknown := strings.NewReplacer("-- tables: untrusted_module_loads", "-- tables: untrusted_module_loads, no_such_table",
		"FROM untrusted_module_loads", "FROM untrusted_module_loads JOIN no_such_table USING (pid)").Replace(goodHunt)
	_, err = LoadFS(fstest.MapFS{"linux/temp_loads.sql": {Data: []byte(unknown)}})
	require.ErrorContains(t, err, "no_such_table is neither defined in tables.Specs nor declared")
}
