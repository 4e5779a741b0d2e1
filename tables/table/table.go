// Package table is modhunt's table model: one definition per table that every
// host (osquery over Thrift, the embedded SQLite engine) serves unchanged.
//
// A table never learns which host runs it. It sees a Query (the constraints
// the host could push down) and answers with rows in its own column order.
package table

import (
	"context"
	"fmt"
	"math"
	"strconv"

	"github.com/modhunt/modhunt/internal/platform"
)

// Type is an osquery column type. osquery casts every string value it gets
// from an extension by this type; the embedded host does the same.
type Type string

// The osquery column types modhunt uses. INTEGER is 32-bit inside osquery, so
// addresses, sizes, inodes and ids are BIGINT.
const (
	Text    Type = "TEXT"
	Integer Type = "INTEGER"
	BigInt  Type = "BIGINT"
	Double  Type = "DOUBLE"
)

// Column describes one column. Index columns are the ones whose constraints
// reach Generate; every other constraint is left to the SQL engine.
type Column struct {
	Name        string
	Type        Type
	Description string
	Index       bool
}

// Op is a constraint operator, numbered as osquery numbers them
// (osquery/core/tables.h ConstraintOperator) so osquery's context JSON needs
// no translation.
type Op int

// Operators a host may push down.
const (
	OpEquals         Op = 2
	OpGreaterThan    Op = 4
	OpLessOrEquals   Op = 8
	OpLessThan       Op = 16
	OpGreaterOrEqual Op = 32
	OpMatch          Op = 64
	OpLike           Op = 65
	OpGlob           Op = 66
	OpRegexp         Op = 67
)

// Constraint is one pushed-down comparison: column Op Expr.
type Constraint struct {
	Op   Op
	Expr string
}

// Query is what a host tells Generate about the statement: the constraints
// on index columns, keyed by column name (an IN list arrives as one OpEquals
// constraint per value), and the columns the statement reads.
type Query struct {
	Constraints map[string][]Constraint
	// Used names the columns the statement reads (osquery's colsUsed,
	// SQLite's colUsed). nil means every column: a host or caller that
	// cannot tell gets everything. A table may skip the work that only
	// unused columns need and leave those cells empty; hosts never show
	// them. Read it through Uses.
	Used map[string]bool
	// Scheduled names the scheduled query this call serves ("" for an ad
	// hoc query), and Execution tells one run of it from the next: an
	// evented table serves each event once per scheduled query
	// (internal/eventbuf). Hosts that know fill them in.
	Scheduled, Execution string
}

// Uses reports whether the statement reads column. A column with pushed
// constraints counts as read: the engine re-checks every constraint on the
// rows it gets, so it reads that column's values.
func (q Query) Uses(column string) bool {
	return q.Used == nil || q.Used[column] || len(q.Constraints[column]) > 0
}

// UsesAny reports whether the statement reads any of columns.
func (q Query) UsesAny(columns ...string) bool {
	for _, c := range columns {
		if q.Uses(c) {
			return true
		}
	}
	return false
}

// UsedColumns returns the Used set of names (nil: none, which is not "all").
func UsedColumns(names ...string) map[string]bool {
	used := make(map[string]bool, len(names))
	for _, n := range names {
		used[n] = true
	}
	return used
}

// Equals returns the values column is constrained to equal, or nil when the
// query does not pin the column down (any non-equality constraint on the
// column also means "unpinned": the engine filters those rows itself).
func (q Query) Equals(column string) []string {
	cs := q.Constraints[column]
	if len(cs) == 0 {
		return nil
	}
	vals := make([]string, 0, len(cs))
	for _, c := range cs {
		if c.Op != OpEquals {
			return nil
		}
		vals = append(vals, c.Expr)
	}
	return vals
}

// IntEquals is Equals for integer columns. A value that is not an integer can
// match no row, so it is dropped; pinned reports whether the column was
// pinned at all (pinned with no valid values means "no rows").
func (q Query) IntEquals(column string) (vals []int64, pinned bool) {
	strs := q.Equals(column)
	if strs == nil {
		return nil, false
	}
	for _, s := range strs {
		n, err := strconv.ParseInt(s, 10, 64)
		if err == nil {
			vals = append(vals, n)
		}
	}
	return vals, true
}

// PIDs returns the process ids a query pins column pid to: nil when it
// does not pin it, an empty non-nil slice when it pins it only to values
// no process can have (not a positive 32-bit integer), which means no rows.
func (q Query) PIDs() []int {
	vals, pinned := q.IntEquals("pid")
	if !pinned {
		return nil
	}
	pids := make([]int, 0, len(vals))
	for _, v := range vals {
		if v > 0 && v <= math.MaxInt32 {
			pids = append(pids, int(v))
		}
	}
	return pids
}

