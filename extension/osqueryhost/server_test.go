//go:build !windows

package osqueryhost

import (
	"bytes"
	"context"
	"errors"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/modhunt/modhunt/tables/table"
	"github.com/modhunt/modhunt/test/osquery/osqueryd"
	"github.com/modhunt/modhunt/test/sim"
)

// served is one Serve call running against a manager double.
type served struct {
	mgr  *osqueryd.Manager
	logs *sim.SyncBuffer
	stop context.CancelFunc
	done chan error
	ext  osqueryd.Extension
}

// shortDir returns a temp dir short enough for unix socket paths (~104
// bytes, and osquery-go allows 97 for the manager's).
func shortDir(t testing.TB) string { return sim.TempDirIn(t, "/tmp", "mh") }

func startServe(t *testing.T, tables ...*table.Table) *served {
	t.Helper()
	mgr, err := osqueryd.Listen(filepath.Join(shortDir(t), "osquery.em"), 5*time.Second)
	require.NoError(t, err)
	t.Cleanup(mgr.Close)

	s := &served{mgr: mgr, logs: &sim.SyncBuffer{}, done: make(chan error, 1)}
	ctx, stop := context.WithCancel(context.Background())
	s.stop = stop
	t.Cleanup(func() {
		stop()
		select {
		case err := <-s.done:
			assert.NoError(t, err)
		case <-time.After(10 * time.Second):
			t.Error("Serve did not return after its context was cancelled")
		}
	})
	cfg := Config{
		Name: "modhunt", Version: "test", Socket: mgr.Path(),
		Timeout: 2 * time.Second, Interval: 50 * time.Millisecond,
		Tables: tables, Guard: table.NewGuard(time.Second, 2, nil),
		Log: slog.New(slog.NewTextHandler(s.logs, &slog.HandlerOptions{Level: slog.LevelDebug})),
	}
	go func() {
		err := Serve(ctx, cfg)
		s.done <- err
		s.done <- err // once for the test, once for the cleanup
	}()

	wctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	s.ext, err = mgr.WaitRegistered(wctx, "modhunt")
	require.NoError(t, err, "logs:\n%s", s.logs)
	require.NoError(t, mgr.WaitListening(wctx, s.ext.UUID), "logs:\n%s", s.logs)
	return s
}

func (s *served) wait(t *testing.T) error {
	t.Helper()
	select {
	case err := <-s.done:
		return err
	case <-time.After(10 * time.Second):
		t.Fatalf("Serve did not return; logs:\n%s", s.logs)
		return nil
	}
}

func fakeModules(rows ...table.Row) *table.Table {
	f := &fakeTable{gen: func(_ context.Context, q table.Query) ([]table.Row, error) {
		pids := q.Equals("pid")
		var out []table.Row
		for _, r := range rows {
			if pids == nil || contains(pids, r[0]) {
				out = append(out, r)
			}
		}
		return out, nil
	}}
	return f.table()
}

func contains(xs []string, x string) bool {
	for _, y := range xs {
		if x == y {
			return true
		}
	}
	return false
}

func TestServeRegistersAndAnswers(t *testing.T) {
	tbl := fakeModules(table.Row{"1", "/sbin/init", "4096", "0"}, table.Row{"2", "/usr/lib/libc.so.6", "8192", "1"})
	s := startServe(t, tbl)

	assert.Equal(t, "test", s.ext.Version)
	cols, err := s.ext.Columns("fake_modules")
	require.NoError(t, err)
	require.Len(t, cols, 4)
	assert.Equal(t, osqueryd.Column{Name: "pid", Type: "BIGINT", Op: osqueryd.OptIndex | osqueryd.OptOptimized}, cols[0])

	ctx := t.Context()
	resp, err := s.mgr.Generate(ctx, s.ext.UUID, "fake_modules", osqueryd.QueryContext{
		Columns:     cols,
		Constraints: map[string][]osqueryd.Constraint{"pid": osqueryd.In("2")},
	})
	require.NoError(t, err)
	require.Equal(t, int32(0), resp.Status.Code, resp.Status.Message)
	assert.Equal(t, []map[string]string{{"pid": "2", "path": "/usr/lib/libc.so.6", "size": "8192", "deleted": "1"}}, []map[string]string(resp.Response))

	st, err := s.mgr.PingExtension(ctx, s.ext.UUID)
	require.NoError(t, err)
	assert.Equal(t, int32(0), st.Code)

	// A stop request (SIGTERM in the binary) deregisters and returns nil.
	s.stop()
	require.NoError(t, s.wait(t))
	assert.Contains(t, s.mgr.Events(), "deregister "+itoa(s.ext.UUID))
	assert.Contains(t, s.logs.String(), "extension stopping")
	_, err = os.Stat(s.mgr.ExtensionSocket(s.ext.UUID))
	assert.True(t, errors.Is(err, os.ErrNotExist), "the extension's socket is gone: %v", err)
}

