package main

import (
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/modhunt/modhunt/test/sim"
)

// TestWatchStreamsEventsAndMatches runs `watch --json` while a process
// that exits at once (true, with a library from /tmp in LD_PRELOAD) loads
// the library: the load is printed as an event with the Sysmon field
// names `events` writes, and the built-in temp-folder rule's match in
// detect --json's shape, with the same event.
func TestWatchStreamsEventsAndMatches(t *testing.T) {
	sim.NeedRoot(t)
	dir := sim.TempDirIn(t, "/tmp", "modhunt-watch-")
	lib := sim.BuildLib(t, filepath.Join(dir, "libwatch.so"))
	var stdout, stderr sim.SyncBuffer
	code := make(chan int, 1)
	go func() {
		code <- run([]string{"watch", "--json", "--loads", "--for", "12s"}, env{stdin: strings.NewReader(""), stdout: &stdout, stderr: &stderr})
	}()
	deadline := time.Now().Add(6 * time.Second)
	for !strings.Contains(stderr.String(), "watching module loads") {
		select {
		case c := <-code:
			if strings.Contains(stderr.String(), "unavailable") && os.Getenv("CI") == "" {
				t.Skipf("eBPF unavailable here: %s", stderr.String())
			}
			t.Fatalf("watch exited %d before watching: %s", c, stderr.String())
		default:
		}
		if time.Now().After(deadline) {
			t.Fatalf("watch did not start: %s", stderr.String())
		}
		time.Sleep(20 * time.Millisecond)
	}
	cmd := exec.Command("/bin/true")
	cmd.Env = append(os.Environ(), "LD_PRELOAD="+lib)
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("true: %v %s", err, out)
	}
	pid := float64(cmd.Process.Pid)
	if c := <-code; c != 0 {
		t.Fatalf("watch exited %d: %s", c, stderr.String())
	}

	var event, match map[string]any
	for _, line := range strings.Split(strings.TrimSpace(stdout.String()), "\n") {
		if line == "" {
			continue
		}
		var m map[string]any
		if err := json.Unmarshal([]byte(line), &m); err != nil {
			t.Fatalf("not JSON: %q: %v", line, err)
		}
		if m["ProcessId"] == pid && m["ImageLoaded"] == lib {
			event = m
		}
		if ev, ok := m["event"].(map[string]any); ok && ev["ProcessId"] == pid && ev["ImageLoaded"] == lib &&
			m["title"] == "Shared Object Loaded From A Temporary Folder" {
			match = m
		}
	}
	if event == nil || match == nil {
		t.Fatalf("no event (%v) or match (%v) for pid %v in:\n%s\n%s", event != nil, match != nil, pid, stdout.String(), stderr.String())
	}
	if event["Image"] != "/usr/bin/true" && event["Image"] != "/bin/true" || event["CommandLine"] != "/bin/true" || event["EventKind"] != "mmap" {
		t.Errorf("event fields: %v", event)
	}
	if match["level"] != "high" || match["rule_id"] != "f28f0cc6-87cc-4f57-b69e-d69f83b11343" {
		t.Errorf("match: %v", match)
	}
	if !strings.Contains(stderr.String(), "matches: ") {
		t.Errorf("no summary: %s", stderr.String())
	}
}
