package inventory

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"log/slog"
	"os"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/modhunt/modhunt/internal/safefile"
)

// maxPasswd bounds the user database read: a directory-backed host keeps
// its users elsewhere, and a local file of this size is already huge.
const maxPasswd = 4 << 20

// userDB maps uids to names from a passwd file, read again only when the
// file changes (its size or modification time, in nanoseconds).
type userDB struct {
	path string
	mu   sync.Mutex
	// stamp identifies the file the names were read from.
	stamp struct {
		size  int64
		mtime time.Time
		ok    bool
	}
	names map[int64]string
}

func newUserDB(path string) *userDB { return &userDB{path: path} }

// snapshot returns the uid-to-name map; the caller must not change it.
// An unreadable file gives the last names read (none at first): User then
// falls back to the numeric uid.
func (u *userDB) snapshot(ctx context.Context, log *slog.Logger) map[int64]string {
	u.mu.Lock()
	defer u.mu.Unlock()
	st, err := os.Stat(u.path)
	if err != nil {
		log.DebugContext(ctx, "user database unreadable", "path", u.path, "err", err)
		return u.names
	}
	if u.stamp.ok && u.stamp.size == st.Size() && u.stamp.mtime.Equal(st.ModTime()) {
		return u.names
	}
	names, err := readPasswd(u.path)
	if err != nil {
		log.DebugContext(ctx, "user database unreadable", "path", u.path, "err", err)
		return u.names
	}
	u.names = names
	u.stamp.size, u.stamp.mtime, u.stamp.ok = st.Size(), st.ModTime(), true
	return u.names
}

// readPasswd reads name:password:uid:... lines; the first name of a uid
// wins, as getpwuid returns it.
func readPasswd(path string) (map[int64]string, error) {
	// A FIFO put in its place must not hang the scan.
	data, err := safefile.Read(path, maxPasswd, false)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return parsePasswd(data), nil
}

func parsePasswd(data []byte) map[int64]string {
	names := map[int64]string{}
	sc := bufio.NewScanner(bytes.NewReader(data))
	sc.Buffer(make([]byte, 0, 4096), maxPasswd)
	for sc.Scan() {
		line := sc.Text()
		if line == "" || line[0] == '#' || line[0] == '+' || line[0] == '-' {
			continue // comments and NIS compat entries name no local user
		}
		f := strings.SplitN(line, ":", 4)
		if len(f) < 4 || f[0] == "" {
			continue
		}
		uid, err := strconv.ParseInt(f[2], 10, 64)
		if err != nil || uid < 0 {
			continue
		}
		if _, seen := names[uid]; !seen {
			names[uid] = f[0]
		}
	}
	return names
}
