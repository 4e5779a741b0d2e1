// Package pkgindex answers "which package owns this file?" for the files a
// process maps, from the package databases read directly: dpkg's
// /var/lib/dpkg/info/*.list (and its diversions), and rpm's SQLite database
// (rpm >= 4.16) through the pure-Go modernc.org/sqlite. Nothing is shelled
// out, and no cgo.
//
// The index is built once, kept as the sorted keyed hashes of the canonical
// paths with interned package names (12 bytes a file, where the paths
// themselves took 60 and their map twice that while building), and rebuilt
// when the database's modification times change.
package pkgindex

import (
	"cmp"
	"errors"
	"fmt"
	"hash/maphash"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"sync/atomic"

	"github.com/modhunt/modhunt/internal/safefile"
)

// Bounds on what one database file may hold. The biggest .list on a
// desktop Debian (google-cloud-cli) is about 4 MB.
const (
	maxListBytes      = 64 << 20
	maxDiversionBytes = 4 << 20
)

// Index is an immutable snapshot of path ownership. A path is kept as its
// 64-bit hash under a seed chosen when the index is built, so nobody can
// pick a path whose hash is a packaged file's: two of the index's paths, or
// a looked-up path and an indexed one, share a hash with a chance of about
// one in 10^14 on a host of 100,000 packaged files.
type Index struct {
	seed  maphash.Seed
	keys  []uint64 // sorted hashes of canonical paths
	owner []uint32 // owner[i] indexes names
	names []string
	// Known is false when no package database was found: then nobody can
	// say a file is not package-owned.
	Known bool
	// Packages and Paths count what was read, for logs and benchmarks.
	Packages int
}

// Paths returns how many file paths the index holds.
func (ix *Index) Paths() int { return len(ix.keys) }

// lookup finds the owner of an already canonical path.
func (ix *Index) lookup(p string) (string, bool) {
	if i, ok := slices.BinarySearch(ix.keys, maphash.String(ix.seed, p)); ok {
		return ix.names[ix.owner[i]], true
	}
	return "", false
}

// Build reads the package databases under root ("/" on a live host) and
// indexes them: dpkg's lists and diversions, and rpm's SQLite database
// where there is one. A missing database is not an error; with none at all
// the index is empty and not Known.
func Build(root string) (*Index, error) {
	b := builder{res: newResolver(root), seed: maphash.MakeSeed(), diverted: map[string]bool{}, dirs: map[uint64]struct{}{}}
	var errs []error
	known := false

	info := filepath.Join(root, "var/lib/dpkg/info")
	entries, err := os.ReadDir(info)
	var divs []diversion
	switch {
	case errors.Is(err, fs.ErrNotExist):
	case err != nil:
		errs = append(errs, fmt.Errorf("dpkg database: %w", err))
	default:
		known = true
		var derr error
		divs, derr = readDiversions(filepath.Join(root, "var/lib/dpkg/diversions"))
		if derr != nil {
			errs = append(errs, derr)
		}
		for _, d := range divs {
			b.diverted[b.res.canonical(d.from)] = true
		}
		for _, e := range entries {
			name, ok := strings.CutSuffix(e.Name(), ".list")
			if !ok || !e.Type().IsRegular() {
				continue
			}
			if err := b.readList(filepath.Join(info, e.Name()), pkgName(name)); err != nil {
				errs = append(errs, err)
			}
		}
		b.applyDiversions(divs)
	}

	if db := findRPM(root); db != "" {
		read := 0
		err := readRPM(db, func(p rpmPackage) {
			read++
			id := b.intern(p.name)
			for _, f := range p.files {
				if c := b.res.canonical(f); c != "/" {
					b.add(c, id)
				}
			}
		})
		if err != nil {
			errs = append(errs, err)
		}
		// An rpm database that could not be read at all must not make every
		// file look unowned.
		known = known || read > 0
	}

	ix := b.finish()
	ix.Known = known
	return ix, errors.Join(errs...)
}

// pkgName drops dpkg's ":arch" suffix (libc6:amd64): policies and people
// name packages without it.
func pkgName(listName string) string {
	if i := strings.IndexByte(listName, ':'); i > 0 {
		return listName[:i]
	}
	return listName
}

type builder struct {
	res  *resolver
	seed maphash.Seed
	// entries are the listed paths in the order read: the first package
	// to list a path owns it, as dpkg's own lists are read.
	entries []entry
	// dirs holds the hash of every directory above a listed path: a
	// directory is listed too, and no mapped file is ever one.
	dirs     map[uint64]struct{}
	names    []string
	ids      map[string]uint32
	diverted map[string]bool
	// divOwners remembers every package listing a diverted path, since the
	// diversion decides which of them owns which file.
	divOwners map[string][]uint32
	// divert is what the diversions decide, applied over the lists.
	divert map[uint64]diverted
}

type entry struct {
	key   uint64
	owner uint32
}

// diverted is a diversion's verdict on one path: its owner, or none.
type diverted struct {
	owner uint32
	gone  bool
}

