package osqueryhost

import (
	"context"
	"errors"

	osqtable "github.com/osquery/osquery-go/plugin/table"

	"github.com/modhunt/modhunt/tables/table"
)

// errSpecOnly is what a plugin made only for its spec would answer a query
// with; Specs never serves one.
var errSpecOnly = errors.New("spec only: not served")

// Specs returns osquery-go's spec of every table definition, in the given
// order: the plugins the extension registers are made the same way, so what
// --spec prints is what osqueryd gets. It builds no table.
func Specs(specs []table.Spec) ([]osqtable.OsqueryTableSpec, error) {
	guard := table.NewGuard(0, 0, nil) // never called: specs generate nothing
	out := make([]osqtable.OsqueryTableSpec, 0, len(specs))
	for _, s := range specs {
		t := &table.Table{Spec: s, Generate: func(context.Context, table.Query) ([]table.Row, error) { return nil, errSpecOnly }}
		p, err := NewPlugin(t, guard, nil)
		if err != nil {
			return nil, err
		}
		out = append(out, p.Spec())
	}
	return out, nil
}
