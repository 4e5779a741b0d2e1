package moduledetections

import (
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/modhunt/modhunt/tables/deps"
	"github.com/modhunt/modhunt/tables/table"
)

func TestDefinition(t *testing.T) {
	t.Parallel()
	tb, err := New(deps.Deps{})
	require.NoError(t, err)
	require.NoError(t, tb.Validate())
	assert.Equal(t, Name, tb.Name)
	assert.Equal(t, []string{table.Linux, table.Windows, table.Darwin}, tb.Platforms)
	for _, c := range []string{"rule_id", "rule_title", "level", "tags", "siem_rule", "pid", "process_name", "process_path", "path", "fields"} {
		assert.GreaterOrEqual(t, tb.ColumnIndex(c), 0, "column %s", c)
	}
	assert.Equal(t, table.BigInt, tb.Columns[tb.ColumnIndex("pid")].Type)
	assert.True(t, tb.Columns[tb.ColumnIndex("pid")].Index)
}

// TestNewRefusesABadPolicy: a trust policy file that does not load stops
// the table from being built, rather than running with verdicts the admin
// did not ask for.
func TestNewRefusesABadPolicy(t *testing.T) {
	t.Parallel()
	_, err := New(deps.Deps{Policy: "/nonexistent/modhunt-policy.yml"})
	require.Error(t, err)
	assert.Contains(t, err.Error(), "/nonexistent/modhunt-policy.yml")
}
