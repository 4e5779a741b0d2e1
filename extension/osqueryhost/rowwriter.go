package osqueryhost

import (
	"context"
	"encoding/binary"
	"io"
	"sync"

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
// then returns no maps) to the protocol writing the reply: as rows, or,
// from a table that streams (table.Table.Stream) under the binary
// protocol, as the reply's bytes encoded batch by batch while the table
// scans, so no row outlives its batch.
type rowSink struct {
	filled bool
	cols   []table.Column
	used   []bool // nil: every column
	rows   []table.Row
	// binary: the reply goes out in the binary protocol, which enc speaks.
	binary bool
	enc    *rowEncoder
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
	_, binary := oprot.(*thrift.TBinaryProtocol)
	sink := &rowSink{binary: binary}
	defer func() {
		if sink.enc != nil {
			sink.enc.release()
		}
	}()
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
		if p.sink.enc != nil {
			return p.sink.enc.writeTo(bp.Transport())
		}
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
	f := newRowFormat(cols, used)
	buf := make([]byte, 0, rowChunk+4096)
	buf = appendListHead(buf, len(rows))
	for _, r := range rows {
		buf = f.appendRow(buf, r)
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

// appendListHead appends the binary protocol's header of a list of n maps.
func appendListHead(buf []byte, n int) []byte {
	return binary.BigEndian.AppendUint32(append(buf, byte(thrift.MAP)), uint32(n))
}

// rowFormat encodes rows as the binary protocol's map<string,string> of
// the used columns: the map header and every key are the same bytes in
// every row, encoded once.
type rowFormat struct {
	keys [][]byte // per used column, the encoded key
	idx  []int    // per used column, its position in a row
	head []byte
}

func newRowFormat(cols []table.Column, used []bool) rowFormat {
	var f rowFormat
	for i, c := range cols {
		if used != nil && !used[i] {
			continue
		}
		key := binary.BigEndian.AppendUint32(nil, uint32(len(c.Name)))
		f.keys = append(f.keys, append(key, c.Name...))
		f.idx = append(f.idx, i)
	}
	f.head = binary.BigEndian.AppendUint32([]byte{byte(thrift.STRING), byte(thrift.STRING)}, uint32(len(f.keys)))
	return f
}

func (f *rowFormat) appendRow(buf []byte, r table.Row) []byte {
	buf = append(buf, f.head...)
	for k, i := range f.idx {
		v := ""
		if i < len(r) {
			v = r[i]
		}
		buf = append(buf, f.keys[k]...)
		buf = binary.BigEndian.AppendUint32(buf, uint32(len(v)))
		buf = append(buf, v...)
	}
	return buf
}

// rowEncoder gathers a streaming table's rows as the reply's bytes. The
// list header needs the row count, which only the end of the scan knows, so
// the rows wait in memory, but as bytes: no pointers for the collector,
// a few tens of bytes a row where the rows themselves take hundreds. The
// bytes go in fixed-size chunks: one growing buffer would be copied over
// and over as it grows (a SELECT * reply is megabytes), and only its last
// size could be kept for the next reply.
type rowEncoder struct {
	f      rowFormat
	chunks [][]byte // full, in order
	cur    []byte
	count  int
	done   bool
}

// encodeChunk is the size at which a chunk is full; chunks have room for a
// row past it, so a row rarely makes one grow.
const (
	encodeChunk = 64 << 10
	chunkRoom   = 16 << 10
)

// spareChunks keeps chunks for the next replies through garbage
// collections (package spare says why), up to maxSpareChunks: a pid, path
// reply of every process takes about seven, a rare huge reply must not pin
// its size.
var spareChunks struct {
	sync.Mutex
	free [][]byte
}

const maxSpareChunks = 16

func newChunk() []byte {
	spareChunks.Lock()
	defer spareChunks.Unlock()
	if n := len(spareChunks.free); n > 0 {
		c := spareChunks.free[n-1]
		spareChunks.free[n-1] = nil
		spareChunks.free = spareChunks.free[:n-1]
		return c[:0]
	}
	return make([]byte, 0, encodeChunk+chunkRoom)
}

func newRowEncoder(cols []table.Column, used []bool) *rowEncoder {
	return &rowEncoder{f: newRowFormat(cols, used), cur: newChunk()}
}

func (e *rowEncoder) add(rows []table.Row) {
	for _, r := range rows {
		e.cur = e.f.appendRow(e.cur, r)
		if len(e.cur) >= encodeChunk {
			e.chunks = append(e.chunks, e.cur)
			e.cur = newChunk()
		}
	}
	e.count += len(rows)
}

// reset drops the rows added so far.
func (e *rowEncoder) reset() {
	e.release()
	e.done = false
	e.cur = newChunk()
	e.count = 0
}

func (e *rowEncoder) writeTo(w io.Writer) error {
	var head [5]byte
	if _, err := w.Write(appendListHead(head[:0], e.count)); err != nil {
		return thrift.NewTProtocolException(err)
	}
	for _, c := range append(e.chunks, e.cur) {
		if _, err := w.Write(c); err != nil {
			return thrift.NewTProtocolException(err)
		}
	}
	return nil
}

// release hands the chunks back for other replies; e is unusable after
// (but for reset).
func (e *rowEncoder) release() {
	if e.done {
		return
	}
	e.done = true
	spareChunks.Lock()
	defer spareChunks.Unlock()
	for _, c := range append(e.chunks, e.cur) {
		// A chunk a long row made grow is not kept at its size.
		if len(spareChunks.free) < maxSpareChunks && cap(c) == encodeChunk+chunkRoom {
			spareChunks.free = append(spareChunks.free, c)
		}
	}
	e.chunks, e.cur = nil, nil
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
