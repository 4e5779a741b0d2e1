// Package sqlhost serves modhunt's tables through an embedded SQLite engine
// (modernc.org/sqlite, pure Go), so the same tables answer the same SQL where
// osquery is not installed.
//
// Each table is a virtual table on an in-memory database. The engine behaves
// like osquery's own host towards a table:
//
//   - Only constraints on Index columns reach Generate: =, and LIKE, GLOB,
//     REGEXP, <, <=, >, >= numbered as osquery numbers them (<, <=, >, >= are
//     not pushed on TEXT columns, as osquery's sensibleComparison drops them).
//     SQLite re-checks every constraint on the rows Generate returns, so a
//     table may ignore any of them.
//   - `pid IN (5, 7)` reaches Generate as one call per value, each with one
//     OpEquals constraint (what osquery sends for a column that is not
//     OPTIMIZED). The Go virtual-table API of modernc.org/sqlite does not
//     expose sqlite3_vtab_in, so the whole list cannot be handed to one call.
//   - A join on an index column probes the inner table once per distinct
//     outer value.
//   - Values are cast by column type: "" in a numeric column is NULL, so is
//     a number that does not parse (INTEGER and BIGINT accept what C's
//     strtoll accepts with base 0: decimal, 0x hex, leading-0 octal).
//   - Generate learns the columns the statement reads (Query.Used, from
//     SQLite's colUsed, as osqueryd forwards it): the selected ones and
//     those in WHERE, ORDER BY and joins; none for count(*). SQLite never
//     reads a cell of another column, so a table may leave those empty.
//
// Within one Query, a table is generated at most once per distinct set of
// pushed-down constraints: a nested-loop join that rescans a table reuses
// the rows of the first scan instead of re-reading every process, as long
// as that scan filled every column the rescan reads. Every
// Generate runs under the table.Guard; rows that come with an error are
// served, and a call that fails with no rows fails the statement with an
// error that names the table.
package sqlhost

import (
	"context"
	"database/sql"
	"database/sql/driver"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"sync/atomic"

	"modernc.org/sqlite"
	sqlite3 "modernc.org/sqlite/lib"

	"github.com/modhunt/modhunt/tables/table"
)

// moduleName is the virtual-table module every table is created with. It is
// registered on a driver private to this package, so it cannot collide with
// another user of modernc.org/sqlite in the same binary.
const moduleName = "modhunt_table"

// maxConns bounds the pool: each connection is a separate in-memory
// database holding its own virtual tables, and the guard already caps the
// scans that can run at once.
const maxConns = 4

var (
	drv     = &sqlite.Driver{}
	drvOnce sync.Once
	drvErr  error

	// states finds a connection's state from the id its CREATE VIRTUAL TABLE
	// statements carry. SQLite may call xConnect again whenever it reloads
	// the schema, so an entry lives as long as its connection.
	states   sync.Map // uint64 -> *connState
	stateSeq atomic.Uint64
)

func driverWithModule() (*sqlite.Driver, error) {
	drvOnce.Do(func() { drvErr = drv.RegisterModule(moduleName, module{}) })
	return drv, drvErr
}

// DB is an in-memory SQLite database whose tables are modhunt tables. It is
// safe for concurrent use; each Query runs on a connection of its own.
type DB struct {
	tables []*table.Table
	byName map[string]*table.Table
	guard  *table.Guard
	log    *slog.Logger
	sql    *sql.DB
}

