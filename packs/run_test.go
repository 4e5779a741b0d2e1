package packs

import (
	"context"
	"errors"
	"slices"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

type fakeEngine struct {
	rows map[string][][]any // by SQL
	fail map[string]error
	ran  []string
}

func (f *fakeEngine) Query(_ context.Context, sql string) ([]string, [][]any, error) {
	f.ran = append(f.ran, sql)
	if err := f.fail[sql]; err != nil {
		return nil, nil, err
	}
	return []string{"pid", "path"}, f.rows[sql], nil
}

func hunt(t *testing.T, name, kind string, tables ...string) *Hunt {
	t.Helper()
	return &Hunt{Name: name, File: "linux/" + name + ".sql", Kind: kind, Tables: tables, SQL: "SELECT '" + name + "'"}
}

func TestRunSkipsWhatCannotRunHere(t *testing.T) {
	t.Parallel()
	served := func(n string) bool { return n == "untrusted_module_loads" }
	hs := []*Hunt{
		hunt(t, "found", KindDetection, "untrusted_module_loads"),
		hunt(t, "clean", KindDetection, "untrusted_module_loads"),
		hunt(t, "needs_core", KindDetection, "untrusted_module_loads", "process_envs"),
		hunt(t, "needs_absent", KindDetection, "module_detections"),
		hunt(t, "inventory", KindInventory, "untrusted_module_loads"),
		hunt(t, "broken", KindDetection, "untrusted_module_loads"),
	}
	eng := &fakeEngine{
		rows: map[string][][]any{hs[0].SQL: {{int64(7), "/tmp/x.so"}}},
		fail: map[string]error{hs[5].SQL: errors.New("no such column: pathh")},
	}
	var progressed []string
	res := Run(context.Background(), eng, hs, served, false, func(i, n int, h *Hunt) {
		assert.Equal(t, len(hs), n)
		progressed = append(progressed, h.Name)
	})
	require.Len(t, res, len(hs))

	assert.True(t, res[0].Found())
	assert.Equal(t, [][]any{{int64(7), "/tmp/x.so"}}, res[0].Rows)
	assert.False(t, res[1].Found())
	assert.Empty(t, res[1].Skipped)
	assert.NoError(t, res[1].Err)
	assert.Contains(t, res[2].Skipped, "osquery's process_envs")
	assert.Contains(t, res[3].Skipped, "needs module_detections")
	assert.Contains(t, res[4].Skipped, "inventory")
	require.Error(t, res[5].Err)
	assert.Contains(t, res[5].Err.Error(), "broken (linux/broken.sql): no such column: pathh", "the error says which hunt failed")
	assert.False(t, res[5].Found())

	assert.Equal(t, []string{"found", "clean", "broken"}, progressed)
	assert.Equal(t, []string{hs[0].SQL, hs[1].SQL, hs[5].SQL}, eng.ran, "skipped hunts never reach the engine")

	// With inventories allowed, the inventory runs.
	eng.ran = nil
	res = Run(context.Background(), eng, hs[4:5], served, true, nil)
	assert.Empty(t, res[0].Skipped)
	assert.True(t, slices.Contains(eng.ran, hs[4].SQL))
}

func TestRunStopsOnCancelledContext(t *testing.T) {
	t.Parallel()
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	eng := &fakeEngine{}
	res := Run(ctx, eng, []*Hunt{hunt(t, "a", KindDetection, "t")}, func(string) bool { return true }, false, nil)
	require.ErrorIs(t, res[0].Err, context.Canceled)
	assert.Empty(t, eng.ran)
}
