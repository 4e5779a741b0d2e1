package pefacts

import (
	"crypto/sha1"
	"encoding/hex"
	"errors"
	"fmt"
	"math/bits"
	"strings"
	"unicode/utf8"
)

// ErrNoAssembly is returned for CLI metadata without an Assembly row (a
// .netmodule), or a PE without a CLR header.
var ErrNoAssembly = errors.New("no assembly manifest")

const (
	metadataSignature = 0x424a5342 // "BSJB"
	maxVersionLen     = 256
	maxStreams        = 64 // lenient ceiling; strict allows 8
	maxStrictStreams  = 8
	maxNameLen        = 1024
	maxPublicKeyLen   = 64 << 10
	maxRID            = 1<<24 - 1
)

// assembly reads the identity from the CLR header's metadata. The CLR
// header and the metadata are parsed here, not by saferwall: saferwall
// does not skip the tables it has no parser for (the edit-and-continue
// pointer tables and the AssemblyProcessor/OS tables among them), so in
// #- metadata every table after them, Assembly included, is read from the
// wrong offset; it ignores the HeapSizes extra-data word; it decodes every
// row of every table; and it only knows the file layout.
func (img *image) assembly(strict bool) (*Assembly, error) {
	a, _, _, err := img.assemblyAt(strict)
	return a, err
}

// assemblyAt is assembly, also returning where the metadata root lies in
// the source and how many bytes its streams span.
func (img *image) assemblyAt(strict bool) (a *Assembly, mdOff, mdLen int64, err error) {
	dir, ok := img.dir(dirCLR)
	if !ok || dir.VirtualAddress == 0 || dir.Size == 0 {
		return nil, 0, 0, fmt.Errorf("%w: no CLR header", ErrNoAssembly)
	}
	cor, err := img.at(dir.VirtualAddress, 16)
	if err != nil {
		return nil, 0, 0, fmt.Errorf("CLR header: %w", err)
	}
	mdRVA, mdSize := le32(cor[8:]), le32(cor[12:])
	if mdRVA == 0 || mdSize == 0 {
		return nil, 0, 0, errors.New("CLR header has no metadata directory")
	}
	off, n, err := img.span(mdRVA, mdSize)
	if err != nil {
		return nil, 0, 0, fmt.Errorf("metadata: %w", err)
	}
	a, mdLen, err = readMetadataExtent(img.s, off, n, strict)
	return a, off, mdLen, err
}

// span returns where the n bytes at rva lie contiguously in the source,
// and how many of them are there.
func (img *image) span(rva, n uint32) (off, avail int64, err error) {
	if img.layout == LayoutImage {
		off = img.base + int64(rva)
		if off >= img.s.size {
			return 0, 0, fmt.Errorf("%w: RVA %#x beyond input", errTruncated, rva)
		}
		return off, min(int64(n), img.s.size-off), nil
	}
	i := img.find(rva)
	if i < 0 {
		return 0, 0, fmt.Errorf("RVA %#x is in no section", rva)
	}
	sec := img.sections[i]
	d := rva - sec.va
	raw := min(sec.rsize, sec.vsize)
	if d >= raw {
		return 0, 0, fmt.Errorf("RVA %#x is beyond its section's file data", rva)
	}
	off = img.base + int64(sec.raw) + int64(d)
	if off >= img.s.size {
		return 0, 0, fmt.Errorf("%w: RVA %#x beyond input", errTruncated, rva)
	}
	return off, min(int64(n), int64(raw-d), img.s.size-off), nil
}

type stream struct {
	off, size int64 // absolute in the source
	name      string
}

// metadata holds what the root and tables header say, for one parse.
type metadata struct {
	s                  *source
	strict             bool
	version            string
	tables             stream
	strs, guids, blobs *stream
	allWide            bool
}

// readMetadata parses the metadata root at off (n bytes available). In
// strict mode (a root found by searching memory) everything a runtime
// writes must hold, so that random bytes are not taken for an assembly.
func readMetadata(s *source, off, n int64, strict bool) (*Assembly, error) {
	a, _, err := readMetadataExtent(s, off, n, strict)
	return a, err
}

// readMetadataExtent is readMetadata, also returning how many bytes from
// off the root and its streams span.
func readMetadataExtent(s *source, off, n int64, strict bool) (a *Assembly, extent int64, err error) {
	a, extent, err = readMetadataRoot(s, off, n, strict)
	if err != nil {
		return nil, 0, err
	}
	return a, extent, nil
}

