package sqlhost

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"slices"
	"sort"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.uber.org/goleak"

	"github.com/modhunt/modhunt/tables/table"
)

func TestMain(m *testing.M) {
	// database/sql and the guard start goroutines; every test closes its DB
	// and every slow fake honours its context, so none may be left behind.
	goleak.VerifyTestMain(m)
}

// recorder remembers every Query a fake table's generate received: the
// constraints in queries, the used columns apart in used (the pushdown
// tests compare constraints only).
type recorder struct {
	mu      sync.Mutex
	queries []table.Query
	used    []map[string]bool
}

func (r *recorder) add(q table.Query) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.used = append(r.used, q.Used)
	q.Used = nil
	r.queries = append(r.queries, q)
}

// usedSets lists the used columns of every call, sorted names per call;
// nil for a call that was told every column is used.
func (r *recorder) usedSets() [][]string {
	r.mu.Lock()
	defer r.mu.Unlock()
	out := make([][]string, 0, len(r.used))
	for _, u := range r.used {
		if u == nil {
			out = append(out, nil) // every column
			continue
		}
		names := []string{}
		for n, ok := range u {
			if ok {
				names = append(names, n)
			}
		}
		sort.Strings(names)
		out = append(out, names)
	}
	return out
}

func (r *recorder) all() []table.Query {
	r.mu.Lock()
	defer r.mu.Unlock()
	return slices.Clone(r.queries)
}

// pinnedPIDs lists the pid equality sets generate received, one entry per
// call ("" for a call that did not pin pid).
func (r *recorder) pinnedPIDs() []string {
	var out []string
	for _, q := range r.all() {
		vals := q.Equals("pid")
		sort.Strings(vals)
		out = append(out, fmt.Sprint(vals))
	}
	sort.Strings(out)
	return out
}

// procsTable is a fake with every column type. Its generate honours pid
// equality (as real tables do) and ignores every other constraint, which
// the engine must then apply itself.
func procsTable(rec *recorder) *table.Table {
	rows := []table.Row{
		{"5", "bash", "1000", "/usr/bin/bash", "0.5"},
		{"7", "sshd", "99", "/usr/sbin/sshd", ""},
		{"9", "evil", "", "/tmp/.x/evil", "1e3"},
		{"11", "weird", "200", "/tmp/\xff\xfe.so", "abc"},
	}
	return &table.Table{
		Spec: table.Spec{
			Name:        "procs",
			Description: "fake processes",
			Platforms:   []string{table.Linux},
			Columns: []table.Column{
				{Name: "pid", Type: table.BigInt, Description: "pid", Index: true},
				{Name: "name", Type: table.Text, Description: "name"},
				{Name: "size", Type: table.BigInt, Description: "size"},
				{Name: "path", Type: table.Text, Description: "path", Index: true},
				{Name: "ratio", Type: table.Double, Description: "ratio"},
			},
			Examples: []string{"SELECT * FROM procs"},
		},
		Generate: func(ctx context.Context, q table.Query) ([]table.Row, error) {
			rec.add(q)
			want := q.Equals("pid")
			var out []table.Row
			for _, r := range rows {
				if want == nil || slices.Contains(want, r[0]) {
					out = append(out, r)
				}
			}
			return out, nil
		},
	}
}

// modsTable is a second fake to join with: the modules of each pid.
func modsTable(rec *recorder) *table.Table {
	mods := map[string][]string{
		"5":  {"/usr/lib/libc.so.6", "/usr/lib/libtinfo.so.6"},
		"7":  {"/usr/lib/libc.so.6"},
		"9":  {"/tmp/.x/libevil.so"},
		"11": {},
	}
	return &table.Table{
		Spec: table.Spec{
			Name:        "mods",
			Description: "fake modules",
			Platforms:   []string{table.Linux},
			Columns: []table.Column{
				{Name: "pid", Type: table.BigInt, Description: "pid", Index: true},
				{Name: "path", Type: table.Text, Description: "module path"},
			},
			Examples: []string{"SELECT * FROM mods"},
		},
		Generate: func(ctx context.Context, q table.Query) ([]table.Row, error) {
			rec.add(q)
			pids, pinned := q.IntEquals("pid")
			var keys []string
			if pinned {
				for _, p := range pids {
					keys = append(keys, strconv.FormatInt(p, 10))
				}
			} else {
				for k := range mods {
					keys = append(keys, k)
				}
			}
			var out []table.Row
			for _, k := range keys {
				for _, m := range mods[k] {
					out = append(out, table.Row{k, m})
				}
			}
			return out, nil
		},
	}
}

