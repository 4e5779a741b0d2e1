package loadsource

import (
	"bufio"
	"bytes"
	"fmt"
	"strings"
	"testing"

	"github.com/modhunt/modhunt/internal/loadsource/loadtest"
)

// The kernel side keeps the paths it walked, per CPU, and takes a path
// from there only when the walk's steps still meet the same dentries with
// the same names. One process, on one CPU, loads a library again and again
// while the names on its path change: unchanged three times, an ancestor
// renamed, the file renamed, its directory moved under another parent, the
// file renamed to a name of the same length, on a new mount, and that
// mount moved. Every load is named by the path it had then, through every
// way of seeing mmap; every load after a change was walked again, and an
// unchanged reload came from the cache (three tries: another walk on that
// CPU can take the slot in between).
func TestPathCacheFollowsRenames(t *testing.T) {
	for _, w := range mmapWays {
		t.Run(w.name, func(t *testing.T) {
			c := startSource(t, w.cfg, false)
			dir := t.TempDir()
			pid, out := loadtest.Run(t, mhload, nil, "renames", mhlib, dir)
			var want []string
			for sc := bufio.NewScanner(bytes.NewReader(out)); sc.Scan(); {
				if p, ok := strings.CutPrefix(sc.Text(), "load="); ok {
					want = append(want, p)
				}
			}
			if len(want) != 10 {
				t.Fatalf("mhload renames printed %d loads: %q", len(want), out)
			}
			c.wait(t, "the last load", func(e *Event) bool {
				return e.Kind == KindMmap && int(e.PID) == pid && string(e.Path) == want[len(want)-1]
			})
			c.settle(t)
			var got, cached []string
			for _, e := range c.all() {
				if e.Kind == KindMmap && int(e.PID) == pid && e.Prot&protExec != 0 && strings.HasPrefix(string(e.Path), dir) {
					got = append(got, string(e.Path))
					cached = append(cached, fmt.Sprint(e.PathCached))
				}
			}
			if strings.Join(got, "\n") != strings.Join(want, "\n") {
				t.Fatalf("loads named\n%s\nwant\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
			}
			// The first load walks; of the three unchanged, one at least is
			// cached; every load after a change walks.
			reloads := strings.Join(cached[1:4], " ")
			if cached[0] != "false" || !strings.Contains(reloads, "true") || strings.Contains(strings.Join(cached[4:], " "), "true") {
				t.Errorf("taken from the cache: %v; want false, then true at least once in three, then false after every change", cached)
			}
		})
	}
}
