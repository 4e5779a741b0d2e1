package pefacts

import (
	"errors"
	"fmt"
	"strings"
	"unicode/utf16"
)

const (
	rtVersion         = 16
	maxResEntries     = 4096 // per directory; only scanned, never recursed
	maxVersionBlobLen = 64 << 10
)

// versionInfo reads the VS_VERSIONINFO resource. saferwall's version
// parser is not used: it merges every string table into one map (the last
// language wins), reads only the first table of a StringFileInfo, ignores
// VarFileInfo\Translation, and its resource-tree walk can revisit shared
// subdirectories without bound. This walks only the three levels the
// loader's FindResource walks, without recursion.
//
// It returns nil, nil when the file has no version resource.
func (img *image) versionInfo() (*VersionInfo, error) {
	dir, ok := img.dir(dirResource)
	if !ok || dir.VirtualAddress == 0 {
		return nil, nil
	}
	root := dir.VirtualAddress
	typ, found, err := img.resEntry(root, func(id uint32, named bool, _ int) int {
		if !named && id == rtVersion {
			return 0
		}
		return -1
	})
	if err != nil || !found {
		return nil, err
	}
	if typ&0x80000000 == 0 {
		return nil, errors.New("RT_VERSION entry is not a directory")
	}
	// The version resource is name 1 (VS_VERSION_INFO); take the first
	// entry if there is no 1.
	name, found, err := img.resEntry(root+typ&0x7fffffff, func(id uint32, named bool, i int) int {
		switch {
		case !named && id == 1:
			return 0
		case i == 0:
			return 2
		}
		return -1
	})
	if err != nil || !found {
		return nil, err
	}
	if name&0x80000000 == 0 {
		return nil, errors.New("version resource name entry is not a directory")
	}
	// The language FindResource picks on an en-US system: neutral, then
	// en-US, then the first.
	lang, found, err := img.resEntry(root+name&0x7fffffff, func(id uint32, named bool, i int) int {
		switch {
		case !named && id == 0:
			return 0
		case !named && id == 0x409:
			return 1
		case i == 0:
			return 2
		}
		return -1
	})
	if err != nil || !found {
		return nil, err
	}
	if lang&0x80000000 != 0 {
		return nil, errors.New("version resource language entry is a directory")
	}
	de, err := img.at(root+lang, 16)
	if err != nil {
		return nil, fmt.Errorf("data entry: %w", err)
	}
	rva, size := le32(de), min(le32(de[4:]), maxVersionBlobLen)
	n, err := img.extent(rva, size)
	if err != nil {
		return nil, fmt.Errorf("version data: %w", err)
	}
	blob, err := img.at(rva, n)
	if err != nil {
		return nil, fmt.Errorf("version data: %w", err)
	}
	return parseVersionBlob(blob)
}

// resEntry scans the resource directory at dirRVA and returns the
// OffsetToData of the entry pick ranks best (lowest rank >= 0; rank 0
// stops the scan). found is false when no entry ranked.
func (img *image) resEntry(dirRVA uint32, pick func(id uint32, named bool, i int) int) (data uint32, found bool, err error) {
	hdr, err := img.at(dirRVA, 16)
	if err != nil {
		return 0, false, fmt.Errorf("resource directory: %w", err)
	}
	n := int(le16(hdr[12:])) + int(le16(hdr[14:]))
	if n > maxResEntries {
		return 0, false, fmt.Errorf("resource directory with %d entries", n)
	}
	best := -1
	for i := range n {
		e, err := img.at(dirRVA+16+uint32(i)*8, 8)
		if err != nil {
			return 0, false, fmt.Errorf("resource directory entry: %w", err)
		}
		nameField := le32(e)
		r := pick(nameField&0x7fffffff, nameField&0x80000000 != 0, i)
		if r >= 0 && (best < 0 || r < best) {
			best, data, found = r, le32(e[4:]), true
			if r == 0 {
				break
			}
		}
	}
	return data, found, nil
}

// verBlock is one node of the VS_VERSIONINFO tree (a VS_VERSIONINFO,
// StringFileInfo, StringTable, String, VarFileInfo or Var structure).
type verBlock struct {
	key      string
	valueLen int    // wValueLength
	value    []byte // wValueLength worth of value after the aligned key
	rest     []byte // from the aligned key to the block end: a String's text, cut at its NUL
	children []byte // the block's children, a sequence of verBlocks
	childOff int    // offset of children in the blob, for alignment
}

