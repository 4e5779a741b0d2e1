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
	gen "github.com/osquery/osquery-go/gen/osquery"
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

// BenchmarkRowWriter is one generate reply of a host-sized result (5000
// module rows, SELECT pid, path and SELECT *) encoded by the extension's
// processor, which writes the table's rows; each iteration also encodes the
// same reply through osquery-go's generated processor, which builds a map
// per row (untimed, interleaved). x_maps is the stock path's time over the
// row writer's. Both write into memory: this is the extension's own cost,
// not the socket's or osqueryd's.
func BenchmarkRowWriter(b *testing.B) {
	rows := make([]table.Row, 5000)
	for i := range rows {
		pid := strconv.Itoa(1000 + i/50)
		rows[i] = table.Row{pid, "/usr/lib/x86_64-linux-gnu/libsystemd-shared-252.so." + strconv.Itoa(i), strconv.Itoa(2<<20 + i), "0"}
	}
	f := &fakeTable{gen: func(context.Context, table.Query) ([]table.Row, error) { return rows, nil }}
	stock, writer := processors(b, f.table())
	for _, bc := range []struct{ name, context string }{
		{"pid_path", `{"constraints":[],"colsUsed":["pid","path"]}`},
		{"select_star", `{"constraints":[]}`},
	} {
		b.Run(bc.name, func(b *testing.B) {
			ctx := context.Background()
			in := thrift.NewTMemoryBuffer()
			iprot := thrift.NewTBinaryProtocolConf(in, nil)
			out := thrift.NewTMemoryBuffer()
			oprot := thrift.NewTBinaryProtocolConf(out, nil)
			call := func(p thrift.TProcessor) {
				in.Reset()
				out.Reset()
				_ = iprot.WriteMessageBegin(ctx, "call", thrift.CALL, 1)
				args := gen.ExtensionCallArgs{Registry: "table", Item: "fake_modules", Request: generateReq(bc.context)}
				_ = args.Write(ctx, iprot)
				_ = iprot.WriteMessageEnd(ctx)
				if _, err := p.Process(ctx, iprot, oprot); err != nil {
					b.Fatal(err)
				}
			}
			var maps time.Duration
			for b.Loop() {
				b.StopTimer()
				start := time.Now()
				call(stock)
				maps += time.Since(start)
				b.StartTimer()
				call(writer)
			}
			b.ReportMetric(float64(maps)/float64(b.Elapsed()), "x_maps")
			b.ReportMetric(float64(out.Len())/1024, "reply_KiB")
		})
	}
}
