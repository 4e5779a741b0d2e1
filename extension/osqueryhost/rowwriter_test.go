package osqueryhost

import (
	"bytes"
	"context"
	"errors"
	"strconv"
	"testing"

	"github.com/apache/thrift/lib/go/thrift"
	osquery "github.com/osquery/osquery-go"
	gen "github.com/osquery/osquery-go/gen/osquery"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/modhunt/modhunt/tables/table"
)

// noManager is a client to osqueryd that is never called: the router only
// routes calls to plugins.
type noManager struct{ osquery.ExtensionManager }

// replyBytes runs one "call" request through processor, as the extension's
// Thrift server does, and returns the bytes of the reply.
// With generic set the reply's protocol is not a *TBinaryProtocol, so the
// row writer takes its path for any protocol.
func replyBytes(t testing.TB, processor thrift.TProcessor, item string, req gen.ExtensionPluginRequest, generic bool) []byte {
	t.Helper()
	ctx := context.Background()
	in := thrift.NewTMemoryBuffer()
	iprot := thrift.NewTBinaryProtocolConf(in, nil)
	require.NoError(t, iprot.WriteMessageBegin(ctx, "call", thrift.CALL, 7))
	args := gen.ExtensionCallArgs{Registry: "table", Item: item, Request: req}
	require.NoError(t, args.Write(ctx, iprot))
	require.NoError(t, iprot.WriteMessageEnd(ctx))
	out := thrift.NewTMemoryBuffer()
	var oprot thrift.TProtocol = thrift.NewTBinaryProtocolConf(out, nil)
	if generic {
		oprot = anyProtocol{oprot}
	}
	_, err := processor.Process(ctx, iprot, oprot)
	require.NoError(t, err)
	return out.Bytes()
}

// decodeReply reads a reply with osquery-go's generated code, as the
// manager double (and osqueryd's own generated C++) does.
func decodeReply(t *testing.T, b []byte) (string, thrift.TMessageType, int32, *gen.ExtensionResponse) {
	t.Helper()
	ctx := context.Background()
	buf := thrift.NewTMemoryBuffer()
	_, _ = buf.Write(b)
	prot := thrift.NewTBinaryProtocolConf(buf, nil)
	name, typ, seq, err := prot.ReadMessageBegin(ctx)
	require.NoError(t, err)
	var res gen.ExtensionCallResult
	require.NoError(t, res.Read(ctx, prot))
	require.NoError(t, prot.ReadMessageEnd(ctx))
	require.Zero(t, buf.Len(), "bytes left after the reply")
	return name, typ, seq, res.Success
}

// processors returns osquery-go's stock processor and the extension's,
// serving the same plugin.
func processors(t testing.TB, tbl *table.Table) (stock, rows *gen.ExtensionProcessor) {
	t.Helper()
	p, err := NewPlugin(tbl, table.NewGuard(0, 0, nil), nil)
	require.NoError(t, err)
	router, err := osquery.NewExtensionManagerServer("modhunt", "/nonexistent", osquery.WithClient(noManager{}))
	require.NoError(t, err)
	router.RegisterPlugin(p)
	h := &extensionServer{router: router, plugins: []osquery.OsqueryPlugin{p}}
	rows, err = newProcessor(h)
	require.NoError(t, err)
	return gen.NewExtensionProcessor(h), rows
}