func fakeTable(name string, gen table.GenerateFunc) *table.Table {
	return &table.Table{
		Spec: table.Spec{
			Name:        name,
			Description: "fake " + name,
			Platforms:   []string{table.Linux},
			Columns: []table.Column{
				{Name: "pid", Type: table.BigInt, Description: "pid", Index: true},
				{Name: "note", Type: table.Text, Description: "note"},
			},
			Examples: []string{"SELECT * FROM " + name},
		},
		Generate: gen,
	}
}

func openDB(t *testing.T, timeout time.Duration, tables ...*table.Table) *DB {
	t.Helper()
	db, err := Open(tables, table.NewGuard(timeout, 0, nil), slog.New(slog.DiscardHandler))
	require.NoError(t, err)
	t.Cleanup(func() { require.NoError(t, db.Close()) })
	return db
}

func query(t *testing.T, db *DB, sql string) ([]string, [][]any) {
	t.Helper()
	cols, rows, err := db.Query(context.Background(), sql)
	require.NoError(t, err, sql)
	return cols, rows
}

func TestSelectStarTypesValues(t *testing.T) {
	t.Parallel()
	db := openDB(t, 0, procsTable(&recorder{}))
	cols, rows := query(t, db, "SELECT * FROM procs ORDER BY pid")
	assert.Equal(t, []string{"pid", "name", "size", "path", "ratio"}, cols)
	assert.Equal(t, [][]any{
		{int64(5), "bash", int64(1000), "/usr/bin/bash", 0.5},
		{int64(7), "sshd", int64(99), "/usr/sbin/sshd", nil},      // "" in DOUBLE
		{int64(9), "evil", nil, "/tmp/.x/evil", 1000.0},           // "" in BIGINT
		{int64(11), "weird", int64(200), "/tmp/\xff\xfe.so", nil}, // "abc" in DOUBLE; bytes kept
	}, rows)
}

func TestNumericComparisonIsNumeric(t *testing.T) {
	t.Parallel()
	db := openDB(t, 0, procsTable(&recorder{}))
	// As text, "99" > "100"; as integers it is not.
	_, rows := query(t, db, "SELECT pid FROM procs WHERE size > 100 ORDER BY pid")
	assert.Equal(t, [][]any{{int64(5)}, {int64(11)}}, rows)
	_, rows = query(t, db, "SELECT count(*) FROM procs WHERE size IS NULL")
	assert.Equal(t, [][]any{{int64(1)}}, rows)
}

func TestEqualityReachesGenerate(t *testing.T) {
	t.Parallel()
	rec := &recorder{}
	db := openDB(t, 0, procsTable(rec))
	_, rows := query(t, db, "SELECT name FROM procs WHERE pid = 5")
	assert.Equal(t, [][]any{{"bash"}}, rows)
	assert.Equal(t, []table.Query{{Constraints: map[string][]table.Constraint{
		"pid": {{Op: table.OpEquals, Expr: "5"}},
	}}}, rec.all())
}

func TestInListReachesGenerateOncePerValue(t *testing.T) {
	t.Parallel()
	rec := &recorder{}
	db := openDB(t, 0, procsTable(rec))
	_, rows := query(t, db, "SELECT name FROM procs WHERE pid IN (5, 7, 42) ORDER BY name")
	assert.Equal(t, [][]any{{"bash"}, {"sshd"}}, rows)
	// One call per value, each pinned; never a full scan.
	assert.Equal(t, []string{"[42]", "[5]", "[7]"}, rec.pinnedPIDs())
	for _, q := range rec.all() {
		assert.Len(t, q.Constraints["pid"], 1)
	}
}

