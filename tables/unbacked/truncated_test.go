package unbacked_test

import (
	"bytes"
	"context"
	"fmt"
	"log/slog"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/modhunt/modhunt/tables/inventory"
	"github.com/modhunt/modhunt/tables/inventory/fakeinv"
	"github.com/modhunt/modhunt/tables/table"
	"github.com/modhunt/modhunt/tables/unbacked"
)

// cutInventory is a Windows-shaped host whose memory views are cut after
// keep regions, as the Windows inventory returns a VirtualQueryEx walk its
// limit stopped: the regions read, and an error wrapping ErrViewTruncated.
type cutInventory struct {
	*fakeinv.Inventory
	keep int
}

func (c cutInventory) Regions(ctx context.Context, pid int) ([]inventory.Region, error) {
	rs, err := c.Inventory.Regions(ctx, pid)
	if err != nil || len(rs) <= c.keep {
		return rs, err
	}
	return rs[:c.keep], fmt.Errorf("pid %d: %w after %d regions", pid, inventory.ErrViewTruncated, c.keep)
}

// A memory view cut short is neither dropped (its regions are still rows)
// nor passed off as whole: the scan says at warn level, for that pid, that
// executable memory above the cut is not reported. With a limit of 0
// regions kept nothing is a row and every process with regions is named.
func TestTruncatedViewKeepsItsRowsAndSaysSoAtWarn(t *testing.T) {
	t.Parallel()
	for _, keep := range []int{0, 1} {
		var logs bytes.Buffer
		s, err := unbacked.NewScanner(unbacked.Config{
			Inventory: cutInventory{windowsHost(t), keep},
			Log:       slog.New(slog.NewTextHandler(&logs, &slog.HandlerOptions{Level: slog.LevelWarn})),
		})
		require.NoError(t, err)
		rows := rowsOf(t, unbacked.NewTable(s), table.PIDQuery([]int{pidRundll}))
		if keep == 0 {
			assert.Empty(t, rows)
		} else {
			assert.Equal(t, []string{key(pidRundll, "0x1f0000")}, keysOf(rows), "the region below the cut is still a row")
		}
		assert.Contains(t, logs.String(), "level=WARN msg=\"memory view cut short", "keep %d", keep)
		assert.Contains(t, logs.String(), fmt.Sprintf("pid=%d", pidRundll), "keep %d", keep)
	}

	// A whole view says nothing at warn.
	var logs bytes.Buffer
	s, err := unbacked.NewScanner(unbacked.Config{Inventory: windowsHost(t),
		Log: slog.New(slog.NewTextHandler(&logs, &slog.HandlerOptions{Level: slog.LevelWarn}))})
	require.NoError(t, err)
	assert.Len(t, rowsOf(t, unbacked.NewTable(s), table.PIDQuery([]int{pidRundll})), 4)
	assert.Empty(t, logs.String())
}

func keysOf(rows map[string]row) []string {
	out := make([]string, 0, len(rows))
	for k := range rows {
		out = append(out, k)
	}
	return out
}
