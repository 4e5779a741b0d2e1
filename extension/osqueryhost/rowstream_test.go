package osqueryhost

import (
	"bytes"
	"context"
	"errors"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/modhunt/modhunt/tables/table"
)

// streamingTable is f's table streaming the rows gen returns in batches of
// batch rows, through storage it overwrites once each emit returns (as
// tables that stream reuse it), then returning gen's error.
func streamingTable(f *fakeTable, batch int) *table.Table {
	t := f.table()
	t.Stream = func(ctx context.Context, q table.Query, emit func([]table.Row) error) error {
		rows, err := t.Generate(ctx, q)
		store := make([]table.Row, 0, batch)
		for len(rows) > 0 {
			n := min(batch, len(rows))
			store = store[:0]
			for _, r := range rows[:n] {
				store = append(store, append(table.Row(nil), r...))
			}
			if e := emit(store); e != nil {
				return e
			}
			for _, r := range store {
				for i := range r {
					r[i] = "overwritten"
				}
			}
			rows = rows[n:]
		}
		return err
	}
	return t
}

// TestStreamedRepliesMatchOsqueryGo serves a table that streams its rows
// through the extension's processor, which then encodes each batch into the
// reply as it comes, and requires the reply osquery-go's stock processor
// writes from the same rows returned whole: the same message, status and
// rows, byte for byte where a map's order cannot differ.
func TestStreamedRepliesMatchOsqueryGo(t *testing.T) {
	t.Parallel()
	odd, many := replyRows()
	all := `{"constraints":[]}`
	for name, tc := range map[string]struct {
		rows []table.Row
		err  error
		ctx  string
	}{
		"every column":           {rows: []table.Row{{"1", "/usr/lib/libc.so.6", "2031616", "0"}, odd}, ctx: all},
		"two columns":            {rows: []table.Row{odd, {"3", "/z", "1", "0"}}, ctx: `{"constraints":[],"colsUsed":["pid","path"]}`},
		"one column by bitset":   {rows: []table.Row{odd, {"2", "/y", "1", "1"}}, ctx: `{"constraints":[],"colsUsedBitset":4}`},
		"no column (count(*))":   {rows: []table.Row{odd, odd, odd}, ctx: `{"constraints":[],"colsUsed":[]}`},
		"short and long rows":    {rows: []table.Row{{"2", "/short"}, {"3", "/x", "1", "0", "extra"}, {}}, ctx: all},
		"no rows":                {ctx: all},
		"error status":           {err: errors.New("cannot read /proc"), ctx: all},
		"partial rows and error": {rows: []table.Row{{"1", "/a", "1", "0"}, {"2", "/b", "1", "0"}}, err: errors.New("process 3 vanished"), ctx: all},
		"many rows, one column":  {rows: many, ctx: `{"constraints":[],"colsUsed":["path"]}`},
		"many rows, two columns": {rows: many, ctx: `{"constraints":[],"colsUsed":["pid","path"]}`},
	} {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			f := &fakeTable{gen: func(context.Context, table.Query) ([]table.Row, error) { return tc.rows, tc.err }}
			stock, _ := processors(t, f.table())
			want := replyBytes(t, stock, "fake_modules", generateReq(tc.ctx), false)
			wName, wType, wSeq, wResp := decodeReply(t, want)
			for _, batch := range []int{1, 7, 5000} {
				_, streamed := processors(t, streamingTable(f, batch))
				// Twice: the second reply reuses the first one's buffer.
				for range 2 {
					got := replyBytes(t, streamed, "fake_modules", generateReq(tc.ctx), false)
					gName, gType, gSeq, gResp := decodeReply(t, got)
					assert.Equal(t, []any{wName, wType, wSeq}, []any{gName, gType, gSeq}, "batch %d", batch)
					require.NotNil(t, gResp)
					assert.Equal(t, wResp.Status, gResp.Status, "batch %d", batch)
					assert.Equal(t, wResp.Response, gResp.Response, "batch %d", batch)
					if maxKeys(wResp.Response) <= 1 {
						assert.True(t, bytes.Equal(want, got), "byte for byte (batch %d)", batch)
					}
				}
			}
		})
	}
}
