package packs

import (
	"context"
	"runtime"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/modhunt/modhunt/extension/sqlhost"
	"github.com/modhunt/modhunt/tables"
	"github.com/modhunt/modhunt/tables/deps"
	"github.com/modhunt/modhunt/tables/table"
)

// Every hunt whose tables this build serves on this OS runs for real through
// the embedded engine, in both of its forms (the hunt and the Fleet policy):
// what parses may still fail when a table generates (a type, a NULL, a
// pushed-down constraint), and this is where that shows.
func TestEveryRunnableQueryExecutes(t *testing.T) {
	if testing.Short() {
		t.Skip("reads every process's modules; skipped with -short")
	}
	hunts, err := Load()
	require.NoError(t, err)
	tbls, err := tables.Build(deps.Deps{})
	require.NoError(t, err)
	db, err := sqlhost.Open(tbls, table.NewGuard(0, 0, nil), nil)
	require.NoError(t, err)
	t.Cleanup(func() { _ = db.Close() })
	served := func(name string) bool { return db.Table(name) != nil }

	ran := 0
	ctx := context.Background()
	for _, h := range ForPlatform(hunts, runtime.GOOS) {
		if reason := SkipReason(h, served, true); reason != "" {
			t.Logf("%s: parsed only: %s", h.Name, reason)
			continue
		}
		cols, rows, err := db.Query(ctx, h.SQL)
		if !assert.NoError(t, err, "%s does not run", h.File) {
			continue
		}
		assert.NotEmpty(t, cols, h.Name)
		t.Logf("%s: %d rows", h.Name, len(rows))
		if h.Policy != "" {
			// The host may change between the two queries, so only the
			// shape is checked here; TestPolicyFormAgreesWithHunt checks
			// the meaning on fixed rows.
			_, prow, err := db.Query(ctx, PolicyQuery(h))
			if assert.NoError(t, err, "%s: the policy form does not run", h.File) {
				assert.LessOrEqual(t, len(prow), 1, h.Name)
			}
		}
		ran++
	}
	t.Logf("%d hunts executed on %s", ran, runtime.GOOS)
}

// A Fleet policy passes when its query returns a row: the policy form of a
// hunt must return one exactly when the hunt finds nothing.
func TestPolicyFormAgreesWithHunt(t *testing.T) {
	t.Parallel()
	hunts, err := Load()
	require.NoError(t, err)
	var h *Hunt
	for _, x := range hunts {
		if x.Name == "untrusted_module_temp_dir" {
			h = x
		}
	}
	require.NotNil(t, h)
	decl, ok := Declared("untrusted_module_loads")
	require.True(t, ok)
	names, _ := decl.Columns()
	planted := make(table.Row, len(names))
	for i, n := range names {
		planted[i] = map[string]string{"pid": "7", "path": "/tmp/x.so", "reasons": "outside_trusted_dirs,temp_dir", "severity": "high"}[n]
	}
	for _, tc := range []struct {
		rows       []table.Row
		huntRows   int
		policyRows int
	}{{nil, 0, 1}, {[]table.Row{planted}, 1, 0}} {
		db, err := sqlhost.Open([]*table.Table{fakeTable(names, tc.rows)}, table.NewGuard(0, 0, nil), nil)
		require.NoError(t, err)
		_, rows, err := db.Query(context.Background(), h.SQL)
		require.NoError(t, err)
		assert.Len(t, rows, tc.huntRows)
		_, prow, err := db.Query(context.Background(), PolicyQuery(h))
		require.NoError(t, err)
		assert.Len(t, prow, tc.policyRows)
		require.NoError(t, db.Close())
	}
}

func fakeTable(names []string, rows []table.Row) *table.Table {
	cols := make([]table.Column, len(names))
	for i, n := range names {
		cols[i] = table.Column{Name: n, Type: table.Text, Description: "fake"}
	}
	return &table.Table{
		Spec: table.Spec{
			Name: "untrusted_module_loads", Description: "fake", Platforms: []string{runtime.GOOS},
			Columns: cols, Examples: []string{"SELECT 1"},
		},
		Generate: func(context.Context, table.Query) ([]table.Row, error) { return rows, nil },
	}
}
