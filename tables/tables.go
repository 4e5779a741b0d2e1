// Package tables lists every table modhunt serves.
package tables

import (
	"log/slog"
	"runtime"
	"slices"
	"time"

	"github.com/modhunt/modhunt/tables/inventory"
	"github.com/modhunt/modhunt/tables/loadedmodules"
	"github.com/modhunt/modhunt/tables/moduledetections"
	"github.com/modhunt/modhunt/tables/table"
	"github.com/modhunt/modhunt/tables/untrusted"
)

// Config carries what tables need from the command line. Hosts build one
// Config and every table reads what it needs from it.
type Config struct {
	Log *slog.Logger
	// Policy is the trust policy file for untrusted_module_loads ("" = built-in defaults).
	Policy string
	// RuleDirs are extra Sigma rule folders for module_detections.
	RuleDirs []string
	// HashBudget (bytes) and HashTime bound the hashing of one
	// untrusted_module_loads scan; 0 means the table's defaults.
	HashBudget int64
	HashTime   time.Duration
	// Inventory is the process source of every table; nil means this
	// host's. Tests feed other OSes' processes through it.
	Inventory inventory.Source
	// OnJudge, when set, is called with each pid the trust judgement
	// judges (tests count scans with it).
	OnJudge func(pid int)
}

// Catalog builds every table definition, whatever the platform: the
// definitions are portable, only the inventories behind them are not, so docs
// and packs are generated from it on any OS. An error names the setting that
// broke a table (a malformed policy file): a host must refuse to start rather
// than serve a table with a policy nobody wrote.
func Catalog(cfg Config) ([]*table.Table, error) {
	if cfg.Log == nil {
		cfg.Log = slog.New(slog.DiscardHandler)
	}
	// One inventory serves every table, so their scans share its caches.
	inv := cfg.Inventory
	if inv == nil {
		inv = inventory.New(inventory.Config{Log: cfg.Log, ModulesOnly: true})
	}
	// module_detections takes its trust verdicts from untrusted_module_loads'
	// judge, typed: both share one package index and one file-facts cache,
	// and a query reading both judges the host once.
	judge, err := untrusted.NewJudge(untrusted.Config{
		Log: cfg.Log, PolicyFile: cfg.Policy, Inventory: inv, HashBudget: cfg.HashBudget, HashTime: cfg.HashTime,
		OnJudge: cfg.OnJudge,
	})
	if err != nil {
		return nil, err
	}
	untrustedLoads := judge.Table()
	detections, err := moduledetections.New(moduledetections.Config{
		Log: cfg.Log, Policy: cfg.Policy, RuleDirs: cfg.RuleDirs, Inventory: inv, Judge: judge,
	})
	if err != nil {
		return nil, err
	}
	return []*table.Table{
		loadedmodules.NewWith(inv, cfg.Log),
		untrustedLoads,
		detections,
	}, nil
}

// All returns the tables this platform serves.
func All(cfg Config) ([]*table.Table, error) {
	all, err := Catalog(cfg)
	if err != nil {
		return nil, err
	}
	var out []*table.Table
	for _, t := range all {
		if slices.Contains(t.Platforms, runtime.GOOS) {
			out = append(out, t)
		}
	}
	return out, nil
}
