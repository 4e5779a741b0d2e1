// Package boundmap is a map that holds at most a fixed number of keys and
// forgets the one inserted longest ago to make room: the shape of every
// per-process cache fed by events, where a host's pids come and go without
// anyone saying so.
package boundmap

// Map is not safe for concurrent use; its owner locks around it.
type Map[K comparable, V any] struct {
	m     map[K]V
	order []K // insertion order, a ring of len max once full
	next  int // where the next key goes in order once it is full
	max   int
}

// New returns an empty map that holds at most n keys (at least one).
func New[K comparable, V any](n int) *Map[K, V] {
	n = max(n, 1)
	return &Map[K, V]{m: make(map[K]V, min(n, 256)), max: n}
}

// Get returns k's value.
func (b *Map[K, V]) Get(k K) (V, bool) {
	v, ok := b.m[k]
	return v, ok
}

// Put sets k's value. A new key past the bound pushes out the key inserted
// longest ago; setting a key already held keeps its place.
func (b *Map[K, V]) Put(k K, v V) {
	if _, ok := b.m[k]; !ok {
		if len(b.order) < b.max {
			b.order = append(b.order, k)
		} else {
			delete(b.m, b.order[b.next])
			b.order[b.next] = k
			b.next = (b.next + 1) % b.max
		}
	}
	b.m[k] = v
}

// Len is how many keys it holds.
func (b *Map[K, V]) Len() int { return len(b.m) }
