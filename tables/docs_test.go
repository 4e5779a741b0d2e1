package tables_test

import (
	"bytes"
	"os"
	"testing"

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
