package pefacts

import (
	"bytes"
	"debug/pe"
	"encoding/binary"
	"testing"
)

// mapImage lays a PE file out as the Windows loader maps it: headers at
// 0, each section's file data at its RVA, the rest zero. It uses the
// standard library's debug/pe, not this package's section code.
func mapImage(t testing.TB, file []byte) []byte {
	t.Helper()
	f, err := pe.NewFile(bytes.NewReader(file))
	if err != nil {
		t.Fatal(err)
	}
	var sizeOfImage, sizeOfHeaders, fileAlign uint32
	switch oh := f.OptionalHeader.(type) {
	case *pe.OptionalHeader32:
		sizeOfImage, sizeOfHeaders, fileAlign = oh.SizeOfImage, oh.SizeOfHeaders, oh.FileAlignment
	case *pe.OptionalHeader64:
		sizeOfImage, sizeOfHeaders, fileAlign = oh.SizeOfImage, oh.SizeOfHeaders, oh.FileAlignment
	}
	img := make([]byte, sizeOfImage)
	copy(img, file[:sizeOfHeaders])
	for _, s := range f.Sections {
		off := s.Offset
		if fileAlign >= 0x200 {
			off &^= 0x1ff
		}
		n := min(s.Size, s.VirtualSize)
		if s.VirtualSize == 0 {
			n = s.Size
		}
		copy(img[s.VirtualAddress:], file[off:off+n])
	}
	return img
}

type mdVariant struct {
	name      string
	wideHeaps bool // HeapSizes 0x07 although the heaps are small
	enc       bool // "#-" with identity FieldPtr/MethodPtr/ParamPtr/EventPtr/PropertyPtr tables and an AssemblyOS row
	encLog    bool // EncLog and EncMap rows (tables 0x1e, 0x1f: before Assembly)
	extraData bool // HeapSizes 0x40 and the extra word after the row counts
	jtd       bool // a #JTD stream: every index 4 bytes
	monoReads bool // Mono 6.8 reads the result: it ignores 0x40 and #JTD, and sizes EncLog/EncMap rows as empty
}

