// Package tables lists every table modhunt serves on this platform.
package tables

import (
	"log/slog"

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

// All returns this platform's tables, in the order documentation lists them.
func All(cfg Config) []*table.Table {
	if cfg.Log == nil {
		cfg.Log = slog.New(slog.DiscardHandler)
	}
	return platformTables(cfg)
}
