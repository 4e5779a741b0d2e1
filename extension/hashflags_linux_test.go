package main

import (
	"encoding/json"
	"fmt"
	"path/filepath"
	"sort"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/modhunt/modhunt/test/sim"
)

// --hash_budget (MiB) and --hash_time reach untrusted_module_loads: with a
// 16 MiB budget a process's 8 MiB module is hashed and its 32 MiB one is
// skipped (room is left for the interpreter's own modules, which are
// untrusted where python3 is not the system's); with no time to hash, both
// are skipped.
func TestHashBudgetFlags(t *testing.T) {
	t.Parallel()
	sim.NeedRoot(t)
	dir := sim.TempDirIn(t, "/dev/shm", "modhunt-hashflag-")
	sim.SparseFiles(t, dir, "one", 1, 8<<20)
	sim.SparseFiles(t, dir, "two", 1, 32<<20)
	p := sim.StartMapper(t, dir)
	sql := fmt.Sprintf("SELECT name, sha256 != '' AS hashed, sha256_skipped FROM untrusted_module_loads WHERE pid = %d AND path LIKE '%s/%%'", p.PID, dir)
	rowsWith := func(flags ...string) []string {
		r := runIn(t, "", append(append([]string{"query", "--json"}, flags...), sql)...)
		require.Equal(t, 0, r.code, r.stderr)
		var rows []struct {
			Name    string `json:"name"`
			Hashed  int    `json:"hashed"`
			Skipped string `json:"sha256_skipped"`
		}
		require.NoError(t, json.Unmarshal([]byte(r.stdout), &rows), r.stdout)
		var out []string
		for _, row := range rows {
			out = append(out, fmt.Sprintf("%s hashed=%d skipped=%s", filepath.Base(row.Name), row.Hashed, row.Skipped))
		}
		sort.Strings(out)
		return out
	}
	assert.Equal(t, []string{"one00000.so hashed=1 skipped=", "two00000.so hashed=0 skipped=budget"}, rowsWith("--hash_budget=16"))
	assert.Equal(t, []string{"one00000.so hashed=0 skipped=budget", "two00000.so hashed=0 skipped=budget"}, rowsWith("--hash_time=1ns"))
	assert.Equal(t, []string{"one00000.so hashed=1 skipped=", "two00000.so hashed=1 skipped="}, rowsWith())
}
