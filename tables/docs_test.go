package tables_test

import (
	"bytes"
	"io/fs"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/modhunt/modhunt/tables"
	"github.com/modhunt/modhunt/tables/tabledoc"
)

// TestREADMEDocumentsEveryTable keeps the README's table reference equal to
// the definitions. MODHUNT_UPDATE_DOCS=1 (make docs) rewrites it instead.
func TestREADMEDocumentsEveryTable(t *testing.T) {
	const readme = "../README.md"
	doc, err := os.ReadFile(readme)
	require.NoError(t, err)
	want, err := tabledoc.Splice(doc, tabledoc.Markdown(tables.Specs()))
	require.NoError(t, err)
	if os.Getenv("MODHUNT_UPDATE_DOCS") == "1" {
		require.NoError(t, os.WriteFile(readme, want, 0o644))
		return
	}
	if !bytes.Equal(doc, want) {
		t.Fatal("README.md's table reference is stale: run `make docs`")
	}
}

func TestEveryTableIsValid(t *testing.T) {
	t.Parallel()
	seen := map[string]bool{}
	for _, tbl := range tables.Specs() {
		require.NoError(t, tbl.Validate())
		require.False(t, seen[tbl.Name], "table %s registered twice", tbl.Name)
		seen[tbl.Name] = true
		require.NotEmpty(t, tbl.Platforms, "table %s names no platform", tbl.Name)
	}
}

// TestArchitectureNoteNamesWhatExists keeps docs/ARCHITECTURE.md from
// pointing at files, packages or tests that are gone: every path and test
// it names in backquotes exists, except what it marks as in progress.
func TestArchitectureNoteNamesWhatExists(t *testing.T) {
	t.Parallel()
	const root = ".."
	note, err := os.ReadFile(filepath.Join(root, "docs", "ARCHITECTURE.md"))
	require.NoError(t, err)
	inProgress := map[string]bool{"tables/fileinfo": true}

	tests := map[string]bool{}
	testFunc := regexp.MustCompile(`(?m)^func (Test\w+)\(`)
	require.NoError(t, filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() || !strings.HasSuffix(p, "_test.go") {
			return err
		}
		src, err := os.ReadFile(p)
		for _, m := range testFunc.FindAllStringSubmatch(string(src), -1) {
			tests[m[1]] = true
		}
		return err
	}))

	checked := 0
	for _, m := range regexp.MustCompile("`([^`\n]+)`").FindAllStringSubmatch(string(note), -1) {
		ref := m[1]
		switch {
		case regexp.MustCompile(`^Test\w+$`).MatchString(ref):
			assert.True(t, tests[ref], "docs/ARCHITECTURE.md names %s, which is no test", ref)
			checked++
		case regexp.MustCompile(`^(tables|internal|extension|packs|detections|docs)/[\w./-]+$`).MatchString(ref) && !inProgress[ref]:
			_, err := os.Stat(filepath.Join(root, filepath.FromSlash(ref)))
			assert.NoError(t, err, "docs/ARCHITECTURE.md names %s", ref)
			checked++
		}
	}
	assert.Greater(t, checked, 20, "the note's references were found")
}
