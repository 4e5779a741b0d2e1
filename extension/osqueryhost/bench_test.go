//go:build !windows

package osqueryhost

import (
	"context"
	"log/slog"
	"path/filepath"
	"strconv"
	"testing"
	"time"

	"github.com/apache/thrift/lib/go/thrift"
	"github.com/stretchr/testify/require"

	"github.com/modhunt/modhunt/tables/table"
	"github.com/modhunt/modhunt/test/osquery/osqueryd"
)

// BenchmarkGenerateOverThrift measures one generate call of a host-sized
// result (5000 module rows) from the manager double's side, with the
// buffered transport Serve uses and with osquery-go's unbuffered default as
// the baseline: the ratio is what WithTransportFactory buys.
func BenchmarkGenerateOverThrift(b *testing.B) {
	rows := make([]table.Row, 5000)
	for i := range rows {
		pid := strconv.Itoa(1000 + i/50)
		rows[i] = table.Row{pid, "/usr/lib/x86_64-linux-gnu/libsystemd-shared-252.so." + strconv.Itoa(i), strconv.Itoa(2<<20 + i), "0"}
	}
	tbl := (&fakeTable{gen: func(context.Context, table.Query) ([]table.Row, error) { return rows, nil }}).table()

	for _, bc := range []struct {
		name      string
		transport thrift.TTransportFactory
	}{
		{"unbuffered", thrift.NewTTransportFactory()},
		{"buffered", nil},
	} {
		b.Run(bc.name, func(b *testing.B) {
			mgr, err := osqueryd.Listen(filepath.Join(shortDir(b), "osquery.em"), 30*time.Second)
			require.NoError(b, err)
			defer mgr.Close()
			ctx, stop := context.WithCancel(context.Background())
			done := make(chan error, 1)
			go func() {
				done <- Serve(ctx, Config{
					Name: "modhunt", Socket: mgr.Path(), Timeout: 5 * time.Second, Interval: time.Second,
					Tables: []*table.Table{tbl}, Guard: table.NewGuard(time.Minute, 1, nil),
					Log: slog.New(slog.DiscardHandler), transport: bc.transport,
				})
			}()
			defer func() {
				stop()
				require.NoError(b, <-done)
			}()
			wctx, cancel := context.WithTimeout(ctx, 5*time.Second)
			defer cancel()
			ext, err := mgr.WaitRegistered(wctx, "modhunt")
			require.NoError(b, err)
			require.NoError(b, mgr.WaitListening(wctx, ext.UUID))
			cols, err := ext.Columns(tbl.Name)
			require.NoError(b, err)
			qc := osqueryd.QueryContext{Columns: cols}

			for b.Loop() {
				resp, err := mgr.Generate(ctx, ext.UUID, tbl.Name, qc)
				if err != nil || resp.Status.Code != 0 || len(resp.Response) != len(rows) {
					b.Fatalf("generate: %v %v", err, resp)
				}
			}
		})
	}
}