// rewriteMetadata re-encodes a compiled assembly's tables stream as v asks,
// appends the new metadata to the last section and points the CLR header
// at it. Only the encoding changes, never a value, so the identity must
// stay the same. The test trusts its input, so it parses without checks.
func rewriteMetadata(t testing.TB, file []byte, v mdVariant) []byte {
	t.Helper()
	file = append([]byte(nil), file...)
	img, err := openImage(newBytesSource(file, Limits{}), 0, LayoutFile)
	if err != nil {
		t.Fatal(err)
	}
	corOff := img.offsetOf(img.dirs[dirCLR].VirtualAddress)
	mdOff := img.offsetOf(le32(file[corOff+8:]))
	md := file[mdOff:]

	// Root and stream headers.
	vlen := int(le32(md[12:]))
	p := 16 + vlen
	nstreams := int(le16(md[p+2:]))
	p += 4
	type st struct {
		name string
		data []byte
	}
	var streams []st
	for range nstreams {
		so, ss := le32(md[p:]), le32(md[p+4:])
		n := bytes.IndexByte(md[p+8:], 0)
		streams = append(streams, st{string(md[p+8 : p+8+n]), md[so : so+ss]})
		p += 8 + align4(n+1)
	}

	// Decode every row of every table with the old sizes.
	var tables []byte
	for _, s := range streams {
		if s.name == "#~" {
			tables = s.data
		}
	}
	if tables == nil {
		t.Fatal("no #~ stream")
	}
	var rows [64]uint32
	valid := le64(tables[8:])
	q := 24
	for i := range 64 {
		if valid&(1<<i) != 0 {
			rows[i] = le32(tables[q:])
			q += 4
		}
	}
	old := &sizer{rows: &rows, heaps: tables[6], major: tables[4], minor: tables[5]}
	var cells [64][][]uint32
	for i := range 64 {
		for range rows[i] {
			var r []uint32
			for _, c := range old.columns(i) {
				if old.colSize(c) == 2 {
					r = append(r, uint32(le16(tables[q:])))
				} else {
					r = append(r, le32(tables[q:]))
				}
				q += int(old.colSize(c))
			}
			cells[i] = append(cells[i], r)
		}
	}

	// New rows and flags.
	nrows := rows
	heaps := tables[6]
	if v.wideHeaps {
		heaps |= heapStringsWide | heapGUIDWide | heapBlobWide
	}
	if v.extraData {
		heaps |= heapExtraData
	}
	if v.jtd {
		heaps |= heapStringsWide | heapGUIDWide | heapBlobWide // Mono asserts this for minimal deltas
	}
	if v.enc {
		for ptr, target := range map[int]int{0x03: tField, 0x05: tMethodDef, 0x07: tParam, 0x13: tEvent, 0x16: tProperty} {
			cells[ptr] = nil
			for r := range rows[target] {
				cells[ptr] = append(cells[ptr], []uint32{r + 1})
			}
			nrows[ptr] = rows[target]
		}
		// An AssemblyOS row: after Assembly, so only the size check sees it.
		cells[0x22] = [][]uint32{{2, 10, 0}}
		nrows[0x22] = 1
	}
	if v.encLog {
		cells[0x1e] = [][]uint32{{0x02000002, 0}, {0x06000001, 1}}
		cells[0x1f] = [][]uint32{{0x02000002}, {0x06000001}}
		nrows[0x1e], nrows[0x1f] = 2, 2
	}
	var nvalid uint64
	for i := range 64 {
		if nrows[i] != 0 {
			nvalid |= 1 << i
		}
	}
	nz := &sizer{rows: &nrows, heaps: heaps, major: old.major, minor: old.minor, allWide: v.jtd}
	var nt bytes.Buffer
	nt.Write(tables[:6])
	nt.WriteByte(heaps)
	nt.WriteByte(tables[7])
	_ = binary.Write(&nt, binary.LittleEndian, nvalid)
	_ = binary.Write(&nt, binary.LittleEndian, le64(tables[16:])&nvalid)
	for i := range 64 {
		if nrows[i] != 0 {
			_ = binary.Write(&nt, binary.LittleEndian, nrows[i])
		}
	}
	if v.extraData {
		_ = binary.Write(&nt, binary.LittleEndian, uint32(0x5eed5eed))
	}
	for i := range 64 {
		for _, r := range cells[i] {
			for k, c := range nz.columns(i) {
				if nz.colSize(c) == 2 {
					_ = binary.Write(&nt, binary.LittleEndian, uint16(r[k]))
				} else {
					_ = binary.Write(&nt, binary.LittleEndian, r[k])
				}
			}
		}
	}
	for nt.Len()%4 != 0 {
		nt.WriteByte(0)
	}

	// New metadata: same root, the new tables stream, the heaps as they were.
	tname := "#~"
	if v.enc || v.encLog {
		tname = "#-"
	}
	for i := range streams {
		if streams[i].name == "#~" {
			streams[i] = st{tname, nt.Bytes()}
		}
	}
	if v.jtd {
		streams = append(streams, st{"#JTD", nil})
	}
	hdrLen := 16 + vlen + 4
	for _, s := range streams {
		hdrLen += 8 + align4(len(s.name)+1)
	}
	var out bytes.Buffer
	out.Write(md[:16+vlen])
	_ = binary.Write(&out, binary.LittleEndian, uint16(0))
	_ = binary.Write(&out, binary.LittleEndian, uint16(len(streams)))
	at := hdrLen
	for _, s := range streams {
		_ = binary.Write(&out, binary.LittleEndian, []uint32{uint32(at), uint32(len(s.data))})
		name := make([]byte, align4(len(s.name)+1))
		copy(name, s.name)
		out.Write(name)
		at += align4(len(s.data))
	}
	for _, s := range streams {
		out.Write(s.data)
		for out.Len()%4 != 0 {
			out.WriteByte(0)
		}
	}
	newMD := out.Bytes()

	// Append it to the last section (by file offset) and grow that section
	// and the image.
	hdr, _ := pe.NewFile(bytes.NewReader(file))
	last := 0
	for i, s := range hdr.Sections {
		if s.Offset > hdr.Sections[last].Offset {
			last = i
		}
	}
	ls := hdr.Sections[last]
	if int(ls.Offset+ls.Size) != len(file) {
		t.Fatalf("last section does not end the file")
	}
	place := align4(len(file))
	file = append(file, make([]byte, place-len(file))...)
	file = append(file, newMD...)
	fileAlign, secAlign := uint32(0x200), uint32(0x2000)
	switch oh := hdr.OptionalHeader.(type) {
	case *pe.OptionalHeader32:
		fileAlign, secAlign = oh.FileAlignment, oh.SectionAlignment
	case *pe.OptionalHeader64:
		fileAlign, secAlign = oh.FileAlignment, oh.SectionAlignment
	}
	vsize := uint32(len(file)) - ls.Offset
	rsize := alignUp(vsize, fileAlign)
	file = append(file, make([]byte, int(rsize-vsize))...)
	lfanew := le32(file[0x3c:])
	opt := lfanew + 24
	sec := opt + uint32(le16(file[lfanew+20:])) + uint32(last)*40
	binary.LittleEndian.PutUint32(file[sec+8:], vsize)
	binary.LittleEndian.PutUint32(file[sec+16:], rsize)
	binary.LittleEndian.PutUint32(file[opt+56:], alignUp(ls.VirtualAddress+vsize, secAlign))
	binary.LittleEndian.PutUint32(file[corOff+8:], ls.VirtualAddress+uint32(place)-ls.Offset)
	binary.LittleEndian.PutUint32(file[corOff+12:], uint32(len(newMD)))
	return file
}

func alignUp(n, a uint32) uint32 { return (n + a - 1) / a * a }
