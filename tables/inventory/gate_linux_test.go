package inventory

import (
	"os"
	"strconv"
	"testing"

	"github.com/stretchr/testify/assert"
)

func TestEndsWithGate(t *testing.T) {
	t.Parallel()
	const gate = "ffffffffff600000-ffffffffff601000 --xp 00000000 00:00 0                  [vsyscall]\n"
	const lib = "7f0000000000-7f0000001000 r-xp 00000000 fe:00 42                         /usr/lib/libc.so.6\n"
	for data, want := range map[string]bool{
		lib + gate:      true,
		gate:            true,
		lib:             false,
		gate + lib:      false, // never printed so, but then not the end
		lib + gate[:60]: false, // the gate line cut by the buffer
		"":              false,
		lib + "7f0000001000-7f0000002000 r-xp 00000000 fe:00 43   /tmp/ffffffffff600000-ffffffffff601000  [vsyscall]\n": false,
		"ffffffffff600000-ffffffffff601000 r-xp 00000000 fe:00 44  /tmp/x [vsyscall]\n":                                 true, // a file named so at the gate's address: no process can map there
	} {
		assert.Equal(t, want, endsWithGate([]byte(data)), "%q", data)
	}
}

// TestOwnMapsEndWithGate checks the rule against this kernel: where a
// process's maps print the gate area at all, it is their last line, so a
// walk that stops there has read everything.
func TestOwnMapsEndWithGate(t *testing.T) {
	t.Parallel()
	data, err := os.ReadFile("/proc/" + strconv.Itoa(os.Getpid()) + "/maps")
	if err != nil {
		t.Skip(err)
	}
	if !endsWithGate(data) {
		assert.NotContains(t, string(data), " [vsyscall]\n", "the gate area is printed, but not last")
		t.Skip("this kernel prints no gate area (not x86-64, or vsyscall=none)")
	}
}
