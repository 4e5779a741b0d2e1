package inventory

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"golang.org/x/sys/unix"

	"github.com/modhunt/modhunt/tables/procmaps"
)

// Inventory reads processes and their modules from procfs. It is safe for
// concurrent use; each Walk takes its own scratch buffers from a pool and
// all walks share one bounded file-type cache.
type Inventory struct {
	cfg     Config
	scratch sync.Pool
	cache   typeCache
}

// New returns an Inventory reading cfg.ProcRoot.
func New(cfg Config) *Inventory {
	inv := &Inventory{cfg: cfg.withDefaults()}
	inv.cache.max = inv.cfg.CacheSize
	inv.scratch.New = func() any { return newScratch(inv.cfg) }
	return inv
}

// mapsChunk is the streaming buffer for maps: the kernel hands out whole
// lines per read, and a line is at most PATH_MAX plus the fixed fields, so
// memory stays bounded however many mappings a process has.
const mapsChunk = 64 << 10

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

type scratch struct {
	maps   []byte
	small  []byte
	cmd    []byte
	link   []byte
	sc     procmaps.Scanner
	proc   Process
	raw    []string         // kernel's path (with any suffix) per module
	perms  []procmaps.Perms // union of permissions per module
	lines  int              // maps lines of the current process
	index  map[fileKey]int
	intern map[string]string
	// internSize is the bytes of the intern table's strings.
	internSize int
	gen        uint64
}

