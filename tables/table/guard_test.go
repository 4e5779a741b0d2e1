package table

import (
	"context"
	"errors"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.uber.org/goleak"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

func fake(gen GenerateFunc) *Table {
	return &Table{
		Spec: Spec{
			Name:        "fake",
			Description: "fake",
			Platforms:   []string{Linux},
			Columns:     []Column{{Name: "pid", Type: BigInt, Description: "pid", Index: true}},
			Examples:    []string{"SELECT * FROM fake"},
		},
		Generate: gen,
	}
}

func TestGuardPassesRowsQueryAndPartialErrors(t *testing.T) {
	t.Parallel()
	partial := errors.New("one process vanished")
	var got Query
	tbl := fake(func(_ context.Context, q Query) ([]Row, error) {
		got = q
		return []Row{{"1"}, {"2"}}, partial
	})
	q := Query{Constraints: map[string][]Constraint{"pid": {{Op: OpEquals, Expr: "1"}}}}
	rows, err := NewGuard(time.Second, 1, nil).Generate(t.Context(), tbl, q)
	require.ErrorIs(t, err, partial)
	assert.Equal(t, []Row{{"1"}, {"2"}}, rows, "partial rows survive an error")
	assert.Equal(t, q, got)
}

func TestGuardRecoversPanicsAndKeepsServing(t *testing.T) {
	t.Parallel()
	var calls atomic.Int32
	tbl := fake(func(context.Context, Query) ([]Row, error) {
		if calls.Add(1) == 1 {
			panic("boom")
		}
		return []Row{{"7"}}, nil
	})
	g := NewGuard(time.Second, 1, nil)
	_, err := g.Generate(t.Context(), tbl, Query{})
	require.Error(t, err)
	assert.Contains(t, err.Error(), "fake: internal error")
	// The panicking call released its slot: the next call runs.
	rows, err := g.Generate(t.Context(), tbl, Query{})
	require.NoError(t, err)
	assert.Equal(t, []Row{{"7"}}, rows)
}

func TestGuardDeadline(t *testing.T) {
	t.Parallel()
	released := make(chan struct{})
	tbl := fake(func(ctx context.Context, _ Query) ([]Row, error) {
		defer close(released)
		<-ctx.Done()
		return nil, ctx.Err()
	})
	_, err := NewGuard(20*time.Millisecond, 1, nil).Generate(t.Context(), tbl, Query{})
	require.ErrorIs(t, err, ErrTimeout)
	<-released // the table saw its context cancelled
}

func TestGuardCapsConcurrency(t *testing.T) {
	t.Parallel()
	start, stop := make(chan struct{}), make(chan struct{})
	var running, peak atomic.Int32
	tbl := fake(func(context.Context, Query) ([]Row, error) {
		n := running.Add(1)
		for {
			p := peak.Load()
			if n <= p || peak.CompareAndSwap(p, n) {
				break
			}
		}
		start <- struct{}{}
		<-stop
		running.Add(-1)
		return nil, nil
	})
	g := NewGuard(5*time.Second, 2, nil)
	errs := make(chan error, 3)
	for range 3 {
		go func() { _, err := g.Generate(t.Context(), tbl, Query{}); errs <- err }()
	}
	<-start
	<-start
	// Two run; the third waits for a slot.
	select {
	case <-start:
		t.Fatal("a third call ran while two held both slots")
	case <-time.After(50 * time.Millisecond):
	}
	stop <- struct{}{}
	<-start
	close(stop)
	for range 3 {
		require.NoError(t, <-errs)
	}
	assert.Equal(t, int32(2), peak.Load())
}

func TestGuardBusyWhenNoSlotBeforeDeadline(t *testing.T) {
	t.Parallel()
	hold := make(chan struct{})
	held := make(chan struct{})
	slow := fake(func(context.Context, Query) ([]Row, error) { close(held); <-hold; return nil, nil })
	g := NewGuard(30*time.Millisecond, 1, nil)
	first := make(chan error, 1)
	go func() { _, err := g.Generate(context.Background(), slow, Query{}); first <- err }()
	<-held
	_, err := g.Generate(t.Context(), fake(func(context.Context, Query) ([]Row, error) { return nil, nil }), Query{})
	require.ErrorIs(t, err, ErrBusy)
	require.ErrorIs(t, <-first, ErrTimeout)
	close(hold)
}

func TestGuardKeepsResultOfCallThatJustFinished(t *testing.T) {
	t.Parallel()
	// The generate goroutine cancels its context on the way out, so a result
	// and a done context arrive together; the result must win every time.
	tbl := fake(func(context.Context, Query) ([]Row, error) { return []Row{{"1"}}, nil })
	g := NewGuard(time.Second, 4, nil)
	for range 2000 {
		rows, err := g.Generate(t.Context(), tbl, Query{})
		require.NoError(t, err)
		require.Equal(t, []Row{{"1"}}, rows)
	}
}

func TestGuardKeepsPartialRowsOfATableThatHonoursItsDeadline(t *testing.T) {
	t.Parallel()
	tbl := fake(func(ctx context.Context, _ Query) ([]Row, error) {
		rows := []Row{{"1"}}
		<-ctx.Done() // as a scan notices cancellation between processes
		return rows, ctx.Err()
	})
	// The table's context ends before the guard's deadline, so the rows it
	// judged before stopping reach the caller every time, not only when it
	// wins a race with the guard.
	for range 10 {
		rows, err := NewGuard(200*time.Millisecond, 1, nil).Generate(t.Context(), tbl, Query{})
		require.ErrorIs(t, err, ErrTimeout)
		require.ErrorIs(t, err, context.DeadlineExceeded)
		require.Equal(t, []Row{{"1"}}, rows)
	}
}