// readBlock decodes the block at off in blob; next is where its sibling
// starts. Offsets are aligned to 32 bits relative to the blob, which the
// resource data itself is.
func readBlock(blob []byte, off int) (blk verBlock, next int, err error) {
	if off+6 > len(blob) {
		return blk, 0, errTruncated
	}
	length := int(le16(blob[off:]))
	if length < 6 {
		return blk, 0, fmt.Errorf("version block of length %d", length)
	}
	end := min(off+length, len(blob))
	blk.valueLen = int(le16(blob[off+2:]))
	typ := le16(blob[off+4:])
	p := off + 6
	var key []uint16
	for ; p+2 <= end; p += 2 {
		c := le16(blob[p:])
		if c == 0 {
			p += 2
			break
		}
		key = append(key, c)
	}
	blk.key = string(utf16.Decode(key))
	p = min(align4(p), end)
	n := blk.valueLen
	if typ == 1 {
		n *= 2 // text values count WORDs
	}
	valEnd := min(p+n, end)
	blk.value = blob[p:valEnd]
	blk.rest = blob[p:end]
	c := min(align4(valEnd), end)
	blk.children, blk.childOff = blob[c:end], c
	return blk, align4(off + length), nil
}

func align4(n int) int { return (n + 3) &^ 3 }

// eachChild calls fn for every child block of blk, stopping when fn
// returns false.
func eachChild(blob []byte, blk verBlock, fn func(verBlock) bool) error {
	end := blk.childOff + len(blk.children)
	for off := blk.childOff; off+6 <= end; {
		child, next, err := readBlock(blob[:end], off)
		if err != nil {
			return err
		}
		if !fn(child) {
			return nil
		}
		off = next
	}
	return nil
}

// parseVersionBlob picks the string table as Windows' own readers do
// (.NET's FileVersionInfo, which mimics Explorer): the first entry of
// VarFileInfo\Translation (040904e4 when there is none), then 040904b0,
// 040904e4 and 04090000. When none of those exists, it falls back to the
// first string table in the resource rather than reporting nothing.
func parseVersionBlob(blob []byte) (*VersionInfo, error) {
	root, _, err := readBlock(blob, 0)
	if err != nil {
		return nil, err
	}
	if root.key != "VS_VERSION_INFO" {
		return nil, fmt.Errorf("version resource key %q, want VS_VERSION_INFO", root.key)
	}
	v := &VersionInfo{}
	if len(root.value) >= 52 && le32(root.value) == 0xfeef04bd {
		ms, ls := le32(root.value[8:]), le32(root.value[12:])
		v.FixedFileVersion = fmt.Sprintf("%d.%d.%d.%d", ms>>16, ms&0xffff, ls>>16, ls&0xffff)
	}
	var tables []verBlock
	var translations []string
	err = eachChild(blob, root, func(c verBlock) bool {
		switch {
		case strings.EqualFold(c.key, "StringFileInfo"):
			_ = eachChild(blob, c, func(t verBlock) bool {
				tables = append(tables, t)
				return true
			})
		case strings.EqualFold(c.key, "VarFileInfo"):
			_ = eachChild(blob, c, func(vb verBlock) bool {
				if strings.EqualFold(vb.key, "Translation") {
					for i := 0; i+4 <= len(vb.value); i += 4 {
						translations = append(translations, fmt.Sprintf("%04x%04x", le16(vb.value[i:]), le16(vb.value[i+2:])))
					}
				}
				return true
			})
		}
		return true
	})
	if err != nil {
		return nil, err
	}
	first := "040904e4"
	if len(translations) > 0 {
		first = translations[0]
	}
	var table *verBlock
	for _, want := range []string{first, "040904b0", "040904e4", "04090000"} {
		for i := range tables {
			if strings.EqualFold(tables[i].key, want) {
				table = &tables[i]
				break
			}
		}
		if table != nil {
			break
		}
	}
	if table == nil && len(tables) > 0 {
		table = &tables[0]
	}
	if table == nil {
		return v, nil
	}
	v.Translation = strings.ToLower(table.key)
	fields := map[string]*string{
		"originalfilename": &v.OriginalFileName,
		"companyname":      &v.CompanyName,
		"productname":      &v.ProductName,
		"filedescription":  &v.FileDescription,
		"fileversion":      &v.FileVersion,
		"productversion":   &v.ProductVersion,
	}
	set := map[string]bool{}
	err = eachChild(blob, *table, func(s verBlock) bool {
		k := strings.ToLower(s.key)
		if dst, ok := fields[k]; ok && !set[k] {
			*dst, set[k] = utf16String(s.rest), true
		}
		return true
	})
	return v, err
}

// utf16String decodes little-endian UTF-16 up to the first NUL.
func utf16String(b []byte) string {
	u := make([]uint16, 0, len(b)/2)
	for i := 0; i+2 <= len(b); i += 2 {
		c := le16(b[i:])
		if c == 0 {
			break
		}
		u = append(u, c)
	}
	return string(utf16.Decode(u))
}