func TestServeEndsWhenOsqueryGoesAway(t *testing.T) {
	s := startServe(t, fakeModules())
	s.mgr.Disappear()
	require.NoError(t, s.wait(t))
	assert.Contains(t, s.logs.String(), "osquery extension manager went away")
	assert.NotContains(t, s.logs.String(), "deregistering from osquery failed", "no deregistration is tried with nobody to hear it")
}

func TestServeEndsOnShutdownCall(t *testing.T) {
	s := startServe(t, fakeModules())
	require.NoError(t, s.mgr.ShutdownExtension(t.Context(), s.ext.UUID))
	require.NoError(t, s.wait(t))
	assert.Contains(t, s.logs.String(), "osquery asked the extension to shut down")
	assert.Contains(t, s.mgr.Events(), "deregister "+itoa(s.ext.UUID))
}

func TestServeFailsWithoutSocket(t *testing.T) {
	t.Parallel()
	sock := filepath.Join(shortDir(t), "missing.em")
	start := time.Now()
	err := Serve(t.Context(), Config{
		Name: "modhunt", Socket: sock, Timeout: 300 * time.Millisecond, Interval: time.Second,
		Guard: table.NewGuard(0, 0, nil),
	})
	require.ErrorIs(t, err, ErrNoSocket)
	assert.Contains(t, err.Error(), sock)
	assert.Less(t, time.Since(start), 5*time.Second, "the wait is bounded by the timeout")
}

func TestServeFailsOnDuplicateRegistration(t *testing.T) {
	s := startServe(t, fakeModules())
	err := Serve(t.Context(), Config{
		Name: "modhunt", Socket: s.mgr.Path(), Timeout: time.Second, Interval: time.Second,
		Guard: table.NewGuard(0, 0, nil),
	})
	require.Error(t, err)
	assert.Contains(t, err.Error(), "Duplicate extension registered")
}

func TestServeRejectsBadConfig(t *testing.T) {
	t.Parallel()
	long := "/tmp/" + string(bytes.Repeat([]byte("s"), 100))
	for name, cfg := range map[string]Config{
		"no socket":    {Name: "modhunt", Timeout: time.Second, Interval: time.Second, Guard: table.NewGuard(0, 0, nil)},
		"long socket":  {Name: "modhunt", Socket: long, Timeout: time.Second, Interval: time.Second, Guard: table.NewGuard(0, 0, nil)},
		"no interval":  {Name: "modhunt", Socket: "/tmp/x.em", Timeout: time.Second, Guard: table.NewGuard(0, 0, nil)},
		"no timeout":   {Name: "modhunt", Socket: "/tmp/x.em", Interval: time.Second, Guard: table.NewGuard(0, 0, nil)},
		"no guard":     {Name: "modhunt", Socket: "/tmp/x.em", Timeout: time.Second, Interval: time.Second},
		"no name":      {Socket: "/tmp/x.em", Timeout: time.Second, Interval: time.Second, Guard: table.NewGuard(0, 0, nil)},
		"broken table": {Name: "modhunt", Socket: "/tmp/x.em", Timeout: time.Second, Interval: time.Second, Guard: table.NewGuard(0, 0, nil), Tables: []*table.Table{{Spec: table.Spec{Name: "x"}}}},
	} {
		err := Serve(t.Context(), cfg)
		assert.Error(t, err, name)
		assert.NotErrorIs(t, err, ErrNoSocket, name)
	}
}

func TestStaleSocketIsReplaced(t *testing.T) {
	t.Parallel()
	dir := shortDir(t)
	stale := filepath.Join(dir, "osquery.em.7")
	// A socket nobody listens on, as a crashed extension leaves behind.
	ln, err := listenUnixKeepFile(stale)
	require.NoError(t, err)
	require.NoError(t, ln.Close())
	_, err = os.Lstat(stale)
	require.NoError(t, err, "the stale socket file stays")

	removeStaleSocket(stale)
	_, err = os.Lstat(stale)
	assert.ErrorIs(t, err, os.ErrNotExist)

	live, err := listenUnixKeepFile(stale)
	require.NoError(t, err)
	defer func() { assert.NoError(t, live.Close()) }()
	removeStaleSocket(stale)
	_, err = os.Lstat(stale)
	assert.NoError(t, err, "a live socket is left alone")

	plain := filepath.Join(dir, "plain")
	require.NoError(t, os.WriteFile(plain, nil, 0o600))
	removeStaleSocket(plain)
	_, err = os.Lstat(plain)
	assert.NoError(t, err, "only sockets are removed")
}

