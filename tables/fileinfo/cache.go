package fileinfo

import (
	"slices"
	"sync"
)

// Defaults for a Cache's bounds.
const (
	DefaultMaxEntries = 4096
	DefaultMaxBytes   = 8 << 20
)

// entryOverhead is what one entry costs besides its strings: the map slot,
// the entry and its ID, rounded up.
const entryOverhead = 160

// Cache holds the facts known about files, one entry per file (Key), for
// the identity (ID) they were learned on: an entry whose file changed is
// dropped, never served. It is bounded in entries and in bytes (the facts'
// strings; later facts, PE strings and assembly names, can be long); when
// either bound is reached the least recently used half goes. Safe for
// concurrent use.
type Cache struct {
	mu         sync.Mutex
	maxEntries int
	maxBytes   int
	bytes      int
	tick       uint64
	m          map[Key]*entry
}

type entry struct {
	id    ID
	used  uint64
	bytes int
	typ   Type
	sum   string
	more  map[string]any
}

// New returns a cache of at most maxEntries entries and maxBytes bytes;
// 0 means the defaults.
func New(maxEntries, maxBytes int) *Cache {
	if maxEntries <= 0 {
		maxEntries = DefaultMaxEntries
	}
	if maxBytes <= 0 {
		maxBytes = DefaultMaxBytes
	}
	return &Cache{maxEntries: maxEntries, maxBytes: maxBytes, m: map[Key]*entry{}}
}

// Len is the number of files the cache knows something about.
func (c *Cache) Len() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return len(c.m)
}

// Bytes is what the cache's entries cost, as it counts them.
func (c *Cache) Bytes() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.bytes
}

// get returns id's entry, or nil; an entry of an older version of the file
// is dropped. c.mu is held.
func (c *Cache) get(id ID) *entry {
	e := c.m[id.Key]
	if e == nil {
		return nil
	}
	if e.id != id {
		c.drop(id.Key, e)
		return nil
	}
	c.tick++
	e.used = c.tick
	return e
}

// slot returns id's entry, making it (and room for it) when missing.
// c.mu is held.
func (c *Cache) slot(id ID) *entry {
	if e := c.get(id); e != nil {
		return e
	}
	c.makeRoom(entryOverhead)
	c.tick++
	e := &entry{id: id, used: c.tick, bytes: entryOverhead}
	c.m[id.Key] = e
	c.bytes += e.bytes
	return e
}

func (c *Cache) drop(k Key, e *entry) {
	delete(c.m, k)
	c.bytes -= e.bytes
}

// grow charges n more bytes to k's entry e, making room first (e itself
// may be evicted doing so, and is put back).
func (c *Cache) grow(k Key, e *entry, n int) {
	c.makeRoom(n)
	if c.m[k] != e {
		c.m[k] = e
		c.bytes += e.bytes
	}
	e.bytes += n
	c.bytes += n
}

// makeRoom evicts the least recently used half when one more entry or n
// more bytes would pass a bound. c.mu is held.
func (c *Cache) makeRoom(n int) {
	if len(c.m) < c.maxEntries && c.bytes+n <= c.maxBytes || len(c.m) == 0 {
		return
	}
	used := make([]uint64, 0, len(c.m))
	for _, e := range c.m {
		used = append(used, e.used)
	}
	slices.Sort(used)
	cut := used[len(used)/2]
	for k, e := range c.m {
		if e.used <= cut {
			c.drop(k, e)
		}
	}
}

// Type returns the file type known for id.
func (c *Cache) Type(id ID) (Type, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if e := c.get(id); e != nil && e.typ != "" {
		return e.typ, true
	}
	return "", false
}

// SetType records id's file type.
func (c *Cache) SetType(id ID, t Type) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.slot(id).typ = t
}

// SHA256 returns the sum known for id.
func (c *Cache) SHA256(id ID) (string, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if e := c.get(id); e != nil && e.sum != "" {
		return e.sum, true
	}
	return "", false
}

// SetSHA256 records id's sum.
func (c *Cache) SetSHA256(id ID, sum string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	e := c.slot(id)
	if e.sum == "" {
		c.grow(id.Key, e, len(sum))
	}
	e.sum = sum
}

// Fact names a kind of fact a later table adds (a PE version resource, an
// imphash, a signature, an assembly identity, a Mach-O header) with its Go
// type, so each is computed once per file identity and cached beside the
// others.
type Fact[T any] struct{ name string }

// NewFact returns the fact called name; names must be unique.
func NewFact[T any](name string) Fact[T] { return Fact[T]{name: name} }

// Get returns f for id, computing it the first time (compute also says
// how many bytes the value holds, for the cache's byte bound). An error is
// returned and not cached: the file may be readable next time.
func Get[T any](c *Cache, id ID, f Fact[T], compute func() (T, int, error)) (T, error) {
	c.mu.Lock()
	if e := c.get(id); e != nil {
		if v, ok := e.more[f.name]; ok {
			c.mu.Unlock()
			return v.(T), nil
		}
	}
	c.mu.Unlock()
	// Computed without the lock: a fact may read a file.
	v, n, err := compute()
	if err != nil {
		return v, err
	}
	if n > c.maxBytes/4 {
		return v, nil // too big to keep: it would push out everything else
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	e := c.slot(id)
	if e.more == nil {
		e.more = map[string]any{}
	}
	if _, ok := e.more[f.name]; !ok {
		c.grow(id.Key, e, n+len(f.name))
	}
	e.more[f.name] = v
	return v, nil
}