// Open returns a DB serving tables. Every Generate goes through guard; log
// receives the host's own messages (nil discards them).
func Open(tables []*table.Table, guard *table.Guard, log *slog.Logger) (*DB, error) {
	if guard == nil {
		return nil, errors.New("sqlhost: a guard is required")
	}
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	db := &DB{tables: tables, byName: make(map[string]*table.Table, len(tables)), guard: guard, log: log}
	for _, t := range tables {
		if err := t.Validate(); err != nil {
			return nil, fmt.Errorf("sqlhost: %w", err)
		}
		if _, dup := db.byName[strings.ToLower(t.Name)]; dup {
			return nil, fmt.Errorf("sqlhost: table %s declared twice", t.Name)
		}
		db.byName[strings.ToLower(t.Name)] = t
	}
	if _, err := driverWithModule(); err != nil {
		return nil, fmt.Errorf("sqlhost: register module: %w", err)
	}
	db.sql = sql.OpenDB(connector{db})
	db.sql.SetMaxOpenConns(maxConns)
	db.sql.SetMaxIdleConns(maxConns)
	// Open one connection now so a table the engine refuses fails Open,
	// not the first query.
	conn, err := db.sql.Conn(context.Background())
	if err != nil {
		return nil, errors.Join(fmt.Errorf("sqlhost: %w", err), db.sql.Close())
	}
	if err := conn.Close(); err != nil {
		return nil, errors.Join(fmt.Errorf("sqlhost: %w", err), db.sql.Close())
	}
	return db, nil
}

// Tables returns the tables the DB serves, in the order Open received them.
func (db *DB) Tables() []*table.Table { return db.tables }

// Table returns the named table (case-insensitive, as SQL names are), or nil.
func (db *DB) Table(name string) *table.Table { return db.byName[strings.ToLower(name)] }

// Close releases the database. Queries still running fail.
func (db *DB) Close() error { return db.sql.Close() }

// Query runs one SQL statement and returns its column names and rows. Values
// are int64, float64, string, []byte or nil (NULL). Text is returned byte for
// byte as the table produced it, valid UTF-8 or not.
func (db *DB) Query(ctx context.Context, query string) (columns []string, rows [][]any, err error) {
	return db.query(ctx, query, newScanCache())
}

func (db *DB) query(ctx context.Context, query string, cache *scanCache) (columns []string, rows [][]any, err error) {
	stmts := SplitStatements(query)
	switch len(stmts) {
	case 0:
		return nil, nil, errors.New("empty statement")
	case 1:
	default:
		return nil, nil, fmt.Errorf("%d statements given, Query runs one at a time", len(stmts))
	}
	conn, err := db.sql.Conn(ctx)
	if err != nil {
		return nil, nil, err
	}
	defer func() { _ = conn.Close() }() // returns it to the pool; nothing to report

	// ATTACH could create files; a limit of zero databases forbids it. The
	// limit is per connection and cheap to set, so set it every time.
	if _, err := sqlite.Limit(conn, sqlite3.SQLITE_LIMIT_ATTACHED, 0); err != nil {
		return nil, nil, err
	}
	var st *connState
	if err := conn.Raw(func(dc any) error {
		sc, ok := dc.(*stateConn)
		if !ok {
			return fmt.Errorf("sqlhost: connection %T was not opened by this package", dc)
		}
		st = sc.state
		return nil
	}); err != nil {
		return nil, nil, err
	}
	st.begin(ctx, cache)
	defer st.end()

	rs, err := conn.QueryContext(ctx, stmts[0])
	if err != nil {
		return nil, nil, cleanError(err)
	}
	// Every row is read and rs.Err checked; closing then only releases
	// the statement.
	defer func() { _ = rs.Close() }()
	columns, err = rs.Columns()
	if err != nil {
		return nil, nil, cleanError(err)
	}
	for rs.Next() {
		vals := make([]any, len(columns))
		ptrs := make([]any, len(columns))
		for i := range vals {
			ptrs[i] = &vals[i]
		}
		if err := rs.Scan(ptrs...); err != nil {
			return nil, nil, cleanError(err)
		}
		rows = append(rows, vals)
	}
	if err := rs.Err(); err != nil {
		return nil, nil, cleanError(err)
	}
	return columns, rows, nil
}

// cleanError turns the driver's "SQL logic error: MESSAGE (1)" into
// MESSAGE: SQLite's own message already says what went wrong, and for a
// failed scan it names the table.
func cleanError(err error) error {
	var se *sqlite.Error
	if !errors.As(err, &se) {
		return err
	}
	msg := strings.TrimSuffix(se.Error(), fmt.Sprintf(" (%d)", se.Code()))
	if se.Code()&0xff == sqlite3.SQLITE_ERROR {
		msg = strings.TrimPrefix(msg, "SQL logic error: ")
	}
	return errors.New(msg)
}

