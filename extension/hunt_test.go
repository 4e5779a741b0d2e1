package main

import (
	"bytes"
	"context"
	"encoding/json"
	"log/slog"
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/modhunt/modhunt/packs"
	"github.com/modhunt/modhunt/tables/table"
)

// fakeUntrusted is an untrusted_module_loads with the columns declared in
// packs/schema/modhunt.sql and the given rows (column name to value), so
// the shipped hunts run against it unchanged.
func fakeUntrusted(rows ...map[string]string) tableSource {
	decl, ok := packs.Declared("untrusted_module_loads")
	if !ok {
		panic("untrusted_module_loads is not declared in packs/schema/modhunt.sql")
	}
	names, types := decl.Columns()
	cols := make([]table.Column, len(names))
	for i, n := range names {
		cols[i] = table.Column{Name: n, Type: table.Type(types[i]), Description: "fake"}
	}
	var trows []table.Row
	for _, r := range rows {
		row := make(table.Row, len(names))
		for i, n := range names {
			row[i] = r[n]
		}
		trows = append(trows, row)
	}
	t := &table.Table{
		Spec: table.Spec{
			Name:        "untrusted_module_loads",
			Description: "fake",
			Platforms:   []string{table.Linux},
			Columns:     cols,
			Examples:    []string{"SELECT * FROM untrusted_module_loads"},
		},
		Generate: func(context.Context, table.Query) ([]table.Row, error) { return trows, nil },
	}
	return func(*common, *slog.Logger) ([]*table.Table, error) { return []*table.Table{t}, nil }
}

func runHuntCmd(t *testing.T, tables tableSource, hunts huntSource, args ...string) (code int, stdout, stderr string) {
	t.Helper()
	var out, errb bytes.Buffer
	code = runHunt(args, env{stdin: strings.NewReader(""), stdout: &out, stderr: &errb}, tables, hunts)
	return code, out.String(), errb.String()
}

var plantedTempLoad = map[string]string{"pid": "4242", "process_name": "python3", "process_path": "/usr/bin/python3",
	"cmdline": "python3 -c dlopen", "uid": "1000", "path": "/tmp/evil.so", "name": "evil.so",
	"reasons": "outside_trusted_dirs,temp_dir,user_writable", "severity": "high", "sha256": "ab12",
	"owner_uid": "1000", "mode": "0644", "fs_type": "tmpfs"}

func TestHuntCleanHost(t *testing.T) {
	t.Parallel()
	code, stdout, stderr := runHuntCmd(t, fakeUntrusted(), packs.Load, "--platform", "linux")
	require.Equal(t, huntClean, code, "stdout:\n%s\nstderr:\n%s", stdout, stderr)
	assert.Contains(t, stdout, "[clean] untrusted_module_temp_dir (T1129, T1574): A process has a module mapped from a temporary directory")
	assert.NotContains(t, stdout, "[FOUND]")
	// Hunts over tables this host does not serve are skipped with the reason.
	assert.Contains(t, stdout, "[skip]  module_detection_high (T1129, T1574.001, T1574.002): needs module_detections")
	assert.Contains(t, stdout, "[skip]  ld_preload_environment (T1574.006): needs osquery's process_envs, processes")
	assert.Contains(t, stdout, "[skip]  untrusted_module_inventory (T1129): an inventory")
	assert.Regexp(t, `\d+ linux hunts: 0 with findings \(0 rows\), \d+ clean, 0 failed, \d+ skipped`, stdout)
	// A progress line per hunt that runs, on stderr.
	assert.Contains(t, stderr, "modhunt.ext hunt: [")
	assert.Contains(t, stderr, "] untrusted_module_temp_dir\n")
}

func TestHuntFindsPlantedLoad(t *testing.T) {
	t.Parallel()
	code, stdout, stderr := runHuntCmd(t, fakeUntrusted(plantedTempLoad), packs.Load, "--platform", "linux")
	require.Equal(t, huntFound, code, "stdout:\n%s\nstderr:\n%s", stdout, stderr)
	assert.Contains(t, stdout, "[FOUND] untrusted_module_temp_dir (T1129, T1574): 1 row\n"+
		"        A process has a module mapped from a temporary directory")
	assert.Contains(t, stdout, "        - pid=4242 process_name=python3 process_path=/usr/bin/python3 cmdline=\"python3 -c dlopen\" uid=1000 path=/tmp/evil.so sha256=ab12")
	// The row is a temp-dir load only: the memfd hunt stays clean.
	assert.Contains(t, stdout, "[clean] untrusted_module_memfd")
	assert.Contains(t, stdout, "1 with findings (1 row)")
}

