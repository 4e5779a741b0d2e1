package inventory

import (
	"fmt"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
)

// The intern table stays in the scratch pool between walks, and its keys
// are paths that any process chooses by what it maps: long ones must not
// keep tens of MiB alive, however few entries they are.
func TestInternBoundedInBytes(t *testing.T) {
	t.Parallel()
	s := newScratch(Config{}.withDefaults())
	long := strings.Repeat("p", 4000)
	for i := range 2000 {
		s.str(fmt.Appendf(nil, "/%d/%s.so", i, long))
		size := 0
		for k := range s.intern {
			size += len(k)
		}
		require.LessOrEqual(t, size, internMaxBytes+4096+16, "after %d paths", i+1)
	}
}