func TestNonIndexConstraintsStayInEngine(t *testing.T) {
	t.Parallel()
	rec := &recorder{}
	db := openDB(t, 0, procsTable(rec))
	_, rows := query(t, db, "SELECT pid FROM procs WHERE name = 'sshd' AND size < 500")
	assert.Equal(t, [][]any{{int64(7)}}, rows)
	require.Len(t, rec.all(), 1)
	assert.Empty(t, rec.all()[0].Constraints)
}

func TestPatternAndRangeOperatorsPushedNotOmitted(t *testing.T) {
	t.Parallel()
	rec := &recorder{}
	db := openDB(t, 0, procsTable(rec))

	// procs ignores LIKE, so only SQLite's re-check can filter the rows.
	_, rows := query(t, db, "SELECT pid FROM procs WHERE path LIKE '/tmp/%' ORDER BY pid")
	assert.Equal(t, [][]any{{int64(9)}, {int64(11)}}, rows)
	require.Len(t, rec.all(), 1)
	assert.Equal(t, map[string][]table.Constraint{"path": {{Op: table.OpLike, Expr: "/tmp/%"}}},
		rec.all()[0].Constraints)

	rec = &recorder{}
	db = openDB(t, 0, procsTable(rec))
	_, rows = query(t, db, "SELECT pid FROM procs WHERE path GLOB '/usr/*' AND pid >= 6 AND path > '/u'")
	assert.Equal(t, [][]any{{int64(7)}}, rows)
	require.Len(t, rec.all(), 1)
	// >= on a BIGINT index column is pushed; > on a TEXT one is not (osquery's
	// sensibleComparison).
	assert.Equal(t, map[string][]table.Constraint{
		"path": {{Op: table.OpGlob, Expr: "/usr/*"}},
		"pid":  {{Op: table.OpGreaterOrEqual, Expr: "6"}},
	}, rec.all()[0].Constraints)
}

func TestJoinOnPIDProbesByValue(t *testing.T) {
	t.Parallel()
	procs, mods := &recorder{}, &recorder{}
	db := openDB(t, 0, procsTable(procs), modsTable(mods))
	_, rows := query(t, db, `SELECT p.name, m.path FROM procs p JOIN mods m ON m.pid = p.pid
		WHERE p.pid IN (5, 9) ORDER BY m.path`)
	assert.Equal(t, [][]any{
		{"evil", "/tmp/.x/libevil.so"},
		{"bash", "/usr/lib/libc.so.6"},
		{"bash", "/usr/lib/libtinfo.so.6"},
	}, rows)
	assert.Equal(t, []string{"[5]", "[9]"}, procs.pinnedPIDs())
	assert.Equal(t, []string{"[5]", "[9]"}, mods.pinnedPIDs())

	// Without a literal, one side is scanned and the other probed per pid.
	procs2, mods2 := &recorder{}, &recorder{}
	db = openDB(t, 0, procsTable(procs2), modsTable(mods2))
	_, rows = query(t, db, `SELECT count(*) FROM procs p JOIN mods m USING (pid) WHERE m.path LIKE '%libc%'`)
	assert.Equal(t, [][]any{{int64(2)}}, rows)
	scans := 0
	for _, q := range append(procs2.all(), mods2.all()...) {
		if q.Equals("pid") == nil {
			scans++
		}
	}
	assert.Equal(t, 1, scans, "exactly one side is scanned whole: procs %v mods %v", procs2.pinnedPIDs(), mods2.pinnedPIDs())
}

func TestScanReusedWithinOneQuery(t *testing.T) {
	t.Parallel()
	rec := &recorder{}
	db := openDB(t, 0, procsTable(rec))
	// A cross join rescans the inner table once per outer row; the second
	// and later scans come from the first.
	_, rows := query(t, db, "SELECT count(*) FROM procs a, procs b WHERE a.name < b.name")
	assert.Equal(t, [][]any{{int64(6)}}, rows)
	assert.Len(t, rec.all(), 1)
	// A new query scans again.
	query(t, db, "SELECT count(*) FROM procs")
	assert.Len(t, rec.all(), 2)
}