func readMetadataRoot(s *source, off, n int64, strict bool) (*Assembly, int64, error) {
	if n < 20 {
		return nil, 0, fmt.Errorf("%w: metadata root of %d bytes", errTruncated, n)
	}
	root, err := s.slice(off, 16)
	if err != nil {
		return nil, 0, err
	}
	if le32(root) != metadataSignature {
		return nil, 0, errors.New("no BSJB metadata signature")
	}
	major, minor, reserved, vlen := le16(root[4:]), le16(root[6:]), le32(root[8:]), int64(le32(root[12:]))
	if strict && (major != 1 || minor != 1 || reserved != 0) {
		return nil, 0, fmt.Errorf("metadata root version %d.%d, reserved %#x", major, minor, reserved)
	}
	if vlen > maxVersionLen || 16+vlen+4 > n || (strict && (vlen == 0 || vlen%4 != 0)) {
		return nil, 0, fmt.Errorf("metadata version string length %d", vlen)
	}
	vb, err := s.slice(off+16, vlen)
	if err != nil {
		return nil, 0, err
	}
	md := &metadata{s: s, strict: strict}
	if i := strings.IndexByte(string(vb), 0); i >= 0 {
		vb = vb[:i]
	} else if strict {
		return nil, 0, errors.New("metadata version string not terminated")
	}
	if strict && (len(vb) == 0 || !printable(vb)) {
		return nil, 0, fmt.Errorf("metadata version string %q", vb)
	}
	md.version = string(vb)

	p := off + 16 + vlen
	hdr, err := s.slice(p, 4)
	if err != nil {
		return nil, 0, err
	}
	flags, count := le16(hdr), int(le16(hdr[2:]))
	limit := maxStreams
	if strict {
		limit = maxStrictStreams
	}
	if count == 0 || count > limit || (strict && flags != 0) {
		return nil, 0, fmt.Errorf("metadata with %d streams, flags %#x", count, flags)
	}
	p += 4
	var all []stream
	extent := p - off
	for range count {
		h, err := s.slice(p, min(8+32, off+n-p))
		if err != nil || len(h) < 9 {
			return nil, 0, fmt.Errorf("%w: stream header", errTruncated)
		}
		so, ss := int64(le32(h)), int64(le32(h[4:]))
		name := h[8:]
		end := strings.IndexByte(string(name), 0)
		if end < 0 {
			return nil, 0, errors.New("stream name not terminated within 32 bytes")
		}
		name = name[:end]
		if so > n || ss > n-so {
			return nil, 0, fmt.Errorf("stream %q (%d bytes at %#x) beyond the metadata's %d bytes", name, ss, so, n)
		}
		if strict && (so%4 != 0 || ss%4 != 0 || !knownStream(string(name))) {
			return nil, 0, fmt.Errorf("stream %q at %#x of %d bytes", name, so, ss)
		}
		all = append(all, stream{off: off + so, size: ss, name: string(name)})
		extent = max(extent, so+ss)
		p += 8 + int64(align4(end+1))
	}
	extent = max(extent, p-off)
	if err := md.pickStreams(all); err != nil {
		return nil, 0, err
	}
	a, err := md.readTables()
	return a, extent, err
}

func knownStream(name string) bool {
	switch name {
	case "#~", "#-", "#Strings", "#US", "#GUID", "#Blob", "#JTD", "#Pdb":
		return true
	}
	return false
}

// pickStreams finds the streams the identity needs. Runtimes disagree on
// duplicate names (the CLR takes the first #- heap and matches its names
// without regard to case, dnlib's reading of #~ takes the last, Mono the
// last), so a duplicate of a needed stream is refused rather than
// resolved one way.
func (md *metadata) pickStreams(all []stream) error {
	var tables *stream
	for i := range all {
		if all[i].name == "#~" || all[i].name == "#-" {
			if tables != nil {
				return errors.New("more than one tables stream")
			}
			tables = &all[i]
		}
	}
	if tables == nil {
		return errors.New("no #~ or #- tables stream")
	}
	md.tables = *tables
	match := func(a, b string) bool { return a == b }
	if tables.name == "#-" {
		match = strings.EqualFold
	}
	pick := func(name string) (*stream, error) {
		var got *stream
		for i := range all {
			if match(all[i].name, name) {
				if got != nil {
					return nil, fmt.Errorf("more than one %s stream", name)
				}
				got = &all[i]
			}
		}
		return got, nil
	}
	var err error
	if md.strs, err = pick("#Strings"); err != nil {
		return err
	}
	if md.guids, err = pick("#GUID"); err != nil {
		return err
	}
	if md.blobs, err = pick("#Blob"); err != nil {
		return err
	}
	jtd, err := pick("#JTD")
	md.allWide = jtd != nil
	if md.strs == nil {
		return errors.New("no #Strings stream")
	}
	return err
}

