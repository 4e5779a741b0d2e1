package inventory

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"golang.org/x/sys/unix"

	"github.com/modhunt/modhunt/internal/spare"
	"github.com/modhunt/modhunt/tables/fileinfo"
	"github.com/modhunt/modhunt/tables/procmaps"
)

// Inventory reads processes and their modules from procfs. It is safe for
// concurrent use; each Walk takes its own scratch buffers from a pool and
// all walks record file types in one file-facts cache (Config.Files).
type Inventory struct {
	cfg Config
	// spareScratch is kept for the next walk through garbage collections,
	// scratch serves concurrent walks beyond it (package spare says why).
	spareScratch spare.One[scratch]
	scratch      sync.Pool
	users        *userDB
	// kmemOnce says once that the kernel's memory devices are unknown.
	kmemOnce sync.Once
}

// New returns an Inventory reading cfg.ProcRoot.
func New(cfg Config) *Inventory {
	inv := &Inventory{cfg: cfg.withDefaults()}
	passwd := inv.cfg.Passwd
	if passwd == "" {
		passwd = "/etc/passwd"
	}
	inv.users = newUserDB(passwd)
	inv.scratch.New = func() any { return newScratch(inv.cfg) }
	return inv
}

// mapsChunk is the streaming buffer for maps as it starts out: the kernel
// hands out whole lines per read, and nearly every line is far shorter.
const mapsChunk = 64 << 10

// MaxMapsLine is the longest maps line read whole. d_path has no length
// limit of its own (a path can be nested far deeper than PATH_MAX lets one
// open it by name), so a longer line is not dropped: its fixed fields are
// parsed as always, its path is cut to truncatedPath bytes and the module
// is marked PathTruncated, and the rest of the line is read past without
// being kept. The buffer grows to this only while such a line is read.
const MaxMapsLine = 1 << 20

// truncatedPath is what a path cut by MaxMapsLine keeps: the same length
// for every line (the fixed fields before the path are at most ~100 bytes),
// so all mappings of one file fold into one module.
const truncatedPath = MaxMapsLine - 256

// pathBudget bounds the bytes of distinct module paths kept whole for one
// process. Past it a path longer than PATH_MAX is cut to PATH_MAX (and the
// module marked PathTruncated): a process can map tens of thousands of
// files, each under a path nested 1 MiB deep. Legitimate processes stay far
// below it (a few hundred modules of ~100 bytes).
const pathBudget = 8 << 20

// smallMax sizes the buffer for stat (a few hundred bytes) and for the
// head of a module file that DetectFileType reads.
const smallMax = SniffSize

// internMax bounds the path intern table; it is cleared when full.
const internMax = 16384

// internMaxBytes bounds the same table by size: it outlives the walk in the
// scratch pool, and 16384 paths near PATH_MAX, which any process can map,
// would keep 64 MiB alive per pooled scratch. A host's distinct module paths
// and names take a few hundred KiB.
const internMaxBytes = 1 << 20

type fileKey struct {
	major, minor uint32
	inode        uint64
}

// moduleAt is a module's position in the process of a generation.
type moduleAt struct {
	generation uint32
	module     int
}

// indexMax bounds the module index, stale entries included: a host's
// distinct mapped files, when many, are cleared now and then.
const indexMax = 16384

type nameKey struct {
	file fileKey
	path string
}

type scratch struct {
	maps  []byte
	small []byte
	cmd   []byte
	link  []byte
	sc    procmaps.Scanner
	proc  Process
	raw   []string         // kernel's path (with any suffix) per module
	perms []procmaps.Perms // union of permissions per module
	lines int              // maps lines of the current process
	// index holds the first module of each file, for the process walked
	// when its generation was current: entries of earlier processes are
	// stale rather than cleared, since clearing a map costs its capacity,
	// the module count of the largest process so far, for every process.
	index      map[fileKey]moduleAt
	generation uint32
	names      map[nameKey]int // every module of a file mapped under more than one name
	// pathBytes is how much of pathBudget the current process spent.
	pathBytes int
	// typed holds the file types this walk already confirmed, per file and
	// name: they are trusted again without a stat. At most
	// Config.CacheSize entries.
	typed  map[nameKey]FileType
	intern map[string]string
	// device is the interned device text of the last module added.
	device string
	// internSize is the bytes of the intern table's strings.
	internSize int
}

func newScratch(cfg Config) *scratch {
	return &scratch{
		maps:   make([]byte, mapsChunk),
		small:  make([]byte, smallMax),
		cmd:    make([]byte, cfg.CmdlineMax),
		link:   make([]byte, unix.PathMax+len(procmaps.DeletedSuffix)),
		index:  make(map[fileKey]moduleAt),
		names:  make(map[nameKey]int),
		typed:  make(map[nameKey]FileType),
		intern: make(map[string]string),
	}
}

