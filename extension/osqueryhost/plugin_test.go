package osqueryhost

import (
	"context"
	"encoding/json"
	"errors"
	"slices"
	"strconv"
	"sync"
	"testing"
	"time"

	gen "github.com/osquery/osquery-go/gen/osquery"
	osqtable "github.com/osquery/osquery-go/plugin/table"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.uber.org/goleak"

	"github.com/modhunt/modhunt/tables/table"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}

// fakeTable is a table whose Generate is whatever the test needs, and which
// remembers the queries it was given.
type fakeTable struct {
	mu      sync.Mutex
	queries []table.Query
	gen     table.GenerateFunc
}

func (f *fakeTable) table() *table.Table {
	return &table.Table{
		Spec: table.Spec{
			Name:        "fake_modules",
			Description: "Modules of fake processes.",
			Platforms:   []string{table.Linux},
			Columns: []table.Column{
				{Name: "pid", Type: table.BigInt, Description: "Process id.", Index: true},
				{Name: "path", Type: table.Text, Description: "Module path.", Index: true},
				{Name: "size", Type: table.BigInt, Description: "Mapped bytes."},
				{Name: "deleted", Type: table.Integer, Description: "1 when unlinked."},
			},
			Examples: []string{"SELECT * FROM fake_modules WHERE pid = 1"},
		},
		Generate: func(ctx context.Context, q table.Query) ([]table.Row, error) {
			f.mu.Lock()
			f.queries = append(f.queries, q)
			gen := f.gen
			f.mu.Unlock()
			if gen == nil {
				return nil, nil
			}
			return gen(ctx, q)
		},
	}
}

func (f *fakeTable) lastQuery(t *testing.T) table.Query {
	t.Helper()
	f.mu.Lock()
	defer f.mu.Unlock()
	require.NotEmpty(t, f.queries, "Generate was never called")
	return f.queries[len(f.queries)-1]
}

func newPlugin(t *testing.T, f *fakeTable, guard *table.Guard) *Plugin {
	t.Helper()
	if guard == nil {
		guard = table.NewGuard(time.Second, 2, nil)
	}
	p, err := NewPlugin(f.table(), guard, nil)
	require.NoError(t, err)
	return p
}

func generate(p *Plugin, contextJSON string) gen.ExtensionResponse {
	return p.Call(context.Background(), gen.ExtensionPluginRequest{"action": "generate", "context": contextJSON})
}

// osquerydContext is a context as osqueryd 5.x sends it for the fake table:
// every column present, sorted by name, affinities, colsUsed.
const osquerydContext = `{"constraints":[
	{"name":"deleted","list":[],"affinity":"INTEGER"},
	{"name":"path","list":[{"op":65,"expr":"/tmp/%"}],"affinity":"TEXT"},
	{"name":"pid","list":[{"op":2,"expr":"4242"},{"op":2,"expr":"4343"}],"affinity":"BIGINT"},
	{"name":"size","list":[],"affinity":"BIGINT"}],
	"colsUsed":["pid","path"],"colsUsedBitset":3}`

func TestGenerateReceivesConstraints(t *testing.T) {
	t.Parallel()
	f := &fakeTable{}
	p := newPlugin(t, f, nil)

	resp := generate(p, osquerydContext)
	require.Equal(t, int32(0), resp.Status.Code, resp.Status.Message)

	q := f.lastQuery(t)
	assert.Equal(t, map[string][]table.Constraint{
		"pid":  {{Op: table.OpEquals, Expr: "4242"}, {Op: table.OpEquals, Expr: "4343"}},
		"path": {{Op: table.OpLike, Expr: "/tmp/%"}},
	}, q.Constraints, "every forwarded term, operators as osquery numbers them; empty lists dropped")
	pids, pinned := q.IntEquals("pid")
	assert.True(t, pinned)
	assert.Equal(t, []int64{4242, 4343}, pids)
	assert.Nil(t, q.Equals("path"), "LIKE does not pin path down")
}

func TestGenerateAcceptsStringOperators(t *testing.T) {
	t.Parallel()
	f := &fakeTable{}
	p := newPlugin(t, f, nil)

	// osquery before 3.0 sent every value, operators too, as strings.
	resp := generate(p, `{"constraints":[{"name":"pid","list":[{"op":"2","expr":"7"}],"affinity":"BIGINT"},
		{"name":"size","list":[{"op":"32","expr":"4096"}],"affinity":"BIGINT"}]}`)
	require.Equal(t, int32(0), resp.Status.Code, resp.Status.Message)
	assert.Equal(t, map[string][]table.Constraint{
		"pid":  {{Op: table.OpEquals, Expr: "7"}},
		"size": {{Op: table.OpGreaterOrEqual, Expr: "4096"}},
	}, f.lastQuery(t).Constraints)
}

