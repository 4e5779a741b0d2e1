//go:build !linux

package tables

import "github.com/modhunt/modhunt/tables/table"

func platformTables(Config) []*table.Table { return nil }
