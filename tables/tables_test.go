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
	"github.com/modhunt/modhunt/tables/unbacked"
	"github.com/modhunt/modhunt/tables/untrusted"
	"github.com/modhunt/modhunt/tables/verdict"
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
		// Only the tables that read the policy (the judging ones, and
		// unbacked_executable_memory for its jit_hosts) refuse it: an OS
		// serving none of them starts.
		if !slices.ContainsFunc(SpecsFor(goos), func(s table.Spec) bool {
			return s.Name == untrusted.Name || s.Name == moduledetections.Name || s.Name == unbacked.Name
		}) {
			require.NoError(t, err, goos)
			assert.Len(t, built, len(SpecsFor(goos)), goos)
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

// A host's module_detections judges through the one judge whose verdicts
// its untrusted_module_loads renders (deps.Deps.Judge): counted on the
// judge's calls, per consumer.
func TestBuildSharesOneUntrustedTable(t *testing.T) {
	t.Parallel()
	served := SpecsFor(runtime.GOOS)
	has := func(name string) bool {
		return slices.ContainsFunc(served, func(s table.Spec) bool { return s.Name == name })
	}
	if !has(untrusted.Name) || !has(moduledetections.Name) {
		t.Skip("untrusted_module_loads and module_detections are not served here")
	}
	shared := &countingJudge{}
	built, err := Build(deps.Deps{Judge: shared})
	require.NoError(t, err)
	byName := map[string]*table.Table{}
	for _, tb := range built {
		byName[tb.Name] = tb
	}
	_, err = byName[untrusted.Name].Generate(t.Context(), table.PIDQuery([]int{os.Getpid()}))
	require.NoError(t, err)
	assert.Equal(t, int32(1), shared.calls[verdict.ForTable].Load(), "the host's untrusted_module_loads renders the shared judge")
	_, err = byName[moduledetections.Name].Generate(t.Context(), table.PIDQuery([]int{os.Getpid()}))
	require.NoError(t, err)
	assert.Equal(t, int32(1), shared.calls[verdict.ForEvents].Load(), "module_detections judged through the shared judge")
}

// countingJudge judges nothing and counts its calls per consumer.
type countingJudge struct {
	calls [verdict.Consumers]atomic.Int32
}

func (c *countingJudge) Judge(_ context.Context, _ []int, who verdict.Consumer, _ verdict.Need) (*verdict.Judgement, error) {
	c.calls[who].Add(1)
	return &verdict.Judgement{}, nil
}