func TestGenerateRejectsBrokenContext(t *testing.T) {
	t.Parallel()
	f := &fakeTable{}
	p := newPlugin(t, f, nil)
	for name, ctxJSON := range map[string]string{
		"not json":       `{"constraints":`,
		"missing":        ``,
		"operator array": `{"constraints":[{"name":"pid","list":[{"op":[2],"expr":"7"}],"affinity":"BIGINT"}]}`,
	} {
		resp := generate(p, ctxJSON)
		assert.Equal(t, int32(1), resp.Status.Code, name)
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	assert.Empty(t, f.queries, "a context that does not parse must not reach the table")
}

func TestQueryFromContext(t *testing.T) {
	t.Parallel()
	qc := osqtable.QueryContext{Constraints: map[string]osqtable.ConstraintList{
		"pid":     {Affinity: osqtable.ColumnTypeBigInt, Constraints: []osqtable.Constraint{{Operator: osqtable.OperatorEquals, Expression: "1"}}},
		"path":    {Affinity: osqtable.ColumnTypeText, Constraints: []osqtable.Constraint{{Operator: osqtable.OperatorGlob, Expression: "/usr/*"}, {Operator: osqtable.OperatorRegexp, Expression: "^/"}}},
		"size":    {Affinity: osqtable.ColumnTypeBigInt, Constraints: []osqtable.Constraint{{Operator: osqtable.OperatorLessThan, Expression: "10"}, {Operator: 68, Expression: "3"}}},
		"deleted": {Affinity: osqtable.ColumnTypeInteger},
	}}
	q := QueryFromContext(qc)
	assert.Equal(t, map[string][]table.Constraint{
		"pid":  {{Op: table.OpEquals, Expr: "1"}},
		"path": {{Op: table.OpGlob, Expr: "/usr/*"}, {Op: table.OpRegexp, Expr: "^/"}},
		// 68 is SQLite's "!=", which osqueryd forwards unchanged too.
		"size": {{Op: table.OpLessThan, Expr: "10"}, {Op: table.Op(68), Expr: "3"}},
	}, q.Constraints)

	empty := QueryFromContext(osqtable.QueryContext{})
	assert.NotNil(t, empty.Constraints)
	assert.Empty(t, empty.Constraints)
}

func TestRowsKeepEveryColumn(t *testing.T) {
	t.Parallel()
	f := &fakeTable{gen: func(context.Context, table.Query) ([]table.Row, error) {
		return []table.Row{
			{"1", "/usr/lib/libc.so.6", "2031616", "0"},
			{"1", "", "", ""}, // NULLs stay empty strings, keys stay present
			{"2", "/short"},   // a table bug: padded, not dropped
			{"3", "/x", "1", "0", "extra"},
		}, nil
	}}
	p := newPlugin(t, f, nil)
	resp := generate(p, `{"constraints":[]}`)
	require.Equal(t, int32(0), resp.Status.Code, resp.Status.Message)
	assert.Equal(t, gen.ExtensionPluginResponse{
		{"pid": "1", "path": "/usr/lib/libc.so.6", "size": "2031616", "deleted": "0"},
		{"pid": "1", "path": "", "size": "", "deleted": ""},
		{"pid": "2", "path": "/short", "size": "", "deleted": ""},
		{"pid": "3", "path": "/x", "size": "1", "deleted": "0"},
	}, resp.Response)
}

func TestPartialRowsWinOverErrors(t *testing.T) {
	t.Parallel()
	f := &fakeTable{gen: func(context.Context, table.Query) ([]table.Row, error) {
		return []table.Row{{"1", "/a", "1", "0"}}, errors.New("process 2 vanished")
	}}
	p := newPlugin(t, f, nil)
	resp := generate(p, `{"constraints":[]}`)
	require.Equal(t, int32(0), resp.Status.Code, "rows plus an error are still an answer")
	assert.Len(t, resp.Response, 1)

	f.gen = func(context.Context, table.Query) ([]table.Row, error) {
		return nil, errors.New("cannot read /proc")
	}
	resp = generate(p, `{"constraints":[]}`)
	assert.Equal(t, int32(1), resp.Status.Code)
	assert.Contains(t, resp.Status.Message, "cannot read /proc")
}

func TestPanickingTableFailsOneCall(t *testing.T) {
	t.Parallel()
	calls := 0
	f := &fakeTable{gen: func(context.Context, table.Query) ([]table.Row, error) {
		calls++
		if calls == 1 {
			panic("boom")
		}
		return []table.Row{{"1", "/a", "1", "0"}}, nil
	}}
	p := newPlugin(t, f, nil)

	resp := generate(p, `{"constraints":[]}`)
	assert.Equal(t, int32(1), resp.Status.Code)
	assert.Contains(t, resp.Status.Message, "internal error")

	resp = generate(p, `{"constraints":[]}`)
	require.Equal(t, int32(0), resp.Status.Code, "the plugin serves the next call")
	assert.Len(t, resp.Response, 1)
}

func TestSlowTableHitsDeadline(t *testing.T) {
	t.Parallel()
	f := &fakeTable{gen: func(ctx context.Context, _ table.Query) ([]table.Row, error) {
		<-ctx.Done()
		// Answer late, so the guard's deadline is what ends the call.
		time.Sleep(50 * time.Millisecond)
		return []table.Row{{"1", "/late", "1", "0"}}, nil
	}}
	p := newPlugin(t, f, table.NewGuard(30*time.Millisecond, 1, nil))

	resp := generate(p, `{"constraints":[]}`)
	assert.Equal(t, int32(1), resp.Status.Code)
	assert.Contains(t, resp.Status.Message, table.ErrTimeout.Error())
	assert.Empty(t, resp.Response)
}

func TestUnknownActionFails(t *testing.T) {
	t.Parallel()
	p := newPlugin(t, &fakeTable{}, nil)
	resp := p.Call(context.Background(), gen.ExtensionPluginRequest{"action": "delete"})
	assert.Equal(t, int32(1), resp.Status.Code)
}

func TestRoutesDeclareColumnOptions(t *testing.T) {
	t.Parallel()
	p := newPlugin(t, &fakeTable{}, nil)
	resp := p.Call(context.Background(), gen.ExtensionPluginRequest{"action": "columns"})
	require.Equal(t, int32(0), resp.Status.Code)
	// INDEX|OPTIMIZED (9) for index columns; OPTIMIZED alone (8) elsewhere,
	// which keeps osqueryd's --extensions_default_index from indexing them.
	assert.Equal(t, gen.ExtensionPluginResponse{
		{"id": "column", "name": "pid", "type": "BIGINT", "op": "9"},
		{"id": "column", "name": "path", "type": "TEXT", "op": "9"},
		{"id": "column", "name": "size", "type": "BIGINT", "op": "8"},
		{"id": "column", "name": "deleted", "type": "INTEGER", "op": "8"},
	}, resp.Response)
	assert.Equal(t, resp.Response, p.Routes(), "registration routes and the columns action agree")
}

func TestSpecs(t *testing.T) {
	t.Parallel()
	f := &fakeTable{}
	specs, err := Specs([]table.Spec{f.table().Spec})
	require.NoError(t, err)
	out, err := json.Marshal(specs)
	require.NoError(t, err)
	assert.JSONEq(t, `[{
		"name":"fake_modules","description":"Modules of fake processes.","url":"",
		"platforms":["linux"],"evented":false,"cacheable":false,
		"examples":["SELECT * FROM fake_modules WHERE pid = 1"],
		"columns":[
			{"name":"pid","type":"bigint","description":"Process id.","index":true,"required":false,"additional":false,"optimized":true,"hidden":false},
			{"name":"path","type":"text","description":"Module path.","index":true,"required":false,"additional":false,"optimized":true,"hidden":false},
			{"name":"size","type":"bigint","description":"Mapped bytes.","index":false,"required":false,"additional":false,"optimized":true,"hidden":false},
			{"name":"deleted","type":"integer","description":"1 when unlinked.","index":false,"required":false,"additional":false,"optimized":true,"hidden":false}]
	}]`, string(out))
}

func TestNewPluginRejectsBadTables(t *testing.T) {
	t.Parallel()
	guard := table.NewGuard(0, 0, nil)

	bad := (&fakeTable{}).table()
	bad.Platforms = []string{table.Linux, "plan9"}
	_, err := NewPlugin(bad, guard, nil)
	require.Error(t, err)
	assert.Contains(t, err.Error(), "plan9")

	bad = (&fakeTable{}).table()
	bad.Columns[1].Type = "BLOB"
	_, err = NewPlugin(bad, guard, nil)
	require.Error(t, err, "a definition the table model rejects")

	_, err = NewPlugin((&fakeTable{}).table(), nil, nil)
	require.Error(t, err, "no guard")
}

// usedOf returns the sorted names of a query's used columns; nil when the
// query says every column is used.
func usedOf(q table.Query) []string {
	if q.Used == nil {
		return nil
	}
	names := []string{}
	for n, ok := range q.Used {
		if ok {
			names = append(names, n)
		}
	}
	slices.Sort(names)
	return names
}

func TestUsedColumnsFromContext(t *testing.T) {
	t.Parallel()
	row := table.Row{"1", "/usr/lib/libc.so.6", "2031616", "0"}
	cases := []struct {
		name    string
		context string
		used    []string          // the query's Used, sorted; nil = all
		row     map[string]string // the row osqueryd gets
	}{
		{"colsUsed as osqueryd sends it, in no particular order",
			`{"constraints":[],"colsUsed":["size","pid"],"colsUsedBitset":5}`,
			[]string{"pid", "size"}, map[string]string{"pid": "1", "size": "2031616"}},
		{"names win over the bitset, as in osquery's own reading",
			`{"constraints":[],"colsUsed":["path"],"colsUsedBitset":15}`,
			[]string{"path"}, map[string]string{"path": "/usr/lib/libc.so.6"}},
		{"bitset alone: bit i is column i",
			`{"constraints":[],"colsUsedBitset":10}`,
			[]string{"deleted", "path"}, map[string]string{"path": "/usr/lib/libc.so.6", "deleted": "0"}},
		{"SELECT count(*): no column, rows still counted",
			`{"constraints":[],"colsUsed":[],"colsUsedBitset":0}`,
			[]string{}, map[string]string{}},
		{"a constrained column is read by the engine, listed or not",
			`{"constraints":[{"name":"pid","list":[{"op":2,"expr":"1"}],"affinity":"BIGINT"}],"colsUsed":["path"],"colsUsedBitset":2}`,
			[]string{"path"}, map[string]string{"pid": "1", "path": "/usr/lib/libc.so.6"}},
		{"an osqueryd that sends neither gets every column",
			`{"constraints":[]}`,
			nil, map[string]string{"pid": "1", "path": "/usr/lib/libc.so.6", "size": "2031616", "deleted": "0"}},
		{"unknown names are ignored",
			`{"constraints":[],"colsUsed":["pid","no_such_column"]}`,
			[]string{"no_such_column", "pid"}, map[string]string{"pid": "1"}},
	}
	for _, tc := range cases {
		f := &fakeTable{gen: func(context.Context, table.Query) ([]table.Row, error) { return []table.Row{row}, nil }}
		p := newPlugin(t, f, nil)
		resp := generate(p, tc.context)
		require.Equal(t, int32(0), resp.Status.Code, "%s: %s", tc.name, resp.Status.Message)
		assert.Equal(t, tc.used, usedOf(f.lastQuery(t)), tc.name)
		assert.Equal(t, gen.ExtensionPluginResponse{tc.row}, resp.Response, tc.name)
	}
}

func TestUsedColumnsPastTheSixtyThird(t *testing.T) {
	t.Parallel()
	f := &fakeTable{}
	tbl := f.table()
	for i := range 66 {
		tbl.Columns = append(tbl.Columns, table.Column{Name: "c" + strconv.Itoa(i), Type: table.Text, Description: "filler"})
	}
	p, err := NewPlugin(tbl, table.NewGuard(time.Second, 1, nil), nil)
	require.NoError(t, err)
	// Bit 63 stands for every column from the 64th on (columns 63..69).
	resp := generate(p, `{"constraints":[],"colsUsedBitset":9223372036854775809}`)
	require.Equal(t, int32(0), resp.Status.Code, resp.Status.Message)
	assert.Equal(t, []string{"c59", "c60", "c61", "c62", "c63", "c64", "c65", "pid"}, usedOf(f.lastQuery(t)))
}

func TestMalformedUsedColumnsAreRefused(t *testing.T) {
	t.Parallel()
	f := &fakeTable{}
	p := newPlugin(t, f, nil)
	for _, ctxJSON := range []string{
		`{"constraints":[],"colsUsed":"pid"}`,
		`{"constraints":[],"colsUsed":[1]}`,
		`{"constraints":[],"colsUsedBitset":-1}`,
		`{"constraints":[],"colsUsedBitset":"3"}`,
	} {
		resp := generate(p, ctxJSON)
		assert.Equal(t, int32(1), resp.Status.Code, ctxJSON)
		assert.Contains(t, resp.Status.Message, "colsUsed", ctxJSON)
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	assert.Empty(t, f.queries, "a context that does not parse must not reach the table")
}
