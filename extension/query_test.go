package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"os/exec"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/modhunt/modhunt/tables"
	"github.com/modhunt/modhunt/tables/table"
	"github.com/modhunt/modhunt/test/sim"
)

// fakeTables stands in for the platform's tables: rows chosen to exercise
// every output rule (NULLs, reals, non-UTF-8 and control bytes).
func fakeTables(*common, *slog.Logger) ([]*table.Table, error) {
	rows := []table.Row{
		{"5", "bash", "1000", "0.5"},
		{"7", "sshd", "", "1e3"},
		{"9", "/tmp/\xff\xfe.so", "12", ""},
		{"11", "a\tb\nc\"d\\", "3", "-2"},
	}
	return []*table.Table{{
		Spec: table.Spec{
			Name:        "procs",
			Description: "fake processes",
			Platforms:   []string{table.Linux},
			Columns: []table.Column{
				{Name: "pid", Type: table.BigInt, Description: "pid", Index: true},
				{Name: "name", Type: table.Text, Description: "name"},
				{Name: "size", Type: table.BigInt, Description: "size"},
				{Name: "ratio", Type: table.Double, Description: "ratio"},
			},
			Examples: []string{"SELECT * FROM procs"},
		},
		Generate: func(ctx context.Context, q table.Query) ([]table.Row, error) {
			want := q.Equals("pid")
			var out []table.Row
			for _, r := range rows {
				if want == nil || slices.Contains(want, r[0]) {
					out = append(out, r)
				}
			}
			return out, nil
		},
	}, {
		Spec: table.Spec{
			Name:        "boom",
			Description: "a table with a bug",
			Platforms:   []string{table.Linux},
			Columns:     []table.Column{{Name: "x", Type: table.Text, Description: "x"}},
			Examples:    []string{"SELECT * FROM boom"},
		},
		Generate: func(context.Context, table.Query) ([]table.Row, error) {
			var rows []table.Row
			return rows[:1], nil // out of range: a panic the guard must contain
		},
	}}, nil
}

type result struct {
	code           int
	stdout, stderr string
}

// runIn runs the CLI in-process, as main does, on stdin, capturing its
// output.
func runIn(t *testing.T, stdin string, args ...string) result {
	t.Helper()
	var out, errb bytes.Buffer
	code := run(args, env{stdin: strings.NewReader(stdin), stdout: &out, stderr: &errb})
	return result{code, out.String(), errb.String()}
}

func runWith(t *testing.T, src tableSource, cmd func([]string, env, tableSource) int, stdin string, args ...string) result {
	t.Helper()
	var out, errb bytes.Buffer
	code := cmd(args, env{stdin: strings.NewReader(stdin), stdout: &out, stderr: &errb}, src)
	return result{code, out.String(), errb.String()}
}

func TestQueryPrettyTable(t *testing.T) {
	t.Parallel()
	r := runWith(t, fakeTables, runQuery, "", "SELECT pid, name, size, ratio FROM procs WHERE pid IN (5, 7, 9) ORDER BY pid")
	require.Equal(t, 0, r.code, r.stderr)
	assert.Equal(t, strings.Join([]string{
		"+-----+------------------+------+--------+",
		"| pid | name             | size | ratio  |",
		"+-----+------------------+------+--------+",
		"| 5   | bash             | 1000 | 0.5    |",
		"| 7   | sshd             |      | 1000.0 |",
		`| 9   | /tmp/\xFF\xFE.so | 12   |        |`,
		"+-----+------------------+------+--------+",
		"",
	}, "\n"), r.stdout)
	assert.Empty(t, r.stderr)

	// A hostile name cannot break the table: control bytes are escaped.
	r = runWith(t, fakeTables, runQuery, "", "SELECT name FROM procs WHERE pid = 11")
	require.Equal(t, 0, r.code, r.stderr)
	assert.Contains(t, r.stdout, `| a\x09b\x0Ac"d\ |`)

	// No rows, no table (as osqueryi).
	r = runWith(t, fakeTables, runQuery, "", "SELECT * FROM procs WHERE pid = 1")
	require.Equal(t, 0, r.code, r.stderr)
	assert.Empty(t, r.stdout)
}

