package osqueryhost

import (
	osqtable "github.com/osquery/osquery-go/plugin/table"

	"github.com/modhunt/modhunt/tables/table"
)

// Specs returns osquery-go's spec of every table, in the given order: the
// same plugins the extension registers, so what --spec prints is what
// osqueryd gets.
func Specs(tables []*table.Table) ([]osqtable.OsqueryTableSpec, error) {
	guard := table.NewGuard(0, 0, nil) // never called: specs generate nothing
	specs := make([]osqtable.OsqueryTableSpec, 0, len(tables))
	for _, t := range tables {
		p, err := NewPlugin(t, guard, nil)
		if err != nil {
			return nil, err
		}
		specs = append(specs, p.Spec())
	}
	return specs, nil
}
