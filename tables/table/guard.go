package table

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"runtime/debug"
	"sync"
	"time"
)

// DefaultTimeout bounds one generate call. osqueryd gives an extension call
// 300 s (--thrift_timeout) and its watchdog judges CPU over 12 s windows, so a
// scan that runs longer than this is a scan to cut short and report.
const DefaultTimeout = 60 * time.Second

// DefaultConcurrency caps how many generate calls run at once; the rest wait
// for a slot until their own deadline.
const DefaultConcurrency = 4

// collectReserve is the share of the timeout kept back to collect a table's
// answer: the table's own context ends that much before the guard gives up,
// so a table that stops at its deadline hands over the rows it has judged
// instead of racing the guard and losing them.
const collectReserve = 10

// maxReserve caps the reserve: a table that honours its context returns
// within milliseconds of it closing.
const maxReserve = 2 * time.Second

// ErrTimeout is returned when a generate call outlives its deadline.
var ErrTimeout = errors.New("deadline exceeded")

// ErrBusy is returned when no slot frees up before the call's deadline.
var ErrBusy = errors.New("too many concurrent queries")

// Guard is the one wrapper every generate call runs under, whichever host
// serves it: a deadline, a cap on concurrent calls, and panic recovery so a
// bug in one table becomes an error for one query, never a dead extension.
type Guard struct {
	timeout time.Duration
	slots   chan struct{}
	log     *slog.Logger
}

// NewGuard returns a Guard. Zero or negative arguments take the defaults.
func NewGuard(timeout time.Duration, concurrency int, log *slog.Logger) *Guard {
	if timeout <= 0 {
		timeout = DefaultTimeout
	}
	if concurrency <= 0 {
		concurrency = DefaultConcurrency
	}
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	return &Guard{timeout: timeout, slots: make(chan struct{}, concurrency), log: log}
}

// Timeout is the deadline the guard gives each call, defaults applied: a
// command that scans outside a table (events) keeps the same promise.
func (g *Guard) Timeout() time.Duration { return g.timeout }

type result struct {
	rows     []Row
	err      error
	panicked bool
}

// Generate runs t.Generate for q under the guard. The table's context ends
// a little before the guard's deadline (timeout/10, at most 2 s), so a table
// that stops there returns its partial rows in time. When the guard's own
// deadline passes first it returns ErrTimeout at once; the abandoned call
// keeps its slot until it notices its cancelled context, so a table that
// ignores cancellation throttles itself instead of piling up.
func (g *Guard) Generate(ctx context.Context, t *Table, q Query) ([]Row, error) {
	rows, _, err := g.run(ctx, t, func(tableCtx context.Context) ([]Row, error) { return t.Generate(tableCtx, q) })
	return rows, err
}

// Stream runs t.Stream for q under the guard, as Generate runs t.Generate:
// the same deadlines, slots and panic recovery. emit gets the batches from
// the table's goroutine, one at a time, and never after Stream returns: a
// call the guard gives up on is cut off from emit (a batch being emitted
// then finishes first). kept is false where Generate returns no rows: the
// guard gave up on the call (its own deadline, or ctx ended) or the table
// panicked; what emit got must then be dropped. Otherwise the rows emitted
// stand, also those before an error (Generate's partial rows).
func (g *Guard) Stream(ctx context.Context, t *Table, q Query, emit func([]Row) error) (kept bool, err error) {
	if t.Stream == nil {
		return false, fmt.Errorf("%s: table does not stream", t.Name)
	}
	var mu sync.Mutex
	open := true
	guarded := func(rows []Row) error {
		mu.Lock()
		defer mu.Unlock()
		if !open {
			return ErrTimeout
		}
		return emit(rows)
	}
	_, drop, err := g.run(ctx, t, func(tableCtx context.Context) ([]Row, error) {
		return nil, t.Stream(tableCtx, q, guarded)
	})
	mu.Lock()
	open = false
	mu.Unlock()
	return !drop, err
}

// run runs call, a table's Generate or Stream, under the guard. drop says
// the call yields no rows: the guard gave up on it (it may still be
// running), or it panicked.
func (g *Guard) run(ctx context.Context, t *Table, call func(context.Context) ([]Row, error)) (rows []Row, drop bool, err error) {
	ctx, cancel := context.WithTimeout(ctx, g.timeout)
	defer cancel()
	tableCtx, tableCancel := context.WithTimeout(ctx, g.timeout-min(g.timeout/collectReserve, maxReserve))
	defer tableCancel()
	log := g.log.With("table", t.Name)

	select {
	case g.slots <- struct{}{}:
	case <-ctx.Done():
		log.WarnContext(ctx, "no free slot for generate", "limit", cap(g.slots))
		return nil, true, fmt.Errorf("%s: %w", t.Name, ErrBusy)
	}

	done := make(chan result, 1)
	go func() {
		defer func() { <-g.slots }()
		defer func() {
			if p := recover(); p != nil {
				log.ErrorContext(ctx, "generate panicked", "panic", fmt.Sprint(p), "stack", string(debug.Stack()))
				done <- result{err: fmt.Errorf("%s: internal error: %v", t.Name, p), panicked: true}
			}
		}()
		rows, err := call(tableCtx)
		done <- result{rows: rows, err: err}
	}()

	var r result
	select {
	case r = <-done:
	case <-ctx.Done():
		// A table that gave up exactly at the deadline still returned what
		// it had: take it rather than nothing.
		select {
		case r = <-done:
		default:
			if !errors.Is(ctx.Err(), context.DeadlineExceeded) {
				return nil, true, fmt.Errorf("%s: %w", t.Name, ctx.Err())
			}
			log.WarnContext(ctx, "generate timed out", "timeout", g.timeout.String())
			return nil, true, fmt.Errorf("%s: %w after %s", t.Name, ErrTimeout, g.timeout)
		}
	}
	if r.err != nil && errors.Is(tableCtx.Err(), context.DeadlineExceeded) {
		// The table stopped because its deadline passed: say so, and keep
		// the rows it returned.
		r.err = fmt.Errorf("%s: %w after %s: %w", t.Name, ErrTimeout, g.timeout, r.err)
	}
	if r.err != nil {
		log.WarnContext(ctx, "generate failed", "err", r.err, "rows", len(r.rows))
	}
	return r.rows, r.panicked, r.err
}
