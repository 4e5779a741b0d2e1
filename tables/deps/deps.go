// Package deps is what every table's constructor receives: one shape,
// New(deps.Deps) (*table.Table, error), for all tables. It carries the
// command line's settings and the pieces the tables of one host share, so
// that their scans share caches. See docs/ARCHITECTURE.md.
package deps

import (
	"log/slog"
	"time"

	"github.com/modhunt/modhunt/tables/inventory"
	"github.com/modhunt/modhunt/tables/loadstream"
	"github.com/modhunt/modhunt/tables/verdict"
)

// Deps holds a table's dependencies. The zero value works: every table
// fills what it needs that is missing with a private default, and
// tables.Build fills the shared pieces once for all of a host's tables.
type Deps struct {
	// Log receives what a table cannot return in its rows (skipped
	// processes, rules, files); nil discards.
	Log *slog.Logger
	// Policy is the trust policy file extending the built-in defaults ("" =
	// the defaults alone). A policy that does not load makes New fail: a
	// host must not serve verdicts under a policy nobody wrote.
	Policy string
	// RuleDirs are extra Sigma rule folders; the built-in rules always run.
	RuleDirs []string
	// HashBudget (bytes) and HashTime bound the hashing of one
	// untrusted_module_loads scan; 0 means the table's defaults.
	HashBudget int64
	HashTime   time.Duration

	// Inventory is the process source the tables read (and its caches);
	// nil means a table makes its own over /proc. Tests feed other OSes'
	// processes through it (inventory/fakeinv).
	Inventory inventory.Source
	// Judge is the host's trust judgement, shared: untrusted_module_loads
	// renders its verdicts as rows and module_detections' events carry the
	// same verdicts, typed, so both use one package index and one file-facts
	// cache, and a query reading both judges the host once. It must read
	// Inventory; tables.Build makes it (untrusted.NewJudge). nil means each
	// table judges on its own.
	Judge verdict.Judge
	// LoadEvents is the host's stream of module load events (eBPF), which
	// module_load_events serves and module_detections matches; nil means
	// tables.Build makes one (started on the first query) when the OS
	// serves module_load_events. Events configures the one Build makes.
	LoadEvents *loadstream.Stream
	Events     EventsConfig
}

// EventsConfig is the command line's say on the load event stream.
type EventsConfig struct {
	// Expiry (osquery's --events_expiry; 0: 3600 s) and MaxEvents
	// (--events_max; 0: 50,000) bound the buffer.
	Expiry    time.Duration
	MaxEvents int
	// Disabled keeps the eBPF source off (--disable_events).
	Disabled bool
	// SyscallHooks adds the mprotect and memfd_create hooks
	// (--events_syscall_hooks).
	SyscallHooks bool
	// StartNow starts the source when the tables are built, not on the
	// first query: a long-running host (osqueryd's extension, the shell)
	// buffers from its start.
	StartNow bool
	// OnBufferBytes, when set, hears the heap the buffered events take
	// whenever it has moved by a MiB: the host raises its soft heap limit by
	// that much, so a full buffer does not keep the collector running.
	OnBufferBytes func(int64)
}

// Logger returns d.Log, or a logger that discards.
func (d Deps) Logger() *slog.Logger {
	if d.Log == nil {
		return slog.New(slog.DiscardHandler)
	}
	return d.Log
}

// ModuleInventory returns d.Inventory, or a new inventory of the processes
// that map files (what every module table reads).
func (d Deps) ModuleInventory() inventory.Source {
	if d.Inventory == nil {
		return inventory.New(inventory.Config{Log: d.Logger(), ModulesOnly: true})
	}
	return d.Inventory
}
