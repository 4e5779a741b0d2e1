package untrusted

import (
	"testing"

	"github.com/stretchr/testify/assert"

	"github.com/modhunt/modhunt/tables/inventory"
)

func TestJudged(t *testing.T) {
	t.Parallel()
	p := &inventory.Process{Path: "/usr/bin/sleep"}
	for _, c := range []struct {
		m    inventory.Module
		want bool
	}{
		{inventory.Module{Path: "/usr/lib/x86_64-linux-gnu/libc.so.6", Executable: true}, true},
		{inventory.Module{Path: "/usr/lib/locale/locale-archive"}, false},
		{inventory.Module{Path: "/usr/bin/sleep", Executable: true, Exe: true}, false},
		// The program's path is not the program: a library can be made to
		// show it (a detached mount), and only the file decides.
		{inventory.Module{Path: "/usr/bin/sleep", Executable: true}, true},
		{inventory.Module{Path: "/usr/bin/sleep", Executable: true, Deleted: true}, true},
		{inventory.Module{Path: "/memfd:x", Executable: true, Memfd: true}, true},
		{inventory.Module{Path: "anon_inode:x", Executable: true}, false},
	} {
		assert.Equal(t, c.want, Judged(p, &c.m), "%+v", c.m)
	}
	self := &inventory.Process{Path: "/memfd:x", PathDeleted: true}
	assert.True(t, Judged(self, &inventory.Module{Path: "/memfd:x", Executable: true, Memfd: true, Deleted: true, Exe: true}),
		"a process running from a memfd is a fileless load")
}
