// Package tables lists every table modhunt serves.
package tables

import (
	"log/slog"
	"runtime"
	"slices"

	"github.com/modhunt/modhunt/tables/loadedmodules"
	"github.com/modhunt/modhunt/tables/table"
)

// Config carries what tables need from the command line. Hosts build one
// Config and every table reads what it needs from it.
type Config struct {
	Log *slog.Logger
	// Policy is the trust policy file for untrusted_module_loads ("" = built-in defaults).
	Policy string
	// RuleDirs are extra Sigma rule folders for module_detections.
	RuleDirs []string
}

// Catalog returns every table definition, whatever the platform: the
// definitions are portable, only the inventories behind them are not. Docs
// are generated from it.
func Catalog(cfg Config) []*table.Table {
	if cfg.Log == nil {
		cfg.Log = slog.New(slog.DiscardHandler)
	}
	return []*table.Table{
		loadedmodules.New(cfg.Log),
	}
}

// All returns the tables this platform serves.
func All(cfg Config) []*table.Table {
	var out []*table.Table
	for _, t := range Catalog(cfg) {
		if slices.Contains(t.Platforms, runtime.GOOS) {
			out = append(out, t)
		}
	}
	return out
}