// readTables reads the tables header, sizes every table and reads the
// Module and Assembly rows. When the header sets the extra-data bit it is
// read the CLR's way (a 4-byte word after the row counts) and, if that
// does not yield a valid assembly, Mono's way (no word).
func (md *metadata) readTables() (*Assembly, error) {
	t := md.tables
	h, err := md.s.slice(t.off, min(24, t.size))
	if err != nil {
		return nil, err
	}
	if len(h) < 24 {
		return nil, fmt.Errorf("%w: tables stream of %d bytes", errTruncated, t.size)
	}
	z := &sizer{heaps: h[6], major: h[4], minor: h[5], allWide: md.allWide}
	if md.strict && (le32(h) != 0 || (z.major != 1 && z.major != 2) || z.minor > 1) {
		return nil, fmt.Errorf("tables stream schema %d.%d, reserved %#x", z.major, z.minor, le32(h))
	}
	valid := le64(h[8:])
	if md.strict && valid&^(1<<0x2d-1|0xff<<0x30) != 0 {
		return nil, fmt.Errorf("tables stream marks unknown tables %#x", valid)
	}
	n := int64(bits.OnesCount64(valid))
	if 24+4*n > t.size {
		return nil, fmt.Errorf("%w: %d row counts in a tables stream of %d bytes", errTruncated, n, t.size)
	}
	counts, err := md.s.slice(t.off+24, 4*n)
	if err != nil {
		return nil, err
	}
	var rows [64]uint32
	for i, k := 0, 0; i < 64; i++ {
		if valid&(1<<i) == 0 {
			continue
		}
		r := le32(counts[4*k:])
		k++
		if r > maxRID {
			return nil, fmt.Errorf("table %#x claims %d rows", i, r)
		}
		// Schema 1.0 predates generics: dnlib (after the CLR) counts no rows
		// past NestedClass there.
		if schema[i] == nil || (z.major == 1 && z.minor == 0 && i > tNestedClass) {
			continue
		}
		rows[i] = r
	}
	z.rows = &rows
	a, err := md.readRows(z, t.off+24+4*n+extraWord(z.heaps))
	if err != nil && z.heaps&heapExtraData != 0 {
		if b, err2 := md.readRows(z, t.off+24+4*n); err2 == nil {
			return b, nil
		}
	}
	return a, err
}

func extraWord(heaps byte) int64 {
	if heaps&heapExtraData != 0 {
		return 4
	}
	return 0
}

// readRows locates every table from start and reads the identity.
func (md *metadata) readRows(z *sizer, start int64) (*Assembly, error) {
	var offs [64]int64
	at := start
	for i := range 64 {
		offs[i] = at
		if z.rows[i] != 0 {
			at += int64(z.rows[i]) * z.rowSize(i)
		}
	}
	end := md.tables.off + md.tables.size
	if at > end {
		return nil, fmt.Errorf("tables need %d bytes, the stream holds %d", at-start, end-start)
	}
	if z.rows[tModule] == 0 || (md.strict && z.rows[tModule] != 1) {
		return nil, fmt.Errorf("%d Module rows", z.rows[tModule])
	}
	if z.rows[tAssembly] == 0 {
		return nil, fmt.Errorf("%w: no Assembly row", ErrNoAssembly)
	}
	if z.rows[tAssembly] > 1 {
		return nil, fmt.Errorf("%d Assembly rows", z.rows[tAssembly])
	}
	a := &Assembly{RuntimeVersion: md.version}

	mod, err := md.row(z, tModule, offs[tModule])
	if err != nil {
		return nil, fmt.Errorf("module row: %w", err)
	}
	if a.ModuleName, err = md.str(mod[1]); err != nil {
		return nil, fmt.Errorf("module name: %w", err)
	}
	if a.MVID, err = md.guid(mod[2]); err != nil {
		return nil, fmt.Errorf("module MVID: %w", err)
	}
	if md.strict && (a.MVID == "" || a.ModuleName == "") {
		return nil, errors.New("module row without name or MVID")
	}

	asm, err := md.row(z, tAssembly, offs[tAssembly])
	if err != nil {
		return nil, fmt.Errorf("assembly row: %w", err)
	}
	a.HashAlgID = asm[0]
	a.Version = fmt.Sprintf("%d.%d.%d.%d", asm[1], asm[2], asm[3], asm[4])
	a.Flags = asm[5]
	if a.PublicKey, err = md.blob(asm[6], maxPublicKeyLen); err != nil {
		return nil, fmt.Errorf("assembly public key: %w", err)
	}
	if a.Name, err = md.str(asm[7]); err != nil {
		return nil, fmt.Errorf("assembly name: %w", err)
	}
	if a.Culture, err = md.str(asm[8]); err != nil {
		return nil, fmt.Errorf("assembly culture: %w", err)
	}
	if a.Name == "" {
		return nil, errors.New("assembly row with an empty name")
	}
	if len(a.PublicKey) > 0 {
		a.PublicKeyToken = publicKeyToken(a.PublicKey)
	}
	return a, nil
}

