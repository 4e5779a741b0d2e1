package tables

import "github.com/modhunt/modhunt/tables/table"

func platformTables(cfg Config) []*table.Table {
	return []*table.Table{}
}