func (b *builder) intern(name string) uint32 {
	if b.ids == nil {
		b.ids = map[string]uint32{}
	}
	if id, ok := b.ids[name]; ok {
		return id
	}
	id := uint32(len(b.names))
	b.names = append(b.names, name)
	b.ids[name] = id
	return id
}

func (b *builder) key(p string) uint64 { return maphash.String(b.seed, p) }

// add records that package id lists the canonical path p, and p's
// directories as directories. A directory already seen has its own
// directories recorded, so the walk up stops there.
func (b *builder) add(p string, id uint32) {
	b.entries = append(b.entries, entry{b.key(p), id})
	for d := path.Dir(p); d != "/"; d = path.Dir(d) {
		k := b.key(d)
		if _, ok := b.dirs[k]; ok {
			break
		}
		b.dirs[k] = struct{}{}
	}
}

func (b *builder) readList(file, pkg string) error {
	data, err := readBounded(file, maxListBytes)
	if err != nil {
		return err
	}
	id := b.intern(pkg)
	// Lines are slices of one string per file, and canonical returns them
	// unchanged when no link is on the way; each is hashed and let go.
	text := string(data)
	for line := range strings.SplitSeq(text, "\n") {
		if len(line) == 0 || line[0] != '/' {
			continue
		}
		p := b.res.canonical(line)
		if p == "/" {
			continue // every list starts with "/."
		}
		if b.diverted[p] {
			if b.divOwners == nil {
				b.divOwners = map[string][]uint32{}
			}
			b.divOwners[p] = append(b.divOwners[p], id)
		}
		b.add(p, id)
	}
	return nil
}

type diversion struct{ from, to, by string }

// readDiversions parses dpkg's diversions file: triples of lines (the
// diverted path, where the package's file went, the diverting package or
// ":" for a local diversion).
func readDiversions(file string) ([]diversion, error) {
	data, err := readBounded(file, maxDiversionBytes)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	lines := strings.Split(strings.TrimRight(string(data), "\n"), "\n")
	if len(lines)%3 != 0 {
		return nil, fmt.Errorf("%s: %d lines, want triples", file, len(lines))
	}
	out := make([]diversion, 0, len(lines)/3)
	for i := 0; i < len(lines); i += 3 {
		out = append(out, diversion{from: lines[i], to: lines[i+1], by: lines[i+2]})
	}
	return out, nil
}

// applyDiversions: the diverted package's file now lives at "to"; "from"
// holds the diverting package's file, or the admin's for a local one.
func (b *builder) applyDiversions(divs []diversion) {
	for _, d := range divs {
		from, to := b.res.canonical(d.from), b.res.canonical(d.to)
		var orig, by uint32
		haveOrig, haveBy := false, false
		for _, id := range b.divOwners[from] {
			if b.names[id] == d.by {
				by, haveBy = id, true
			} else if !haveOrig {
				orig, haveOrig = id, true
			}
		}
		if b.divert == nil {
			b.divert = map[uint64]diverted{}
		}
		if haveOrig {
			b.divert[b.key(to)] = diverted{owner: orig}
		}
		switch {
		case haveBy:
			b.divert[b.key(from)] = diverted{owner: by}
		case d.by == ":":
			b.divert[b.key(from)] = diverted{gone: true}
		}
	}
}

func (b *builder) finish() *Index {
	// A diversion's owner wins over every listing of its path: its entry
	// goes first, and a stable sort keeps it first among equal keys, as it
	// keeps the listings in the order read.
	es := make([]entry, 0, len(b.divert)+len(b.entries))
	for k, d := range b.divert {
		if !d.gone {
			es = append(es, entry{k, d.owner})
		}
	}
	es = append(es, b.entries...)
	b.entries = nil
	slices.SortStableFunc(es, func(x, y entry) int { return cmp.Compare(x.key, y.key) })
	ix := &Index{seed: b.seed, Packages: len(b.names), names: b.names}
	for _, e := range es {
		if n := len(ix.keys); n > 0 && ix.keys[n-1] == e.key {
			continue // the first listing (or the diversion) owns it
		}
		if _, dir := b.dirs[e.key]; dir {
			continue
		}
		if d, ok := b.divert[e.key]; ok && d.gone {
			continue
		}
		ix.keys = append(ix.keys, e.key)
		ix.owner = append(ix.owner, e.owner)
	}
	ix.keys, ix.owner = slices.Clip(ix.keys), slices.Clip(ix.owner)
	return ix
}

// readBounded reads a regular file of at most limit bytes without ever
// opening something that could block (a FIFO).
func readBounded(file string, limit int64) ([]byte, error) {
	// The package database decides which files are package-owned (and so
	// which an allow_modules package entry covers): a list someone else
	// could have written is refused.
	data, err := safefile.ReadTrusted(file, limit, true)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", file, err)
	}
	return data, nil
}

// DB is the live index: Owner answers from the current snapshot, Refresh
// rebuilds it when the database changed.
type DB struct {
	root  string
	mu    sync.Mutex // serialises rebuilds
	ix    atomic.Pointer[Index]
	stamp string
	res   *resolver
	err   error
}

