package untrusted

import (
	"os"
	"strconv"
	"sync"
	"time"

	"golang.org/x/sys/unix"
)

// hostPreloadPath is the host's preload file; tests point it elsewhere.
var hostPreloadPath = "/etc/ld.so.preload"

// hostPreloadEvery bounds how often JudgeLoad looks at the host's preload
// file: loads come by the thousand a second, and the file rarely changes.
const hostPreloadEvery = time.Second

// hostPreloadCache holds the entries of the host's /etc/ld.so.preload,
// read again when the file's identity changes.
type hostPreloadCache struct {
	mu      sync.Mutex
	checked time.Time
	id      [4]int64 // dev, inode, size, mtime
	entries []string
}

// hostPreloads is the host's /etc/ld.so.preload, read as ld.so reads it
// (readPreloadFile); nil when there is none. The file is opened without
// blocking and only when it is a regular file.
func (j *Judge) hostPreloads() []string {
	c := &j.hostPreload
	c.mu.Lock()
	defer c.mu.Unlock()
	if time.Since(c.checked) < hostPreloadEvery && !c.checked.IsZero() {
		return c.entries
	}
	c.checked = time.Now()
	// As ld.so does, a symlink is followed (hiding the file behind one must
	// not hide it from us). The name is checked through an O_PATH handle
	// before anything is opened for reading: opening a device acts on it.
	pfd, err := unix.Open(hostPreloadPath, unix.O_PATH|unix.O_CLOEXEC, 0)
	if err != nil {
		c.id, c.entries = [4]int64{}, nil
		return nil
	}
	defer func() { _ = unix.Close(pfd) }()
	var st unix.Stat_t
	if err := unix.Fstat(pfd, &st); err != nil || st.Mode&unix.S_IFMT != unix.S_IFREG {
		c.id, c.entries = [4]int64{}, nil
		return nil
	}
	id := [4]int64{int64(st.Dev), int64(st.Ino), st.Size, st.Mtim.Nano()}
	if id == c.id {
		return c.entries
	}
	fd, err := unix.Open("/proc/self/fd/"+strconv.Itoa(pfd), unix.O_RDONLY|unix.O_CLOEXEC|unix.O_NONBLOCK|unix.O_NOCTTY, 0)
	if err != nil {
		return c.entries
	}
	f := os.NewFile(uintptr(fd), hostPreloadPath)
	defer func() { _ = f.Close() }()
	var l preloadList
	if err := readPreloadFile(f, st.Size, &l); err != nil {
		j.s.log.Warn("reading the host's preload file", "path", hostPreloadPath, "err", err)
	}
	c.id, c.entries = id, l.entries()
	return c.entries
}
