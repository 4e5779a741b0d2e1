package main

import (
	"flag"
	"os"
	"path/filepath"
	"runtime"
	"runtime/debug"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestParseTolerantDropsUnknownFlags(t *testing.T) {
	t.Parallel()
	var c common
	var socket string
	fs := flag.NewFlagSet("modhunt.ext", flag.ContinueOnError)
	c.register(fs)
	fs.StringVar(&socket, "socket", "", "")

	rest, dropped, err := parseTolerant(fs, []string{
		"--verbose", "--socket", "/var/osquery/osquery.em", "--logger_min_status=1", "--future_flag", "value", "--timeout", "3",
	})
	require.NoError(t, err)
	assert.Empty(t, rest)
	assert.True(t, c.verbose)
	assert.Equal(t, "/var/osquery/osquery.em", socket)
	assert.Equal(t, []string{"--logger_min_status=1", "--future_flag", "value", "--timeout", "3"}, dropped)
}

func writeFlagfile(t *testing.T, body string, mode os.FileMode) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), "modhunt.flags")
	require.NoError(t, os.WriteFile(p, []byte(body), 0o600))
	require.NoError(t, os.Chmod(p, mode))
	return p
}

func TestFlagfileSetsFlagsAndCommandLineWins(t *testing.T) {
	t.Parallel()
	p := writeFlagfile(t, "# modhunt flags\n--policy /etc/modhunt/policy.yml\n\n--rules=/a,/b\n--table_concurrency=2\n", 0o644)
	var c common
	fs := flag.NewFlagSet("query", flag.ContinueOnError)
	c.register(fs)
	rest, err := c.parse(fs, []string{"--flagfile", p, "--table_concurrency=7", "SELECT 1"}, false)
	require.NoError(t, err)
	assert.Equal(t, []string{"SELECT 1"}, rest)
	assert.Equal(t, "/etc/modhunt/policy.yml", c.policy)
	assert.Equal(t, "/a,/b", c.rules)
	assert.Equal(t, 7, c.concurrency, "the command line overrides the flag file")
}

func TestFlagfileErrorsNameTheProblem(t *testing.T) {
	t.Parallel()
	cases := map[string]struct {
		body string
		mode os.FileMode
		want string
	}{
		"world-writable": {"--policy=/x\n", 0o666, "world-writable"},
		"not a flag":     {"--policy=/x\npolicy=/y\n", 0o644, `:2: "policy=/y" is not a --flag`},
		"unknown flag":   {"--no_such_flag=1\n", 0o644, "unknown flags --no_such_flag=1"},
	}
	for name, tc := range cases {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			if tc.mode&0o002 != 0 && runtime.GOOS == "windows" {
				t.Skip("Windows has no world-write mode bit, and checkSafe does not read ACLs there (flags_windows.go)")
			}
			p := writeFlagfile(t, tc.body, tc.mode)
			var c common
			fs := flag.NewFlagSet("query", flag.ContinueOnError)
			c.register(fs)
			_, err := c.parse(fs, []string{"--flagfile=" + p}, false)
			require.Error(t, err)
			assert.Contains(t, err.Error(), tc.want)
			assert.Contains(t, err.Error(), p)
		})
	}
}

func TestMissingExplicitFlagfileIsAnError(t *testing.T) {
	t.Parallel()
	var c common
	fs := flag.NewFlagSet("query", flag.ContinueOnError)
	c.register(fs)
	_, err := c.parse(fs, []string{"--flagfile", filepath.Join(t.TempDir(), "absent")}, false)
	require.Error(t, err)
}

// The soft heap limit grows with what the load event buffer holds, so a
// full buffer does not pin the collector, and shrinks back with it.
func TestMemoryLimitFollowsTheEventBuffer(t *testing.T) {
	c := common{memoryMiB: 40}
	ev := c.eventsConfig()
	if ev.OnBufferBytes == nil {
		t.Skip("GOMEMLIMIT is set: the limit is the environment's")
	}
	old := debug.SetMemoryLimit(-1)
	t.Cleanup(func() { debug.SetMemoryLimit(old) })
	ev.OnBufferBytes(30 << 20)
	if got := debug.SetMemoryLimit(-1); got != 70<<20 {
		t.Errorf("with 30 MiB buffered: limit %d, want %d", got, 70<<20)
	}
	ev.OnBufferBytes(0)
	if got := debug.SetMemoryLimit(-1); got != 40<<20 {
		t.Errorf("with the buffer empty: limit %d, want %d", got, 40<<20)
	}
	if off := (&common{}).eventsConfig(); off.OnBufferBytes != nil {
		t.Error("no --memory_limit, yet the buffer sets one")
	}
}