func TestPanickingTableIsAnSQLError(t *testing.T) {
	t.Parallel()
	db := openDB(t, 0, procsTable(&recorder{}), fakeTable("boom", func(context.Context, table.Query) ([]table.Row, error) {
		panic("index out of range")
	}))
	_, _, err := db.Query(context.Background(), "SELECT * FROM boom")
	require.Error(t, err)
	assert.Contains(t, err.Error(), "boom")
	assert.Contains(t, err.Error(), "internal error")
	// The DB, and the connection the failure happened on, keep working.
	for range maxConns + 1 {
		_, rows := query(t, db, "SELECT count(*) FROM procs")
		assert.Equal(t, [][]any{{int64(4)}}, rows)
	}
}

func TestSlowTableHitsGuardDeadline(t *testing.T) {
	t.Parallel()
	db := openDB(t, 50*time.Millisecond, procsTable(&recorder{}),
		fakeTable("slow", func(ctx context.Context, _ table.Query) ([]table.Row, error) {
			<-ctx.Done()
			return nil, ctx.Err()
		}))
	_, _, err := db.Query(context.Background(), "SELECT * FROM slow")
	require.Error(t, err)
	assert.Contains(t, err.Error(), "slow")
	assert.Contains(t, err.Error(), table.ErrTimeout.Error())
	_, rows := query(t, db, "SELECT count(*) FROM procs")
	assert.Equal(t, [][]any{{int64(4)}}, rows)
}

func TestCallerCancellationStopsQuery(t *testing.T) {
	t.Parallel()
	db := openDB(t, time.Minute, fakeTable("slow", func(ctx context.Context, _ table.Query) ([]table.Row, error) {
		<-ctx.Done()
		return nil, ctx.Err()
	}))
	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	start := time.Now()
	_, _, err := db.Query(ctx, "SELECT * FROM slow")
	require.Error(t, err)
	assert.Less(t, time.Since(start), 30*time.Second, "the guard's minute must not be waited out")
}

func TestPartialRowsServedTotalFailureNamed(t *testing.T) {
	t.Parallel()
	db := openDB(t, 0,
		fakeTable("partial", func(context.Context, table.Query) ([]table.Row, error) {
			return []table.Row{{"1", "kept"}}, errors.New("pid 2 unreadable")
		}),
		fakeTable("broken", func(context.Context, table.Query) ([]table.Row, error) {
			return nil, errors.New("no procfs")
		}))
	_, rows := query(t, db, "SELECT note FROM partial")
	assert.Equal(t, [][]any{{"kept"}}, rows)
	_, _, err := db.Query(context.Background(), "SELECT note FROM broken")
	require.Error(t, err)
	assert.Contains(t, err.Error(), "broken: no procfs")
}

func TestShortRowsAndCasts(t *testing.T) {
	t.Parallel()
	tbl := &table.Table{
		Spec: table.Spec{
			Name:        "casts",
			Description: "casts",
			Examples:    []string{"SELECT 1"},
			Columns: []table.Column{
				{Name: "v", Type: table.BigInt, Description: "v"},
				{Name: "i", Type: table.Integer, Description: "i"},
				{Name: "t", Type: table.Text, Description: "t"},
			},
		},
		Generate: func(context.Context, table.Query) ([]table.Row, error) {
			return []table.Row{
				{"0x10", "010", ""}, // strtoll base 0: hex and octal; "" TEXT stays ""
				{"9223372036854775808", "-9223372036854775808"},
				{"12abc"},
			}, nil
		},
	}
	db := openDB(t, 0, tbl)
	_, rows := query(t, db, "SELECT v, i, t FROM casts")
	assert.Equal(t, [][]any{
		{int64(16), int64(8), ""},
		{nil, int64(-9223372036854775808), nil}, // overflow is NULL; missing value is NULL
		{nil, nil, nil},
	}, rows)
}

