package osqueryd

import (
	"encoding/json"
	"slices"
)

// Constraint operators, numbered as osquery numbers them
// (osquery/core/tables.h ConstraintOperator).
const (
	Equals              = 2
	GreaterThan         = 4
	LessThanOrEquals    = 8
	LessThan            = 16
	GreaterThanOrEquals = 32
	Match               = 64
	Like                = 65
	Glob                = 66
	Regexp              = 67
)

// Constraint is one forwarded term of a WHERE clause: the operator and
// SQLite's text of the value.
type Constraint struct {
	Op   int    `json:"op"`
	Expr string `json:"expr"`
}

// In is what osqueryd forwards for "column IN (values)" on a column with
// the OPTIMIZED option: one EQUALS per distinct value, all in a single
// generate call (virtual_table.cpp: xBestIndex turns the term into IN_OP via
// sqlite3_vtab_in, xFilter walks sqlite3_vtab_in_first/next and adds each
// value as EQUALS). SQLite reads the values from an ephemeral index, so
// duplicates are gone and the order is not the query's.
func In(values ...string) []Constraint {
	var cs []Constraint
	for _, v := range values {
		c := Constraint{Op: Equals, Expr: v}
		if !slices.Contains(cs, c) {
			cs = append(cs, c)
		}
	}
	return cs
}

// QueryContext is what osqueryd knows about one scan of an extension table
// when it calls generate.
type QueryContext struct {
	// Columns are all of the table's columns, in declaration order.
	Columns []Column
	// Constraints holds the forwarded terms per column name.
	Constraints map[string][]Constraint
	// Used are the columns the query reads. nil means all of them
	// (SELECT *); an empty non-nil slice means none (SELECT count(*)).
	// A column with forwarded terms is read whether listed or not: SQLite's
	// colUsed marks every column the statement names, WHERE included.
	Used []string
}

type constraintListJSON struct {
	Name     string       `json:"name"`
	List     []Constraint `json:"list"`
	Affinity string       `json:"affinity"`
}

type contextJSON struct {
	Constraints    []constraintListJSON `json:"constraints"`
	ColsUsed       []string             `json:"colsUsed"`
	ColsUsedBitset uint64               `json:"colsUsedBitset"`
}

// JSON renders the "context" value of a generate request exactly as
// osqueryd builds it:
//
//   - xFilter (osquery/sql/virtual_table.cpp) first creates a constraint
//     list for every column of the table and sets its affinity to the
//     column's type, then adds each forwarded term to its column's list, so
//     unconstrained columns are present with an empty list.
//   - TablePlugin::setRequestFromContext (osquery/core/tables.cpp) walks
//     QueryContext::constraints, a std::map keyed by column name (so the
//     entries come sorted by name), writing {"name", "list":[{"op","expr"}],
//     "affinity"} per column (ConstraintList::serialize; op as a number,
//     affinity as columnTypeName: "TEXT", "BIGINT", ...), then "colsUsed"
//     and "colsUsedBitset" (tables.cpp:76-86).
//   - Both come from xBestIndex (virtual_table.cpp:807-854): the bitset is
//     SQLite's colUsed as is, bit i for column i in the order the
//     extension's routes declared them and bit 63 for every column from the
//     64th on; the names are the columns whose bit is set. xBestIndex runs
//     before every xFilter and stores both for the plan it numbers, and
//     xFilter copies them into the request (virtual_table.cpp:990-998), so
//     osqueryd always sends both keys: every column for SELECT *, an empty
//     list and 0 for SELECT count(*). colUsed covers every column the
//     statement names (the selected ones and those of WHERE, ORDER BY and
//     joins), so a column with forwarded terms is always among them.
//   - osqueryd keeps the names in a std::unordered_set (UsedColumns,
//     osquery/core/tables.h:379), so its colsUsed order is unspecified; the
//     double lists them in column order, and readers must not depend on it.
//   - The rows osqueryd gets back are read by column name, and only for the
//     columns SQLite asks for (DynamicTableRow::get_column,
//     osquery/sql/dynamic_table_row.cpp:89-111): a missing key is NULL, a
//     key for a column the statement does not read is never looked at.
//
// Line numbers are osquery 5.23.1's.
func (qc QueryContext) JSON() string {
	doc := contextJSON{ColsUsed: []string{}}
	for _, c := range qc.Columns {
		list := qc.Constraints[c.Name]
		if list == nil {
			list = []Constraint{}
		}
		doc.Constraints = append(doc.Constraints, constraintListJSON{Name: c.Name, List: list, Affinity: c.Type})
	}
	slices.SortFunc(doc.Constraints, func(a, b constraintListJSON) int {
		switch {
		case a.Name < b.Name:
			return -1
		case a.Name > b.Name:
			return 1
		}
		return 0
	})
	for i, c := range qc.Columns {
		if qc.Used != nil && !slices.Contains(qc.Used, c.Name) && len(qc.Constraints[c.Name]) == 0 {
			continue
		}
		doc.ColsUsed = append(doc.ColsUsed, c.Name)
		doc.ColsUsedBitset |= 1 << min(i, 63)
	}
	out, err := json.Marshal(doc)
	if err != nil {
		panic(err) // plain strings and numbers always marshal
	}
	return string(out)
}
