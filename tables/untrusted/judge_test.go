package untrusted

import (
	"context"
	"os"
	"path/filepath"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/modhunt/modhunt/tables/inventory/fakeinv"
	"github.com/modhunt/modhunt/tables/verdict"
)

func countingJudge(t *testing.T) (*Judge, *atomic.Int32) {
	t.Helper()
	evil := filepath.Join(t.TempDir(), "evil.dll")
	require.NoError(t, os.WriteFile(evil, []byte("MZ"), 0o600))
	var n atomic.Int32
	j, err := NewJudge(Config{Inventory: fakeinv.Windows(evil), OnJudge: func(pid int) {
		if pid == fakeinv.PID {
			n.Add(1)
		}
	}})
	require.NoError(t, err)
	return j, &n
}

// A scan made for one consumer is taken once by the other, only when it
// computed what the other needs; the same consumer always scans anew.
func TestJudgeSharesAScanOnceWithTheOtherConsumer(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	j, n := countingJudge(t)
	pids := []int{fakeinv.PID}

	a, err := j.Judge(ctx, pids, verdict.ForTable, verdict.Everything)
	require.NoError(t, err)
	b, err := j.Judge(ctx, pids, verdict.ForEvents, verdict.Everything)
	require.NoError(t, err)
	assert.Equal(t, int32(1), n.Load(), "the events took the table's scan")
	assert.Same(t, a, b)
	_, err = j.Judge(ctx, pids, verdict.ForEvents, verdict.Everything)
	require.NoError(t, err)
	assert.Equal(t, int32(2), n.Load(), "a scan is taken once")

	// A scan with everything answers a consumer that needs less.
	_, err = j.Judge(ctx, pids, verdict.ForTable, verdict.Need{})
	require.NoError(t, err)
	assert.Equal(t, int32(2), n.Load())
	// A scan without hashes does not answer a consumer that reads them.
	_, err = j.Judge(ctx, pids, verdict.ForTable, verdict.Need{})
	require.NoError(t, err)
	assert.Equal(t, int32(3), n.Load())
	_, err = j.Judge(ctx, pids, verdict.ForEvents, verdict.Everything)
	require.NoError(t, err)
	assert.Equal(t, int32(4), n.Load())

	// A full scan answers a pinned one, cut to its pids.
	full, err := j.Judge(ctx, nil, verdict.ForEvents, verdict.Everything)
	require.NoError(t, err)
	require.Len(t, full.Processes, 2)
	assert.Equal(t, int32(5), n.Load())
	pinned, err := j.Judge(ctx, pids, verdict.ForTable, verdict.Everything)
	require.NoError(t, err)
	assert.Equal(t, int32(5), n.Load())
	require.Len(t, pinned.Processes, 1)
	assert.Equal(t, fakeinv.PID, pinned.Processes[0].PID)
	require.NotEmpty(t, pinned.Verdicts)
	for _, v := range pinned.Verdicts {
		p, m := pinned.Of(&v)
		assert.Equal(t, fakeinv.PID, p.PID)
		assert.NotEmpty(t, m.Path)
	}
}

// Both consumers at once: whoever comes second waits for the other's scan
// or makes its own; the race detector watches the sharing.
func TestJudgeConcurrentConsumers(t *testing.T) {
	t.Parallel()
	j, n := countingJudge(t)
	var wg sync.WaitGroup
	for range 8 {
		for _, who := range []verdict.Consumer{verdict.ForTable, verdict.ForEvents} {
			wg.Add(1)
			go func() {
				defer wg.Done()
				res, err := j.Judge(context.Background(), nil, who, verdict.Everything)
				assert.NoError(t, err)
				assert.Len(t, res.Processes, 2)
			}()
		}
	}
	wg.Wait()
	assert.LessOrEqual(t, n.Load(), int32(16))
	assert.GreaterOrEqual(t, n.Load(), int32(8), "each consumer's call is a scan or a share")
}