func newScratch(cfg Config) *scratch {
	return &scratch{
		maps:   make([]byte, mapsChunk),
		small:  make([]byte, smallMax),
		cmd:    make([]byte, cfg.CmdlineMax),
		link:   make([]byte, unix.PathMax+len(procmaps.DeletedSuffix)),
		index:  make(map[fileKey]int),
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
	procFD, err := unix.Open(inv.cfg.ProcRoot, unix.O_PATH|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
	if err != nil {
		return fmt.Errorf("open %s: %w", inv.cfg.ProcRoot, err)
	}
	defer closeFD(procFD)
	s := inv.scratch.Get().(*scratch)
	defer inv.scratch.Put(s)
	s.gen = inv.cache.nextGen()
	for _, pid := range pids {
		if err := ctx.Err(); err != nil {
			return err
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
		if err := fn(&s.proc); err != nil {
			return err
		}
	}
	return nil
}

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
	if n, err := unix.Readlinkat(d.fd, d.name("exe"), s.link); err == nil && n < len(s.link) {
		raw := s.str(s.link[:n])
		p.Path = raw
		if strings.HasSuffix(raw, procmaps.DeletedSuffix) {
			var st unix.Stat_t
			serr := d.stat("exe", &st)
			root := -1
			p.PathDeleted = reallyDeleted(func() int {
				if root < 0 {
					root = d.root()
				}
				return root
			}, raw, st, serr, 0)
			if root >= 0 {
				closeFD(root)
			}
			if p.PathDeleted {
				p.Path = strings.TrimSuffix(raw, procmaps.DeletedSuffix)
			}
		}
	}
	return nil
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

// readMaps streams /proc/PID/maps through a fixed buffer, folding file
// mappings into modules.
func (inv *Inventory) readMaps(s *scratch, d pdir, detail Detail) error {
	fd, err := d.open("maps", unix.O_RDONLY)
	if err != nil {
		return fmt.Errorf("open maps: %w", err)
	}
	defer closeFD(fd)
	// procfs owns a process's files by its effective uid (root when it is
	// not dumpable): the cheapest uid there is, one fstat on an open fd.
	var st unix.Stat_t
	if err := unix.Fstat(fd, &st); err == nil {
		s.proc.UID = int64(st.Uid)
	}
	s.lines = 0
	clear(s.index)
	s.raw, s.perms = s.raw[:0], s.perms[:0]
	buf := s.maps
	have := 0
	skipping := false // inside a line longer than the buffer
	for {
		n, err := unix.Read(fd, buf[have:])
		if err == unix.EINTR {
			continue
		}
		if err != nil {
			return fmt.Errorf("read maps: %w", err)
		}
		if n == 0 {
			if have > 0 && !skipping {
				inv.addLines(s, buf[:have])
			}
			break
		}
		have += n
		last := bytes.LastIndexByte(buf[:have], '\n')
		if last < 0 {
			if have == len(buf) {
				// One line fills the whole buffer: no real maps line
				// does; drop it and resynchronise at the next newline.
				skipping, have = true, 0
			}
			continue
		}
		chunk := buf[:last+1]
		if skipping {
			i := bytes.IndexByte(chunk, '\n')
			chunk, skipping = chunk[i+1:], false
		}
		inv.addLines(s, chunk)
		have = copy(buf, buf[last+1:have])
	}
	inv.finishModules(s, d, detail)
	return nil
}

func (inv *Inventory) addLines(s *scratch, data []byte) {
	s.sc.Reset(data)
	mods := s.proc.Modules
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
		key := fileKey{m.Major, m.Minor, m.Inode}
		idx := -1
		// Mappings of one file are usually adjacent: try the last module
		// before the map.
		if k := len(mods) - 1; k >= 0 && mods[k].Inode == m.Inode && mods[k].Major == m.Major &&
			mods[k].Minor == m.Minor && s.raw[k] == string(m.Path) {
			idx = k
		} else if i, ok := s.index[key]; ok {
			if s.raw[i] == string(m.Path) {
				idx = i
			} else {
				// Same file under another name (a hard link, or renamed
				// while mapped): rare, so search linearly.
				for j := range mods {
					if mods[j].Inode == m.Inode && mods[j].Major == m.Major && mods[j].Minor == m.Minor && s.raw[j] == string(m.Path) {
						idx = j
						break
					}
				}
			}
		}
		if idx < 0 {
			raw := s.str(m.Path)
			mods = append(mods, Module{
				Base: m.Start, Size: 0, Inode: m.Inode, Major: m.Major, Minor: m.Minor,
				Device: s.str(m.Device), MapStart: m.Start, MapEnd: m.End,
			})
			s.raw = append(s.raw, raw)
			idx = len(mods) - 1
			if _, ok := s.index[key]; !ok {
				s.index[key] = idx
			}
			s.perms = append(s.perms, 0)
		}
		mod := &mods[idx]
		if m.Start < mod.Base {
			mod.Base, mod.MapStart, mod.MapEnd = m.Start, m.Start, m.End
		}
		mod.Size += m.Size()
		s.perms[idx] |= m.Perms
	}
	s.proc.Modules = mods
}

// finishModules settles what needs the file itself: deletion, type (when
// asked for), names.
func (inv *Inventory) finishModules(s *scratch, d pdir, detail Detail) {
	root := -1
	defer func() {
		if root >= 0 {
			closeFD(root)
		}
	}()
	rootFD := func() int {
		if root < 0 {
			root = d.root()
		}
		return root
	}
	for i := range s.proc.Modules {
		m := &s.proc.Modules[i]
		raw := s.raw[i]
		m.Perms = s.perms[i].String()
		m.Executable = s.perms[i]&procmaps.PermExec != 0
		m.Path = raw
		var st unix.Stat_t
		statErr := errNotStatted
		if strings.HasSuffix(raw, procmaps.DeletedSuffix) {
			statErr = d.stat(mapFilesName(s, m), &st)
			m.Deleted = reallyDeleted(rootFD, raw, st, statErr, m.Inode)
			if m.Deleted {
				m.Path = strings.TrimSuffix(raw, procmaps.DeletedSuffix)
			}
		}
		m.Name = m.Path[strings.LastIndexByte(m.Path, '/')+1:]
		m.Memfd = m.Deleted && strings.HasPrefix(m.Path, "/memfd:")
		if detail&DetailFileType != 0 {
			m.FileType = inv.fileType(s, d, m, raw, &st, statErr)
		}
	}
}

var errNotStatted = errors.New("not statted")

// reallyDeleted turns a " (deleted)" suffix into a verdict. st is the
// mapped file itself (through map_files or exe). Unlinked for good when
// its link count is 0. Otherwise either the file's real name ends in
// " (deleted)" (then that name, resolved inside the process's root, is this
// very file) or this name was unlinked while another hard link survives.
// Without the mapped file's stat (no map_files access), the name must
// resolve to the maps inode; inode 0 (exe) means no way to tell but the
// suffix.
func reallyDeleted(rootFD func() int, raw string, st unix.Stat_t, statErr error, inode uint64) bool {
	if statErr == nil && st.Nlink == 0 {
		return true
	}
	var named unix.Stat_t
	if err := statInRoot(rootFD(), raw, &named); err != nil {
		// No such name in the process's root (or no way to resolve one
		// safely, as before openat2): the suffix is the kernel's.
		return true
	}
	if statErr == nil {
		if named.Dev == st.Dev && named.Ino == st.Ino {
			return false
		}
		// overlayfs shows its own device for the name while map_files
		// reaches the layer's file: same inode, size and mtime is the same
		// file seen through two doors.
		return named.Ino != st.Ino || named.Size != st.Size || named.Mtim != st.Mtim
	}
	if inode != 0 {
		return named.Ino != inode
	}
	return true
}

// statInRoot stats path as the process sees it: resolved inside its root
// (its mount namespace and chroot), symlinks included, never escaping it.
func statInRoot(root int, path string, st *unix.Stat_t) error {
	if root < 0 {
		return unix.EBADF
	}
	fd, err := OpenInRoot(root, path, unix.O_PATH, 0)
	if err != nil {
		return err
	}
	defer closeFD(fd)
	return unix.Fstat(fd, st)
}

// OpenInRoot opens path as the process whose root directory is the open
// handle root sees it: openat2 with RESOLVE_IN_ROOT, so an absolute symlink
// inside a container resolves inside that container and nothing ever
// escapes to the host, and without magic links; resolve adds RESOLVE_*
// flags. A real (not O_PATH) open is non-blocking and never takes a tty.
func OpenInRoot(root int, path string, flags, resolve uint64) (int, error) {
	flags |= unix.O_CLOEXEC
	if flags&unix.O_PATH == 0 {
		// openat2 refuses these with O_PATH (EINVAL); a real open needs
		// them so a FIFO or a tty can neither block nor become ours.
		flags |= unix.O_NOCTTY | unix.O_NONBLOCK
	}
	for {
		fd, err := unix.Openat2(root, path, &unix.OpenHow{
			Flags:   flags,
			Resolve: unix.RESOLVE_IN_ROOT | unix.RESOLVE_NO_MAGICLINKS | resolve,
		})
		if err == unix.EAGAIN || err == unix.EINTR {
			continue // RESOLVE_IN_ROOT asks for a retry when a rename raced
		}
		return fd, err
	}
}

func mapFilesName(s *scratch, m *Module) string {
	b := append(s.link[:0], "map_files/"...)
	b = strconv.AppendUint(b, m.MapStart, 16)
	b = append(b, '-')
	b = strconv.AppendUint(b, m.MapEnd, 16)
	return string(b)
}

// fileType finds the module's type in the cache, or reads its first bytes
// through map_files. A cache entry is trusted without a stat when this walk
// already checked it under the same path; otherwise one stat confirms that
// size and mtime still match.
func (inv *Inventory) fileType(s *scratch, d pdir, m *Module, raw string, st *unix.Stat_t, statErr error) FileType {
	key := fileKey{m.Major, m.Minor, m.Inode}
	e, ok := inv.cache.get(key)
	if ok && e.gen == s.gen && e.path == raw {
		return e.ft
	}
	name := mapFilesName(s, m)
	if statErr != nil {
		statErr = d.stat(name, st)
	}
	if statErr != nil {
		inv.onRead(s.proc.PID, "module")
		return fileTypeByPath(s, d, m)
	}
	if ok && e.size == st.Size && e.mtime == st.Mtim {
		inv.cache.put(key, typeEntry{gen: s.gen, path: raw, size: st.Size, mtime: st.Mtim, ft: e.ft})
		return e.ft
	}
	ft := FileUnknown
	if st.Mode&unix.S_IFMT == unix.S_IFREG {
		inv.onRead(s.proc.PID, "module")
		if fd, err := d.open(name, unix.O_RDONLY|unix.O_NOCTTY|unix.O_NONBLOCK); err == nil {
			ft = sniffFD(fd, s.small)
			closeFD(fd)
		}
	}
	inv.cache.put(key, typeEntry{gen: s.gen, path: raw, size: st.Size, mtime: st.Mtim, ft: ft})
	return ft
}

// fileTypeByPath is the fallback without map_files (no CAP_SYS_ADMIN): the
// path inside the process's root, accepted only if it is still the mapped
// inode. Not cached: without the mapped file's stat we cannot key safely.
func fileTypeByPath(s *scratch, d pdir, m *Module) FileType {
	if m.Deleted {
		return FileUnknown
	}
	root := d.root()
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
	if unix.Fstat(pfd, &st) != nil || st.Mode&unix.S_IFMT != unix.S_IFREG || st.Ino != m.Inode {
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

type typeEntry struct {
	gen   uint64
	path  string
	size  int64
	mtime unix.Timespec
	ft    FileType
}

// typeCache is a bounded map of file types shared by all walks. When full,
// entries not confirmed by the current walk go first, then everything.
type typeCache struct {
	mu  sync.Mutex
	max int
	gen uint64
	m   map[fileKey]typeEntry
}

func (c *typeCache) nextGen() uint64 {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.gen++
	return c.gen
}

func (c *typeCache) get(k fileKey) (typeEntry, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	e, ok := c.m[k]
	return e, ok
}

func (c *typeCache) put(k fileKey, e typeEntry) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.m == nil {
		c.m = make(map[fileKey]typeEntry)
	}
	if _, ok := c.m[k]; !ok && len(c.m) >= c.max {
		for key, old := range c.m {
			if old.gen != e.gen {
				delete(c.m, key)
			}
		}
		if len(c.m) >= c.max {
			clear(c.m)
		}
	}
	c.m[k] = e
}

func (inv *Inventory) cacheLen() int {
	inv.cache.mu.Lock()
	defer inv.cache.mu.Unlock()
	return len(inv.cache.m)
}

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
	var st unix.Stat_t
	dir, _, err := inv.statMapFile(pid, m, &st)
	if err != nil {
		return FileInfo{}, err
	}
	closeFD(dir)
	return FileInfoOf(&st), nil
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
		ModTime: time.Unix(st.Mtim.Sec, st.Mtim.Nsec), Nlink: uint64(st.Nlink), //nolint:unconvert // uint32 on some architectures
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