// row decodes the first row of table t at off into column values.
func (md *metadata) row(z *sizer, t int, off int64) ([]uint32, error) {
	b, err := md.s.slice(off, z.rowSize(t))
	if err != nil {
		return nil, err
	}
	cols := z.columns(t)
	out := make([]uint32, len(cols))
	p := 0
	for i, c := range cols {
		if z.colSize(c) == 2 {
			out[i] = uint32(le16(b[p:]))
			p += 2
		} else {
			out[i] = le32(b[p:])
			p += 4
		}
	}
	return out, nil
}

// str reads #Strings entry idx: UTF-8, NUL-terminated inside the heap.
func (md *metadata) str(idx uint32) (string, error) {
	h := md.strs
	if int64(idx) >= h.size {
		return "", fmt.Errorf("string index %#x beyond #Strings of %d bytes", idx, h.size)
	}
	b, ok, err := md.s.cstring(h.off+int64(idx), min(maxNameLen+1, h.size-int64(idx)))
	if err != nil {
		return "", err
	}
	if !ok || len(b) > maxNameLen {
		return "", fmt.Errorf("string at %#x not terminated within %d bytes", idx, maxNameLen)
	}
	if !utf8.Valid(b) || hasControl(b) {
		return "", fmt.Errorf("string at %#x is not a name: %q", idx, b)
	}
	return string(b), nil
}

// guid reads #GUID entry idx (1-based; 0 is the null GUID, returned as "").
func (md *metadata) guid(idx uint32) (string, error) {
	if idx == 0 {
		return "", nil
	}
	h := md.guids
	if h == nil || int64(idx)*16 > h.size {
		return "", fmt.Errorf("GUID index %d beyond the #GUID heap", idx)
	}
	b, err := md.s.slice(h.off+int64(idx-1)*16, 16)
	if err != nil {
		return "", err
	}
	return fmt.Sprintf("%08x-%04x-%04x-%x-%x", le32(b), le16(b[4:]), le16(b[6:]), b[8:10], b[10:16]), nil
}

// blob reads #Blob entry idx with its compressed length (ECMA-335 II.24.2.4).
func (md *metadata) blob(idx uint32, limit int64) ([]byte, error) {
	if idx == 0 {
		return nil, nil
	}
	h := md.blobs
	if h == nil || int64(idx) >= h.size {
		return nil, fmt.Errorf("blob index %#x beyond the #Blob heap", idx)
	}
	p := h.off + int64(idx)
	b, err := md.s.slice(p, min(4, h.size-int64(idx)))
	if err != nil {
		return nil, err
	}
	var n, hl int64
	switch {
	case b[0]&0x80 == 0:
		n, hl = int64(b[0]), 1
	case b[0]&0xc0 == 0x80 && len(b) >= 2:
		n, hl = int64(b[0]&0x3f)<<8|int64(b[1]), 2
	case b[0]&0xe0 == 0xc0 && len(b) >= 4:
		n, hl = int64(b[0]&0x1f)<<24|int64(b[1])<<16|int64(b[2])<<8|int64(b[3]), 4
	default:
		return nil, fmt.Errorf("bad blob length at %#x", idx)
	}
	if n > limit || int64(idx)+hl+n > h.size {
		return nil, fmt.Errorf("blob of %d bytes at %#x beyond the #Blob heap or limit", n, idx)
	}
	data, err := md.s.slice(p+hl, n)
	if err != nil {
		return nil, err
	}
	return append([]byte(nil), data...), nil
}

// publicKeyToken is the last 8 bytes of the key's SHA-1, reversed
// (ECMA-335 II.6.2.1.3), as lower-case hex.
func publicKeyToken(key []byte) string {
	sum := sha1.Sum(key)
	tok := make([]byte, 8)
	for i := range 8 {
		tok[i] = sum[len(sum)-1-i]
	}
	return hex.EncodeToString(tok)
}

func printable(b []byte) bool {
	for _, c := range b {
		if c < 0x20 || c > 0x7e {
			return false
		}
	}
	return true
}

func hasControl(b []byte) bool {
	for _, c := range b {
		if c < 0x20 || c == 0x7f {
			return true
		}
	}
	return false
}
