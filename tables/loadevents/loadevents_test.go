package loadevents_test

import (
	"context"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/modhunt/modhunt/detections"
	"github.com/modhunt/modhunt/internal/loadsource"
	"github.com/modhunt/modhunt/tables/deps"
	"github.com/modhunt/modhunt/tables/loadevents"
	"github.com/modhunt/modhunt/tables/loadstream"
	"github.com/modhunt/modhunt/tables/table"
	"github.com/modhunt/modhunt/tables/trust"
	"github.com/modhunt/modhunt/tables/verdict"
)

// fakeSource delivers the events a test sends, or fails to start.
type fakeSource struct {
	ch       chan loadsource.Event
	startErr error
	mu       sync.Mutex
	closed   bool
}

func newFake() *fakeSource { return &fakeSource{ch: make(chan loadsource.Event, 1024)} }

func (f *fakeSource) Start(context.Context) error {
	if f.startErr != nil {
		close(f.ch)
	}
	return f.startErr
}
func (f *fakeSource) Events() <-chan loadsource.Event { return f.ch }
func (f *fakeSource) Stats() loadsource.Stats {
	if f.startErr != nil {
		return loadsource.Stats{State: loadsource.StateUnavailable, Reason: f.startErr.Error()}
	}
	return loadsource.Stats{State: loadsource.StateRunning, Emitted: 7, RingDrops: 3, Received: 4, Decoded: 4, QueueDrops: 2}
}
func (f *fakeSource) Close() error {
	f.mu.Lock()
	defer f.mu.Unlock()
	if !f.closed && f.startErr == nil {
		close(f.ch)
	}
	f.closed = true
	return nil
}

// pathJudge calls every load from /tmp temp_dir: a stand-in for the
// host's judge that shows the table renders what the judge says.
type pathJudge struct{}

func (pathJudge) JudgeLoad(f verdict.LoadFacts) (trust.Reasons, string) {
	var rs trust.Reasons
	if len(f.Path) > 5 && f.Path[:5] == "/tmp/" {
		rs.Add(trust.Reason("temp_dir"))
	}
	if f.Memfd {
		rs.Add(trust.Reason("memfd"))
	}
	return rs, ""
}

func fakeStream(t *testing.T, src *fakeSource, cfg loadstream.Config) (*loadstream.Stream, *table.Table, *table.Table) {
	t.Helper()
	cfg.Source = src
	if cfg.Judge == nil {
		cfg.Judge = pathJudge{}
	}
	s := loadstream.New(cfg)
	t.Cleanup(func() { _ = s.Close(); <-s.Done() })
	d := deps.Deps{LoadEvents: s}
	ev, err := loadevents.New(d)
	if err != nil {
		t.Fatal(err)
	}
	st, err := loadevents.NewStatus(d)
	if err != nil {
		t.Fatal(err)
	}
	return s, ev, st
}

func load(pid uint32, path string, at time.Time) loadsource.Event {
	return loadsource.Event{Kind: loadsource.KindMmap, Time: at, PID: pid, TID: pid, PPID: 1, Comm: "x",
		Exe: []byte("/usr/bin/x"), Path: []byte(path), Prot: 5, Device: loadsource.Device{Major: 8, Minor: 1}, Inode: 42}
}

// send delivers evs and waits until the stream has buffered them.
func send(t *testing.T, s *loadstream.Stream, src *fakeSource, evs ...loadsource.Event) {
	t.Helper()
	want := s.Status().Buffer.LastEID + uint64(len(evs))
	for _, e := range evs {
		src.ch <- e
	}
	for range 1000 {
		if s.Status().Buffer.LastEID >= want {
			return
		}
		time.Sleep(2 * time.Millisecond)
	}
	t.Fatalf("the stream did not buffer %d events", len(evs))
}

func eids(t *testing.T, tbl *table.Table, q table.Query) []string {
	t.Helper()
	rows, err := tbl.Generate(context.Background(), q)
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, r := range rows {
		out = append(out, rowMap(tbl, r)["eid"])
	}
	return out
}