// PIDQuery is the query that pins column pid to pids (nil: no constraint),
// the inverse of Query.PIDs.
func PIDQuery(pids []int) Query {
	if pids == nil {
		return Query{}
	}
	cs := make([]Constraint, len(pids))
	for i, p := range pids {
		cs[i] = Constraint{Op: OpEquals, Expr: strconv.Itoa(p)}
	}
	return Query{Constraints: map[string][]Constraint{"pid": cs}}
}

// Row holds one row's values in the table's column order. An empty string
// in a numeric column is NULL, as osquery reads it.
type Row []string

// GenerateFunc produces a table's rows. It must honour ctx, and it returns
// the rows it has even when it also returns an error.
type GenerateFunc func(ctx context.Context, q Query) ([]Row, error)

// Platform names as osquery spells them (package platform's).
const (
	Linux   = platform.Linux
	Windows = platform.Windows
	Darwin  = platform.Darwin
)

// Spec is a table's definition as data: what docs, --spec and packs read,
// with nothing built and nothing read from the host. Each table package
// exports its Spec; tables.Specs lists them all.
type Spec struct {
	Name        string
	Description string
	// Platforms are the OSes that serve the table (package platform's names).
	Platforms []string
	Columns   []Column
	Examples  []string
	// Evented: the table serves events buffered as they happened, not a
	// snapshot of the host now (osquery's evented tables): a scheduled
	// query sees each event once (Query.Scheduled). Hosts that can tell a
	// scheduled query from an ad hoc one do so for these tables.
	Evented bool
}

// StreamFunc produces a table's rows batch by batch, handing each batch to
// emit as soon as it is made; emit's error stops it and is returned. A
// batch and its rows are the table's again once emit returns (the next
// batch reuses them); the strings in them are immutable and may be kept.
type StreamFunc func(ctx context.Context, q Query, emit func([]Row) error) error

// Table is a Spec a host can serve: the definition and the function that
// answers queries.
type Table struct {
	Spec
	Generate GenerateFunc
	// Stream, when set, produces the rows Generate returns, in the same
	// order, batch by batch, for a host that writes rows out as they come
	// (the osquery host encodes each batch into its reply). A host-sized
	// scan then keeps no rows, only the bytes it sends: for SELECT pid,
	// path over every process the rows Generate returns are several times
	// the reply's size, and allocating, zeroing and collecting them cost
	// the extension about as much CPU as parsing the maps.
	Stream StreamFunc
}

// Validate checks the invariants hosts rely on, so a malformed definition is
// caught by tests instead of by a confused query.
func (t *Table) Validate() error {
	if t.Generate == nil {
		return fmt.Errorf("table %q: generate is required", t.Name)
	}
	return t.Spec.Validate()
}

// Validate checks the definition's invariants: a name, a description, at
// least one column and example, and columns with unique names, descriptions
// and known types.
func (t *Spec) Validate() error {
	if t.Name == "" || t.Description == "" {
		return fmt.Errorf("table %q: name and description are required", t.Name)
	}
	if len(t.Columns) == 0 {
		return fmt.Errorf("table %s: no columns", t.Name)
	}
	if len(t.Examples) == 0 {
		return fmt.Errorf("table %s: no example query", t.Name)
	}
	seen := make(map[string]bool, len(t.Columns))
	for _, c := range t.Columns {
		switch {
		case c.Name == "":
			return fmt.Errorf("table %s: column with no name", t.Name)
		case seen[c.Name]:
			return fmt.Errorf("table %s: column %s declared twice", t.Name, c.Name)
		case c.Description == "":
			return fmt.Errorf("table %s: column %s has no description", t.Name, c.Name)
		}
		switch c.Type {
		case Text, Integer, BigInt, Double:
		default:
			return fmt.Errorf("table %s: column %s has unknown type %q", t.Name, c.Name, c.Type)
		}
		seen[c.Name] = true
	}
	return nil
}

// UsedMask returns, per column position, whether q reads that column; nil
// when it reads every column. Hosts use it to leave unused cells out.
func (t *Table) UsedMask(q Query) []bool {
	if q.Used == nil {
		return nil
	}
	mask := make([]bool, len(t.Columns))
	all := true
	for i, c := range t.Columns {
		mask[i] = q.Uses(c.Name)
		all = all && mask[i]
	}
	if all {
		return nil
	}
	return mask
}

// ColumnIndex returns the position of the named column, or -1.
func (t *Spec) ColumnIndex(name string) int {
	for i, c := range t.Columns {
		if c.Name == name {
			return i
		}
	}
	return -1
}

// Bool renders a flag the way osquery tables do.
func Bool(b bool) string {
	if b {
		return "1"
	}
	return "0"
}

// Int renders an integer column value.
func Int[T ~int | ~int32 | ~int64 | ~uint32 | ~uint64 | ~uint](v T) string {
	if v < 0 {
		return strconv.FormatInt(int64(v), 10)
	}
	return strconv.FormatUint(uint64(v), 10)
}
