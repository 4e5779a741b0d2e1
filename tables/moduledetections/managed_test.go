package moduledetections

import (
	"testing"

	"github.com/stretchr/testify/assert"

	"github.com/modhunt/modhunt/tables/table"
)

func TestDropRepeats(t *testing.T) {
	row := func(rule, pid, path string) table.Row {
		r := make(table.Row, len(Columns))
		r[colRuleID], r[colPID], r[colPath] = rule, pid, path
		return r
	}
	assert.Equal(t, "rule_id", Columns[colRuleID].Name)
	assert.Equal(t, "pid", Columns[colPID].Name)
	assert.Equal(t, "path", Columns[colPath].Name)
	module := []table.Row{row("r1", "10", `C:\Windows\assembly\GAC_MSIL\a\a.dll`)}
	managed := []table.Row{
		row("r1", "10", `C:\Windows\assembly\GAC_MSIL\a\a.dll`), // the same match again: dropped
		row("r2", "10", `C:\Windows\assembly\GAC_MSIL\a\a.dll`), // another rule (on AssemblyName): kept
		row("r1", "11", `C:\Windows\assembly\GAC_MSIL\a\a.dll`), // another process: kept
		row("r1", "10", ""), // in memory: kept
	}
	got := dropRepeats(append(append([]table.Row{}, module...), managed...), len(module))
	assert.Equal(t, append(module, managed[1:]...), got)
}
