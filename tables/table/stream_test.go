package table

import (
	"context"
	"errors"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func streaming(stream StreamFunc) *Table {
	t := fake(nil)
	t.Stream = stream
	return t
}

// collect is an emit that copies each batch, as a host that encodes rows
// does: the table may reuse a batch once emit returns.
func collect(into *[]Row) func([]Row) error {
	return func(batch []Row) error {
		for _, r := range batch {
			*into = append(*into, append(Row(nil), r...))
		}
		return nil
	}
}

func TestGuardStreamsBatchesAndKeepsPartialRows(t *testing.T) {
	t.Parallel()
	tbl := streaming(func(_ context.Context, _ Query, emit func([]Row) error) error {
		batch := []Row{{"1"}}
		if err := emit(batch); err != nil {
			return err
		}
		batch[0][0] = "2" // reused, as a table may once emit returned
		if err := emit(batch); err != nil {
			return err
		}
		return errors.New("process 3 vanished")
	})
	var got []Row
	kept, err := NewGuard(time.Second, 1, nil).Stream(t.Context(), tbl, Query{}, collect(&got))
	require.EqualError(t, err, "process 3 vanished")
	assert.True(t, kept, "rows before an error stand, as Generate's partial rows")
	assert.Equal(t, []Row{{"1"}, {"2"}}, got)
}

func TestGuardStreamDropsAbandonedAndPanickedCalls(t *testing.T) {
	t.Parallel()
	release := make(chan struct{})
	var lateEmits, lateErrs atomic.Int32
	stubborn := streaming(func(ctx context.Context, _ Query, emit func([]Row) error) error {
		if err := emit([]Row{{"1"}}); err != nil {
			return err
		}
		<-release // ignores its context past the guard's deadline
		lateEmits.Add(1)
		if err := emit([]Row{{"2"}}); err != nil {
			lateErrs.Add(1)
			return err
		}
		return nil
	})
	var got []Row
	returned := false
	emit := func(batch []Row) error {
		assert.False(t, returned, "emit called after Stream returned")
		return collect(&got)(batch)
	}
	g := NewGuard(100*time.Millisecond, 1, nil)
	kept, err := g.Stream(t.Context(), stubborn, Query{}, emit)
	returned = true
	require.ErrorIs(t, err, ErrTimeout)
	assert.False(t, kept, "a call the guard gave up on yields no rows, as Generate returns none")
	close(release)
	require.Eventually(t, func() bool { return lateEmits.Load() == 1 }, 5*time.Second, time.Millisecond)
	require.Eventually(t, func() bool { return lateErrs.Load() == 1 }, 5*time.Second, time.Millisecond, "the late emit is refused")
	assert.Equal(t, []Row{{"1"}}, got)

	panicky := streaming(func(_ context.Context, _ Query, emit func([]Row) error) error {
		_ = emit([]Row{{"1"}})
		panic("bug")
	})
	kept, err = NewGuard(time.Second, 1, nil).Stream(t.Context(), panicky, Query{}, func([]Row) error { return nil })
	require.ErrorContains(t, err, "internal error: bug")
	assert.False(t, kept, "a panicked call yields no rows, as Generate returns none")

	_, err = g.Stream(t.Context(), fake(nil), Query{}, func([]Row) error { return nil })
	require.Error(t, err, "a table without Stream")
}
