package osqueryhost

import (
	"context"
	"encoding/binary"
	"io"

	"github.com/apache/thrift/lib/go/thrift"

	"github.com/modhunt/modhunt/tables/table"
)

// A generate call's rows reach osqueryd without ever being Go maps.
// osquery-go's table plugins hand back rows as []map[string]string, and its
// generated code writes ExtensionResponse from them; for a host-sized result
// building one map per row, then walking it to encode, and collecting the
// garbage afterwards cost the extension more CPU than parsing the maps files
// the rows come from. Everything about the call still goes through
// osquery-go: its generated processor reads the request, runs the
// connectivity check and writes the message, its table plugin parses the
// query context and sets the status. Only the list of rows is written here,
// in the generated code's place in the stream, straight from the table's
// rows: each used column's key encoded once per reply, each value the
// table's own string.

// rowSink carries a generate call's rows from the plugin's generate (which
// then returns no maps) to the protocol writing the reply.
type rowSink struct {
	filled bool
	cols   []table.Column
	used   []bool // nil: every column
	rows   []table.Row
}

type sinkKey struct{}

// sinkFrom returns the call's sink, or nil when the call is served the
// stock way (osquery-go's own processor, as in the tests that compare both).
func sinkFrom(ctx context.Context) *rowSink {
	s, _ := ctx.Value(sinkKey{}).(*rowSink)
	return s
}

// rowsCall is the "call" function of the extension's processor: osquery-go's
// own, writing through a protocol that puts the sink's rows where the
// generated code writes the response list.
type rowsCall struct {
	stock thrift.TProcessorFunction
}

func (c rowsCall) Process(ctx context.Context, seqID int32, iprot, oprot thrift.TProtocol) (bool, thrift.TException) {
	sink := &rowSink{}
	return c.stock.Process(context.WithValue(ctx, sinkKey{}, sink), seqID, iprot, &rowsProtocol{TProtocol: oprot, sink: sink})
}

// rowsProtocol is the reply's protocol. When the sink holds rows, the list
// that follows the response field's header (ExtensionResponse field 2,
// list<map<string,string>>) is written from them; the generated code's own
// list, empty since the plugin returned no maps, is dropped.
type rowsProtocol struct {
	thrift.TProtocol
	sink *rowSink
	// next is set between the response field's header and its list.
	next bool
}

// responseField is ExtensionResponse's response field (osquery.thrift:
// 2:ExtensionPluginResponse response).
const (
	responseField   = "response"
	responseFieldID = 2
)

func (p *rowsProtocol) WriteFieldBegin(ctx context.Context, name string, typeID thrift.TType, id int16) error {
	p.next = p.sink.filled && name == responseField && typeID == thrift.LIST && id == responseFieldID
	return p.TProtocol.WriteFieldBegin(ctx, name, typeID, id)
}

func (p *rowsProtocol) WriteListBegin(ctx context.Context, elemType thrift.TType, size int) error {
	if !p.next || elemType != thrift.MAP || size != 0 {
		return p.TProtocol.WriteListBegin(ctx, elemType, size)
	}
	p.next = false
	p.sink.filled = false // written once
	if bp, ok := p.TProtocol.(*thrift.TBinaryProtocol); ok {
		// TBinaryProtocol writes straight through to its transport, so
		// bytes written there land in order with its own.
		return writeRowsBinary(bp.Transport(), p.sink.cols, p.sink.used, p.sink.rows)
	}
	return writeRows(ctx, p.TProtocol, p.sink.cols, p.sink.used, p.sink.rows)
}

// rowChunk is how many encoded bytes writeRowsBinary gathers per write.
const rowChunk = 32 << 10

// writeRowsBinary is writeRows for the binary protocol, the one osqueryd
// speaks, encoded here: TBinaryProtocol's WriteString is two interface
// calls and two writes per string, and every row's map header and keys
// are the same bytes. The encoding is the binary protocol's: a list header
// (element type, big-endian i32 count), per row a map header (key type,
// value type, i32 count), strings as an i32 length and the bytes.
func writeRowsBinary(w io.Writer, cols []table.Column, used []bool, rows []table.Row) error {
	var keys [][]byte // per used column, the encoded key
	var idx []int
	for i, c := range cols {
		if used != nil && !used[i] {
			continue
		}
		keys = append(keys, binary.BigEndian.AppendUint32(nil, uint32(len(c.Name))))
		keys[len(keys)-1] = append(keys[len(keys)-1], c.Name...)
		idx = append(idx, i)
	}
	head := binary.BigEndian.AppendUint32([]byte{byte(thrift.STRING), byte(thrift.STRING)}, uint32(len(keys)))
	buf := make([]byte, 0, rowChunk+4096)
	buf = binary.BigEndian.AppendUint32(append(buf, byte(thrift.MAP)), uint32(len(rows)))
	for _, r := range rows {
		buf = append(buf, head...)
		for k, i := range idx {
			v := ""
			if i < len(r) {
				v = r[i]
			}
			buf = append(buf, keys[k]...)
			buf = binary.BigEndian.AppendUint32(buf, uint32(len(v)))
			buf = append(buf, v...)
		}
		if len(buf) >= rowChunk {
			if _, err := w.Write(buf); err != nil {
				return thrift.NewTProtocolException(err)
			}
			buf = buf[:0]
		}
	}
	if _, err := w.Write(buf); err != nil {
		return thrift.NewTProtocolException(err)
	}
	return nil
}

// writeRows writes rows as list<map<string,string>>, as the generated
// ExtensionResponse.writeField2 writes []map[string]string: a list header,
// then per row a map header and key-value pairs. The pairs are the used
// columns in the table's order (a Go map has none; osqueryd looks values up
// by name), a value missing from a short row is "" as rowMaps makes it.
func writeRows(ctx context.Context, oprot thrift.TProtocol, cols []table.Column, used []bool, rows []table.Row) error {
	if err := oprot.WriteListBegin(ctx, thrift.MAP, len(rows)); err != nil {
		return thrift.PrependError("error writing list begin: ", err)
	}
	n := len(cols)
	if used != nil {
		n = 0
		for _, u := range used {
			if u {
				n++
			}
		}
	}
	for _, r := range rows {
		if err := oprot.WriteMapBegin(ctx, thrift.STRING, thrift.STRING, n); err != nil {
			return thrift.PrependError("error writing map begin: ", err)
		}
		for i := range cols {
			if used != nil && !used[i] {
				continue
			}
			v := ""
			if i < len(r) {
				v = r[i]
			}
			if err := oprot.WriteString(ctx, cols[i].Name); err != nil {
				return thrift.PrependError("error writing row: ", err)
			}
			if err := oprot.WriteString(ctx, v); err != nil {
				return thrift.PrependError("error writing row: ", err)
			}
		}
		if err := oprot.WriteMapEnd(ctx); err != nil {
			return thrift.PrependError("error writing map end: ", err)
		}
	}
	return nil
}
