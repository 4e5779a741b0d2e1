package sqlhost

import (
	"errors"
	"fmt"
	"strconv"
	"strings"

	"modernc.org/sqlite/vtab"

	"github.com/modhunt/modhunt/tables/table"
)

// Planner costs. A scan that pins an index column with = is cheap; anything
// else reads every process. The gap makes SQLite prefer, for
// `pid IN (...)` and for joins on pid, the plan that probes by value.
const (
	fullScanCost = 1e6
	fullScanRows = 100000
	probeCost    = 10
	probeRows    = 10
)

// module creates the virtual table of one modhunt table on one connection.
// Its arguments are the connection's setup id and the table's position in
// the DB's list.
type module struct{}

func (module) Create(ctx vtab.Context, args []string) (vtab.Table, error) {
	return connect(ctx, args)
}

func (module) Connect(ctx vtab.Context, args []string) (vtab.Table, error) {
	return connect(ctx, args)
}

func connect(ctx vtab.Context, args []string) (vtab.Table, error) {
	// args: module name, database name, table name, then ours.
	if len(args) != 5 {
		return nil, fmt.Errorf("%s: want 2 arguments, got %d", moduleName, len(args)-3)
	}
	id, err1 := strconv.ParseUint(strings.TrimSpace(args[3]), 10, 64)
	idx, err2 := strconv.Atoi(strings.TrimSpace(args[4]))
	if err := errors.Join(err1, err2); err != nil {
		return nil, fmt.Errorf("%s: bad arguments: %w", moduleName, err)
	}
	v, ok := states.Load(id)
	if !ok {
		return nil, fmt.Errorf("%s: no open connection with id %d", moduleName, id)
	}
	st := v.(*connState)
	if idx < 0 || idx >= len(st.db.tables) {
		return nil, fmt.Errorf("%s: no table %d", moduleName, idx)
	}
	t := st.db.tables[idx]
	if err := ctx.Declare(declaration(t)); err != nil {
		return nil, fmt.Errorf("declare %s: %w", t.Name, err)
	}
	return &vtable{t: t, st: st}, nil
}

// declaration is the schema SQLite sees: osquery types mapped to SQLite
// storage classes so that comparisons use numeric affinity.
func declaration(t *table.Table) string {
	var b strings.Builder
	b.WriteString("CREATE TABLE x(")
	for i, c := range t.Columns {
		if i > 0 {
			b.WriteString(", ")
		}
		b.WriteString(quoteIdent(c.Name))
		b.WriteByte(' ')
		b.WriteString(sqliteType(c.Type))
	}
	b.WriteString(")")
	return b.String()
}

func sqliteType(t table.Type) string {
	switch t {
	case table.Integer, table.BigInt:
		return "INTEGER"
	case table.Double:
		return "REAL"
	default:
		return "TEXT"
	}
}

type vtable struct {
	t  *table.Table
	st *connState
}

// pushedOp maps a SQLite constraint to the osquery operator a table sees,
// or reports that osquery would not push it down.
func pushedOp(op vtab.ConstraintOp, typ table.Type) (table.Op, bool) {
	ordered := typ != table.Text // osquery's sensibleComparison
	switch op {
	case vtab.OpEQ:
		return table.OpEquals, true
	case vtab.OpLIKE:
		return table.OpLike, true
	case vtab.OpGLOB:
		return table.OpGlob, true
	case vtab.OpREGEXP:
		return table.OpRegexp, true
	case vtab.OpGT:
		return table.OpGreaterThan, ordered
	case vtab.OpGE:
		return table.OpGreaterOrEqual, ordered
	case vtab.OpLT:
		return table.OpLessThan, ordered
	case vtab.OpLE:
		return table.OpLessOrEquals, ordered
	}
	return 0, false
}

// BestIndex passes the usable constraints on index columns to Filter, in
// argument order, and describes them in IdxStr: SQLite's colUsed in hex,
// then "|" and the constraints as "column:op" pairs. It never sets Omit:
// SQLite re-checks every constraint, so a table that ignores one (or an
// operator it does not implement) still gives correct results.
//
// colUsed has bit i set when the statement may read column i (the columns
// in WHERE too), bit 63 standing for every column from the 64th on; 0 when
// it reads none (SELECT count(*)). IdxNum cannot carry it: SQLite keeps
// idxNum as 32 bits.
func (v *vtable) BestIndex(info *vtab.IndexInfo) error {
	var parts []string
	pinned := false
	for i := range info.Constraints {
		c := &info.Constraints[i]
		if !c.Usable || c.Column < 0 || c.Column >= len(v.t.Columns) {
			continue
		}
		col := v.t.Columns[c.Column]
		if !col.Index {
			continue
		}
		op, ok := pushedOp(c.Op, col.Type)
		if !ok {
			continue
		}
		c.ArgIndex = len(parts)
		parts = append(parts, strconv.Itoa(c.Column)+":"+strconv.Itoa(int(op)))
		pinned = pinned || op == table.OpEquals
	}
	info.IdxStr = strconv.FormatUint(info.ColUsed, 16) + "|" + strings.Join(parts, ",")
	if pinned {
		info.EstimatedCost, info.EstimatedRows = probeCost, probeRows
	} else {
		info.EstimatedCost, info.EstimatedRows = fullScanCost, fullScanRows
	}
	return nil
}

