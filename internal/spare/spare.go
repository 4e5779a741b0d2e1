// Package spare keeps a scan's scratch memory for the next scan across
// garbage collections.
//
// sync.Pool empties itself over two collections. A host-sized scan that
// allocates its buffers anew after each collection allocates enough to
// bring on the next one: in an extension whose live heap is a few MiB
// (its collector's goal is then the 4 MiB minimum), the buffers of one
// process_loaded_modules scan, dropped from their pools at every
// collection, made the extension collect twice per scan. One spare per
// kind of buffer, kept until it is taken, breaks that cycle; concurrent
// scans beyond the first allocate as before.
package spare

import "sync/atomic"

// One holds at most one spare *T. The zero One is empty and ready to use;
// it is safe for concurrent use.
type One[T any] struct {
	v atomic.Pointer[T]
}

// Get takes the spare, or returns nil when there is none.
func (o *One[T]) Get() *T { return o.v.Swap(nil) }

// Put offers v as the spare and reports whether it was kept: it is not
// when another spare already is.
func (o *One[T]) Put(v *T) bool { return v != nil && o.v.CompareAndSwap(nil, v) }
