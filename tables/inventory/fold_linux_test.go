package inventory

import (
	"context"
	"fmt"
	"strconv"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/modhunt/modhunt/tables/procmaps"
)

// foldRef is the folding of mappings into modules stated plainly: one
// module per file (device, inode) and name, in order of first mapping, its
// base the lowest start, its size the sum, its permissions the union.
type foldRef struct {
	path        string
	inode, size uint64
	base        uint64
	perms       procmaps.Perms
}

func refFold(t *testing.T, maps string) []foldRef {
	t.Helper()
	var out []foldRef
	at := map[string]int{}
	ms, errs := procmaps.ParseAll([]byte(maps))
	require.Empty(t, errs)
	for _, m := range ms {
		key := fmt.Sprintf("%s/%d/%s", m.Device, m.Inode, m.Path)
		i, ok := at[key]
		if !ok {
			i = len(out)
			at[key] = i
			out = append(out, foldRef{path: string(m.Path), inode: m.Inode, base: m.Start})
		}
		out[i].base = min(out[i].base, m.Start)
		out[i].size += m.Size()
		out[i].perms |= m.Perms
	}
	return out
}

// TestFoldingAtEveryModuleCount folds the same pattern of mappings (a
// file's mappings apart from each other, one file under two names, a name
// mapped again after many others) in processes of few and of many modules,
// on both sides of where addMapping stops searching in place and indexes:
// the modules must be the plain folding's.
func TestFoldingAtEveryModuleCount(t *testing.T) {
	t.Parallel()
	for _, fill := range []int{0, 5, linearModules - 3, linearModules - 1, linearModules, linearModules + 1, 3 * linearModules} {
		t.Run(strconv.Itoa(fill), func(t *testing.T) {
			t.Parallel()
			var b strings.Builder
			addr := uint64(0x7f0000000000)
			line := func(perms string, inode int, path string) {
				fmt.Fprintf(&b, "%x-%x %s 00000000 fe:00 %d                         %s\n", addr, addr+0x1000, perms, inode, path)
				addr += 0x2000
			}
			line("r--p", 7, "/lib/first.so")
			for i := range fill {
				line("r--p", 1000+i, fmt.Sprintf("/lib/fill%d.so", i))
				line("r-xp", 1000+i, fmt.Sprintf("/lib/fill%d.so", i))
			}
			// The first file again, far from its first mapping; then one
			// file under two names, interleaved.
			line("r-xp", 7, "/lib/first.so")
			line("r--p", 9, "/lib/linked.so")
			line("r--p", 9, "/lib/other-name.so")
			line("r-xp", 9, "/lib/linked.so")
			line("rw-p", 9, "/lib/other-name.so")
			for i := range fill {
				line("rw-p", 1000+i, fmt.Sprintf("/lib/fill%d.so", i))
			}
			maps := b.String()
			root := fakeRoot(t, map[int]fakeProc{42: {stat: "42 (p) S 1 0 0 0 -1 0\n", maps: maps, cmdline: "p\x00"}})
			procs, err := New(Config{ProcRoot: root}).Processes(context.Background(), nil)
			require.NoError(t, err)
			require.Len(t, procs, 1)
			want := refFold(t, maps)
			require.Len(t, procs[0].Modules, len(want))
			for i, w := range want {
				m := procs[0].Modules[i]
				assert.Equal(t, w.path, m.Path, "module %d", i)
				assert.Equal(t, w.inode, m.Linux.Inode, "module %d", i)
				assert.Equal(t, w.base, m.Base, "module %d", i)
				assert.Equal(t, w.size, m.Size, "module %d", i)
				assert.Equal(t, w.perms.String(), m.Linux.Perms, "module %d", i)
				assert.Equal(t, "fe:00", m.Linux.Device, "module %d", i)
			}
		})
	}
}
