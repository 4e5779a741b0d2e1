package sqlhost

import (
	"math"
	"strconv"
	"strings"

	"github.com/modhunt/modhunt/tables/table"
)

// cSpace is what strtoll and strtod skip before a number.
const cSpace = " \t\n\v\f\r"

// castValue turns a table's string into the value SQLite sees, following
// osquery's dynamic_table_row.cpp: "" and anything that does not parse are
// NULL in a numeric column.
func castValue(typ table.Type, s string) any {
	switch typ {
	case table.Integer, table.BigInt:
		if n, ok := parseCInt(s); ok {
			return n
		}
		return nil
	case table.Double:
		if f, ok := parseCDouble(s); ok {
			return f
		}
		return nil
	default:
		return s
	}
}

// parseCInt parses s as osquery's tryTo<long long>(s, 0) does: strtoll with
// base 0 (0x hex, leading-0 octal, decimal) over the whole string, failing
// on overflow.
func parseCInt(s string) (int64, bool) {
	t := trimCSpace(s)
	neg := false
	if t != "" && (t[0] == '+' || t[0] == '-') {
		neg = t[0] == '-'
		t = t[1:]
	}
	base := 10
	switch {
	case len(t) > 1 && t[0] == '0' && (t[1] == 'x' || t[1] == 'X'):
		base, t = 16, t[2:]
	case len(t) > 1 && t[0] == '0':
		base, t = 8, t[1:]
	}
	if t == "" || t[0] == '+' || t[0] == '-' {
		return 0, false
	}
	u, err := strconv.ParseUint(t, base, 64)
	if err != nil {
		return 0, false
	}
	if neg {
		if u > 1<<63 {
			return 0, false
		}
		return int64(-u), true // -u wraps to the two's complement, MinInt64 included
	}
	if u > math.MaxInt64 {
		return 0, false
	}
	return int64(u), true
}

// parseCDouble parses s as osquery does with strtod over the whole string.
func parseCDouble(s string) (float64, bool) {
	t := trimCSpace(s)
	if t == "" || strings.ContainsRune(t, '_') {
		return 0, false
	}
	f, err := strconv.ParseFloat(t, 64)
	if err != nil {
		return 0, false
	}
	return f, true
}

// trimCSpace is strings.TrimLeft(s, cSpace) without building the cut set
// for the common case, a value that starts with no blank at all: it runs
// once per numeric cell of every row.
func trimCSpace(s string) string {
	if s == "" || s[0] > ' ' {
		return s
	}
	return strings.TrimLeft(s, cSpace)
}
