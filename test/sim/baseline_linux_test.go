package sim

import (
	"os"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestFromTests(t *testing.T) {
	t.Parallel()
	self, err := os.Executable()
	require.NoError(t, err)
	type proc struct {
		pid, ppid int
		exe       string
	}
	procs := []proc{
		{1, 0, "/sbin/init"},
		{10, 1, "/usr/sbin/sshd"},
		{20, 10, "/tmp/go-build123/b001/x.test"},
		{21, 20, "/usr/bin/sleep"},
		{22, 21, "/usr/bin/env"},
		{23, 20, "/usr/bin/python3"}, // started as a base interpreter
		{24, 99, "/usr/bin/sleep"},   // its parent exited
		{30, 1, "/usr/local/go/bin/go"},
		{31, 30, "/usr/bin/cat"},
		{40, 1, self},
		{41, 40, "/usr/bin/perl"},
	}
	byPID, fromTests := FromTests(t, map[int]bool{23: true}, procs, func(p proc) (int, int, string) { return p.pid, p.ppid, p.exe })
	assert.Len(t, byPID, len(procs))
	assert.Equal(t, "/usr/bin/env", byPID[22].exe)
	want := map[int]bool{1: false, 10: false, 20: true, 21: true, 22: true, 23: false, 24: false, 30: true, 31: true, 40: true, 41: true,
		99: true, // exited between the scan and the snapshot: cannot be judged
	}
	for pid, w := range want {
		assert.Equal(t, w, fromTests(pid), "pid %d", pid)
	}
}

func TestGoTooling(t *testing.T) {
	t.Parallel()
	assert.True(t, goTooling("/root/go/pkg/x.test", "/other"))
	assert.True(t, goTooling(os.Getenv("HOME")+"/go/bin/gopls", "/other"))
	assert.True(t, goTooling("/self", "/self"))
	assert.False(t, goTooling("/usr/bin/python3", "/self"))
	assert.False(t, goTooling("/usr/lib/gopher", "/self"))
}
