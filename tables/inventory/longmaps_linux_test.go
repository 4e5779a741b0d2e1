package inventory

import (
	"context"
	"fmt"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"golang.org/x/sys/unix"
)

func mapsLine(start uint64, inode int, path string) string {
	return fmt.Sprintf("%012x-%012x r-xp 00000000 fe:00 %-26d%s\n", start, start+0x1000, inode, path)
}

func deepPath(n int) string {
	var b strings.Builder
	for b.Len() < n {
		b.WriteString("/" + strings.Repeat("d", 250))
	}
	return b.String()[:n]
}

func walkOne(t *testing.T, maps string) Process {
	t.Helper()
	root := fakeRoot(t, map[int]fakeProc{
		100: {stat: "100 (long) S 1 100 100 0 -1 0\n", maps: maps, cmdline: "long\x00", exe: "/nonexistent/long"},
	})
	procs, err := New(Config{ProcRoot: root}).Processes(context.Background(), nil)
	require.NoError(t, err)
	require.Len(t, procs, 1)
	return procs[0]
}

// A maps line of any length is parsed: one far longer than the read buffer
// (75,000 bytes) whole, and one longer than MaxMapsLine with its fixed
// fields and the head of its path, marked truncated; neither hides the
// lines after it, and each file's mappings fold into one module.
func TestLongMapsLines(t *testing.T) {
	t.Parallel()
	long := deepPath(75000) + "/libdeep.so"
	huge := deepPath(2<<20) + "/libhuge.so"
	maps := mapsLine(0x7f0000000000, 1, "/lib/a.so") +
		mapsLine(0x7f0000010000, 2, long) +
		mapsLine(0x7f0000011000, 2, long) +
		mapsLine(0x7f0000020000, 3, huge) +
		mapsLine(0x7f00000210000, 3, huge) + // a wider address moves where the cut falls
		mapsLine(0x7f0000030000, 4, "/lib/d.so")
	p := walkOne(t, maps)
	var paths []string
	for _, m := range p.Modules {
		paths = append(paths, m.Path[:min(len(m.Path), 40)])
	}
	require.Len(t, p.Modules, 4, "%q", paths)
	assert.Equal(t, "/lib/a.so", p.Modules[0].Path)
	assert.Equal(t, long, p.Modules[1].Path)
	assert.False(t, p.Modules[1].PathTruncated)
	assert.Equal(t, uint64(0x2000), p.Modules[1].Size)
	assert.Equal(t, "libdeep.so", p.Modules[1].Name)
	h := p.Modules[2]
	assert.True(t, h.PathTruncated)
	assert.Len(t, h.Path, truncatedPath)
	assert.Equal(t, huge[:truncatedPath], h.Path)
	assert.Equal(t, uint64(3), h.Linux.Inode)
	assert.Equal(t, uint64(0x7f0000020000), h.Base)
	assert.Equal(t, uint64(0x2000), h.Size, "both mappings of the file fold into one module")
	assert.Equal(t, "/lib/d.so", p.Modules[3].Path)
}

// A process's module paths are kept whole up to pathBudget; past it, a
// path longer than PATH_MAX is cut to PATH_MAX, so that tens of thousands
// of deep paths cannot make one process cost gigabytes.
func TestPathBudget(t *testing.T) {
	t.Parallel()
	var maps strings.Builder
	n := pathBudget/1_000_000 + 2
	for i := range n {
		path := deepPath(1_000_000) + fmt.Sprintf("/lib%02d.so", i)
		maps.WriteString(mapsLine(0x7f0000000000+uint64(i)*0x10000, 10+i, path))
		maps.WriteString(mapsLine(0x7f0000001000+uint64(i)*0x10000, 10+i, path))
		maps.WriteString(mapsLine(0x7e0000000000+uint64(i)*0x10000, 1000+i, fmt.Sprintf("/lib/short%02d.so", i)))
	}
	p := walkOne(t, maps.String())
	require.Len(t, p.Modules, 2*n)
	whole, cut := 0, 0
	for _, m := range p.Modules {
		if strings.HasPrefix(m.Path, "/lib/short") {
			assert.False(t, m.PathTruncated, m.Path)
			continue
		}
		assert.Equal(t, uint64(0x2000), m.Size, "both mappings fold, cut or not")
		if m.PathTruncated {
			cut++
			assert.Len(t, m.Path, unix.PathMax)
		} else {
			whole++
			assert.Greater(t, len(m.Path), 1_000_000)
		}
	}
	assert.Equal(t, pathBudget/1_000_001, whole)
	assert.Equal(t, n-whole, cut)
}
