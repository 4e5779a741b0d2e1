package inventory

import (
	"context"
	"log/slog"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/modhunt/modhunt/test/sim"
)

func TestUserDBRefusesAFIFO(t *testing.T) {
	t.Parallel()
	p := filepath.Join(t.TempDir(), "passwd")
	sim.FIFO(t, p)
	var names map[int64]string
	err := sim.Prompt(t, "reading a FIFO as the user database", func() error {
		names = newUserDB(p).snapshot(context.Background(), slog.New(slog.DiscardHandler))
		return nil
	})
	require.NoError(t, err)
	assert.Empty(t, names)
}

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