func (v *vtable) Open() (vtab.Cursor, error) { return &cursor{v: v}, nil }

func (v *vtable) Disconnect() error { return nil }

func (v *vtable) Destroy() error { return nil }

type cursor struct {
	v    *vtable
	rows []table.Row
	pos  int
}

// Filter runs the table's generate (or reuses this statement's earlier scan
// with the same constraints) for the constraints BestIndex chose.
func (c *cursor) Filter(_ int, idxStr string, vals []vtab.Value) error {
	t := c.v.t
	q := table.Query{}
	usedHex, idxStr, ok := strings.Cut(idxStr, "|")
	colUsed, err := strconv.ParseUint(usedHex, 16, 64)
	if !ok || err != nil {
		return fmt.Errorf("table %s: bad plan %q", t.Name, usedHex+"|"+idxStr)
	}
	var key strings.Builder
	key.WriteString(t.Name)
	if idxStr != "" {
		parts := strings.Split(idxStr, ",")
		if len(parts) != len(vals) {
			return fmt.Errorf("table %s: %d constraints planned, %d values given", t.Name, len(parts), len(vals))
		}
		q.Constraints = make(map[string][]table.Constraint, len(parts))
		for i, p := range parts {
			colStr, opStr, _ := strings.Cut(p, ":")
			col, err1 := strconv.Atoi(colStr)
			op, err2 := strconv.Atoi(opStr)
			if err1 != nil || err2 != nil || col < 0 || col >= len(t.Columns) {
				return fmt.Errorf("table %s: bad plan %q", t.Name, idxStr)
			}
			expr := exprString(vals[i])
			name := t.Columns[col].Name
			q.Constraints[name] = append(q.Constraints[name], table.Constraint{Op: table.Op(op), Expr: expr})
			fmt.Fprintf(&key, "\x00%d:%d:%d:%s", col, op, len(expr), expr)
		}
	}

	ctx, cache := c.v.st.current()
	// A scan that read more columns serves one that reads fewer; one that
	// read fewer is redone for both sets, so a later scan finds it.
	cached, cachedUsed, ok := cache.get(key.String())
	if ok && colUsed&^cachedUsed == 0 {
		c.rows, c.pos = cached, 0
		return nil
	}
	if ok {
		colUsed |= cachedUsed
	}
	q.Used = usedColumns(t, colUsed)
	rows, err := c.v.st.db.guard.Generate(ctx, t, q)
	if err != nil {
		if len(rows) == 0 {
			return tableError(t.Name, err)
		}
		// The guard has logged the error; the rows are still the best answer.
		c.v.st.db.log.DebugContext(ctx, "serving partial rows", "table", t.Name, "rows", len(rows))
	}
	cache.put(key.String(), rows, colUsed)
	c.rows, c.pos = rows, 0
	return nil
}

// usedColumns names the columns SQLite's colUsed marks: bit i for column
// i, bit 63 for every column from the 64th on.
func usedColumns(t *table.Table, colUsed uint64) map[string]bool {
	used := make(map[string]bool, len(t.Columns))
	for i, col := range t.Columns {
		if colUsed&(1<<min(i, 63)) != 0 {
			used[col.Name] = true
		}
	}
	return used
}

// tableError makes sure the message names the table: the guard's own errors
// do, a table's error may not.
func tableError(name string, err error) error {
	if strings.HasPrefix(err.Error(), name+":") {
		return err
	}
	return fmt.Errorf("%s: %w", name, err)
}

// exprString renders a constraint value as osquery does: the text SQLite
// would give for it.
func exprString(v vtab.Value) string {
	switch x := v.(type) {
	case nil:
		return ""
	case int64:
		return strconv.FormatInt(x, 10)
	case float64:
		return strconv.FormatFloat(x, 'g', -1, 64)
	case string:
		return x
	case []byte:
		return string(x)
	case bool:
		return table.Bool(x)
	default:
		return fmt.Sprint(x)
	}
}

func (c *cursor) Next() error { c.pos++; return nil }

func (c *cursor) Eof() bool { return c.pos >= len(c.rows) }

func (c *cursor) Rowid() (int64, error) { return int64(c.pos), nil }

func (c *cursor) Close() error { c.rows = nil; return nil }

// Column casts the row's string by the column's type. A row shorter than
// the table's columns reads as NULL, as a missing key does in osquery.
func (c *cursor) Column(col int) (vtab.Value, error) {
	if c.pos >= len(c.rows) || col < 0 || col >= len(c.v.t.Columns) {
		return nil, nil
	}
	row := c.rows[c.pos]
	if col >= len(row) {
		return nil, nil
	}
	return castValue(c.v.t.Columns[col].Type, row[col]), nil
}