func TestReadOnlyNoAttach(t *testing.T) {
	t.Parallel()
	db := openDB(t, 0, procsTable(&recorder{}))
	dir := t.TempDir()
	for _, sql := range []string{
		"CREATE TABLE t(x)",
		"DROP TABLE procs",
		fmt.Sprintf("ATTACH DATABASE '%s/x.db' AS x", dir),
		fmt.Sprintf("VACUUM INTO '%s/y.db'", dir),
	} {
		_, _, err := db.Query(context.Background(), sql)
		assert.Error(t, err, sql)
	}
	_, rows := query(t, db, "SELECT count(*) FROM procs")
	assert.Equal(t, [][]any{{int64(4)}}, rows)
	entries, err := os.ReadDir(dir)
	require.NoError(t, err)
	assert.Empty(t, entries, "no file may be created by a query")
}

func TestQueryErrors(t *testing.T) {
	t.Parallel()
	db := openDB(t, 0, procsTable(&recorder{}))
	for sql, want := range map[string]string{
		"SELEC 1":                       "syntax error",
		"SELECT * FROM nope":            "no such table: nope",
		"SELECT 1; SELECT 2":            "2 statements",
		"  -- nothing\n":                "empty statement",
		"SELECT nosuch FROM procs":      "no such column: nosuch",
		"SELECT * FROM procs WHERE (((": "incomplete input",
	} {
		_, _, err := db.Query(context.Background(), sql)
		if assert.Error(t, err, sql) {
			assert.Contains(t, err.Error(), want, sql)
		}
	}
}

