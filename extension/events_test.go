package main

import (
	"testing"

	"github.com/stretchr/testify/assert"
)

func runEventsIn(t *testing.T, args ...string) result {
	t.Helper()
	return runIn(t, "", append([]string{"events"}, args...)...)
}

func TestEventsUsageErrors(t *testing.T) {
	t.Parallel()
	for _, args := range [][]string{
		{"--pid", "abc"},
		{"--pid", "12,-3"},
		{"--pid", "0"},
		{"extra"},
		{"--no-such-flag"},
	} {
		r := runEventsIn(t, args...)
		assert.Equal(t, 2, r.code, "%q: %s", args, r.stderr)
		assert.Empty(t, r.stdout, "%q", args)
		assert.Contains(t, r.stderr, "modhunt.ext events:", "%q", args)
	}
	r := runEventsIn(t, "--help")
	assert.Equal(t, 0, r.code)
	assert.Contains(t, r.stdout, "usage: modhunt.ext events")
	assert.Contains(t, r.stdout, "-pid")
}

func TestEventsBadPolicy(t *testing.T) {
	t.Parallel()
	r := runEventsIn(t, "--policy", "/nonexistent/modhunt-policy.yml", "--pid", "1")
	assert.Equal(t, 1, r.code, r.stderr)
	assert.Contains(t, r.stderr, "/nonexistent/modhunt-policy.yml")
	assert.Empty(t, r.stdout)
}
