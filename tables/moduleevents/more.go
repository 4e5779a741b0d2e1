package moduleevents

import (
	"context"

	"github.com/modhunt/modhunt/detections"
)

// More is a source of events of another kind than module loads (memory
// regions no file backs, ...), built by another package for each process
// with the process context the module events carry, so rules can combine
// both (a region rule can ask ProcessModules which modules the process has).
// Config.More lists them; each keeps its wiring in its own package.
type More interface {
	// Start begins one Scan and returns what is called once per process
	// of it (after the process's module events, also for a process that
	// has none): base is the process's context (Platform, ProcessId,
	// Image, User, CommandLine, Parent*, CloneOfParent, ProcessModules),
	// a copy the source may change; it delivers its events through fn. A
	// process it cannot read is left out, not an error.
	Start(ctx context.Context) func(ctx context.Context, p *Process, base *detections.Event, fn func(*Process, *detections.Event) error) error
}