// scanCache holds the rows of the scans a query has made, keyed by table
// and pushed-down constraints, with the columns each scan filled (SQLite's
// colUsed bits).
type scanCache struct {
	mu sync.Mutex
	m  map[string]cachedScan
}

type cachedScan struct {
	rows []table.Row
	used uint64
}

func newScanCache() *scanCache { return &scanCache{m: make(map[string]cachedScan)} }

func (c *scanCache) get(key string) ([]table.Row, uint64, bool) {
	if c == nil {
		return nil, 0, false
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	s, ok := c.m[key]
	return s.rows, s.used, ok
}

func (c *scanCache) put(key string, rows []table.Row, used uint64) {
	if c == nil {
		return
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	c.m[key] = cachedScan{rows: rows, used: used}
}

// connState is what the virtual tables of one connection share: the context
// and the scan cache of the query running on it. A connection runs one
// statement at a time; the mutex only makes the hand-over visible to the
// goroutine database/sql steps on.
type connState struct {
	db *DB

	mu    sync.Mutex
	ctx   context.Context
	cache *scanCache
}

func (s *connState) begin(ctx context.Context, cache *scanCache) {
	s.mu.Lock()
	s.ctx, s.cache = ctx, cache
	s.mu.Unlock()
}

func (s *connState) end() {
	s.mu.Lock()
	s.ctx, s.cache = nil, nil
	s.mu.Unlock()
}

func (s *connState) current() (context.Context, *scanCache) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.ctx == nil {
		// SQL run outside a query (none today): no cache, no caller
		// deadline; the guard still bounds the scan.
		return context.Background(), nil
	}
	return s.ctx, s.cache
}

// connector opens connections whose in-memory database already declares
// every table, and which refuse writes and ATTACH: the engine runs as root
// and a query has no business creating files.
type connector struct{ db *DB }

func (c connector) Driver() driver.Driver { return drv }

func (c connector) Connect(ctx context.Context) (driver.Conn, error) {
	dc, err := drv.Open(":memory:")
	if err != nil {
		return nil, err
	}
	hc, ok := dc.(hostConn)
	if !ok {
		return nil, errors.Join(fmt.Errorf("sqlhost: driver connection %T lacks the context interfaces", dc), dc.Close())
	}
	sc := &stateConn{hostConn: hc, state: &connState{db: c.db}, id: stateSeq.Add(1)}
	states.Store(sc.id, sc.state)
	for i, t := range c.db.tables {
		stmt := fmt.Sprintf("CREATE VIRTUAL TABLE %s USING %s(%d, %d)", quoteIdent(t.Name), moduleName, sc.id, i)
		if _, err := sc.ExecContext(ctx, stmt, nil); err != nil {
			return nil, errors.Join(fmt.Errorf("declare table %s: %w", t.Name, err), sc.Close())
		}
	}
	if _, err := sc.ExecContext(ctx, "PRAGMA query_only = 1", nil); err != nil {
		return nil, errors.Join(fmt.Errorf("make connection read-only: %w", err), sc.Close())
	}
	return sc, nil
}

// hostConn is what database/sql uses of a modernc.org/sqlite connection;
// stateConn must forward all of it, or database/sql falls back to the
// context-free methods.
type hostConn interface {
	driver.Conn
	driver.ConnBeginTx
	driver.ConnPrepareContext
	driver.ExecerContext
	driver.QueryerContext
	driver.Pinger
	driver.SessionResetter
	driver.Validator
}

// stateConn is a connection together with the state its virtual tables
// share; closing it forgets the state.
type stateConn struct {
	hostConn
	state *connState
	id    uint64
}

func (c *stateConn) Close() error {
	states.Delete(c.id)
	return c.hostConn.Close()
}

// Unwrap lets sqlite.Limit reach the driver's connection.
func (c *stateConn) Unwrap() driver.Conn { return c.hostConn }

func quoteIdent(s string) string { return `"` + strings.ReplaceAll(s, `"`, `""`) + `"` }