// Open returns a DB over root's package databases; the index is built on
// the first Refresh.
func Open(root string) *DB {
	return &DB{root: root, res: newResolver(root)}
}

// stampOf summarises the databases' modification times: dpkg rewrites
// info/ (a .list added or removed), status and diversions on every change;
// rpm writes its SQLite file or its write-ahead log.
func (db *DB) stampOf() string {
	var b strings.Builder
	files := []string{"var/lib/dpkg/info", "var/lib/dpkg/status", "var/lib/dpkg/diversions"}
	for _, db := range RPMDatabases {
		files = append(files, db, db+"-wal")
	}
	for _, f := range files {
		if st, err := os.Stat(filepath.Join(db.root, f)); err == nil {
			fmt.Fprintf(&b, "%d/%d;", st.ModTime().UnixNano(), st.Size())
		} else {
			b.WriteString("-;")
		}
	}
	return b.String()
}

// Refresh rebuilds the index if the database changed since the last build
// (or was never built). It returns the build's problems, if any; the index
// keeps whatever could be read.
func (db *DB) Refresh() error {
	db.mu.Lock()
	defer db.mu.Unlock()
	stamp := db.stampOf()
	if db.ix.Load() != nil && stamp == db.stamp {
		return db.err
	}
	ix, err := Build(db.root)
	db.ix.Store(ix)
	db.stamp, db.err = stamp, err
	db.res = newResolver(db.root) // symlinks may have changed with the packages
	return err
}

// Index returns the current snapshot (nil before the first Refresh).
func (db *DB) Index() *Index { return db.ix.Load() }

// Owner returns the package owning file (a path as the kernel shows it),
// and whether any package database is known at all.
func (db *DB) Owner(file string) (pkg string, known bool) {
	ix := db.ix.Load()
	if ix == nil || !ix.Known {
		return "", false
	}
	db.mu.Lock()
	p := db.res.canonical(file)
	db.mu.Unlock()
	pkg, _ = ix.lookup(p)
	return pkg, true
}

// resolver canonicalises paths the way the kernel shows them: symlinks in
// the directory part are resolved (usrmerge makes /lib a link to usr/lib),
// the last component is kept. It never leaves root: an absolute link target
// is taken relative to root.
type resolver struct {
	root  string
	cache map[string]string
	size  int // bytes of the cache's keys and values
}

func newResolver(root string) *resolver {
	return &resolver{root: root, cache: map[string]string{}}
}

const maxLinks = 40

// maxResolverCache bounds the directory cache: a Debian desktop's lists
// hold about 15,000 distinct directories.
const maxResolverCache = 1 << 16

// maxResolverBytes bounds the same cache by size: the directories come from
// paths processes map, and one ancestor entry per component of a path near
// PATH_MAX would otherwise let 1<<16 entries hold hundreds of MiB. Those
// lists' directories take about 1.5 MiB.
const maxResolverBytes = 8 << 20

func (r *resolver) canonical(p string) string {
	p = path.Clean(p)
	i := strings.LastIndexByte(p, '/')
	if i <= 0 {
		return p
	}
	d := r.dir(p[:i])
	if d == p[:i] {
		return p // no link on the way: the common case costs no allocation
	}
	return d + p[i:]
}

// dir resolves every component of an absolute directory path.
func (r *resolver) dir(d string) string {
	hops := 0
	return r.dirHops(d, &hops)
}

// dirHops is dir with one link budget for the whole resolution, as the
// kernel counts it: a link whose target runs back through itself (a ->
// a/b/c) recurses through dirHops, and without a shared budget would never
// stop.
func (r *resolver) dirHops(d string, hops *int) string {
	if c, ok := r.cache[d]; ok {
		return c
	}
	if len(r.cache) >= maxResolverCache || r.size >= maxResolverBytes {
		// Lookups come from whatever directories processes map files from;
		// a host full of them must not grow this without bound.
		clear(r.cache)
		r.size = 0
	}
	parent, base := path.Split(d)
	parent = path.Clean(parent)
	resolved := "/"
	if parent != "/" {
		resolved = r.dirHops(parent, hops)
	}
	cur := path.Join(resolved, base)
	for *hops < maxLinks {
		target, err := os.Readlink(filepath.Join(r.root, cur))
		if err != nil {
			break // not a link, or gone: keep it lexically
		}
		*hops++
		if path.IsAbs(target) {
			cur = path.Clean(target)
		} else {
			cur = path.Join(path.Dir(cur), target)
		}
		// The target may itself pass through links in its directory part.
		if dp := path.Dir(cur); dp != "/" {
			cur = path.Join(r.dirHops(dp, hops), path.Base(cur))
		}
	}
	// d is a slice of the caller's path: a copy keeps the cache from
	// holding whole lines or list files alive, and its size honest.
	r.cache[strings.Clone(d)] = cur
	r.size += len(d) + len(cur)
	return cur
}
