package pkgindex

import (
	"context"
	"database/sql"
	"encoding/binary"
	"errors"
	"fmt"
	"net/url"
	"os"
	"path/filepath"
	"time"

	_ "modernc.org/sqlite" // the "sqlite" driver: rpm >= 4.16 keeps its database in SQLite

	"github.com/modhunt/modhunt/internal/safefile"
)

// RPMDatabases are where rpm keeps its SQLite database, relative to the
// root: /usr/lib/sysimage/rpm since Fedora 36 and openSUSE, /var/lib/rpm on
// RHEL 9. Older Berkeley DB ("Packages") and ndb ("Packages.db") formats
// are not read: that needs librpm or a BDB reader.
var RPMDatabases = []string{"usr/lib/sysimage/rpm/rpmdb.sqlite", "var/lib/rpm/rpmdb.sqlite"}

// rpm header tags and types (rpm's lib/rpmtag.h).
const (
	tagName        = 1000
	tagOldFilename = 1027
	tagDirIndexes  = 1116
	tagBaseNames   = 1117
	tagDirNames    = 1118

	typeInt32       = 4
	typeString      = 6
	typeStringArray = 8
	typeI18NString  = 9
)

// Bounds on one header, well above what real packages hold.
const (
	maxHeaderEntries = 1 << 16
	maxHeaderData    = 256 << 20
	rpmQueryTimeout  = 30 * time.Second
)

// rpmPackage is what the index needs from one header.
type rpmPackage struct {
	name  string
	files []string
}

// parseHeader reads the name and file list from an rpm header blob as the
// SQLite database stores it: entry count and data length (big-endian
// int32s), the index entries (tag, type, offset, count), then the data.
func parseHeader(blob []byte) (rpmPackage, error) {
	var p rpmPackage
	if len(blob) < 8 {
		return p, errors.New("header shorter than 8 bytes")
	}
	il, dl := binary.BigEndian.Uint32(blob), binary.BigEndian.Uint32(blob[4:])
	if il == 0 || il > maxHeaderEntries || dl > maxHeaderData {
		return p, fmt.Errorf("header claims %d entries and %d data bytes", il, dl)
	}
	start := 8 + int(il)*16
	if start+int(dl) > len(blob) {
		return p, fmt.Errorf("header of %d bytes cut short (wants %d)", len(blob), start+int(dl))
	}
	data := blob[start : start+int(dl)]
	var dirs, bases, old []string
	var idx []uint32
	for i := range int(il) {
		e := blob[8+i*16:]
		tag, typ := binary.BigEndian.Uint32(e), binary.BigEndian.Uint32(e[4:])
		off, cnt := binary.BigEndian.Uint32(e[8:]), binary.BigEndian.Uint32(e[12:])
		if off > uint32(len(data)) || cnt > uint32(len(data)) {
			return p, fmt.Errorf("tag %d: offset %d count %d outside %d data bytes", tag, off, cnt, len(data))
		}
		var err error
		switch {
		case tag == tagName && (typ == typeString || typ == typeI18NString):
			var names []string
			names, err = stringsAt(data, off, 1)
			if err == nil {
				p.name = names[0]
			}
		case tag == tagDirNames && typ == typeStringArray:
			dirs, err = stringsAt(data, off, cnt)
		case tag == tagBaseNames && typ == typeStringArray:
			bases, err = stringsAt(data, off, cnt)
		case tag == tagOldFilename && typ == typeStringArray:
			old, err = stringsAt(data, off, cnt)
		case tag == tagDirIndexes && typ == typeInt32:
			if int(off)+int(cnt)*4 > len(data) {
				return p, fmt.Errorf("dirindexes: %d entries at %d outside %d data bytes", cnt, off, len(data))
			}
			idx = make([]uint32, cnt)
			for j := range idx {
				idx[j] = binary.BigEndian.Uint32(data[int(off)+j*4:])
			}
		}
		if err != nil {
			return p, fmt.Errorf("tag %d: %w", tag, err)
		}
	}
	if p.name == "" {
		return p, errors.New("header has no package name")
	}
	if len(bases) != len(idx) {
		return p, fmt.Errorf("%s: %d basenames but %d dirindexes", p.name, len(bases), len(idx))
	}
	for i, b := range bases {
		if int(idx[i]) >= len(dirs) {
			return p, fmt.Errorf("%s: dirindex %d outside %d dirnames", p.name, idx[i], len(dirs))
		}
		p.files = append(p.files, dirs[idx[i]]+b)
	}
	p.files = append(p.files, old...)
	return p, nil
}

// stringsAt reads n NUL-terminated strings starting at off.
func stringsAt(data []byte, off, n uint32) ([]string, error) {
	out := make([]string, 0, n)
	pos := int(off)
	for range n {
		end := pos
		for end < len(data) && data[end] != 0 {
			end++
		}
		if end >= len(data) {
			return out, errors.New("string runs past the data")
		}
		out = append(out, string(data[pos:end]))
		pos = end + 1
	}
	return out, nil
}

// findRPM returns the rpm SQLite database under root, or "".
func findRPM(root string) string {
	for _, rel := range RPMDatabases {
		p := filepath.Join(root, rel)
		if st, err := os.Stat(p); err == nil && st.Mode().IsRegular() {
			return p
		}
	}
	return ""
}

// readRPM calls add for every package in the rpm database at file, read
// only: a live rpm transaction holds a write lock for moments, so a busy
// database is waited on briefly and then reported, never blocked on.
func readRPM(file string, add func(rpmPackage)) error {
	// SQLite opens the file by name, so the owner is checked on the name
	// first: the database decides which files are package-owned, and one
	// someone else could have written is refused like a dpkg list.
	if st, err := os.Stat(file); err != nil {
		return fmt.Errorf("rpm database %s: %w", file, err)
	} else if err := safefile.CheckTrusted(st); err != nil {
		return fmt.Errorf("rpm database %s: %w", file, err)
	}
	u := url.URL{Scheme: "file", Path: file, RawQuery: "mode=ro&_pragma=busy_timeout(2000)&_pragma=query_only(1)"}
	db, err := sql.Open("sqlite", u.String())
	if err != nil {
		return fmt.Errorf("rpm database %s: %w", file, err)
	}
	defer func() { _ = db.Close() }()
	ctx, cancel := context.WithTimeout(context.Background(), rpmQueryTimeout)
	defer cancel()
	rows, err := db.QueryContext(ctx, "SELECT blob FROM Packages")
	if err != nil {
		return fmt.Errorf("rpm database %s: %w", file, err)
	}
	defer func() { _ = rows.Close() }()
	var errs []error
	for rows.Next() {
		var blob []byte
		if err := rows.Scan(&blob); err != nil {
			return fmt.Errorf("rpm database %s: %w", file, err)
		}
		p, err := parseHeader(blob)
		if err != nil {
			if len(errs) < 5 {
				errs = append(errs, fmt.Errorf("rpm database %s: %w", file, err))
			}
			continue
		}
		add(p)
	}
	if err := rows.Err(); err != nil {
		errs = append(errs, fmt.Errorf("rpm database %s: %w", file, err))
	}
	return errors.Join(errs...)
}
