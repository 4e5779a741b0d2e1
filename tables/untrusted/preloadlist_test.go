package untrusted

import (
	"fmt"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
)

// The most distinct entries one environment variable can hold (execve caps
// it at 128 KiB) do not push a preload out of the list, and repeats cost
// nothing; the list is still bounded when fed more than the kernel allows.
func TestPreloadListEntriesAndBound(t *testing.T) {
	t.Parallel()
	var alphabet []byte
	for c := 1; c < 256; c++ {
		if !strings.ContainsRune(" :\t\n\r/$", rune(c)) {
			alphabet = append(alphabet, byte(c))
		}
	}
	var junk strings.Builder
	for i := range 32768 {
		junk.Write([]byte{'/', alphabet[i/182], alphabet[i%182], ':'}) // 3 bytes and a separator
	}
	assert.LessOrEqual(t, junk.Len(), 128<<10, "the junk fits one variable")

	var l preloadList
	l.addPreloadEnv(junk.String() + strings.Repeat("/tmp/x.so:", 1000) + "/tmp/evil.so")
	l.addAuditEnv(junk.String() + "libaudit.so")
	assert.False(t, l.cut)
	assert.True(t, l.matchName("/tmp/evil.so", false))
	assert.True(t, l.matchName("/usr/lib/libaudit.so", false))
	assert.False(t, l.matchName("/tmp/other.so", false))

	var big preloadList
	var more strings.Builder
	for i := range maxPreloadEntries + 10 {
		fmt.Fprintf(&more, "/j%d ", i)
	}
	big.addPreloadEnv(more.String())
	assert.True(t, big.cut)
	assert.Len(t, big.seen, maxPreloadEntries)
}
