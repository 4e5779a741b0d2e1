package main

import (
	"flag"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/modhunt/modhunt/tables/deps"
)

// The event flags reach tables.Build as osquery's flags of the same names
// mean them: --events_expiry in seconds (-1: no expiry), --events_max,
// --disable_events; the defaults are osquery's. --events_syscall_hooks is
// modhunt's own, off by default.
func TestEventFlags(t *testing.T) {
	t.Parallel()
	parse := func(args ...string) deps.EventsConfig {
		var c common
		fs := flag.NewFlagSet("modhunt.ext", flag.ContinueOnError)
		c.register(fs)
		require.NoError(t, fs.Parse(args))
		ev := c.eventsConfig()
		// A func compares unequal to everything but nil; the hook has its
		// own test (TestMemoryLimitFollowsTheEventBuffer).
		ev.OnBufferBytes = nil
		return ev
	}
	assert.Equal(t, deps.EventsConfig{Expiry: 3600 * time.Second, MaxEvents: 50000}, parse())
	assert.Equal(t, deps.EventsConfig{Expiry: 60 * time.Second, MaxEvents: 10, Disabled: true},
		parse("--events_expiry=60", "--events_max=10", "--disable_events"))
	assert.Equal(t, time.Duration(-1), parse("--events_expiry=-1").Expiry)
	assert.True(t, parse("--events_syscall_hooks").SyscallHooks)
	assert.False(t, parse("--events_syscall_hooks=false").SyscallHooks)
}
