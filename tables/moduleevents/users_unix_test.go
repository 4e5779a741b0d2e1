//go:build !windows

package moduleevents

import (
	"context"
	"log/slog"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/modhunt/modhunt/test/sim"
)

func TestUserDBRefusesAFIFO(t *testing.T) {
	t.Parallel()
	p := filepath.Join(t.TempDir(), "passwd")
	sim.FIFO(t, p)
	var names map[int64]string
	err := sim.Prompt(t, "reading a FIFO as the user database", func() error {
		names = newUserDB(p).snapshot(context.Background(), slog.New(slog.DiscardHandler))
		return nil
	})
	require.NoError(t, err)
	assert.Empty(t, names)
}
