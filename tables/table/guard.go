package table

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"runtime/debug"
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
	rows []Row
	err  error
}

// Generate runs t.Generate for q under the guard. The table's context ends
// a little before the guard's deadline (timeout/10, at most 2 s), so a table
// that stops there returns its partial rows in time. When the guard's own
// deadline passes first it returns ErrTimeout at once; the abandoned call
// keeps its slot until it notices its cancelled context, so a table that
// ignores cancellation throttles itself instead of piling up.
func (g *Guard) Generate(ctx context.Context, t *Table, q Query) ([]Row, error) {
	ctx, cancel := context.WithTimeout(ctx, g.timeout)
	defer cancel()
	tableCtx, tableCancel := context.WithTimeout(ctx, g.timeout-min(g.timeout/collectReserve, maxReserve))
	defer tableCancel()
	log := g.log.With("table", t.Name)

	select {
	case g.slots <- struct{}{}:
	case <-ctx.Done():
		log.WarnContext(ctx, "no free slot for generate", "limit", cap(g.slots))
		return nil, fmt.Errorf("%s: %w", t.Name, ErrBusy)
	}

	done := make(chan result, 1)
	go func() {
		defer func() { <-g.slots }()
		defer func() {
			if p := recover(); p != nil {
				log.ErrorContext(ctx, "generate panicked", "panic", fmt.Sprint(p), "stack", string(debug.Stack()))
				done <- result{err: fmt.Errorf("%s: internal error: %v", t.Name, p)}
			}
		}()
		rows, err := t.Generate(tableCtx, q)
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
				return nil, fmt.Errorf("%s: %w", t.Name, ctx.Err())
			}
			log.WarnContext(ctx, "generate timed out", "timeout", g.timeout.String())
			return nil, fmt.Errorf("%s: %w after %s", t.Name, ErrTimeout, g.timeout)
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
	return r.rows, r.err
}
