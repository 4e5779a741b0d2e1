package spare

import (
	"runtime"
	"sync"
	"testing"

	"github.com/stretchr/testify/assert"
)

func TestOneKeepsOneSpareThroughCollections(t *testing.T) {
	t.Parallel()
	var o One[[]byte]
	assert.Nil(t, o.Get(), "empty at first")
	a, b := new([]byte), new([]byte)
	assert.True(t, o.Put(a))
	assert.False(t, o.Put(b), "one spare at most")
	assert.False(t, o.Put(nil))
	runtime.GC()
	runtime.GC() // a sync.Pool is empty by now
	assert.Same(t, a, o.Get())
	assert.Nil(t, o.Get(), "taken")
}

func TestOneHandsASpareToOneTakerAtATime(t *testing.T) {
	t.Parallel()
	var o One[int]
	o.Put(new(int))
	var wg sync.WaitGroup
	var mu sync.Mutex
	got := 0
	for range 8 {
		wg.Go(func() {
			for range 1000 {
				if v := o.Get(); v != nil {
					mu.Lock()
					got++
					mu.Unlock()
					*v++ // the race detector sees two holders
					o.Put(v)
				}
			}
		})
	}
	wg.Wait()
	assert.Positive(t, got)
}
