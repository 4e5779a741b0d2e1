package loadsource

import (
	"bytes"
	"os"
	"strconv"

	"github.com/modhunt/modhunt/internal/boundmap"
)

// exeCacheSize is the kernel side's exe_map's slot count. That map is
// direct-mapped by tgid and this cache keeps the most recent processes, so
// a process the kernel remembers as sent is nearly always one this cache
// still holds; when it is not (more than 16,384 processes sent their paths
// since, or the event that carried its path was dropped), fill reads /proc.
const exeCacheSize = 16384

// exeCache gives back the executable path the kernel side sends once per
// process image (EV_EXE_SENT on the events after the first): from the exec
// event's path or the first load's Exe. Only the reader goroutine uses it.
type exeCache struct {
	m    *boundmap.Map[uint32, exeEntry]
	proc string
	// misses counts events whose path had to be read from procfs (the
	// event that carried it was dropped, or arrived later from another
	// CPU); readlink fails once the process is gone.
	misses uint64
}

type exeEntry struct {
	path      []byte
	truncated bool
}

func newExeCache(n int, procFS string) *exeCache {
	return &exeCache{m: boundmap.New[uint32, exeEntry](n), proc: procFS}
}

func (c *exeCache) put(pid uint32, e exeEntry) { c.m.Put(pid, e) }

// fill records what ev says of its process's executable, or fills in
// what the kernel side left out.
func (c *exeCache) fill(ev *Event) {
	switch {
	case ev.Kind == KindExec:
		if !ev.PathTruncated && !ev.NoFile {
			c.put(ev.PID, exeEntry{path: ev.Path})
		}
	case ev.exeSent:
		if e, ok := c.m.Get(ev.PID); ok {
			ev.Exe, ev.AuxTruncated = e.path, ev.AuxTruncated || e.truncated
			return
		}
		c.misses++
		if p, err := os.Readlink(c.proc + "/" + strconv.FormatUint(uint64(ev.PID), 10) + "/exe"); err == nil {
			ev.Exe = bytes.TrimSuffix([]byte(p), []byte(" (deleted)"))
			c.put(ev.PID, exeEntry{path: ev.Exe})
		}
	case len(ev.Exe) > 0:
		c.put(ev.PID, exeEntry{path: ev.Exe, truncated: ev.AuxTruncated})
	}
}