// listenUnixKeepFile listens on path and leaves the socket file behind when
// closed, as a process that dies without cleaning up does.
func listenUnixKeepFile(path string) (*net.UnixListener, error) {
	ln, err := net.ListenUnix("unix", &net.UnixAddr{Name: path, Net: "unix"})
	if err != nil {
		return nil, err
	}
	ln.SetUnlinkOnClose(false)
	return ln, nil
}

func itoa(n int64) string { return strconv.FormatInt(n, 10) }

func TestServeWaitsForARestartingOsquery(t *testing.T) {
	sock := filepath.Join(shortDir(t), "osquery.em")
	// osqueryd's old socket, still on disk, refusing connections.
	old, err := listenUnixKeepFile(sock)
	require.NoError(t, err)
	require.NoError(t, old.Close())

	logs := &sim.SyncBuffer{}
	ctx, stop := context.WithCancel(t.Context())
	done := make(chan error, 1)
	go func() {
		done <- Serve(ctx, Config{
			Name: "modhunt", Socket: sock, Timeout: 5 * time.Second, Interval: 50 * time.Millisecond,
			Guard: table.NewGuard(0, 0, nil), Log: slog.New(slog.NewTextHandler(logs, nil)),
		})
	}()

	time.Sleep(500 * time.Millisecond) // several refused attempts
	require.NoError(t, os.Remove(sock))
	mgr, err := osqueryd.Listen(sock, 5*time.Second)
	require.NoError(t, err)
	t.Cleanup(mgr.Close)

	wctx, cancel := context.WithTimeout(t.Context(), 5*time.Second)
	defer cancel()
	_, err = mgr.WaitRegistered(wctx, "modhunt")
	require.NoError(t, err, "logs:\n%s", logs)
	stop()
	select {
	case err := <-done:
		require.NoError(t, err)
	case <-time.After(10 * time.Second):
		t.Fatal("Serve did not return")
	}
}

func TestServeStoppedWhileWaitingForOsquery(t *testing.T) {
	t.Parallel()
	logs := &sim.SyncBuffer{}
	ctx, stop := context.WithCancel(t.Context())
	time.AfterFunc(100*time.Millisecond, stop)
	err := Serve(ctx, Config{
		Name: "modhunt", Socket: filepath.Join(shortDir(t), "osquery.em"), Timeout: time.Second, Interval: time.Second,
		Guard: table.NewGuard(0, 0, nil), Log: slog.New(slog.NewTextHandler(logs, nil)),
	})
	require.NoError(t, err, "a stop request is not a failure, even before osqueryd answered")
	assert.Contains(t, logs.String(), "extension stopping before osquery answered")
}

// TestServeSendsOnlyUsedColumns is SELECT path FROM fake_modules WHERE
// pid = 2 as osqueryd sends it over Thrift: the table hears which columns
// are read, and the rows carry no key for any other.
func TestServeSendsOnlyUsedColumns(t *testing.T) {
	f := &fakeTable{gen: func(context.Context, table.Query) ([]table.Row, error) {
		return []table.Row{{"2", "/usr/lib/libc.so.6", "8192", "1"}}, nil
	}}
	s := startServe(t, f.table())
	cols, err := s.ext.Columns("fake_modules")
	require.NoError(t, err)
	resp, err := s.mgr.Generate(t.Context(), s.ext.UUID, "fake_modules", osqueryd.QueryContext{
		Columns:     cols,
		Constraints: map[string][]osqueryd.Constraint{"pid": osqueryd.In("2")},
		Used:        []string{"path"},
	})
	require.NoError(t, err)
	require.Equal(t, int32(0), resp.Status.Code, resp.Status.Message)
	assert.Equal(t, []map[string]string{{"pid": "2", "path": "/usr/lib/libc.so.6"}}, []map[string]string(resp.Response))
	assert.Equal(t, []string{"path", "pid"}, usedOf(f.lastQuery(t)))
}
