package loadsource

import (
	"bufio"
	"bytes"
	"strings"
	"testing"

	"github.com/modhunt/modhunt/internal/loadsource/loadtest"
)

// The kernel side keeps the paths it walked, per CPU, and takes a path
// from there only when the walk's steps still meet the same dentries with
// the same names. One process, on one CPU, loads a library again and again
// while the names on its path change: unchanged (from the cache), an
// ancestor renamed, the file renamed, its directory moved under another
// parent, the file renamed to a name of the same length, and a mount
// moved. Every load is named by the path it had then, through every way
// of seeing mmap, and the unchanged one was taken from the cache.
func TestPathCacheFollowsRenames(t *testing.T) {
	for _, w := range mmapWays {
		t.Run(w.name, func(t *testing.T) {
			c := startSource(t, w.cfg, false)
			before := c.src.Stats().PathsCached
			dir := t.TempDir()
			pid, out := loadtest.Run(t, mhload, nil, "renames", mhlib, dir)
			var want []string
			for sc := bufio.NewScanner(bytes.NewReader(out)); sc.Scan(); {
				if p, ok := strings.CutPrefix(sc.Text(), "load="); ok {
					want = append(want, p)
				}
			}
			if len(want) != 8 {
				t.Fatalf("mhload renames printed %d loads: %q", len(want), out)
			}
			c.wait(t, "the last load", func(e *Event) bool {
				return e.Kind == KindMmap && int(e.PID) == pid && string(e.Path) == want[len(want)-1]
			})
			c.settle(t)
			var got []string
			for _, e := range c.all() {
				if e.Kind == KindMmap && int(e.PID) == pid && e.Prot&protExec != 0 && strings.HasPrefix(string(e.Path), dir) {
					got = append(got, string(e.Path))
				}
			}
			if strings.Join(got, "\n") != strings.Join(want, "\n") {
				t.Errorf("loads named\n%s\nwant\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
			}
			if n := c.src.Stats().PathsCached - before; n == 0 {
				t.Errorf("no path was taken from the cache: the unchanged second load walked again")
			}
		})
	}
}
