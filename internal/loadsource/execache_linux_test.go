package loadsource

import (
	"os"
	"testing"
)

// The kernel side sends a process's executable path once per image; the
// reader gives it back to every later event of that process, from the exec
// event or the first load, and only a miss reads procfs.
func TestExeCacheFillsEventsTheKernelLeftBare(t *testing.T) {
	c := newExeCache(2, "/proc")
	c.fill(&Event{Kind: KindExec, PID: 4000000010, Path: []byte("/usr/bin/a")})
	ev := Event{Kind: KindMmap, PID: 4000000010, exeSent: true}
	c.fill(&ev)
	if string(ev.Exe) != "/usr/bin/a" {
		t.Errorf("from the exec event: %q", ev.Exe)
	}
	c.fill(&Event{Kind: KindMmap, PID: 4000000011, Exe: []byte("/usr/bin/b"), AuxTruncated: true})
	ev = Event{Kind: KindMmap, PID: 4000000011, exeSent: true}
	c.fill(&ev)
	if string(ev.Exe) != "/usr/bin/b" || !ev.AuxTruncated {
		t.Errorf("from the first load: %q truncated %v", ev.Exe, ev.AuxTruncated)
	}
	// A third process pushes the oldest out (bound 2); its next event
	// reads procfs: here our own pid, whose exe exists.
	c.fill(&Event{Kind: KindMmap, PID: uint32(os.Getpid()), Exe: []byte("/x")})
	ev = Event{Kind: KindMmap, PID: 4000000010, exeSent: true}
	c.fill(&ev)
	if len(ev.Exe) != 0 || c.misses != 1 {
		t.Errorf("evicted pid (beyond pid_max): exe %q misses %d", ev.Exe, c.misses)
	}
	self, err := os.Readlink("/proc/self/exe")
	if err != nil {
		t.Fatal(err)
	}
	c = newExeCache(4, "/proc")
	ev = Event{Kind: KindMmap, PID: uint32(os.Getpid()), exeSent: true}
	c.fill(&ev)
	if string(ev.Exe) != self || c.misses != 1 {
		t.Errorf("miss read from procfs: %q (want %q), misses %d", ev.Exe, self, c.misses)
	}
	if c.m.Len() > 4 {
		t.Errorf("cache grew past its bound: %d", c.m.Len())
	}
}