func TestHuntBrokenQueryIsAnError(t *testing.T) {
	t.Parallel()
	broken := func() ([]*packs.Hunt, error) {
		h, err := packs.Parse("linux/typo.sql", []byte(`-- name: typo
-- description: misspelt column
-- technique: T1129
-- platform: linux
-- interval: 60
-- logging: snapshot
-- tables: untrusted_module_loads
-- why: test
-- false_positives: none
SELECT pid, pathh FROM untrusted_module_loads`))
		if err != nil {
			return nil, err
		}
		all, err := packs.Load()
		return append(all, h), err
	}
	// Even with a finding elsewhere, a failed hunt makes the run an error.
	code, stdout, stderr := runHuntCmd(t, fakeUntrusted(plantedTempLoad), broken, "--platform", "linux")
	require.Equal(t, huntError, code, "stdout:\n%s\nstderr:\n%s", stdout, stderr)
	assert.Contains(t, stdout, "[error] typo (T1129): typo (linux/typo.sql): ")
	assert.Contains(t, stdout, "pathh")
	assert.Contains(t, stderr, "modhunt.ext hunt: hunt typo failed: ")
	assert.Contains(t, stdout, "[FOUND] untrusted_module_temp_dir", "the other hunts still run")
}

func TestHuntJSON(t *testing.T) {
	t.Parallel()
	code, stdout, stderr := runHuntCmd(t, fakeUntrusted(plantedTempLoad), packs.Load, "--json", "--platform", "linux")
	require.Equal(t, huntFound, code, stderr)
	var got []struct {
		Name        string           `json:"name"`
		Description string           `json:"description"`
		Technique   []string         `json:"technique"`
		Platform    string           `json:"platform"`
		Rows        []map[string]any `json:"rows"`
		Error       *string          `json:"error"`
		Skipped     string           `json:"skipped"`
	}
	dec := json.NewDecoder(strings.NewReader(stdout))
	dec.DisallowUnknownFields()
	require.NoError(t, dec.Decode(&got), stdout)

	all, err := packs.Load()
	require.NoError(t, err)
	require.Len(t, got, len(packs.ForPlatform(all, packs.PlatformLinux)), "one object per hunt")
	byName := map[string]int{}
	for i, g := range got {
		byName[g.Name] = i
		assert.NotEmpty(t, g.Description)
		assert.NotEmpty(t, g.Technique)
		assert.Nil(t, g.Error, g.Name)
		assert.NotNil(t, g.Rows, "%s: rows is an array, never null", g.Name)
	}
	temp := got[byName["untrusted_module_temp_dir"]]
	require.Len(t, temp.Rows, 1)
	assert.Equal(t, float64(4242), temp.Rows[0]["pid"], "integers are JSON numbers")
	assert.Equal(t, "/tmp/evil.so", temp.Rows[0]["path"])
	assert.Equal(t, []string{"T1129", "T1574"}, temp.Technique)
	assert.Empty(t, temp.Skipped)
	assert.Empty(t, got[byName["untrusted_module_memfd"]].Rows)
	assert.Contains(t, got[byName["module_detection_high"]].Skipped, "needs module_detections")
}

func TestHuntRejectsBadPlatform(t *testing.T) {
	t.Parallel()
	code, _, stderr := runHuntCmd(t, fakeUntrusted(), packs.Load, "--platform", "solaris")
	assert.Equal(t, huntError, code)
	assert.Contains(t, stderr, `--platform "solaris"`)
}

func TestHuntIsRegistered(t *testing.T) {
	t.Parallel()
	cmd, ok := commands["hunt"]
	require.True(t, ok)
	assert.Contains(t, cmd.summary, "--json")
}

func TestHuntTextClipsLongValues(t *testing.T) {
	t.Parallel()
	long := map[string]string{}
	for k, v := range plantedTempLoad {
		long[k] = v
	}
	long["cmdline"] = "python3 " + strings.Repeat("é", 300) // two bytes a rune: the cut must not split one
	code, stdout, _ := runHuntCmd(t, fakeUntrusted(long), packs.Load, "--platform", "linux")
	require.Equal(t, huntFound, code)
	assert.Contains(t, stdout, "cmdline=\"python3 "+strings.Repeat("é", 96)+"...[408 more bytes]\"")
	assert.True(t, utf8.ValidString(stdout))

	code, stdout, _ = runHuntCmd(t, fakeUntrusted(long), packs.Load, "--platform", "linux", "--json")
	require.Equal(t, huntFound, code)
	assert.Contains(t, stdout, strings.Repeat("é", 300), "--json keeps values whole")
}

// A run where no hunt could look at anything is not a clean host.
func TestHuntNothingRunnableIsAnError(t *testing.T) {
	t.Parallel()
	none := func(*common, *slog.Logger) ([]*table.Table, error) { return nil, nil }
	code, stdout, stderr := runHuntCmd(t, none, packs.Load, "--platform", "linux")
	assert.Equal(t, huntError, code)
	assert.Contains(t, stdout, "0 clean, 0 failed")
	assert.Contains(t, stderr, "linux hunts can run on this host")
}
