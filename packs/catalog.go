package packs

import (
	"embed"
	"errors"
	"fmt"
	"io/fs"
	"path"
	"slices"
	"strings"

	"github.com/modhunt/modhunt/tables"
)

// huntFS is embedded so the binary carries the same hunts the packs were
// generated from: `modhunt.ext hunt` needs no files beside it.
//
//go:embed hunts
var huntFS embed.FS

// Dirs under hunts/ and the platform each one's files must declare.
var dirPlatforms = map[string][]string{
	"common":        {PlatformAll, PlatformPosix},
	PlatformLinux:   {PlatformLinux},
	PlatformWindows: {PlatformWindows},
	PlatformDarwin:  {PlatformDarwin},
}

// Load parses every embedded hunt.
func Load() ([]*Hunt, error) {
	sub, err := fs.Sub(huntFS, "hunts")
	if err != nil {
		return nil, err
	}
	return LoadFS(sub)
}

// LoadFS parses every <dir>/<name>.sql in fsys, sorted by name. It reports
// every bad file at once, so one run shows all there is to fix.
func LoadFS(fsys fs.FS) ([]*Hunt, error) {
	var hunts []*Hunt
	var errs []error
	seen := map[string]string{}
	err := fs.WalkDir(fsys, ".", func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() {
			if p != "." && strings.Count(p, "/") > 0 {
				errs = append(errs, fmt.Errorf("%s: hunts live one level deep: hunts/<common|linux|windows|darwin>/<name>.sql", p))
				return fs.SkipDir
			}
			return nil
		}
		if path.Ext(p) != ".sql" {
			if path.Base(p) != "README.md" {
				errs = append(errs, fmt.Errorf("%s: not a .sql hunt", p))
			}
			return nil
		}
		dir := path.Dir(p)
		allowed, ok := dirPlatforms[dir]
		if !ok {
			errs = append(errs, fmt.Errorf("%s: unknown folder %q (common, linux, windows, darwin)", p, dir))
			return nil
		}
		src, err := fs.ReadFile(fsys, p)
		if err != nil {
			return err
		}
		h, err := Parse(p, src)
		if err != nil {
			errs = append(errs, err)
			return nil
		}
		if !slices.Contains(allowed, h.Platform) {
			errs = append(errs, fmt.Errorf("%s: platform %q does not belong in %s/ (expected %s)", p, h.Platform, dir, strings.Join(allowed, " or ")))
			return nil
		}
		if other, dup := seen[h.Name]; dup {
			errs = append(errs, fmt.Errorf("%s: hunt name %q already used by %s", p, h.Name, other))
			return nil
		}
		if err := resolvePlatforms(h); err != nil {
			errs = append(errs, fmt.Errorf("%s: %w", p, err))
			return nil
		}
		seen[h.Name] = p
		hunts = append(hunts, h)
		return nil
	})
	if err != nil {
		errs = append(errs, err)
	}
	if len(errs) > 0 {
		return nil, errors.Join(errs...)
	}
	slices.SortFunc(hunts, func(a, b *Hunt) int { return strings.Compare(a.Name, b.Name) })
	return hunts, nil
}

// ForPlatform returns the hunts meant for an osquery platform (linux,
// windows, darwin), keeping their order.
func ForPlatform(hunts []*Hunt, platform string) []*Hunt {
	var out []*Hunt
	for _, h := range hunts {
		if h.RunsOn(platform) {
			out = append(out, h)
		}
	}
	return out
}

// Missing returns the tables a hunt needs that have is false for, in the
// header's order: an empty result means the hunt can run.
func (h *Hunt) Missing(has func(table string) bool) []string {
	var out []string
	for _, t := range h.Tables {
		if !has(t) {
			out = append(out, t)
		}
	}
	return out
}

// TablePlatforms returns the OS platforms a table exists on: a modhunt
// table's from its definition (tables.Specs: data, so packs build no table
// and come out the same whichever OS generates them), else from its
// declaration in schema/*.sql (osquery's tables, and modhunt tables still
// being written).
func TablePlatforms(name string) ([]string, error) {
	for _, s := range tables.Specs() {
		if s.Name == name {
			return s.Platforms, nil
		}
	}
	all, err := schemas()
	if err != nil {
		return nil, err
	}
	for _, s := range all {
		if s.Name == name {
			return expandPlatform(s.Platform), nil
		}
	}
	return nil, fmt.Errorf("table %s is neither defined in tables.Specs nor declared in packs/schema/*.sql", name)
}

// resolvePlatforms narrows the header's platforms to those every table the
// hunt reads exists on, so a hunt written for all platforms joins a pack
// only once its tables are served there.
func resolvePlatforms(h *Hunt) error {
	plats := expandPlatform(h.Platform)
	for _, t := range h.Tables {
		tp, err := TablePlatforms(t)
		if err != nil {
			return err
		}
		plats = slices.DeleteFunc(plats, func(p string) bool { return !slices.Contains(tp, p) })
		if len(plats) == 0 {
			return fmt.Errorf("hunt %s can run nowhere: its header says %s, and %s exists on %s only",
				h.Name, h.Platform, t, strings.Join(tp, ", "))
		}
	}
	h.Platforms = plats
	return nil
}