// osquery's evented-table semantics: an ad hoc query sees every buffered
// event every time; a scheduled query sees each event once, in its first
// run every event buffered so far; two scheduled queries keep their own
// positions; a second call within one run sees what the first saw; a
// time constraint returns its range and moves no position.
func TestScheduledAndAdHocReads(t *testing.T) {
	src := newFake()
	now := time.Unix(1_800_000_000, 0)
	s, tbl, _ := fakeStream(t, src, loadstream.Config{})
	if err := s.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	send(t, s, src, load(10, "/tmp/a.so", now), load(11, "/usr/lib/b.so", now.Add(time.Second)))

	a := table.Query{Scheduled: "pack_a"}
	b := table.Query{Scheduled: "pack_b"}
	check := func(what string, got []string, want ...string) {
		t.Helper()
		if len(got) != len(want) {
			t.Errorf("%s: eids %v, want %v", what, got, want)
			return
		}
		for i := range got {
			if got[i] != want[i] {
				t.Errorf("%s: eids %v, want %v", what, got, want)
				return
			}
		}
	}
	check("ad hoc", eids(t, tbl, table.Query{}), "1", "2")
	check("pack_a first run", eids(t, tbl, a), "1", "2")
	check("pack_a next run, nothing new", eids(t, tbl, a))
	send(t, s, src, load(12, "/tmp/c.so", now.Add(2*time.Second)))
	check("pack_a after one more", eids(t, tbl, a), "3")
	check("pack_b first run", eids(t, tbl, b), "1", "2", "3")
	check("ad hoc still sees all", eids(t, tbl, table.Query{}), "1", "2", "3")

	// One run, two calls (a join's inner loop): the same events.
	run := table.Query{Scheduled: "pack_c", Execution: "17"}
	check("pack_c run 17", eids(t, tbl, run), "1", "2", "3")
	check("pack_c run 17 again", eids(t, tbl, run), "1", "2", "3")
	run.Execution = "18"
	check("pack_c run 18", eids(t, tbl, run))

	// time >= t+1 AND time < t+2: the second event only, positions kept.
	ts := strconv.FormatInt(now.Unix(), 10)
	ts1 := strconv.FormatInt(now.Unix()+1, 10)
	ts2 := strconv.FormatInt(now.Unix()+2, 10)
	rng := table.Query{Scheduled: "pack_a", Constraints: map[string][]table.Constraint{"time": {
		{Op: table.OpGreaterOrEqual, Expr: ts1}, {Op: table.OpLessThan, Expr: ts2},
	}}}
	check("time range", eids(t, tbl, rng), "2")
	eq := table.Query{Constraints: map[string][]table.Constraint{"time": {{Op: table.OpEquals, Expr: ts}}}}
	check("time =", eids(t, tbl, eq), "1")
	gt := table.Query{Constraints: map[string][]table.Constraint{"time": {{Op: table.OpGreaterThan, Expr: ts1}}}}
	check("time >", eids(t, tbl, gt), "3")
	send(t, s, src, load(13, "/tmp/d.so", now.Add(3*time.Second)))
	check("pack_a's position survived the time query", eids(t, tbl, a), "4")

	// pid is an index column: only that process.
	check("pid = 11", eids(t, tbl, table.PIDQuery([]int{11})), "2")
}