func TestQueryJSON(t *testing.T) {
	t.Parallel()
	r := runWith(t, fakeTables, runQuery, "", "--json", "SELECT pid, name, size, ratio FROM procs ORDER BY pid")
	require.Equal(t, 0, r.code, r.stderr)
	require.True(t, json.Valid([]byte(r.stdout)), r.stdout)

	dec := json.NewDecoder(strings.NewReader(r.stdout))
	dec.UseNumber()
	var got []map[string]any
	require.NoError(t, dec.Decode(&got))
	assert.Equal(t, []map[string]any{
		{"pid": json.Number("5"), "name": "bash", "size": json.Number("1000"), "ratio": json.Number("0.5")},
		{"pid": json.Number("7"), "name": "sshd", "size": nil, "ratio": json.Number("1000")},
		// Invalid UTF-8 survives as \xNN text, never as U+FFFD.
		{"pid": json.Number("9"), "name": `/tmp/\xFF\xFE.so`, "size": json.Number("12"), "ratio": nil},
		// Valid text, control characters and quotes included, round-trips.
		{"pid": json.Number("11"), "name": "a\tb\nc\"d\\", "size": json.Number("3"), "ratio": json.Number("-2")},
	}, got)
	// Keys come in column order.
	assert.True(t, strings.HasPrefix(r.stdout, "[\n  {\"pid\":5,\"name\":\"bash\",\"size\":1000,\"ratio\":0.5},\n"), r.stdout)

	// The flag may follow the SQL; no rows is an empty array.
	r = runWith(t, fakeTables, runQuery, "", "SELECT * FROM procs WHERE pid = 1", "--json")
	require.Equal(t, 0, r.code, r.stderr)
	assert.Equal(t, "[]\n", r.stdout)
}

func TestQueryStdinAndScripts(t *testing.T) {
	t.Parallel()
	r := runWith(t, fakeTables, runQuery, "SELECT count(*) AS n FROM procs;\n-- done\n", "--json", "-")
	require.Equal(t, 0, r.code, r.stderr)
	assert.Equal(t, "[\n  {\"n\":4}\n]\n", r.stdout)

	// Several statements print one result each, in order.
	r = runWith(t, fakeTables, runQuery, "", "--json", "SELECT 1 AS a; SELECT 2 AS b")
	require.Equal(t, 0, r.code, r.stderr)
	assert.Equal(t, "[\n  {\"a\":1}\n]\n[\n  {\"b\":2}\n]\n", r.stdout)
}

func TestQueryErrorsAndUsage(t *testing.T) {
	t.Parallel()
	cases := []struct {
		args   []string
		code   int
		stderr string
	}{
		{[]string{"SELEC pid FROM procs"}, 1, `near "SELEC": syntax error`},
		{[]string{"SELECT * FROM nope"}, 1, "no such table: nope"},
		{[]string{"SELECT * FROM boom"}, 1, "boom: internal error"},
		{[]string{}, 2, "usage: modhunt.ext query"},
		{[]string{"SELECT 1", "SELECT 2"}, 2, "usage: modhunt.ext query"},
		{[]string{"--bogus", "SELECT 1"}, 2, "flag provided but not defined: -bogus"},
		{[]string{" ; -- nothing"}, 2, "no SQL statement given"},
	}
	for _, c := range cases {
		r := runWith(t, fakeTables, runQuery, "", c.args...)
		assert.Equal(t, c.code, r.code, "%q: %s", c.args, r.stderr)
		assert.Contains(t, r.stderr, c.stderr, c.args)
	}
	r := runWith(t, fakeTables, runQuery, "", "--help")
	assert.Equal(t, 0, r.code)
	assert.Contains(t, r.stdout, "usage: modhunt.ext query")
	assert.Contains(t, r.stdout, "-json")

	// The first statement's rows are printed before the second fails.
	r = runWith(t, fakeTables, runQuery, "", "--json", "SELECT 1 AS a; SELECT * FROM boom; SELECT 3")
	assert.Equal(t, 1, r.code)
	assert.Equal(t, "[\n  {\"a\":1}\n]\n", r.stdout)

	// Too much SQL on stdin is refused, not read without end.
	r = runWith(t, fakeTables, runQuery, "SELECT 1;"+strings.Repeat(" ", maxSQL), "-")
	assert.Equal(t, 1, r.code)
	assert.Contains(t, r.stderr, "longer than")
}

