package platform_test

import (
	"encoding/json"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/modhunt/modhunt/detections"
	"github.com/modhunt/modhunt/internal/platform"
	"github.com/modhunt/modhunt/packs"
	"github.com/modhunt/modhunt/tables"
)

const repo = "../.."

// subdirs lists the folders directly under dir (in the repository).
func subdirs(t *testing.T, dir string) []string {
	t.Helper()
	entries, err := os.ReadDir(filepath.Join(repo, dir))
	require.NoError(t, err)
	var out []string
	for _, e := range entries {
		if e.IsDir() {
			out = append(out, e.Name())
		}
	}
	require.NotEmpty(t, out, dir)
	return out
}

// TestOneNamePerOS: every place that names an OS — rule and fixture
// folders, built-in rule sources, hunt folders, pack files and their
// platform, table platforms — uses package platform's names, and no path
// in the repository spells an OS another way.
func TestOneNamePerOS(t *testing.T) {
	t.Parallel()
	all := platform.All()
	isOS := func(name string) bool { return slices.Contains(all, name) }

	for _, d := range subdirs(t, "detections/rules") {
		assert.True(t, isOS(d), "detections/rules/%s is not an OS name (%v)", d, all)
	}
	for _, d := range subdirs(t, "detections/testdata") {
		if d != "fuzz" && !strings.HasPrefix(d, "_") {
			assert.True(t, isOS(d), "detections/testdata/%s is not an OS name (%v)", d, all)
		}
	}
	for _, d := range subdirs(t, "packs/hunts") {
		if d != "common" {
			assert.True(t, isOS(d), "packs/hunts/%s is not an OS name (%v)", d, all)
		}
	}

	// A built-in rule's source names its folder, which is the OS its
	// Sigma product selects: rule_source reads builtin:rules/<os>/<file>.
	engine, _, err := detections.Load(true, nil)
	require.NoError(t, err)
	for _, r := range engine.Rules() {
		dir := strings.Split(strings.TrimPrefix(r.Source, "builtin:"), "/")
		require.Len(t, dir, 3, r.Source)
		assert.True(t, isOS(dir[1]), "%s: %s is not an OS name", r.Source, dir[1])
		if r.Product != "" {
			name, ok := platform.FromSigmaProduct(r.Product)
			assert.True(t, ok, "%s: product %q", r.Source, r.Product)
			assert.Equal(t, dir[1], name, "%s: folder and product disagree", r.Source)
		}
	}

	// Pack files are modhunt-<os>[-core].conf, for the platform they say.
	packFiles := 0
	for _, f := range packs.OutputFiles() {
		if !strings.HasSuffix(f, ".conf") {
			continue
		}
		packFiles++
		name := strings.TrimSuffix(strings.TrimSuffix(strings.TrimPrefix(f, "modhunt-"), ".conf"), "-core")
		assert.True(t, isOS(name), "pack %s is not named for an OS (%v)", f, all)
		data, err := os.ReadFile(filepath.Join(repo, "packs", f))
		require.NoError(t, err)
		var pack struct{ Platform string }
		require.NoError(t, json.Unmarshal(data, &pack), f)
		assert.Equal(t, name, pack.Platform, "%s is for another platform", f)
	}
	assert.Equal(t, 2*len(all), packFiles, "two packs per OS")

	for _, s := range tables.Specs() {
		for _, p := range s.Platforms {
			assert.True(t, isOS(p), "table %s: platform %q is not an OS name", s.Name, p)
		}
	}

	// No file or folder spells macOS as "macos" (the name Sigma's
	// logsource keeps inside rule content, never in a path).
	require.NoError(t, filepath.WalkDir(repo, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() && d.Name() == ".git" {
			return filepath.SkipDir
		}
		for _, alias := range []string{"macos", "osx"} {
			assert.NotContains(t, strings.ToLower(d.Name()), alias, "%s: the OS is darwin", p)
		}
		return nil
	}))
}