func TestConcurrentQueries(t *testing.T) {
	t.Parallel()
	rec := &recorder{}
	db := openDB(t, 0, procsTable(rec), modsTable(&recorder{}))
	var wg sync.WaitGroup
	errs := make(chan error, 16)
	for i := range 16 {
		wg.Go(func() {
			pid := []int{5, 7, 9, 11}[i%4]
			_, rows, err := db.Query(context.Background(),
				fmt.Sprintf("SELECT count(*) FROM procs p JOIN mods m USING (pid) WHERE p.pid = %d", pid))
			if err == nil && len(rows) != 1 {
				err = fmt.Errorf("pid %d: %d rows", pid, len(rows))
			}
			errs <- err
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		assert.NoError(t, err)
	}
}

func TestOpenRejectsBadTables(t *testing.T) {
	t.Parallel()
	g := table.NewGuard(0, 0, nil)
	ok := procsTable(&recorder{})
	_, err := Open([]*table.Table{ok, procsTable(&recorder{})}, g, nil)
	assert.ErrorContains(t, err, "declared twice")
	bad := procsTable(&recorder{})
	bad.Columns[0].Type = "UNSIGNED"
	_, err = Open([]*table.Table{bad}, g, nil)
	assert.ErrorContains(t, err, "unknown type")
	_, err = Open(nil, nil, nil)
	assert.ErrorContains(t, err, "guard")

	// No tables at all is a working, empty engine.
	db, err := Open(nil, g, nil)
	require.NoError(t, err)
	t.Cleanup(func() { assert.NoError(t, db.Close()) })
	_, rows, err := db.Query(context.Background(), "SELECT 1 + 1")
	require.NoError(t, err)
	assert.Equal(t, [][]any{{int64(2)}}, rows)
}

func TestParseCInt(t *testing.T) {
	t.Parallel()
	for in, want := range map[string]any{
		"0": int64(0), "42": int64(42), "-42": int64(-42), "+7": int64(7), " 12": int64(12),
		"0x1F": int64(31), "0XfF": int64(255), "017": int64(15), "-0x10": int64(-16),
		"9223372036854775807":  int64(9223372036854775807),
		"-9223372036854775808": int64(-9223372036854775808),
		"9223372036854775808":  nil, "0xffffffffffffffff": nil, "": nil, "abc": nil, "12 ": nil,
		"0x": nil, "08": nil, "1_000": nil, "--1": nil, "-": nil, "1.5": nil,
	} {
		assert.Equal(t, want, castValue(table.BigInt, in), "%q", in)
	}
	for in, want := range map[string]any{
		"0.5": 0.5, "1e3": 1000.0, "-2": -2.0, "": nil, "x": nil, "1_0": nil, "1.5 ": nil,
	} {
		assert.Equal(t, want, castValue(table.Double, in), "%q", in)
	}
}

func TestSplit(t *testing.T) {
	t.Parallel()
	cases := []struct {
		in    string
		stmts []string
		rest  string
	}{
		{"SELECT 1;", []string{"SELECT 1"}, ""},
		{"SELECT 1; SELECT 2;\n", []string{"SELECT 1", "SELECT 2"}, ""},
		{"SELECT ';' ; SELECT \"a;b\" FROM t", []string{"SELECT ';'"}, `SELECT "a;b" FROM t`},
		{"SELECT 'it''s;';", []string{"SELECT 'it''s;'"}, ""},
		{"SELECT [x;y], `a;b` -- c;\n;", []string{"SELECT [x;y], `a;b` -- c;"}, ""},
		{"SELECT /* ; */ 1;;  ;", []string{"SELECT /* ; */ 1"}, ""},
		{"-- only a comment;\n", nil, ""},
		{"SELECT 'open;", nil, "SELECT 'open;"},
		{"SELECT 1; SELECT 2\n", []string{"SELECT 1"}, "SELECT 2\n"},
		{"SELECT 1; /* tail */", []string{"SELECT 1"}, ""},
		{"SELECT 1; /* open ;\n", []string{"SELECT 1"}, "/* open ;\n"},
	}
	for _, c := range cases {
		stmts, rest := Split(c.in)
		assert.Equal(t, c.stmts, stmts, "%q", c.in)
		assert.Equal(t, c.rest, rest, "%q", c.in)
	}
}

// TestUsedColumnsReachGenerate checks what SQLite's colUsed marks and that
// generate gets exactly that: the selected columns, the columns of WHERE
// (pushed down or not), every column for SELECT *, none for count(*).
func TestUsedColumnsReachGenerate(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		sql  string
		want []string
	}{
		{"SELECT * FROM procs", []string{"name", "path", "pid", "ratio", "size"}},
		{"SELECT pid, path FROM procs", []string{"path", "pid"}},
		{"SELECT name FROM procs WHERE pid = 5", []string{"name", "pid"}},
		{"SELECT name FROM procs WHERE size > 100", []string{"name", "size"}},
		{"SELECT path FROM procs ORDER BY ratio", []string{"path", "ratio"}},
		{"SELECT count(*) FROM procs", []string{}},
		{"SELECT 1 FROM procs WHERE name = 'x'", []string{"name"}},
	} {
		rec := &recorder{}
		db := openDB(t, 0, procsTable(rec))
		query(t, db, tc.sql)
		assert.Equal(t, [][]string{tc.want}, rec.usedSets(), tc.sql)
	}
}

// TestUnusedColumnsStayUnread runs a table that fills only the columns it
// is asked for: a statement that reads some columns sees their values, and
// one scan that filled fewer columns is never served to a scan that needs
// more (a self-join reading different columns on each side).
func TestUnusedColumnsStayUnread(t *testing.T) {
	t.Parallel()
	rec := &recorder{}
	full := procsTable(&recorder{})
	pruned := procsTable(rec)
	inner := pruned.Generate
	pruned.Generate = func(ctx context.Context, q table.Query) ([]table.Row, error) {
		rows, err := inner(ctx, q)
		out := make([]table.Row, len(rows))
		for i, r := range rows {
			out[i] = make(table.Row, len(r))
			for j, c := range pruned.Columns {
				if q.Uses(c.Name) {
					out[i][j] = r[j]
				}
			}
		}
		return out, err
	}
	fullDB := openDB(t, 0, full)
	prunedDB := openDB(t, 0, pruned)
	for _, sql := range []string{
		"SELECT name, size FROM procs ORDER BY pid",
		"SELECT a.name, b.path FROM procs a JOIN procs b ON a.size = b.size ORDER BY a.pid",
		"SELECT a.pid, b.ratio FROM procs a, procs b WHERE a.name < b.name ORDER BY a.pid, b.pid",
	} {
		_, want := query(t, fullDB, sql)
		_, got := query(t, prunedDB, sql)
		assert.Equal(t, want, got, sql)
	}
}