// str returns b as a string, sharing one copy per distinct value so that
// hundreds of processes mapping libc cost one allocation, not hundreds.
func (s *scratch) str(b []byte) string {
	if v, ok := s.intern[string(b)]; ok {
		return v
	}
	if len(s.intern) >= internMax || s.internSize >= internMaxBytes {
		clear(s.intern)
		s.internSize = 0
	}
	v := string(b)
	s.intern[v] = v
	s.internSize += len(v)
	return v
}

// Walk calls fn for each process in pids (nil means every process; an
// empty non-nil slice means none). The *Process, its Modules slice and
// its backing arrays are reused after fn returns: keep a p.Clone(), not p.
// Strings in it are immutable and safe to keep. A process that exits or
// denies access mid-read is skipped with a debug log. Walk stops early and
// returns fn's error, or ctx's.
func (inv *Inventory) Walk(ctx context.Context, pids []int, fn func(*Process) error) error {
	return inv.WalkDetail(ctx, pids, DetailAll, fn)
}

// WalkDetail is Walk reading only the detail asked for besides the maps: a
// query that reads pid and path needs neither stat, cmdline nor the exe
// link, nor a single byte of a module. A process whose stat cannot be read
// is skipped only when stat is read.
func (inv *Inventory) WalkDetail(ctx context.Context, pids []int, detail Detail, fn func(*Process) error) error {
	if pids == nil {
		var err error
		if pids, err = inv.listPIDs(); err != nil {
			return err
		}
	} else {
		// pid IN (1, 1) must not report a process twice, and pid = -1
		// names no process.
		pids = slices.Compact(slices.Sorted(slices.Values(pids)))
		pids = slices.DeleteFunc(pids, func(pid int) bool { return pid <= 0 })
	}
	if len(kernelMem()) == 0 {
		inv.kmemOnce.Do(func() {
			// Every shared memory segment then reads as a deleted file:
			// more rows, never fewer.
			inv.cfg.Log.WarnContext(ctx, "kernel memory devices unknown: shared memory is listed as files")
		})
	}
	procFD, err := unix.Open(inv.cfg.ProcRoot, unix.O_PATH|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
	if err != nil {
		return fmt.Errorf("open %s: %w", inv.cfg.ProcRoot, err)
	}
	defer closeFD(procFD)
	s := inv.spareScratch.Get()
	if s == nil {
		s = inv.scratch.Get().(*scratch)
	}
	defer func() {
		if !inv.spareScratch.Put(s) {
			inv.scratch.Put(s)
		}
	}()
	clear(s.typed)
	users := inv.users.snapshot(ctx, inv.cfg.Log)
	for i, pid := range pids {
		if err := ctx.Err(); err != nil {
			return err
		}
		if i%yieldEvery == yieldEvery-1 {
			runtime.Gosched()
		}
		if inv.cfg.OnProcess != nil {
			inv.cfg.OnProcess(pid)
		}
		if err := inv.readProcess(s, procFD, pid, detail); err != nil {
			if !errors.Is(err, errNoModules) {
				inv.cfg.Log.DebugContext(ctx, "process skipped", "pid", pid, "err", err)
			}
			continue
		}
		if p := &s.proc; p.UID >= 0 {
			if p.User = users[p.UID]; p.User == "" {
				p.User = strconv.FormatInt(p.UID, 10)
			}
		}
		if err := fn(&s.proc); err != nil {
			return err
		}
	}
	return nil
}

// yieldEvery is how many processes a walk reads between two yields to the
// scheduler. A walk never blocks for long, so to Go's runtime it is one
// goroutine running for the whole scan: every 10 ms sysmon preempts it with
// a signal and, catching it in a read, hands its P away, and each time it
// goes back to waking every 20 µs. Yielding every ~1 ms of reads (a
// Gosched is a fraction of a microsecond) halved the sysmon wakeups and
// cut the preemption signals of an extension answering pid, path scans
// (strace: 5,166 against 11,888 nanosleeps, 39 against 66 tgkills over
// the same ~21 scans).
const yieldEvery = 32

// Processes is Walk collecting deep copies.
func (inv *Inventory) Processes(ctx context.Context, pids []int) ([]Process, error) {
	var out []Process
	err := inv.Walk(ctx, pids, func(p *Process) error {
		out = append(out, p.Clone())
		return nil
	})
	return out, err
}

func (inv *Inventory) listPIDs() ([]int, error) {
	f, err := os.Open(inv.cfg.ProcRoot)
	if err != nil {
		return nil, fmt.Errorf("list processes: %w", err)
	}
	defer f.Close()
	names, err := f.Readdirnames(-1)
	if err != nil {
		return nil, fmt.Errorf("list processes in %s: %w", inv.cfg.ProcRoot, err)
	}
	pids := make([]int, 0, len(names))
	for _, n := range names {
		if n == "" || n[0] < '1' || n[0] > '9' {
			continue
		}
		if pid, err := strconv.Atoi(n); err == nil {
			pids = append(pids, pid)
		}
	}
	slices.Sort(pids)
	return pids, nil
}

// pdir names a process's procfs directory: during a walk an fd of the
// procfs root plus a "PID/" prefix (one open per file, not two), in the
// one-off methods an fd of /proc/PID itself with no prefix.
type pdir struct {
	fd     int
	prefix string
}

func (d pdir) name(n string) string { return d.prefix + n }

func (d pdir) open(n string, flags int) (int, error) {
	return unix.Openat(d.fd, d.name(n), flags|unix.O_CLOEXEC, 0)
}

func (d pdir) stat(n string, st *unix.Stat_t) error { return unix.Fstatat(d.fd, d.name(n), st, 0) }

func (d pdir) root() int {
	fd, err := d.open("root", unix.O_PATH|unix.O_DIRECTORY)
	if err != nil {
		return -1
	}
	return fd
}

// base opens the directory the process's maps paths start from (see
// PathBase), or returns -1.
func (d pdir) base() int {
	root := d.root()
	if root < 0 {
		return -1
	}
	defer closeFD(root)
	fd, err := PathBase(root)
	if err != nil {
		return -1
	}
	return fd
}

func (inv *Inventory) pidDir(pid int) (int, error) {
	if pid <= 0 {
		return -1, fmt.Errorf("pid %d: not a process id", pid)
	}
	// Every later read is relative to this fd, so a pid recycled mid-read
	// fails (ESRCH) instead of mixing two processes.
	return unix.Open(inv.cfg.ProcRoot+"/"+strconv.Itoa(pid), unix.O_PATH|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
}

// readAt does one bounded read of d/name into buf; what does not fit is
// cut.
func readAt(d pdir, name string, buf []byte) (int, error) {
	fd, err := d.open(name, unix.O_RDONLY|unix.O_NOCTTY|unix.O_NONBLOCK)
	if err != nil {
		return 0, err
	}
	defer closeFD(fd)
	// One read: stat and cmdline hand out everything that fits in a single
	// call, and a second read only to see EOF would cost a syscall per
	// file per process.
	for {
		n, err := unix.Read(fd, buf)
		if err == unix.EINTR {
			continue
		}
		return max(n, 0), err
	}
}

// errNoModules skips a process quietly under Config.ModulesOnly.
var errNoModules = errors.New("no mapped files")

// readProcess fills s.proc. Its files are opened by "PID/name" under one
// procfs fd rather than under a per-pid directory fd: that saves an open
// and a close per process, at the price of a window in which a pid that
// exits and is reused between two reads would mix two processes; pids are
// handed out cyclically, so reuse within microseconds needs a wrap-around
// of the whole pid space.
func (inv *Inventory) readProcess(s *scratch, procFD, pid int, detail Detail) error {
	d := pdir{fd: procFD, prefix: strconv.Itoa(pid) + "/"}
	p := &s.proc
	*p = Process{PID: pid, UID: -1, Modules: p.Modules[:0]}

	// maps first: it is the costly read, and a process without mapped
	// files can stop here when the caller only wants modules.
	inv.onRead(pid, "maps")
	if err := inv.readMaps(s, d, detail); err != nil {
		return err
	}
	if inv.cfg.ModulesOnly && len(p.Modules) == 0 {
		return errNoModules
	}

	if detail&DetailStat != 0 {
		inv.onRead(pid, "stat")
		n, err := readAt(d, "stat", s.small)
		if err != nil {
			return fmt.Errorf("read stat: %w", err)
		}
		if err := parseStat(s, p, s.small[:n]); err != nil {
			return err
		}
	}
	if s.lines == 0 {
		return nil // no address space (kernel thread, zombie): no cmdline, no exe
	}

	if detail&DetailCmdline != 0 {
		inv.onRead(pid, "cmdline")
		if n, err := readAt(d, "cmdline", s.cmd); err == nil {
			c := bytes.TrimRight(s.cmd[:n], "\x00")
			for i, b := range c {
				if b == 0 {
					c[i] = ' '
				}
			}
			p.Cmdline = string(c)
		}
	}

	if detail&DetailExe == 0 {
		return nil
	}
	inv.onRead(pid, "exe")
	var st unix.Stat_t
	serr := d.stat("exe", &st)
	if n, err := unix.Readlinkat(d.fd, d.name("exe"), s.link); err == nil && n < len(s.link) {
		raw := s.str(s.link[:n])
		p.Path = raw
		if strings.HasSuffix(raw, procmaps.DeletedSuffix) {
			if serr == nil {
				p.PathDeleted = st.Nlink == 0
			} else {
				p.PathDeleted = reallyDeleted(nil, raw, 0, false)
			}
			if p.PathDeleted {
				p.Path = strings.TrimSuffix(raw, procmaps.DeletedSuffix)
			}
		}
	}
	if serr == nil {
		markExe(s, d, p, &st)
	} else {
		// No stat of the executable (the process is leaving): its name is
		// all there is.
		for i := range p.Modules {
			m := &p.Modules[i]
			m.Exe = p.Path != "" && m.Path == p.Path && m.Deleted == p.PathDeleted
		}
	}
	if p.Path == "" {
		// readlink cannot return a path longer than PATH_MAX; maps can.
		for i := range p.Modules {
			if m := &p.Modules[i]; m.Exe {
				p.Path, p.PathDeleted = m.Path, m.Deleted
				break
			}
		}
	}
	return nil
}

// markExe marks the modules that are the process's executable: the very
// file exe links to (same device and inode, both through the kernel's own
// links), not whatever module happens to carry the same name. Without
// map_files the name and the inode must both agree.
func markExe(s *scratch, d pdir, p *Process, exe *unix.Stat_t) {
	for i := range p.Modules {
		m := &p.Modules[i]
		if m.Linux.Inode != exe.Ino && m.Path != p.Path {
			continue
		}
		var st unix.Stat_t
		if err := d.stat(mapFilesName(s, m), &st); err == nil {
			m.Exe = st.Dev == exe.Dev && st.Ino == exe.Ino
		} else {
			m.Exe = m.Linux.Inode == exe.Ino && m.Path == p.Path
		}
	}
}

func (inv *Inventory) onRead(pid int, file string) {
	if inv.cfg.OnRead != nil {
		inv.cfg.OnRead(pid, file)
	}
}

// parseStat takes comm and the parent pid from /proc/PID/stat: "pid (comm)
// state ppid ...". comm may hold spaces and parentheses, so it ends at the
// last ')'.
func parseStat(s *scratch, p *Process, b []byte) error {
	open := bytes.IndexByte(b, '(')
	closing := bytes.LastIndexByte(b, ')')
	if open < 0 || closing < open {
		return fmt.Errorf("stat %.40q: no (comm)", b)
	}
	p.Name = s.str(b[open+1 : closing])
	rest := b[closing+1:]
	// " S 123 ..."
	if len(rest) < 4 || rest[0] != ' ' || rest[2] != ' ' {
		return fmt.Errorf("stat %.40q: no state", b)
	}
	rest = rest[3:]
	if i := bytes.IndexByte(rest, ' '); i >= 0 {
		rest = rest[:i]
	}
	ppid, err := strconv.Atoi(string(rest))
	if err != nil {
		return fmt.Errorf("stat %.40q: bad ppid", b)
	}
	p.PPID = ppid
	return nil
}

// readMaps streams /proc/PID/maps through a buffer that holds the longest
// line so far (up to MaxMapsLine), folding file mappings into modules.
func (inv *Inventory) readMaps(s *scratch, d pdir, detail Detail) error {
	fd, err := d.open("maps", unix.O_RDONLY)
	if err != nil {
		return fmt.Errorf("open maps: %w", err)
	}
	defer closeFD(fd)
	// procfs owns a process's files by its effective uid (root when it is
	// not dumpable): the cheapest uid there is, one fstat on an open fd.
	if detail&DetailUser != 0 {
		var st unix.Stat_t
		if err := unix.Fstat(fd, &st); err == nil {
			s.proc.UID = int64(st.Uid)
		}
	}
	s.lines, s.pathBytes = 0, 0
	s.generation++
	if len(s.index) >= indexMax || s.generation == 0 {
		clear(s.index)
		s.generation = 1
	}
	clear(s.names)
	s.raw, s.perms = s.raw[:0], s.perms[:0]
	// A buffer grown for one long line goes back to its usual size: the
	// scratch outlives the walk in a pool.
	defer func() {
		if len(s.maps) > mapsChunk {
			s.maps = make([]byte, mapsChunk)
		}
	}()
	have := 0
	skipping := false // past MaxMapsLine in a line already handled
	for {
		n, err := unix.Read(fd, s.maps[have:])
		if err == unix.EINTR {
			continue
		}
		if err != nil {
			return fmt.Errorf("read maps: %w", err)
		}
		if n == 0 {
			if have > 0 && !skipping {
				inv.addLines(s, s.maps[:have], false)
			}
			break
		}
		have += n
		start := 0
		if skipping {
			i := bytes.IndexByte(s.maps[:have], '\n')
			if i < 0 {
				have = 0
				continue
			}
			start, skipping = i+1, false
		}
		last := bytes.LastIndexByte(s.maps[start:have], '\n')
		if last >= 0 {
			inv.addLines(s, s.maps[start:start+last+1], false)
			start += last + 1
		}
		gate := start == have && endsWithGate(s.maps[:have])
		have = copy(s.maps, s.maps[start:have])
		if gate {
			break
		}
		if have < len(s.maps) {
			continue
		}
		// One line fills the buffer.
		if len(s.maps) < MaxMapsLine {
			grown := make([]byte, min(2*len(s.maps), MaxMapsLine))
			copy(grown, s.maps[:have])
			s.maps = grown
			continue
		}
		inv.addLines(s, s.maps[:have], true)
		have, skipping = 0, true
	}
	inv.finishModules(s, d, detail)
	return nil
}

// gateLine is how maps prints x86-64's vsyscall page, the gate area: the
// kernel prints it after the last of the process's own mappings (m_next in
// fs/proc/task_mmu.c: the gate, then the end), at an address no mapping of
// the process can have.
var gateLine = []byte("ffffffffff600000-ffffffffff601000 ")

// endsWithGate reports whether data's last line, which ends data, is the
// gate area: nothing follows it, so the read that would only return the end
// of the file need not be made (it is one of the two reads of most
// processes' maps).
func endsWithGate(data []byte) bool {
	if len(data) == 0 || data[len(data)-1] != '\n' {
		return false
	}
	line := data[bytes.LastIndexByte(data[:len(data)-1], '\n')+1 : len(data)-1]
	return bytes.HasPrefix(line, gateLine) && bytes.HasSuffix(line, []byte(" [vsyscall]"))
}

// addLines folds the mappings of data's lines into modules; cut says data
// is the head of one line longer than MaxMapsLine.
func (inv *Inventory) addLines(s *scratch, data []byte, cut bool) {
	s.sc.Reset(data)
	for s.sc.Scan() {
		s.lines++
		if err := s.sc.Err(); err != nil {
			inv.cfg.Log.Debug("maps line skipped", "pid", s.proc.PID, "err", err)
			continue
		}
		m := s.sc.Mapping()
		if !m.IsFile() {
			continue
		}
		if isKernelMem(m.Major, m.Minor) && !bytes.HasPrefix(m.Path, []byte(memfdPrefix)) {
			// Shared anonymous memory or a SysV segment: the kernel's own
			// file, not one a process loaded.
			continue
		}
		path, truncated := m.Path, cut
		if cut && len(path) > truncatedPath {
			path = path[:truncatedPath]
		}
		inv.addMapping(s, m, path, truncated)
	}
}

// addMapping folds one file mapping, whose path is path, into its module:
// all mappings of one file under one name are one module.
func (inv *Inventory) addMapping(s *scratch, m *procmaps.Mapping, path []byte, truncated bool) {
	mods := s.proc.Modules
	key := fileKey{m.Major, m.Minor, m.Inode}
	same := func(k int) bool {
		return mods[k].Linux.Inode == m.Inode && mods[k].Linux.Major == m.Major && mods[k].Linux.Minor == m.Minor &&
			mods[k].PathTruncated == truncated && s.raw[k] == string(path)
	}
	find := func() int {
		// Mappings of one file are usually adjacent: try the last module
		// first. A process of a few dozen modules is searched in place: a
		// map lookup and insert per module cost more, and the table is
		// cold in the cache by the next process.
		if len(mods) <= linearModules {
			for k := len(mods) - 1; k >= 0; k-- {
				if same(k) {
					return k
				}
			}
			return -1
		}
		if k := len(mods) - 1; same(k) {
			return k
		}
		if at, ok := s.index[key]; ok && at.generation == s.generation {
			if i := at.module; same(i) {
				return i
			}
			// Same file under another name (a hard link, or renamed
			// while mapped): rare, so the lookup may allocate.
			if j, ok := s.names[nameKey{key, string(path)}]; ok && same(j) {
				return j
			}
		}
		return -1
	}
	idx := find()
	if idx < 0 && len(path) > unix.PathMax && s.pathBytes+len(path) > pathBudget {
		// Past the budget, a path no one could open by name is cut.
		path, truncated = path[:unix.PathMax], true
		idx = find()
	}
	if idx < 0 {
		raw := s.str(path)
		s.pathBytes += len(raw)
		if string(m.Device) != s.device {
			s.device = s.str(m.Device)
		}
		mods = append(mods, Module{
			Base: m.Start, Size: 0, PathTruncated: truncated,
			Linux: LinuxMapping{Inode: m.Inode, Major: m.Major, Minor: m.Minor, Device: s.device, MapStart: m.Start, MapEnd: m.End},
			File:  fileinfo.Key{Dev: unix.Mkdev(m.Major, m.Minor), Ino: m.Inode},
		})
		s.raw = append(s.raw, raw)
		s.perms = append(s.perms, 0)
		idx = len(mods) - 1
		switch {
		case idx > linearModules:
			s.indexModule(key, idx)
		case idx == linearModules:
			// Past the in-place search: index every module so far.
			for k := range mods {
				s.indexModule(fileKey{mods[k].Linux.Major, mods[k].Linux.Minor, mods[k].Linux.Inode}, k)
			}
		}
	}
	mod := &mods[idx]
	if m.Start < mod.Base {
		mod.Base, mod.Linux.MapStart, mod.Linux.MapEnd = m.Start, m.Start, m.End
	}
	mod.Size += m.Size()
	s.perms[idx] |= m.Perms
	s.proc.Modules = mods
}

// linearModules is how many modules of a process are searched in place
// before addMapping indexes them.
const linearModules = 32

// indexModule records module k, whose file is key, in the index:
// the first module of a file there, any other in names.
func (s *scratch) indexModule(key fileKey, k int) {
	if at, ok := s.index[key]; !ok || at.generation != s.generation {
		s.index[key] = moduleAt{generation: s.generation, module: k}
	} else {
		s.names[nameKey{key, s.raw[k]}] = k
	}
}

// finishModules settles what needs the file itself: deletion, memfd,
// type (when asked for), the exact name.
func (inv *Inventory) finishModules(s *scratch, d pdir, detail Detail) {
	base, opened := -1, false
	defer func() {
		if base >= 0 {
			closeFD(base)
		}
	}()
	baseFD := func() int {
		if !opened {
			base, opened = d.base(), true
		}
		return base
	}
	for i := range s.proc.Modules {
		m := &s.proc.Modules[i]
		raw := s.raw[i]
		m.Linux.Perms = s.perms[i].String()
		m.Executable = s.perms[i]&procmaps.PermExec != 0
		// addLines kept only memfds of the kernel's memory mounts.
		m.Memfd = isKernelMem(m.Linux.Major, m.Linux.Minor)
		// The loader's link_map is process memory, not read here: a
		// file-backed mapping is almost always the loader's work, while
		// memfd code is the typical loader bypass.
		m.InLoaderList = !m.Memfd
		suffix := !m.PathTruncated && strings.HasSuffix(raw, procmaps.DeletedSuffix)
		escaped := !m.PathTruncated && strings.IndexByte(raw, '\\') >= 0
		var st unix.Stat_t
		statErr := errNotStatted
		if suffix || escaped || m.PathTruncated {
			statErr = d.stat(mapFilesName(s, m), &st)
		}
		if escaped {
			raw = exactName(s, d, m, raw)
		}
		switch {
		case m.Memfd:
			m.Deleted = true // the kernel's memory files are never linked
		case statErr == nil:
			// The file decides, whatever its name says: a " (deleted)"
			// can be part of a real name, and a name the kernel escaped,
			// cut or printed from another mount namespace may resolve to
			// nothing or to another file.
			m.Deleted = st.Nlink == 0
		case suffix:
			m.Deleted = reallyDeleted(baseFD, raw, m.Linux.Inode, true)
		}
		m.Path = raw
		if m.Deleted {
			m.Path = strings.TrimSuffix(raw, procmaps.DeletedSuffix)
		}
		m.Name = m.Path[strings.LastIndexByte(m.Path, '/')+1:]
		if detail&DetailFileType != 0 {
			m.FileType = inv.fileType(s, d, m, raw, &st, statErr)
		}
	}
}

var errNotStatted = errors.New("not statted")

// exactName returns the module's path as the file system spells it. maps
// escapes a newline as "\012" but leaves a backslash alone, so a path
// holding "\012" may be either; readlink of the map_files entry has the
// real bytes, and is taken when escaping it gives back exactly what maps
// printed (otherwise the file was renamed in between, or the link is too
// long to read, and the kernel's text stays).
func exactName(s *scratch, d pdir, m *Module, raw string) string {
	name := mapFilesName(s, m)
	n, err := unix.Readlinkat(d.fd, d.name(name), s.link)
	if err != nil || n >= len(s.link) || !procmaps.EscapedEqual(s.link[:n], []byte(raw)) {
		return raw
	}
	return s.str(s.link[:n])
}

// reallyDeleted decides whether a " (deleted)" suffix is the kernel's when
// the mapped file itself cannot be statted (no access to map_files or exe):
// it is not when the name, suffix and all, resolves to the mapped inode.
// Without an inode to compare (haveInode false), the suffix is all there is.
func reallyDeleted(baseFD func() int, raw string, inode uint64, haveInode bool) bool {
	if !haveInode {
		return true
	}
	named, err := statPath(baseFD(), raw)
	return err != nil || named.Ino != inode
}

func mapFilesName(s *scratch, m *Module) string {
	b := append(s.link[:0], "map_files/"...)
	b = strconv.AppendUint(b, m.Linux.MapStart, 16)
	b = append(b, '-')
	b = strconv.AppendUint(b, m.Linux.MapEnd, 16)
	return string(b)
}

// fileType finds the module's type in the file-facts cache, or reads its
// first bytes through map_files. A type is trusted without a stat when this
// walk already confirmed it for the same file under the same path;
// otherwise one stat gives the file's identity, under which the cache
// knows the type or it is read.
func (inv *Inventory) fileType(s *scratch, d pdir, m *Module, raw string, st *unix.Stat_t, statErr error) FileType {
	key := nameKey{fileKey{m.Linux.Major, m.Linux.Minor, m.Linux.Inode}, raw}
	if ft, ok := s.typed[key]; ok {
		return ft
	}
	name := mapFilesName(s, m)
	if statErr != nil {
		statErr = d.stat(name, st)
	}
	if statErr != nil {
		inv.onRead(s.proc.PID, "module")
		return fileTypeByPath(s, d, m)
	}
	id := idOfStat(st)
	ft, ok := inv.cfg.Files.Type(id)
	if !ok {
		ft = FileUnknown
		if st.Mode&unix.S_IFMT == unix.S_IFREG {
			inv.onRead(s.proc.PID, "module")
			if fd, err := d.open(name, unix.O_RDONLY|unix.O_NOCTTY|unix.O_NONBLOCK); err == nil {
				ft = sniffFD(fd, s.small)
				closeFD(fd)
			}
		}
		inv.cfg.Files.SetType(id, ft)
	}
	if len(s.typed) < inv.cfg.CacheSize {
		s.typed[key] = ft
	}
	return ft
}

// idOfStat is the file-facts identity of a stat result.
func idOfStat(st *unix.Stat_t) fileinfo.ID {
	return fileinfo.ID{
		Key:  fileinfo.Key{Dev: st.Dev, Ino: st.Ino},
		Size: st.Size, MTime: st.Mtim.Nano(), CTime: st.Ctim.Nano(),
	}
}

// fileTypeByPath is the fallback without map_files (no CAP_SYS_ADMIN): the
// path inside the process's root, accepted only if it is still the mapped
// inode. Not cached: without the mapped file's stat we cannot key safely.
func fileTypeByPath(s *scratch, d pdir, m *Module) FileType {
	if m.Deleted {
		return FileUnknown
	}
	root := d.base()
	if root < 0 {
		return FileUnknown
	}
	defer closeFD(root)
	// The name is checked through an O_PATH handle before anything is
	// opened for reading: a process can unmap the file and put a device or
	// a FIFO under its name, and opening those as root acts on them (a
	// watchdog starts, a tape rewinds, a FIFO's writer is let through).
	pfd, err := OpenInRoot(root, m.Path, unix.O_PATH, 0)
	if err != nil {
		return FileUnknown
	}
	defer closeFD(pfd)
	var st unix.Stat_t
	if unix.Fstat(pfd, &st) != nil || st.Mode&unix.S_IFMT != unix.S_IFREG || st.Ino != m.Linux.Inode {
		return FileUnknown
	}
	// Reopening the handle reaches the very inode just checked, whatever
	// the name points at by now.
	fd, err := unix.Open("/proc/self/fd/"+strconv.Itoa(pfd), unix.O_RDONLY|unix.O_CLOEXEC|unix.O_NOCTTY|unix.O_NONBLOCK, 0)
	if err != nil {
		return FileUnknown
	}
	defer closeFD(fd)
	return sniffFD(fd, s.small)
}

func sniffFD(fd int, buf []byte) FileType {
	var st unix.Stat_t
	if unix.Fstat(fd, &st) != nil || st.Mode&unix.S_IFMT != unix.S_IFREG {
		return FileUnknown
	}
	if len(buf) > SniffSize {
		buf = buf[:SniffSize]
	}
	n, err := unix.Pread(fd, buf, 0)
	if err != nil || n < 0 {
		return FileUnknown
	}
	return DetectFileType(buf[:n])
}

// Files is the file-facts cache the inventory records file types in; read
// other facts of its modules through it.
func (inv *Inventory) Files() *fileinfo.Cache { return inv.cfg.Files }

func (inv *Inventory) cacheLen() int { return inv.cfg.Files.Len() }

// OpenModule opens the file mapped as m in process pid, through
// /proc/PID/map_files, so it is the mapped file even when unlinked, a
// memfd, or in another mount namespace. Only regular files are opened (never
// a device or FIFO that could block). Read it through a bound
// (io.LimitReader): modules can be large.
func (inv *Inventory) OpenModule(pid int, m *Module) (*os.File, error) {
	var st unix.Stat_t
	dir, name, err := inv.statMapFile(pid, m, &st)
	if err != nil {
		return nil, err
	}
	defer closeFD(dir)
	if st.Mode&unix.S_IFMT != unix.S_IFREG {
		return nil, fmt.Errorf("%s of pid %d is not a regular file", name, pid)
	}
	fd, err := unix.Openat(dir, name, unix.O_RDONLY|unix.O_CLOEXEC|unix.O_NOCTTY|unix.O_NONBLOCK, 0)
	if err != nil {
		return nil, fmt.Errorf("open %s of pid %d: %w", name, pid, err)
	}
	if err := unix.Fstat(fd, &st); err != nil || st.Mode&unix.S_IFMT != unix.S_IFREG {
		closeFD(fd)
		return nil, fmt.Errorf("%s of pid %d is not a regular file", name, pid)
	}
	return os.NewFile(uintptr(fd), m.Path), nil
}

// StatModule stats the file mapped as m in process pid, through map_files:
// owner, mode, size, link count of the very file that is mapped.
func (inv *Inventory) StatModule(pid int, m *Module) (FileInfo, error) {
	dir, err := inv.pidDir(pid)
	if err != nil {
		return FileInfo{}, err
	}
	defer closeFD(dir)
	s := scratch{link: make([]byte, 0, 48)}
	name := mapFilesName(&s, m)
	fi, err := statxAt(dir, name, 0)
	if err != nil {
		return FileInfo{}, fmt.Errorf("stat %s of pid %d: %w", name, pid, err)
	}
	return fi, nil
}

// ModuleFSType names the file system the file mapped as m in process pid
// lives on, from the file itself (statfs through map_files): right even
// when the mount it came from is detached or in no namespace we can read.
// "" when the type is not one this package names.
func (inv *Inventory) ModuleFSType(pid int, m *Module) (string, error) {
	s := scratch{link: make([]byte, 0, 48)}
	var sfs unix.Statfs_t
	p := inv.cfg.ProcRoot + "/" + strconv.Itoa(pid) + "/" + mapFilesName(&s, m)
	if err := unix.Statfs(p, &sfs); err != nil {
		return "", fmt.Errorf("statfs %s: %w", p, err)
	}
	return fsTypeName(int64(sfs.Type) & 0xffffffff), nil //nolint:unconvert // int32 on some architectures
}

// statMapFile stats m's map_files entry of process pid into st. It returns
// pid's directory, open for the caller to close, and the entry's name in it.
func (inv *Inventory) statMapFile(pid int, m *Module, st *unix.Stat_t) (dir int, name string, err error) {
	if dir, err = inv.pidDir(pid); err != nil {
		return -1, "", err
	}
	s := scratch{link: make([]byte, 0, 48)}
	name = mapFilesName(&s, m)
	if err := unix.Fstatat(dir, name, st, 0); err != nil {
		closeFD(dir)
		return -1, "", fmt.Errorf("stat %s of pid %d: %w", name, pid, err)
	}
	return dir, name, nil
}

// FileInfoOf converts a stat result into the FileInfo the inventory
// reports, for callers that stat files themselves (through OpenInRoot).
func FileInfoOf(st *unix.Stat_t) FileInfo {
	return FileInfo{
		Mode: st.Mode, UID: st.Uid, GID: st.Gid, Size: st.Size,
		ModTime: time.Unix(st.Mtim.Sec, st.Mtim.Nsec), ChangeTime: time.Unix(st.Ctim.Sec, st.Ctim.Nsec), Nlink: uint64(st.Nlink), //nolint:unconvert // uint32 on some architectures
		Dev: st.Dev, Ino: st.Ino,
	}
}

// Environ reads at most limit bytes of /proc/PID/environ (limit <= 0 means
// DefaultEnvironMax) and returns its "KEY=value" entries; truncated reports
// that the limit cut it short (the cut entry is dropped). The environment
// is the one the process started with: later setenv calls do not show.
func (inv *Inventory) Environ(pid int, limit int) (env []string, truncated bool, err error) {
	if limit <= 0 {
		limit = DefaultEnvironMax
	}
	b, truncated, err := inv.ReadFile(pid, "environ", limit)
	if err != nil {
		return nil, false, err
	}
	return splitEnviron(b, truncated), truncated, nil
}

// ReadFile reads at most limit bytes of /proc/PID/<name>, e.g. "mountinfo"
// or "cgroup"; truncated reports that there was more. name must stay inside
// the pid's directory.
func (inv *Inventory) ReadFile(pid int, name string, limit int) (data []byte, truncated bool, err error) {
	// One plain entry of the pid directory: "root/etc/x" or "cwd/x" would
	// cross a magic link into whatever the process points it at.
	if name == "" || name == "." || name == ".." || strings.Contains(name, "/") {
		return nil, false, fmt.Errorf("proc file name %q: must be one entry of the pid directory", name)
	}
	if limit <= 0 {
		return nil, false, fmt.Errorf("proc file %s: limit %d must be positive", name, limit)
	}
	dir, err := inv.pidDir(pid)
	if err != nil {
		return nil, false, err
	}
	defer closeFD(dir)
	fd, err := unix.Openat(dir, name, unix.O_RDONLY|unix.O_CLOEXEC|unix.O_NOCTTY|unix.O_NONBLOCK, 0)
	if err != nil {
		return nil, false, fmt.Errorf("open %s of pid %d: %w", name, pid, err)
	}
	f := os.NewFile(uintptr(fd), name)
	defer f.Close()
	data, err = io.ReadAll(io.LimitReader(f, int64(limit)+1))
	if err != nil {
		return nil, false, fmt.Errorf("read %s of pid %d: %w", name, pid, err)
	}
	if len(data) > limit {
		return data[:limit], true, nil
	}
	return data, false, nil
}

// closeFD closes a descriptor this package opened for reading or as a
// path handle: there is nothing to flush, so a close error has no meaning.
func closeFD(fd int) { _ = unix.Close(fd) }

// Platform is linux.
func (inv *Inventory) Platform() string { return "linux" }