// Rows render the event and the judge's verdict; memfd_create and an
// ordinary exec are not judged.
func TestRowValues(t *testing.T) {
	src := newFake()
	s, tbl, _ := fakeStream(t, src, loadstream.Config{})
	if err := s.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	at := time.Unix(1_800_000_100, 0)
	exec := loadsource.Event{Kind: loadsource.KindExec, Time: at, PID: 20, PPID: 1, Comm: "ldr", Path: []byte("/tmp/ldr"),
		Argv: [][]byte{[]byte("/tmp/ldr"), []byte("--go")}}
	mfd := loadsource.Event{Kind: loadsource.KindMemfdCreate, Time: at, PID: 20, PPID: 1, Comm: "ldr", Exe: []byte("/tmp/ldr"),
		Path: []byte("/memfd:x"), Memfd: true, Deleted: true}
	mm := load(20, "/memfd:x", at)
	mm.Memfd, mm.Deleted, mm.Exe = true, true, []byte("/tmp/ldr")
	send(t, s, src, exec, mfd, mm)
	rows, err := tbl.Generate(context.Background(), table.Query{})
	if err != nil || len(rows) != 3 {
		t.Fatalf("%d rows, %v", len(rows), err)
	}
	e, c, m := rowMap(tbl, rows[0]), rowMap(tbl, rows[1]), rowMap(tbl, rows[2])
	if e["kind"] != "exec" || e["is_exec_image"] != "1" || e["process_path"] != "/tmp/ldr" || e["cmdline"] != "/tmp/ldr --go" || e["reasons"] != "" {
		t.Errorf("exec: %v", e)
	}
	if c["kind"] != "memfd_create" || c["reasons"] != "" || c["memfd"] != "1" {
		t.Errorf("memfd_create: %v", c)
	}
	// The load takes its command line from the exec event, not /proc.
	if m["reasons"] != "memfd" || m["severity"] != "high" || m["cmdline"] != "/tmp/ldr --go" || m["protection"] != "r-x" ||
		m["device"] != "8:1" || m["inode"] != "42" || m["deleted"] != "1" || m["time"] != "1800000100" {
		t.Errorf("load: %v", m)
	}
}

// Expiry (the --events_expiry flag's setting) removes old events; the
// status table counts them and says the expiry.
func TestExpiryAndStatusCounters(t *testing.T) {
	src := newFake()
	var mu sync.Mutex
	clock := time.Unix(1_800_000_000, 0)
	now := func() time.Time { mu.Lock(); defer mu.Unlock(); return clock }
	s, tbl, st := fakeStream(t, src, loadstream.Config{Expiry: 60 * time.Second, MaxEvents: 2, Now: now})
	if err := s.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	send(t, s, src, load(1, "/tmp/a.so", clock), load(2, "/tmp/b.so", clock), load(3, "/tmp/c.so", clock))
	if got := eids(t, tbl, table.Query{}); len(got) != 2 || got[0] != "2" {
		t.Errorf("MaxEvents 2 kept %v", got)
	}
	mu.Lock()
	clock = clock.Add(61 * time.Second)
	mu.Unlock()
	if got := eids(t, tbl, table.Query{}); len(got) != 0 {
		t.Errorf("after the expiry: %v", got)
	}
	rows, err := st.Generate(context.Background(), table.Query{})
	if err != nil || len(rows) != 1 {
		t.Fatal(rows, err)
	}
	m := rowMap(st, rows[0])
	want := map[string]string{"state": "running", "expiry": "60", "buffer_dropped": "1", "expired": "2", "buffered": "0",
		"last_eid": "3", "ring_drops": "3", "queue_drops": "2", "drops": "5", "emitted": "7"}
	for k, v := range want {
		if m[k] != v {
			t.Errorf("status %s = %q, want %q", k, m[k], v)
		}
	}
}

// A source that cannot run: no rows, no error, and the status says why.
func TestUnavailableSourceHasNoRowsAndAReason(t *testing.T) {
	src := newFake()
	src.startErr = &loadsource.UnavailableError{Reason: "kernel BTF not found"}
	_, tbl, st := fakeStream(t, src, loadstream.Config{})
	rows, err := tbl.Generate(context.Background(), table.Query{})
	if err != nil || len(rows) != 0 {
		t.Errorf("unavailable source: %d rows, %v", len(rows), err)
	}
	srows, err := st.Generate(context.Background(), table.Query{})
	if err != nil || len(srows) != 1 {
		t.Fatal(srows, err)
	}
	m := rowMap(st, srows[0])
	if m["state"] != "unavailable" || m["reason"] != "load events unavailable: kernel BTF not found" {
		t.Errorf("status: state %q reason %q", m["state"], m["reason"])
	}
}

