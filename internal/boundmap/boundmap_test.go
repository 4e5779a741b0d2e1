package boundmap

import "testing"

// The map never holds more than its bound, forgets in insertion order, and
// an update keeps a key's place.
func TestBoundAndOrder(t *testing.T) {
	b := New[int, string](3)
	for i := range 3 {
		b.Put(i, "v")
	}
	b.Put(0, "updated") // keeps 0 oldest
	b.Put(3, "v")       // pushes out 0
	if _, ok := b.Get(0); ok {
		t.Error("0 kept past the bound")
	}
	b.Put(4, "v") // pushes out 1
	for k, want := range map[int]bool{1: false, 2: true, 3: true, 4: true} {
		if _, ok := b.Get(k); ok != want {
			t.Errorf("key %d held %v, want %v", k, ok, want)
		}
	}
	if b.Len() != 3 {
		t.Errorf("%d keys, bound 3", b.Len())
	}
	for i := range 1000 {
		b.Put(100+i, "v")
	}
	if b.Len() != 3 || len(b.order) != 3 {
		t.Errorf("after 1,000 more: %d keys, order of %d", b.Len(), len(b.order))
	}
	if v, ok := b.Get(1099); !ok || v != "v" {
		t.Error("the newest key is gone")
	}
}
