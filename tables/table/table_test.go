package table

import (
	"context"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestQueryEquals(t *testing.T) {
	t.Parallel()
	q := Query{Constraints: map[string][]Constraint{
		"pid":  {{Op: OpEquals, Expr: "4"}, {Op: OpEquals, Expr: "x"}, {Op: OpEquals, Expr: "9"}},
		"path": {{Op: OpEquals, Expr: "/a"}, {Op: OpLike, Expr: "/b%"}},
	}}
	assert.Equal(t, []string{"4", "x", "9"}, q.Equals("pid"))
	vals, pinned := q.IntEquals("pid")
	assert.True(t, pinned)
	assert.Equal(t, []int64{4, 9}, vals, "a non-integer can match no pid")
	assert.Nil(t, q.Equals("path"), "a LIKE beside = leaves the column to the engine")
	_, pinned = q.IntEquals("name")
	assert.False(t, pinned)
}

func TestValidate(t *testing.T) {
	t.Parallel()
	gen := func(context.Context, Query) ([]Row, error) { return nil, nil }
	require.NoError(t, fake(gen).Validate())
	cases := map[string]struct {
		mutate func(*Table)
		want   string
	}{
		"no generate":      {func(t *Table) { t.Generate = nil }, "generate"},
		"no columns":       {func(t *Table) { t.Columns = nil }, "no columns"},
		"no example":       {func(t *Table) { t.Examples = nil }, "no example"},
		"duplicate column": {func(t *Table) { t.Columns = append(t.Columns, t.Columns[0]) }, "pid declared twice"},
		"undocumented":     {func(t *Table) { t.Columns[0].Description = "" }, "pid has no description"},
		"unknown type":     {func(t *Table) { t.Columns[0].Type = "VARCHAR" }, `unknown type "VARCHAR"`},
	}
	for name, tc := range cases {
		tbl := fake(gen)
		tc.mutate(tbl)
		err := tbl.Validate()
		require.Error(t, err, name)
		assert.Contains(t, err.Error(), tc.want, name)
	}
}

func TestPIDs(t *testing.T) {
	t.Parallel()
	assert.Nil(t, Query{}.PIDs(), "no constraint: every process")
	assert.Equal(t, []int{5, 7}, PIDQuery([]int{5, 7}).PIDs())
	q := Query{Constraints: map[string][]Constraint{"pid": {
		{Op: OpEquals, Expr: "0"}, {Op: OpEquals, Expr: "-4"},
		{Op: OpEquals, Expr: "x"}, {Op: OpEquals, Expr: "99999999999"},
	}}}
	got := q.PIDs()
	assert.NotNil(t, got, "pinned to values no process has: none, not all")
	assert.Empty(t, got)
	q = Query{Constraints: map[string][]Constraint{"pid": {{Op: OpGreaterThan, Expr: "5"}}}}
	assert.Nil(t, q.PIDs(), "a range is the SQL engine's to filter")
	assert.Equal(t, Query{}, PIDQuery(nil))
}

func TestQueryUses(t *testing.T) {
	t.Parallel()
	all := Query{}
	assert.True(t, all.Uses("anything"), "a query that does not say uses every column")
	assert.True(t, PIDQuery([]int{1}).Uses("sha256"))

	q := Query{Used: UsedColumns("pid", "path")}
	assert.True(t, q.Uses("pid"))
	assert.False(t, q.Uses("sha256"))
	assert.True(t, q.UsesAny("sha256", "path"))
	assert.False(t, q.UsesAny("sha256", "sha256_skipped"))
	assert.False(t, q.UsesAny())

	none := Query{Used: UsedColumns()}
	assert.False(t, none.Uses("pid"), "SELECT count(*) reads no column")
	none.Constraints = map[string][]Constraint{"pid": {{Op: OpEquals, Expr: "1"}}, "path": {}}
	assert.True(t, none.Uses("pid"), "the engine reads a constrained column to re-check it")
	assert.False(t, none.Uses("path"), "an empty constraint list constrains nothing")
}

func TestUsedMask(t *testing.T) {
	t.Parallel()
	tbl := fake(nil)
	tbl.Columns = append(tbl.Columns, Column{Name: "path", Type: Text, Description: "path"}, Column{Name: "size", Type: BigInt, Description: "size"})
	assert.Nil(t, tbl.UsedMask(Query{}), "every column")
	names := make([]string, 0, len(tbl.Columns))
	for _, c := range tbl.Columns {
		names = append(names, c.Name)
	}
	assert.Nil(t, tbl.UsedMask(Query{Used: UsedColumns(names...)}), "every column named is every column")
	mask := tbl.UsedMask(Query{Used: UsedColumns(names[1])})
	want := make([]bool, len(names))
	want[1] = true
	assert.Equal(t, want, mask)
}
