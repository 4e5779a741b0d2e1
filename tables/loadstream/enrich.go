package loadstream

import (
	"bytes"
	"io"
	"os"
	"os/user"
	"path/filepath"
	"strconv"
	"strings"
	"sync"

	"github.com/modhunt/modhunt/detections"
	"github.com/modhunt/modhunt/internal/boundmap"
	"github.com/modhunt/modhunt/internal/loadsource"
	"github.com/modhunt/modhunt/tables/verdict"
)

// maxCmdline bounds a command line read from procfs (the kernel side
// bounds an exec's argv to 1 KiB); maxEnviron an environment, of which
// only the loader's variables are kept.
const (
	maxCmdline = 4096
	maxEnviron = 256 << 10
)

// enrich turns a kernel event into a Load: process context, trust reasons,
// Sigma matches. It runs once per event, on the pump's goroutine.
func (s *Stream) enrich(ev loadsource.Event) *Load {
	l := &Load{Event: ev}
	var proc procInfo
	if ev.Kind == loadsource.KindExec {
		l.Cmdline = joinArgv(ev.Argv)
		// AT_SECURE as far as an event tells: a set-user-ID exec. (File
		// capabilities and setgid are not in the event.)
		proc = procInfo{exe: string(ev.Path), cmdline: l.Cmdline, ldEnv: ev.LoaderEnv, secure: ev.UID != ev.EUID, fromExec: true}
		s.procs.exec(ev.PID, proc)
	} else {
		proc = s.procs.info(ev.PID, string(ev.Exe))
		l.Cmdline = proc.cmdline
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
			LoaderEnv: proc.ldEnv, Secure: proc.secure, HostView: ev.MountNS != 0 && ev.MountNS == s.procs.mountNS,
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
	m     *boundmap.Map[uint32, procInfo]
	users map[uint32]string
	root  string
	// mountNS is this process's mount namespace (inode): a load in it sees
	// the host's files.
	mountNS uint32
}

// procInfo is what the stream knows of a process: its image, command line
// and the dynamic loader's variables of its environment (LD_*), with its
// AT_SECURE as far as known.
type procInfo struct {
	exe, cmdline string
	ldEnv        []string
	secure       bool
	fromExec     bool
}

func newProcCache(n int, procFS string) *procCache {
	return &procCache{m: boundmap.New[uint32, procInfo](n), users: map[uint32]string{}, root: procFS, mountNS: ownMountNS(procFS)}
}

func (c *procCache) exec(pid uint32, p procInfo) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.m.Put(pid, p)
}

func (c *procCache) exe(pid uint32) string {
	c.mu.Lock()
	defer c.mu.Unlock()
	p, _ := c.m.Get(pid)
	return p.exe
}

// info is what is known of pid: what its exec said, or what procfs said
// when a load of the same executable first asked. An entry whose
// executable is not this load's is another process that had the pid (or
// this one after an exec the source did not see): read again.
func (c *procCache) info(pid uint32, exe string) procInfo {
	c.mu.Lock()
	p, ok := c.m.Get(pid)
	c.mu.Unlock()
	if ok && (exe == "" || p.exe == exe) {
		return p
	}
	dir := filepath.Join(c.root, strconv.FormatUint(uint64(pid), 10))
	p = procInfo{exe: exe, cmdline: readCmdline(filepath.Join(dir, "cmdline")), ldEnv: readLoaderEnv(filepath.Join(dir, "environ"))}
	c.mu.Lock()
	c.m.Put(pid, p)
	c.mu.Unlock()
	return p
}

// readCmdline reads a procfs cmdline, bounded; "" when the process is gone.
func readCmdline(p string) string {
	b := readBounded(p, maxCmdline)
	return strings.ReplaceAll(strings.TrimRight(string(b), "\x00"), "\x00", " ")
}

// readLoaderEnv reads the LD_* entries of a procfs environ, bounded.
func readLoaderEnv(p string) []string {
	var out []string
	for kv := range bytes.SplitSeq(readBounded(p, maxEnviron), []byte{0}) {
		if bytes.HasPrefix(kv, []byte("LD_")) {
			out = append(out, string(kv))
		}
	}
	return out
}

// readBounded reads at most limit bytes of a procfs file; nil when the
// process is gone.
func readBounded(p string, limit int64) []byte {
	f, err := os.Open(p)
	if err != nil {
		return nil
	}
	defer f.Close()
	b, _ := io.ReadAll(io.LimitReader(f, limit))
	return b
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
