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
		{inventory.Module{Path: "/usr/bin/sleep", Executable: true}, false},
		{inventory.Module{Path: "/usr/bin/sleep", Executable: true, Deleted: true}, true},
		{inventory.Module{Path: "/memfd:x", Executable: true, Memfd: true}, true},
		{inventory.Module{Path: "anon_inode:x", Executable: true}, false},
	} {
		assert.Equal(t, c.want, Judged(p, &c.m), "%+v", c.m)
	}
	self := &inventory.Process{Path: "/memfd:x", PathDeleted: true}
	assert.True(t, Judged(self, &inventory.Module{Path: "/memfd:x", Executable: true, Memfd: true, Deleted: true}),
		"a process running from a memfd is a fileless load")
}