// --disable_events: the same, with the flag as the reason.
func TestDisabledStream(t *testing.T) {
	s := loadstream.New(loadstream.Config{Disabled: true})
	st, err := loadevents.NewStatus(deps.Deps{LoadEvents: s})
	if err != nil {
		t.Fatal(err)
	}
	rows, err := st.Generate(context.Background(), table.Query{})
	if err != nil {
		t.Fatal(err)
	}
	m := rowMap(st, rows[0])
	if m["state"] != "unavailable" || m["reason"] != loadstream.ErrDisabled.Error() {
		t.Errorf("disabled: %v", m)
	}
}

// Sigma on the stream: a rule matching the event's Sysmon fields is
// recorded on the load, and a subscriber (watch) receives it.
func TestRulesMatchOnArrival(t *testing.T) {
	engine, _, err := detections.Load(true, nil)
	if err != nil {
		t.Fatal(err)
	}
	src := newFake()
	s, tbl, _ := fakeStream(t, src, loadstream.Config{Rules: engine})
	sub, cancel := s.Subscribe()
	defer cancel()
	if err := s.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	send(t, s, src, load(5, "/tmp/x/libevil.so", time.Now()), load(6, "/usr/lib/x86_64-linux-gnu/libc.so.6", time.Now()))
	l1, l2 := <-sub, <-sub
	if len(l1.Matches) == 0 || l1.Matches[0].Title != "Shared Object Loaded From A Temporary Folder" || len(l2.Matches) != 0 {
		t.Errorf("matches: %v / %v", l1.Matches, l2.Matches)
	}
	rows, _ := tbl.Generate(context.Background(), table.Query{})
	if m := rowMap(tbl, rows[0]); m["rules"] != "Shared Object Loaded From A Temporary Folder" {
		t.Errorf("rules column %q", m["rules"])
	}
}

func TestProtection(t *testing.T) {
	for prot, want := range map[uint64]string{0: "---", 1: "r--", 5: "r-x", 7: "rwx", 4: "--x"} {
		if got := loadevents.Protection(prot); got != want {
			t.Errorf("Protection(%d) = %q, want %q", prot, got, want)
		}
	}
}

// rowMap names a row's values by column.
func rowMap(tbl *table.Table, r table.Row) map[string]string {
	m := make(map[string]string, len(r))
	for i, c := range tbl.Columns {
		m[c.Name] = r[i]
	}
	return m
}

// A pid the kernel gave to another program since its exec event: the
// command line of the old one is not carried over.
func TestReusedPIDDoesNotInheritCmdline(t *testing.T) {
	src := newFake()
	s, tbl, _ := fakeStream(t, src, loadstream.Config{})
	if err := s.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	const pid = 4000000001 // beyond pid_max: procfs has nothing to say
	at := time.Unix(1_800_000_000, 0)
	exec := loadsource.Event{Kind: loadsource.KindExec, Time: at, PID: pid, Path: []byte("/usr/bin/a"), Argv: [][]byte{[]byte("a"), []byte("1")}}
	same := load(pid, "/tmp/x.so", at)
	same.Exe = []byte("/usr/bin/a")
	other := load(pid, "/tmp/y.so", at)
	other.Exe = []byte("/usr/bin/b")
	send(t, s, src, exec, same, other)
	rows, err := tbl.Generate(context.Background(), table.Query{})
	if err != nil || len(rows) != 3 {
		t.Fatal(len(rows), err)
	}
	if got := rowMap(tbl, rows[1])["cmdline"]; got != "a 1" {
		t.Errorf("the exec'd program's load: cmdline %q", got)
	}
	if got := rowMap(tbl, rows[2])["cmdline"]; got != "" {
		t.Errorf("another program under the same pid: cmdline %q, want none", got)
	}
}
