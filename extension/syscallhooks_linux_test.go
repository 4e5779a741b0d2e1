package main

import (
	"encoding/json"
	"os"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/modhunt/modhunt/internal/loadsource"
	"github.com/modhunt/modhunt/test/sim"
)

// --events_syscall_hooks reaches the eBPF source: by default the status
// table shows mprotect and memfd_create off with the reason, mmap and exec
// attached; with the flag all of them are attached.
func TestSyscallHooksFlag(t *testing.T) {
	sim.NeedRoot(t)
	hooks := func(args ...string) (state string, h map[string]string) {
		t.Helper()
		q := "SELECT count(*) AS n FROM module_load_events; SELECT state, hooks FROM module_load_events_status;"
		r := runIn(t, "", append(append([]string{"query", "--json"}, args...), q)...)
		require.Equal(t, 0, r.code, r.stderr)
		out := r.stdout[strings.LastIndex(r.stdout, "[\n"):]
		var rows []struct{ State, Hooks string }
		require.NoError(t, json.Unmarshal([]byte(out), &rows), r.stdout)
		require.Len(t, rows, 1)
		if rows[0].State != "running" && os.Getenv("CI") == "" {
			t.Skipf("eBPF source %s here", rows[0].State)
		}
		h = map[string]string{}
		for _, kv := range strings.Split(rows[0].Hooks, ",") {
			k, v, _ := strings.Cut(kv, "=")
			h[k] = v
		}
		return rows[0].State, h
	}
	state, on := hooks("--events_syscall_hooks")
	require.Equal(t, "running", state)
	state, off := hooks()
	require.Equal(t, "running", state)
	for _, name := range []string{"syscalls:sys_enter_mprotect", "syscalls:sys_exit_mprotect", "syscalls:sys_enter_memfd_create", "syscalls:sys_exit_memfd_create"} {
		assert.Equal(t, "attached", on[name], name)
		assert.Equal(t, "off:"+loadsource.SyscallHooksOff, off[name], name)
	}
	assert.Equal(t, "attached", off["sched:sched_process_exec"])
	assert.Equal(t, "attached", off["maple_tree:ma_write"])
}
