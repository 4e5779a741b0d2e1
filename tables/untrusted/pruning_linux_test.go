package untrusted

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/modhunt/modhunt/tables/table"
	"github.com/modhunt/modhunt/test/sim"
)

// TestHashingOnlyWhenTheQueryOrPolicyNeedsIt counts the modules opened for
// hashing (a hook, not a timer). A query that reads neither sha256 nor
// sha256_skipped opens none and still gets its rows; one that reads either
// hashes; and a policy that allowlists by sha256 hashes whatever the query
// reads, since then the hash decides whether a row exists at all. Every
// table is new, so no hash comes from an earlier scan's cache.
func TestHashingOnlyWhenTheQueryOrPolicyNeedsIt(t *testing.T) {
	t.Parallel()
	sim.NeedRoot(t)
	lib := sim.BuildLib(t, filepath.Join(sim.ExecDirIn(t, "/tmp", "modhunt-untrusted-"), "libnohash.so"))
	p := sim.StartLoader(t, sim.LoaderOpts{Lib: lib})
	sum := sim.SHA256File(t, lib)
	pinned := pidQuery(p.PID)

	run := func(policy string, used ...string) (rows []table.Row, hashed int64) {
		t.Helper()
		var n atomic.Int64
		cfg := Config{onHash: func(int, string) { n.Add(1) }}
		if policy != "" {
			cfg.PolicyFile = filepath.Join(t.TempDir(), "policy.yaml")
			require.NoError(t, os.WriteFile(cfg.PolicyFile, []byte(policy), 0o600))
		}
		q := table.Query{Constraints: pinned.Constraints}
		if used != nil {
			q.Used = table.UsedColumns(used...)
		}
		rows, err := newTable(t, cfg).Generate(context.Background(), q)
		require.NoError(t, err)
		return rows, n.Load()
	}
	paths := func(rows []table.Row) []string {
		var out []string
		for _, r := range rows {
			out = append(out, r[col("path")])
		}
		return out
	}

	rows, hashed := run("", "pid", "path", "reasons", "severity", "package", "owner_uid", "mode", "fs_type")
	assert.Zero(t, hashed, "no module is read for a hash nobody asked for")
	require.Equal(t, []string{lib}, paths(rows))
	assert.Equal(t, "outside_trusted_dirs,temp_dir", rows[0][col("reasons")])
	assert.Empty(t, rows[0][col("sha256")])

	rows, hashed = run("", "pid", "sha256")
	assert.Positive(t, hashed, "sha256 is read")
	require.Len(t, rows, 1)
	assert.Equal(t, sum, rows[0][col("sha256")])

	_, hashed = run("", "sha256_skipped")
	assert.Positive(t, hashed, "sha256_skipped says why there is no hash: it needs the attempt")

	_, hashed = run("")
	assert.Positive(t, hashed, "a query that does not say reads every column")

	other := strings.Repeat("0", 64)
	rows, hashed = run("allow_modules:\n  - sha256: "+other+"\n", "pid", "path")
	assert.Positive(t, hashed, "a sha256 allowlist needs the hash for the verdict")
	assert.Equal(t, []string{lib}, paths(rows))

	rows, hashed = run("allow_modules:\n  - sha256: "+sum+"\n", "pid", "path")
	assert.Positive(t, hashed)
	assert.Empty(t, rows, "the allowlisted module has no row, whatever the query reads")
}
