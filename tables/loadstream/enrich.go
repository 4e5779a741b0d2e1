package loadstream

import (
	"bytes"
	"os"
	"os/user"
	"path/filepath"
	"strconv"
	"strings"
	"sync"

	"github.com/modhunt/modhunt/detections"
	"github.com/modhunt/modhunt/internal/loadsource"
	"github.com/modhunt/modhunt/tables/verdict"
)

// maxCmdline bounds a command line read from procfs (the kernel side
// bounds an exec's argv to 1 KiB).
const maxCmdline = 4096

// enrich turns a kernel event into a Load: process context, trust reasons,
// Sigma matches. It runs once per event, on the pump's goroutine.
func (s *Stream) enrich(ev loadsource.Event) *Load {
	l := &Load{Event: ev}
	if ev.Kind == loadsource.KindExec {
		l.Cmdline = joinArgv(ev.Argv)
		s.procs.exec(ev.PID, string(ev.Path), l.Cmdline)
	} else {
		l.Cmdline = s.procs.cmdline(ev.PID, string(ev.Exe))
	}
	l.ParentPath = s.procs.exe(ev.PPID)
	l.User = s.procs.user(ev.UID)
	l.Judged = judged(&ev)
	if !l.Judged {
		return l
	}
	if s.cfg.Judge != nil {
		reasons, pkg := s.cfg.Judge.JudgeLoad(verdict.LoadFacts{
			ProcessPath: l.ProcessPath(), ProcessName: ev.Comm, Path: string(ev.Path),
			Deleted: ev.Deleted, Memfd: ev.Memfd, Mode: ev.Mode, PathTruncated: ev.PathTruncated,
		})
		if !reasons.Empty() {
			l.Reasons, l.Severity = reasons.List(), string(reasons.Severity())
		}
		l.Package = pkg
	}
	if s.cfg.Rules != nil {
		dev := l.matchEvent()
		for _, m := range s.cfg.Rules.Match(&dev) {
			l.Matches = append(l.Matches, m.Rule)
		}
	}
	return l
}

// judged says whether the trust judgement and the rules apply, as
// untrusted.Judged decides for a snapshot: a file mapped executable, other
// than the process's own executable unless that is a memfd. A
// memfd_create is not a load yet.
func judged(ev *loadsource.Event) bool {
	if ev.NoFile || len(ev.Path) == 0 || ev.Path[0] != '/' {
		return false
	}
	switch ev.Kind {
	case loadsource.KindMmap, loadsource.KindMprotect:
		return true
	case loadsource.KindExec:
		return ev.Memfd
	}
	return false
}

// ProcessPath is the process's executable at the load (an exec's own
// image).
func (l *Load) ProcessPath() string {
	if l.Kind == loadsource.KindExec {
		return string(l.Path)
	}
	return string(l.Exe)
}

// DetectionEvent is the load as the Sigma engine sees it: Sysmon Event ID
// 7's field names, filled as module_detections fills them, plus the
// event's time and eid (Extra: EventTime, EventID, EventKind).
func (l *Load) DetectionEvent() detections.Event {
	ev := l.matchEvent()
	ev.Extra = map[string]string{
		"EventTime": strconv.FormatInt(l.Time.Unix(), 10),
		"EventKind": l.Kind.String(),
	}
	if l.EID != 0 {
		ev.Extra["EventID"] = strconv.FormatUint(l.EID, 10)
	}
	return ev
}

// matchEvent is the event the rules see when the load arrives: the Sysmon
// fields without the event's own bookkeeping, which no rule can know of.
func (l *Load) matchEvent() detections.Event {
	return detections.Event{
		Platform:         detections.PlatformLinux,
		ProcessId:        int64(l.PID),
		Image:            l.ProcessPath(),
		ImageLoaded:      string(l.Path),
		User:             l.User,
		CommandLine:      l.Cmdline,
		ParentProcessId:  int64(l.PPID),
		ParentImage:      l.ParentPath,
		UntrustedReasons: l.Reasons,
		Deleted:          l.Deleted,
		Memfd:            l.Memfd,
		// Linux: every mapped file but a memfd is in the loader's list.
		InLoaderList: !l.Memfd,
	}
}

func joinArgv(argv [][]byte) string {
	return string(bytes.Join(argv, []byte{' '}))
}

// procCache remembers what exec events said of each process (its image
// and command line), bounded: the oldest entry goes first. A process that
// was running before the source started has no exec event; its command
// line is read from procfs once, while it lives.
type procCache struct {
	mu    sync.Mutex
	max   int
	m     map[uint32]procInfo
	order []uint32 // insertion order, for eviction
	users map[uint32]string
	root  string
}

type procInfo struct {
	exe, cmdline string
	fromExec     bool
}

func newProcCache(n int, procFS string) *procCache {
	return &procCache{max: n, m: make(map[uint32]procInfo, 64), users: map[uint32]string{}, root: procFS}
}

func (c *procCache) put(pid uint32, p procInfo) {
	if _, ok := c.m[pid]; !ok {
		if len(c.order) >= c.max {
			delete(c.m, c.order[0])
			c.order = c.order[1:]
		}
		c.order = append(c.order, pid)
	}
	c.m[pid] = p
}

func (c *procCache) exec(pid uint32, exe, cmdline string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.put(pid, procInfo{exe: exe, cmdline: cmdline, fromExec: true})
}

func (c *procCache) exe(pid uint32) string {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.m[pid].exe
}

// cmdline is pid's command line: what its exec said, or what procfs said
// when a load of the same executable first asked. An entry whose
// executable is not this load's is another process that had the pid (or
// this one after an exec the source did not see): read again.
func (c *procCache) cmdline(pid uint32, exe string) string {
	c.mu.Lock()
	p, ok := c.m[pid]
	c.mu.Unlock()
	if ok && (exe == "" || p.exe == exe) {
		return p.cmdline
	}
	cmd := readCmdline(filepath.Join(c.root, strconv.FormatUint(uint64(pid), 10), "cmdline"))
	c.mu.Lock()
	c.put(pid, procInfo{exe: exe, cmdline: cmd})
	c.mu.Unlock()
	return cmd
}

// readCmdline reads a procfs cmdline, bounded; "" when the process is gone.
func readCmdline(p string) string {
	f, err := os.Open(p)
	if err != nil {
		return ""
	}
	defer f.Close()
	buf := make([]byte, maxCmdline)
	n, _ := f.Read(buf)
	return strings.ReplaceAll(strings.TrimRight(string(buf[:n]), "\x00"), "\x00", " ")
}

// user names a uid as the host's user database does; the uid itself when
// none does. Bounded: a host has few users.
func (c *procCache) user(uid uint32) string {
	c.mu.Lock()
	name, ok := c.users[uid]
	c.mu.Unlock()
	if ok {
		return name
	}
	id := strconv.FormatUint(uint64(uid), 10)
	name = id
	if u, err := user.LookupId(id); err == nil {
		name = u.Username
	}
	c.mu.Lock()
	if len(c.users) < 1024 {
		c.users[uid] = name
	}
	c.mu.Unlock()
	return name
}
