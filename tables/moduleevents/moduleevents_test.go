package moduleevents

import (
	"bytes"
	"context"
	"log/slog"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/modhunt/modhunt/detections"
	"github.com/modhunt/modhunt/tables/inventory"
)

func TestParsePasswd(t *testing.T) {
	t.Parallel()
	names := parsePasswd([]byte("root:x:0:0:root:/root:/bin/bash\n" +
		"# a comment:x:5:5\n" +
		"toor:x:0:0:second name for uid 0:/root:/bin/sh\n" +
		"+nisuser:x:77:77::/:\n" +
		"daemon:x:1:1:daemon:/usr/sbin:/usr/sbin/nologin\n" +
		"broken:x:notanumber:1:::\n" +
		"short:x\n" +
		":x:9:9:no name::\n" +
		"nobody:x:65534:65534:nobody:/nonexistent:/usr/sbin/nologin\n" +
		"big:x:4294967294:1:::\n"))
	assert.Equal(t, map[int64]string{0: "root", 1: "daemon", 65534: "nobody", 4294967294: "big"}, names)
}

func TestUserDBRereadsOnlyWhenTheFileChanges(t *testing.T) {
	t.Parallel()
	p := filepath.Join(t.TempDir(), "passwd")
	require.NoError(t, os.WriteFile(p, []byte("root:x:0:0::/:\n"), 0o644))
	db := newUserDB(p)
	log := slog.New(slog.DiscardHandler)
	ctx := context.Background()
	first := db.snapshot(ctx, log)
	assert.Equal(t, map[int64]string{0: "root"}, first)
	// Unchanged: the same map, not a re-read.
	assert.Equal(t, map[int64]string{0: "root"}, db.snapshot(ctx, log))
	first[0] = "marker"
	assert.Equal(t, "marker", db.snapshot(ctx, log)[0], "an unchanged file is not read again")

	require.NoError(t, os.WriteFile(p, []byte("root:x:0:0::/:\nalice:x:1000:1000::/home/alice:\n"), 0o644))
	later := time.Now().Add(time.Minute)
	require.NoError(t, os.Chtimes(p, later, later))
	assert.Equal(t, map[int64]string{0: "root", 1000: "alice"}, db.snapshot(ctx, log))

	// Gone: the last names read stay in use.
	require.NoError(t, os.Remove(p))
	assert.Equal(t, map[int64]string{0: "root", 1000: "alice"}, db.snapshot(ctx, log))
}

func TestTakeVerdict(t *testing.T) {
	t.Parallel()
	old := &verdict{path: "/usr/lib/libx.so", reasons: []string{"deleted"}}
	vs := map[verdictKey][]*verdict{
		{1, "/tmp/a.so"}:        {{path: "/tmp/a.so", reasons: []string{"temp_dir"}, sha256: "aa"}},
		{1, "/usr/lib/libx.so"}: {old},
	}
	a := takeVerdict(vs, 1, &inventory.Module{Path: "/tmp/a.so"})
	require.NotNil(t, a)
	assert.Equal(t, []string{"temp_dir"}, a.reasons)
	assert.Nil(t, takeVerdict(vs, 2, &inventory.Module{Path: "/tmp/a.so"}), "another pid's row is not this one's")
	assert.Nil(t, takeVerdict(vs, 1, &inventory.Module{Path: "/tmp/b.so"}))

	// A library replaced under a running process: the old file (deleted)
	// and the new one share a path; only the deleted one has a row.
	vs[verdictKey{1, "/usr/lib/libx.so"}] = []*verdict{old, {path: "/usr/lib/libx.so", reasons: []string{"user_writable"}}}
	fresh := takeVerdict(vs, 1, &inventory.Module{Path: "/usr/lib/libx.so"})
	require.NotNil(t, fresh)
	assert.Equal(t, []string{"user_writable"}, fresh.reasons)
	gone := takeVerdict(vs, 1, &inventory.Module{Path: "/usr/lib/libx.so", Deleted: true})
	assert.Same(t, old, gone)
}

// TestMarshalFieldsIsWhatDetectReads: the JSON line decodes back to the
// same event, so a recording replays exactly.
func TestMarshalFieldsIsWhatDetectReads(t *testing.T) {
	t.Parallel()
	ev := detections.Event{
		Platform: detections.PlatformLinux, ProcessId: 42, Image: "/usr/bin/python3.11", ImageLoaded: "/tmp/<x>&.so",
		User: "root", CommandLine: `python3 -c "import ctypes"`, ParentProcessId: 1, ParentImage: "/usr/lib/systemd/systemd",
		ProcessModules: []string{"python3.11", "x.so"}, UntrustedReasons: []string{"outside_trusted_dirs", "temp_dir"},
		Hashes: "SHA256=ab", InLoaderList: true,
	}
	line, err := MarshalFields(&ev)
	require.NoError(t, err)
	assert.NotContains(t, string(line), "\n")
	assert.Contains(t, string(line), `"ImageLoaded":"/tmp/<x>&.so"`, "no HTML escaping: paths stay readable")
	n := 0
	_, err = detections.ReadEvents(bytes.NewReader(line), "line", "", func(_ int, got *detections.Event) error {
		n++
		assert.Equal(t, ev, *got)
		return nil
	})
	require.NoError(t, err)
	assert.Equal(t, 1, n)
}
