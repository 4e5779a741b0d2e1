package tables

import (
	"context"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"sync/atomic"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/modhunt/modhunt/internal/platform"
	"github.com/modhunt/modhunt/tables/deps"
	"github.com/modhunt/modhunt/tables/moduledetections"
	"github.com/modhunt/modhunt/tables/table"
	"github.com/modhunt/modhunt/tables/untrusted"
)

// The tables a host builds are exactly the definitions SpecsFor lists for
// its OS, in that order, and each can be served (it has a Generate).
func TestBuildServesTheSpecs(t *testing.T) {
	t.Parallel()
	built, err := Build(deps.Deps{})
	require.NoError(t, err)
	var got []table.Spec
	for _, tb := range built {
		require.NoError(t, tb.Validate())
		got = append(got, tb.Spec)
	}
	want := SpecsFor(runtime.GOOS)
	if len(want) == 0 {
		want = nil
	}
	assert.Equal(t, want, got)
}

// Build builds only the tables of the OS it runs on: on an OS that serves
// none it reads nothing, not even a policy file that would stop a Linux
// host.
func TestBuildBuildsOnlyThisOSsTables(t *testing.T) {
	t.Parallel()
	absent := filepath.Join(t.TempDir(), "absent-policy.yml")
	for _, goos := range platform.All() {
		built, err := build(goos, deps.Deps{Policy: absent})
		if len(SpecsFor(goos)) == 0 {
			require.NoError(t, err, goos)
			assert.Empty(t, built, goos)
			continue
		}
		require.Error(t, err, "%s: a policy that does not load stops the host", goos)
		assert.Contains(t, err.Error(), absent)
	}
}

// Specs is data: every definition, whatever the platform, each valid and
// named once, each served somewhere.
func TestSpecsListEveryTableOnce(t *testing.T) {
	t.Parallel()
	all := Specs()
	require.Len(t, all, len(constructors))
	var names []string
	for _, s := range all {
		require.NoError(t, s.Validate())
		assert.NotContains(t, names, s.Name)
		names = append(names, s.Name)
		var somewhere []string
		for _, goos := range platform.All() {
			if slices.ContainsFunc(SpecsFor(goos), func(x table.Spec) bool { return x.Name == s.Name }) {
				somewhere = append(somewhere, goos)
			}
		}
		assert.ElementsMatch(t, s.Platforms, somewhere, "%s: SpecsFor agrees with its platforms", s.Name)
	}
}

// A host's module_detections judges through the one untrusted_module_loads
// the host serves (deps.Deps.Untrusted): counted on the table's calls.
func TestBuildSharesOneUntrustedTable(t *testing.T) {
	t.Parallel()
	served := SpecsFor(runtime.GOOS)
	has := func(name string) bool {
		return slices.ContainsFunc(served, func(s table.Spec) bool { return s.Name == name })
	}
	if !has(untrusted.Name) || !has(moduledetections.Name) {
		t.Skip("untrusted_module_loads and module_detections are not served here")
	}
	var calls atomic.Int32
	shared := &table.Table{Spec: untrusted.Spec, Generate: func(context.Context, table.Query) ([]table.Row, error) {
		calls.Add(1)
		return nil, nil
	}}
	built, err := Build(deps.Deps{Untrusted: shared})
	require.NoError(t, err)
	byName := map[string]*table.Table{}
	for _, tb := range built {
		byName[tb.Name] = tb
	}
	assert.Same(t, shared, byName[untrusted.Name], "the host serves the shared table")
	_, err = byName[moduledetections.Name].Generate(t.Context(), table.PIDQuery([]int{os.Getpid()}))
	require.NoError(t, err)
	assert.Equal(t, int32(1), calls.Load(), "module_detections judged through the shared table")
}
