package loadedmodules

import (
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/modhunt/modhunt/tables/deps"
	"github.com/modhunt/modhunt/tables/table"
)

// mustNew builds the table; it cannot fail (no policy, no rules).
func mustNew(d deps.Deps) *table.Table {
	t, err := New(d)
	if err != nil {
		panic(err)
	}
	return t
}

func TestDefinitionIsValid(t *testing.T) {
	t.Parallel()
	tbl := mustNew(deps.Deps{})
	require.NoError(t, tbl.Validate())
	assert.Equal(t, Name, tbl.Name)
	want := map[string]table.Type{
		"pid": table.BigInt, "process_name": table.Text, "process_path": table.Text, "cmdline": table.Text,
		"parent": table.BigInt, "uid": table.BigInt, "path": table.Text, "name": table.Text,
		"base_address": table.Text, "size": table.BigInt, "permissions": table.Text, "inode": table.BigInt,
		"device": table.Text, "deleted": table.Integer, "memfd": table.Integer, "executable": table.Integer,
		"file_type": table.Text, "user": table.Text, "integrity_level": table.Text, "session_id": table.BigInt,
		"in_loader_list": table.Integer, "original_file_name": table.Text, "company": table.Text, "product": table.Text,
		"description": table.Text, "file_version": table.Text, "imphash": table.Text, "is_dotnet": table.Integer,
		"signed": table.Integer, "signature_status": table.Text, "signer": table.Text,
	}
	got := map[string]table.Type{}
	for _, c := range tbl.Columns {
		got[c.Name] = c.Type
		assert.Equal(t, c.Name == "pid", c.Index, "only pid is an index column (%s)", c.Name)
	}
	assert.Equal(t, want, got)
	assert.Equal(t, []string{table.Linux, table.Windows}, tbl.Platforms)
	for _, ex := range tbl.Examples {
		assert.Contains(t, ex, Name)
	}
}
