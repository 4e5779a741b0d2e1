package main

import (
	"encoding/json"
	"path/filepath"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/modhunt/modhunt/tables"
	"github.com/modhunt/modhunt/tables/moduledetections"
	"github.com/modhunt/modhunt/tables/table"
	"github.com/modhunt/modhunt/tables/unbacked"
	"github.com/modhunt/modhunt/tables/untrusted"
)

// --spec prints the table definitions and builds no table, so a policy file
// that stops the extension from starting does not stop it: it never reads
// one.
func TestSpecBuildsNoTable(t *testing.T) {
	t.Parallel()
	policy := filepath.Join(t.TempDir(), "absent-policy.yml")
	r := runIn(t, "", "--spec", "--policy", policy)
	require.Equal(t, 0, r.code, r.stderr)
	var specs []struct {
		Name    string `json:"name"`
		Columns []struct {
			Name string `json:"name"`
		} `json:"columns"`
	}
	require.NoError(t, json.Unmarshal([]byte(r.stdout), &specs), r.stdout)
	want := tables.SpecsFor(runtime.GOOS)
	require.Len(t, specs, len(want))
	for i, s := range want {
		assert.Equal(t, s.Name, specs[i].Name)
		assert.Len(t, specs[i].Columns, len(s.Columns), s.Name)
	}

	if slices.ContainsFunc(want, func(s table.Spec) bool {
		return s.Name == untrusted.Name || s.Name == moduledetections.Name || s.Name == unbacked.Name
	}) {
		// The same policy makes the host, which builds the tables, refuse
		// (only the tables that read it do: the judging ones, and
		// unbacked_executable_memory for its jit_hosts).
		r = runIn(t, "", "--socket", filepath.Join(t.TempDir(), "osquery.em"), "--timeout", "1", "--policy", policy)
		assert.Equal(t, 1, r.code, r.stderr)
		assert.Contains(t, r.stderr, "refusing to start")
		// slog quotes the error: a Windows path's backslashes come doubled.
		assert.Contains(t, r.stderr, strings.Trim(strconv.Quote(policy), `"`))
	}
}
