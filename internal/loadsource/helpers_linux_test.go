package loadsource

import (
	"context"
	"errors"
	"os"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/modhunt/modhunt/internal/loadsource/loadtest"
)

// mhload and mhlib are loadtest's C helpers (one loader for every live
// eBPF test), set by build.
var mhload, mhlib string

func TestMain(m *testing.M) {
	code := m.Run()
	loadtest.Cleanup()
	os.Exit(code)
}

func build(t testing.TB) {
	t.Helper()
	h := loadtest.Build(t)
	mhload, mhlib = h.Loader, h.Lib
}

// collector keeps the events a source delivers.
type collector struct {
	src *Source
	mu  sync.Mutex
	evs []Event
	// paused holds delivery back: events wait in the source's queue.
	paused chan struct{}
	done   chan struct{}
}

// startSource starts a source for one test, or skips/fails as loadtest.MustRun.
// paused sources deliver nothing until resume: a test uses that to show
// the event was still right after its process was gone.
func startSource(t testing.TB, cfg Config, paused bool) *collector {
	t.Helper()
	if os.Geteuid() != 0 {
		loadtest.MustRun(t, "not root (loading BPF programs needs CAP_BPF and CAP_PERFMON)")
	}
	build(t)
	if cfg.Queue == 0 {
		cfg.Queue = 1 << 16
	}
	s := New(cfg)
	if err := s.Start(context.Background()); err != nil {
		if errors.Is(err, ErrUnavailable) {
			loadtest.MustRun(t, err.Error())
		}
		t.Fatalf("Start: %v", err)
	}
	c := &collector{src: s, paused: make(chan struct{}), done: make(chan struct{})}
	if !paused {
		close(c.paused)
	}
	go func() {
		defer close(c.done)
		<-c.paused
		for ev := range s.Events() {
			c.mu.Lock()
			c.evs = append(c.evs, ev)
			c.mu.Unlock()
		}
	}()
	t.Cleanup(func() {
		if err := s.Close(); err != nil {
			t.Errorf("Close: %v", err)
		}
		c.resume()
		<-c.done
	})
	return c
}

func (c *collector) resume() {
	select {
	case <-c.paused:
	default:
		close(c.paused)
	}
}

// wait returns the first event that matches, or fails after a while.
func (c *collector) wait(t testing.TB, what string, match func(*Event) bool) Event {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for time.Now().Before(deadline) {
		c.mu.Lock()
		for i := range c.evs {
			if match(&c.evs[i]) {
				ev := c.evs[i]
				c.mu.Unlock()
				return ev
			}
		}
		c.mu.Unlock()
		time.Sleep(20 * time.Millisecond)
	}
	t.Fatalf("no event for %s within 10s; %d events seen; stats %+v", what, len(c.all()), c.src.Stats())
	return Event{}
}

// all returns a copy of the events so far.
func (c *collector) all() []Event {
	c.mu.Lock()
	defer c.mu.Unlock()
	return append([]Event(nil), c.evs...)
}

// settle waits until the source has delivered every event the kernel
// wrote so far, so a test can assert on what did not happen.
func (c *collector) settle(t testing.TB) {
	t.Helper()
	for range 500 {
		st := c.src.Stats()
		if st.Received == st.Emitted && len(c.src.events) == 0 {
			time.Sleep(20 * time.Millisecond)
			return
		}
		time.Sleep(10 * time.Millisecond)
	}
	t.Fatalf("the source did not catch up: %+v", c.src.Stats())
}

// fileID is what mhload reports about the file it loads.
type fileID struct {
	ino          uint64
	major, minor uint32
	fd           int32
	tid          int
	addr, addr2  uint64
	mntns        uint64
}

func parseReport(t testing.TB, out []byte) fileID {
	t.Helper()
	var id fileID
	for _, f := range strings.Fields(string(out)) {
		k, v, _ := strings.Cut(f, "=")
		n, err := strconv.ParseUint(v, 10, 64)
		if err != nil {
			continue
		}
		switch k {
		case "ino":
			id.ino = n
		case "major":
			id.major = uint32(n)
		case "minor":
			id.minor = uint32(n)
		case "fd":
			id.fd = int32(n)
		case "tid":
			id.tid = int(n)
		case "addr":
			id.addr = n
		case "addr2":
			id.addr2 = n
		case "mntns":
			id.mntns = n
		}
	}
	if id.ino == 0 {
		t.Fatalf("mhload reported no file: %q", out)
	}
	return id
}

// run runs mhload to completion and returns its pid and what it reported.
func run(t testing.TB, env []string, args ...string) (int, fileID) {
	t.Helper()
	pid, out := loadtest.Run(t, mhload, env, args...)
	return pid, parseReport(t, out)
}

// gone asserts that /proc has nothing left of pid (loadtest.Gone).
func gone(t testing.TB, pid int) { loadtest.Gone(t, pid) }