// TestRowWriterMatchesOsqueryGo sends the same calls through osquery-go's
// generated processor, which writes the rows as maps, and through the
// extension's, which writes them from the table's rows, and requires the
// same reply: decoded by osquery-go's generated code to the same message,
// status and rows, of the same length, and byte for byte the same wherever
// a Go map's iteration order cannot differ (no row with two keys).
func TestRowWriterMatchesOsqueryGo(t *testing.T) {
	t.Parallel()
	odd, many := replyRows()
	all := `{"constraints":[]}`
	for name, tc := range map[string]struct {
		rows    []table.Row
		err     error
		request gen.ExtensionPluginRequest
	}{
		"every column":            {rows: []table.Row{{"1", "/usr/lib/libc.so.6", "2031616", "0"}, odd}, request: generateReq(all)},
		"one column, odd values":  {rows: []table.Row{odd, {"2", "/x", "1", "1"}}, request: generateReq(`{"constraints":[],"colsUsed":["path"]}`)},
		"one column by bitset":    {rows: []table.Row{odd, {"2", "/y", "1", "1"}}, request: generateReq(`{"constraints":[],"colsUsedBitset":4}`)},
		"two columns":             {rows: []table.Row{odd, {"3", "/z", "1", "0"}}, request: generateReq(`{"constraints":[],"colsUsed":["pid","path"]}`)},
		"no column (count(*))":    {rows: []table.Row{odd, odd, odd}, request: generateReq(`{"constraints":[],"colsUsed":[]}`)},
		"short and long rows":     {rows: []table.Row{{"2", "/short"}, {"3", "/x", "1", "0", "extra"}, {}}, request: generateReq(all)},
		"short row, one column":   {rows: []table.Row{{"2"}}, request: generateReq(`{"constraints":[],"colsUsed":["deleted"]}`)},
		"no rows":                 {rows: nil, request: generateReq(all)},
		"no rows, empty slice":    {rows: []table.Row{}, request: generateReq(all)},
		"error status":            {err: errors.New("cannot read /proc: ü\n\"x\""), request: generateReq(all)},
		"partial rows and error":  {rows: []table.Row{{"1", "/a", "1", "0"}}, err: errors.New("process 2 vanished"), request: generateReq(all)},
		"broken colsUsed":         {rows: []table.Row{odd}, request: generateReq(`{"constraints":[],"colsUsed":"pid"}`)},
		"context not JSON":        {rows: []table.Row{odd}, request: generateReq(`{"constraints":`)},
		"many rows, one column":   {rows: many, request: generateReq(`{"constraints":[],"colsUsed":["path"]}`)},
		"many rows, every column": {rows: many, request: generateReq(all)},
		"columns action":          {request: gen.ExtensionPluginRequest{"action": "columns"}},
		"unknown action":          {request: gen.ExtensionPluginRequest{"action": "delete"}},
	} {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			f := &fakeTable{gen: func(context.Context, table.Query) ([]table.Row, error) { return tc.rows, tc.err }}
			stock, rows := processors(t, f.table())
			want := replyBytes(t, stock, "fake_modules", tc.request, false)
			wName, wType, wSeq, wResp := decodeReply(t, want)
			for _, generic := range []bool{false, true} {
				got := replyBytes(t, rows, "fake_modules", tc.request, generic)
				gName, gType, gSeq, gResp := decodeReply(t, got)
				assert.Equal(t, []any{wName, wType, wSeq}, []any{gName, gType, gSeq}, "generic %v", generic)
				require.NotNil(t, gResp)
				assert.Equal(t, wResp.Status, gResp.Status, "generic %v", generic)
				assert.Equal(t, wResp.Response, gResp.Response, "generic %v", generic)
				assert.Len(t, got, len(want), "generic %v", generic)
				if maxKeys(wResp.Response) <= 1 {
					assert.True(t, bytes.Equal(want, got), "byte for byte (generic %v):\nstock %q\nrows  %q", generic, want, got)
				}
			}
		})
	}
}

// TestRowsReplaceTheResponseListOnce writes a response through the rows
// protocol and records the strings written: the table's own, in column
// order, where the generated code writes its (empty) list, and only once.
func TestRowsReplaceTheResponseListOnce(t *testing.T) {
	t.Parallel()
	var written []string
	sink := &rowSink{filled: true, cols: []table.Column{{Name: "pid"}, {Name: "path"}}, rows: []table.Row{{"1", "/a"}, {"2"}}}
	p := &rowsProtocol{TProtocol: &recordingProtocol{TProtocol: thrift.NewTBinaryProtocolConf(thrift.NewTMemoryBuffer(), nil), strings: &written}, sink: sink}
	ctx := context.Background()
	require.NoError(t, (&gen.ExtensionResponse{Status: &gen.ExtensionStatus{Message: "OK"}}).Write(ctx, p))
	assert.Equal(t, []string{"OK", "pid", "1", "path", "/a", "pid", "2", "path", ""}, written)
	assert.False(t, sink.filled, "the rows are written once")
}

// anyProtocol hides the binary protocol behind the interface.
type anyProtocol struct{ thrift.TProtocol }

type recordingProtocol struct {
	thrift.TProtocol
	strings *[]string
}

func (p *recordingProtocol) WriteString(ctx context.Context, s string) error {
	*p.strings = append(*p.strings, s)
	return p.TProtocol.WriteString(ctx, s)
}

func generateReq(contextJSON string) gen.ExtensionPluginRequest {
	return gen.ExtensionPluginRequest{"action": "generate", "context": contextJSON}
}

func maxKeys(rows []map[string]string) int {
	n := 0
	for _, r := range rows {
		n = max(n, len(r))
	}
	return n
}

// replyRows are the rows every reply test encodes: one whose cells are
// hard to encode, and 3,000 ordinary ones.
func replyRows() (odd table.Row, many []table.Row) {
	odd = table.Row{
		"ü日本語🙂",                    // unicode
		"/tmp/a \"b\"\\c\n\t\x00d", // quotes, escapes, newline, NUL
		"\xff\xfe not UTF-8",       // bytes that are no UTF-8
		"",                         // empty: NULL for a number
	}
	for i := range 3000 {
		many = append(many, table.Row{strconv.Itoa(i), "/usr/lib/x86_64-linux-gnu/lib" + strconv.Itoa(i) + ".so", strconv.Itoa(i << 12), "0"})
	}
	return odd, many
}
