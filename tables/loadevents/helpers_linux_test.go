package loadevents_test

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/modhunt/modhunt/detections"
	"github.com/modhunt/modhunt/internal/loadsource"
	"github.com/modhunt/modhunt/internal/loadsource/loadtest"
	"github.com/modhunt/modhunt/tables/deps"
	"github.com/modhunt/modhunt/tables/loadevents"
	"github.com/modhunt/modhunt/tables/loadstream"
	"github.com/modhunt/modhunt/tables/table"
	"github.com/modhunt/modhunt/tables/untrusted"
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

// gatedSource is the real eBPF source whose events wait at a gate: a test
// opens it once the loading process is gone, so nothing the stream learns
// can come from reading that process after the fact.
type gatedSource struct {
	*loadsource.Source
	gate chan struct{}
	out  chan loadsource.Event
}

func (g *gatedSource) Start(ctx context.Context) error {
	if err := g.Source.Start(ctx); err != nil {
		return err
	}
	go func() {
		defer close(g.out)
		<-g.gate
		for ev := range g.Source.Events() {
			g.out <- ev
		}
	}()
	return nil
}

func (g *gatedSource) Events() <-chan loadsource.Event { return g.out }

func (g *gatedSource) open() {
	select {
	case <-g.gate:
	default:
		close(g.gate)
	}
}

// live is one test's stream over the real source, judged by the host's
// judge and matched against the built-in rules, and the tables over it.
type live struct {
	stream *loadstream.Stream
	src    *gatedSource
	d      deps.Deps
	events *table.Table
	status *table.Table
}

func startLive(t testing.TB, cfg loadstream.Config) *live {
	t.Helper()
	if os.Geteuid() != 0 {
		loadtest.MustRun(t, "not root (loading BPF programs needs CAP_BPF and CAP_PERFMON)")
	}
	build(t)
	judge, err := untrusted.NewJudge(untrusted.Config{})
	if err != nil {
		t.Fatal(err)
	}
	engine, _, err := detections.Load(true, nil)
	if err != nil {
		t.Fatal(err)
	}
	src := &gatedSource{Source: loadsource.New(loadsource.Config{Queue: 1 << 16, SyscallHooks: cfg.SyscallHooks}), gate: make(chan struct{}), out: make(chan loadsource.Event, 1<<16)}
	cfg.Source, cfg.Judge, cfg.Rules = src, judge, engine
	s := loadstream.New(cfg)
	if err := s.Start(context.Background()); err != nil {
		if errors.Is(err, loadsource.ErrUnavailable) {
			loadtest.MustRun(t, err.Error())
		}
		t.Fatal(err)
	}
	t.Cleanup(func() {
		src.open()
		if err := s.Close(); err != nil {
			t.Errorf("closing the stream: %v", err)
		}
		<-s.Done()
	})
	d := deps.Deps{LoadEvents: s, Judge: judge}
	ev, err := loadevents.New(d)
	if err != nil {
		t.Fatal(err)
	}
	st, err := loadevents.NewStatus(d)
	if err != nil {
		t.Fatal(err)
	}
	return &live{stream: s, src: src, d: d, events: ev, status: st}
}

// run runs mhload to completion and returns its pid.
func run(t testing.TB, env []string, args ...string) int {
	t.Helper()
	pid, _ := loadtest.Run(t, mhload, env, args...)
	return pid
}

// runCmd runs any program to completion and returns its pid.
func runCmd(t testing.TB, env []string, name string, args ...string) int {
	t.Helper()
	pid, _ := loadtest.Run(t, name, env, args...)
	return pid
}

// gone asserts /proc has nothing left of pid (loadtest.Gone).
func gone(t testing.TB, pid int) { loadtest.Gone(t, pid) }

// waitRow queries tbl (ad hoc) until a row satisfies match.
func waitRow(t testing.TB, tbl *table.Table, q table.Query, what string, match func(map[string]string) bool) map[string]string {
	t.Helper()
	deadline := time.Now().Add(15 * time.Second)
	for {
		rows, err := tbl.Generate(context.Background(), q)
		if err != nil {
			t.Fatal(err)
		}
		for _, r := range rows {
			if m := rowMap(tbl, r); match(m) {
				return m
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s: no row of %s after 15 s (%d rows)", what, tbl.Name, len(rows))
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// tmpLib copies the probe library into a fresh directory under /tmp (the
// temp_dir the rules and the policy know), executable.
func tmpLib(t testing.TB, name string) string {
	t.Helper()
	dir, err := os.MkdirTemp("/tmp", "modhunt-le-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = os.RemoveAll(dir) })
	data, err := os.ReadFile(mhlib)
	if err != nil {
		t.Fatal(err)
	}
	p := filepath.Join(dir, name)
	if err := os.WriteFile(p, data, 0o755); err != nil {
		t.Fatal(err)
	}
	return p
}

func has(list, item string) bool {
	for _, x := range strings.Split(list, ",") {
		if x == item {
			return true
		}
	}
	return false
}