func TestShellScript(t *testing.T) {
	t.Parallel()
	script := strings.Join([]string{
		".tables",
		".schema procs",
		"SELECT pid,",
		"       name FROM procs",
		"  WHERE pid = 5;  SELECT 'a;b' AS s;",
		".mode json",
		"SELECT size FROM procs WHERE pid = 7;",
		".mode line",
		"SELECT 1 AS one, 22 AS twotwo;",
		"SELECT * FROM nope;",
		".mode",
		".bogus",
		".mode csv",
		"SELECT 'after errors' AS still;",
		".quit",
		"SELECT 'never';",
	}, "\n")
	r := runWith(t, fakeTables, runShell, script)
	require.Equal(t, 0, r.code, r.stderr)
	assert.Equal(t, strings.Join([]string{
		"  => boom",
		"  => procs",
		"CREATE TABLE procs(`pid` BIGINT, `name` TEXT, `size` BIGINT, `ratio` DOUBLE);",
		"+-----+------+",
		"| pid | name |",
		"+-----+------+",
		"| 5   | bash |",
		"+-----+------+",
		"+-----+",
		"| s   |",
		"+-----+",
		"| a;b |",
		"+-----+",
		"[",
		`  {"size":null}`,
		"]",
		"   one = 1",
		"twotwo = 22",
		"current output mode: line",
		"still = after errors",
		"",
	}, "\n"), r.stdout)
	assert.Equal(t, strings.Join([]string{
		"Error: no such table: nope",
		`Error: unknown command ".bogus"; try .help`,
		"Error: usage: .mode pretty|json|line",
		"",
	}, "\n"), r.stderr)
}

func TestShellEOFRunsLastStatementAndExitsZero(t *testing.T) {
	t.Parallel()
	// No prompt on a pipe, a final statement without ';' runs, EOF is success.
	r := runWith(t, fakeTables, runShell, "SELECT count(*) AS n\nFROM procs", "--json")
	require.Equal(t, 0, r.code, r.stderr)
	assert.Equal(t, "[\n  {\"n\":4}\n]\n", r.stdout)

	r = runWith(t, fakeTables, runShell, "")
	assert.Equal(t, 0, r.code)
	assert.Empty(t, r.stdout)

	r = runWith(t, fakeTables, runShell, "", "extra")
	assert.Equal(t, 2, r.code)
}

// TestShellListsThePlatformTables goes through run, with whatever tables
// this platform has: .tables must name exactly those.
func TestShellListsThePlatformTables(t *testing.T) {
	t.Parallel()
	r := runIn(t, ".tables\n", "shell")
	require.Equal(t, 0, r.code, r.stderr)
	var listed []string
	for line := range strings.Lines(r.stdout) {
		name, ok := strings.CutPrefix(strings.TrimRight(line, "\n"), "  => ")
		require.True(t, ok, "unexpected line %q", line)
		listed = append(listed, name)
	}
	var want []string
	for _, tb := range tables.SpecsFor(runtime.GOOS) {
		want = append(want, tb.Name)
	}
	slices.Sort(want)
	assert.Equal(t, want, listed)
}

func TestQueryThroughRun(t *testing.T) {
	t.Parallel()
	r := runIn(t, "", "query", "--json", "SELECT 40 + 2 AS answer, typeof(1.5) AS t")
	require.Equal(t, 0, r.code, r.stderr)
	assert.Equal(t, "[\n  {\"answer\":42,\"t\":\"real\"}\n]\n", r.stdout)
}

func TestSQLiteRealFormat(t *testing.T) {
	t.Parallel()
	for f, want := range map[float64]string{
		0.5: "0.5", 1000: "1000.0", -2: "-2.0", 1e20: "1.0e+20", 1.5e-7: "1.5e-07", 0.1: "0.1",
	} {
		assert.Equal(t, want, sqliteReal(f), "%v", f)
	}
}

// TestQueryLoadedModulesOfAChild runs the real process_loaded_modules
// through the query command: a sleep child's rows must name its executable.
func TestQueryLoadedModulesOfAChild(t *testing.T) {
	t.Parallel()
	served := false
	for _, tb := range tables.SpecsFor(runtime.GOOS) {
		served = served || tb.Name == "process_loaded_modules"
	}
	if !served {
		t.Skip("process_loaded_modules is not served on this platform")
	}
	sleepBin, err := exec.LookPath("sleep")
	if err != nil {
		t.Skip("needs sleep: apt-get install coreutils")
	}
	exe, err := filepath.EvalSymlinks(sleepBin)
	require.NoError(t, err)
	pids := sim.StartSleepers(t, 2)

	r := runIn(t, "", "query", "--json", fmt.Sprintf(
		"SELECT pid, path FROM process_loaded_modules WHERE pid IN (%d, %d)", pids[0], pids[1]))
	require.Equal(t, 0, r.code, r.stderr)
	var rows []struct {
		PID  int    `json:"pid"`
		Path string `json:"path"`
	}
	require.NoError(t, json.Unmarshal([]byte(r.stdout), &rows), r.stdout)
	paths := map[int][]string{}
	for _, r := range rows {
		paths[r.PID] = append(paths[r.PID], r.Path)
	}
	// Both children, nothing else, and each maps its executable.
	require.Len(t, paths, 2, r.stdout)
	for _, pid := range pids {
		assert.Contains(t, paths[pid], exe, "pid %d", pid)
	}
}
