package tables

import (
	"path/filepath"
	"runtime"
	"slices"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/modhunt/modhunt/internal/platform"
	"github.com/modhunt/modhunt/tables/deps"
	"github.com/modhunt/modhunt/tables/table"
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
