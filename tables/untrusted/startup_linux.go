package untrusted

import (
	"bytes"
	"context"
	"io"
	"os"
	"path"
	"slices"
	"strconv"
	"time"

	"golang.org/x/sys/unix"

	"github.com/modhunt/modhunt/tables/elfdyn"
	"github.com/modhunt/modhunt/tables/fileinfo"
	"github.com/modhunt/modhunt/tables/inventory"
	"github.com/modhunt/modhunt/tables/procmaps"
)

// Bounds of the start-up check's reads.
const (
	maxStartupMaps = 8 << 20 // a process with 20,000 modules has ~2 MiB of maps
	maxProcStat    = 4096
	// clockTicks is USER_HZ, the unit of /proc/PID/stat's starttime: 100 on
	// every architecture Linux runs modhunt on.
	clockTicks = 100
	// changedMargin is how close to the process's start a file may have
	// changed and still count as changed since: starttime and btime are
	// coarse.
	changedMargin = 2 * time.Second
)

var pageSize = uint64(os.Getpagesize())

// pmdSize is the size one page-table page maps (2 MiB with 4 KiB pages),
// the alignment the kernel gives large mappings.
var pmdSize = pageSize * (pageSize / 8)

// elfInfo parses the mapped file m of pid (through map_files), cached by
// file identity; nil when it is not ELF or cannot be read.
func (sc *scan) elfInfo(pid int, m *inventory.Module) *elfdyn.Info {
	fi, ok := sc.statModule(pid, m)
	if !ok {
		return nil
	}
	parse := func() (*elfdyn.Info, int, error) {
		var info *elfdyn.Info
		if f, err := sc.src.OpenModule(pid, m); err == nil {
			info, _ = elfdyn.Parse(f, fi.Size, pageSize)
			_ = f.Close() // read only
		}
		return info, elfInfoSize(info), nil
	}
	if m.Memfd { // memfd inodes are reused
		info, _, _ := parse()
		return info
	}
	info, _ := fileinfo.Get(sc.facts, inventory.IDOf(fi), elfFact, parse)
	return info
}

// interpModule is the mapped file that is the executable's PT_INTERP:
// by path, by file name (the kernel shows the link's target, which keeps
// the name on usrmerged systems), by resolving the path inside the
// process's root, or by SONAME (ld-2.28.so is ld-linux-x86-64.so.2).
func (sc *scan) interpModule(p *inventory.Process, root *procRoot, exe *inventory.Module, interp string) *inventory.Module {
	clean, base := path.Clean(interp), path.Base(interp)
	elfs := func(yield func(*inventory.Module) bool) {
		for i := range p.Modules {
			m := &p.Modules[i]
			if m != exe && m.Executable && m.FileType == inventory.FileELF && !yield(m) {
				return
			}
		}
	}
	for m := range elfs {
		if m.Path == clean || m.Name == base {
			return m
		}
	}
	if root != nil {
		if r, err := root.stat(clean); err == nil {
			k := fileKey{devMajor(r.Dev), devMinor(r.Dev), r.Ino}
			for m := range elfs {
				if k == (fileKey{m.Linux.Major, m.Linux.Minor, m.Linux.Inode}) {
					return m
				}
			}
		}
	}
	for m := range elfs {
		if info := sc.elfInfo(p.PID, m); info != nil && info.Soname == base {
			return m
		}
	}
	return nil
}

// startupOnly returns the modules of p that ld.so mapped at start-up
// although no DT_NEEDED names them (see startup.go): preloads whose names
// the environment may no longer show.
func (sc *scan) startupOnly(ctx context.Context, p *inventory.Process, root *procRoot, vars loaderVars) map[fileKey]bool {
	exe := exeModule(p)
	if exe == nil {
		return nil
	}
	exeInfo := sc.elfInfo(p.PID, exe)
	if exeInfo == nil || exeInfo.Interp == "" || !glibcInterp(exeInfo.Interp) || len(exeInfo.Needed) == 0 {
		return nil
	}
	interp := sc.interpModule(p, root, exe, exeInfo.Interp)
	if interp == nil {
		return nil
	}
	// Walk down from ld.so to the first library the executable needs: on a
	// clean process that is the first module below ld.so.
	var top *inventory.Module
	var cands []*inventory.Module
	for _, m := range sortedBelow(p, interp.Base, exe, interp) {
		info := sc.elfInfo(p.PID, m)
		if info == nil {
			return nil
		}
		if slices.ContainsFunc(exeInfo.Needed, func(n string) bool { return neededMatches(n, m, info) }) {
			top = m
			break
		}
		cands = append(cands, m)
	}
	if top == nil || len(cands) == 0 {
		return nil
	}
	all := sortedBelow(p, ^uint64(0), exe, interp)
	infos := make(map[*inventory.Module]*elfdyn.Info, len(all)+1)
	for _, m := range all {
		if infos[m] = sc.elfInfo(p.PID, m); infos[m] == nil {
			return nil
		}
	}
	infos[interp] = sc.elfInfo(p.PID, interp)
	in, complete := closure(exeInfo, interp, all, infos)
	if !complete {
		sc.log.DebugContext(ctx, "DT_NEEDED closure incomplete, no start-up evidence", "pid", p.PID)
		return nil
	}
	candKeys := map[fileKey]bool{}
	for _, m := range cands {
		if !in[m] {
			candKeys[fileKey{m.Linux.Major, m.Linux.Minor, m.Linux.Inode}] = true
		}
	}
	if len(candKeys) == 0 || sc.auditMayHaveLeftHoles(p, root, vars, exeInfo) {
		return nil
	}
	holes, ok := sc.startupFileHoles(p.PID, root)
	if !ok {
		return nil
	}
	vmas, ok := sc.readVMAs(p.PID)
	if !ok {
		return nil
	}
	byKey := map[fileKey]*inventory.Module{}
	for i := range p.Modules {
		m := &p.Modules[i]
		k := fileKey{m.Linux.Major, m.Linux.Minor, m.Linux.Inode}
		if _, seen := byKey[k]; !seen || m.FileType == inventory.FileELF {
			byKey[k] = m
		}
	}
	facts := layoutFacts{
		vmas:       vmas,
		interp:     fileKey{interp.Linux.Major, interp.Linux.Minor, interp.Linux.Inode},
		top:        fileKey{top.Linux.Major, top.Linux.Minor, top.Linux.Inode},
		candidates: candKeys,
		elf: func(k fileKey) bool {
			m := byKey[k]
			return m == nil || m.FileType == inventory.FileELF // unknown counts as ELF: never as fill
		},
		slack: func(k fileKey, base uint64) (uint64, bool) {
			m := byKey[k]
			if m == nil {
				return 0, false
			}
			info := sc.elfInfo(p.PID, m)
			if info == nil {
				return 0, false
			}
			return elfSlack(info, base, pageSize, pmdSize), true
		},
		holes: holes,
		pmd:   pmdSize,
	}
	return layoutClaims(&facts)
}

// auditMayHaveLeftHoles reports whether an audit module (LD_AUDIT, or the
// executable's DT_AUDIT) may have been mapped and dropped again by ld.so
// (it does so when la_version is missing or refuses): that leaves holes of
// unknown size, its namespace's libc among them. A named module that is
// still mapped, or a path that names no file, left none.
func (sc *scan) auditMayHaveLeftHoles(p *inventory.Process, root *procRoot, vars loaderVars, exeInfo *elfdyn.Info) bool {
	var entries []string
	for _, a := range append(append([]string(nil), vars.audit...), exeInfo.Audit...) {
		for e := range splitBytes(a, sepAuditEnv) {
			entries = append(entries, e)
		}
	}
	for _, e := range entries {
		mapped := slices.ContainsFunc(p.Modules, func(m inventory.Module) bool {
			return m.Path == path.Clean(e) || m.Name == path.Base(e)
		})
		if mapped {
			continue
		}
		if path.IsAbs(e) && root != nil {
			if _, err := root.stat(e); err != nil {
				continue // no such file: nothing was mapped
			}
		}
		return true
	}
	return false
}

// startupFileHoles is the room ld.so's unmapped copies of
// /etc/ld.so.cache and /etc/ld.so.preload (inside the process's root) can
// have left, page rounded. ok is false when one of them changed since the
// process started (its size then says nothing about the hole) or when the
// start time is unknown.
func (sc *scan) startupFileHoles(pid int, root *procRoot) (uint64, bool) {
	if root == nil {
		return 0, false
	}
	start, ok := sc.processStart(pid)
	if !ok {
		return 0, false
	}
	var total uint64
	for _, name := range []string{"/etc/ld.so.cache", "/etc/ld.so.preload"} {
		st, err := root.statRaw(name)
		if isNotExist(err) {
			continue
		}
		if err != nil {
			return 0, false
		}
		changed := time.Unix(st.Ctim.Sec, st.Ctim.Nsec)
		if m := time.Unix(st.Mtim.Sec, st.Mtim.Nsec); m.After(changed) {
			changed = m
		}
		if !changed.Before(start.Add(-changedMargin)) {
			return 0, false
		}
		size := uint64(max(st.Size, 0))
		rounded := (size + pageSize - 1) &^ (pageSize - 1)
		total += rounded
		if rounded >= pmdSize {
			total += pmdSize
		}
	}
	return total, true
}

// processStart is when pid started: boot time plus /proc/PID/stat's
// starttime (field 22, clock ticks since boot).
func (sc *scan) processStart(pid int) (time.Time, bool) {
	boot, ok := sc.bootTime()
	if !ok {
		return time.Time{}, false
	}
	b, _, err := sc.readProcFile(pid, "stat", maxProcStat)
	if err != nil {
		return time.Time{}, false
	}
	i := bytes.LastIndexByte(b, ')')
	if i < 0 {
		return time.Time{}, false
	}
	fields := bytes.Fields(b[i+1:])
	const startField = 22 - 3 // fields after comm start at 3 (state)
	if len(fields) <= startField {
		return time.Time{}, false
	}
	ticks, err := strconv.ParseUint(string(fields[startField]), 10, 64)
	if err != nil {
		return time.Time{}, false
	}
	return boot.Add(time.Duration(ticks) * time.Second / clockTicks), true
}

// bootTime is /proc/stat's btime, read once per scan.
func (sc *scan) bootTime() (time.Time, bool) {
	if sc.boot.IsZero() && !sc.bootRead {
		sc.bootRead = true
		f, err := os.Open(sc.cfg.ProcFS + "/stat")
		if err != nil {
			return time.Time{}, false
		}
		defer f.Close()
		buf, _ := io.ReadAll(io.LimitReader(f, 1<<20)) // a thousand CPUs' lines fit
		for line := range bytes.SplitSeq(buf, []byte("\n")) {
			if v, ok := bytes.CutPrefix(line, []byte("btime ")); ok {
				if s, err := strconv.ParseInt(string(bytes.TrimSpace(v)), 10, 64); err == nil {
					sc.boot = time.Unix(s, 0)
				}
			}
		}
	}
	return sc.boot, !sc.boot.IsZero()
}

// readVMAs reads pid's maps whole; ok is false when it is cut short or a
// line does not parse (the layout is then not known).
func (sc *scan) readVMAs(pid int) ([]vma, bool) {
	data, truncated, err := sc.readProcFile(pid, "maps", maxStartupMaps)
	if err != nil || truncated {
		return nil, false
	}
	var out []vma
	s := procmaps.NewScanner(data)
	for s.Scan() {
		if s.Err() != nil {
			return nil, false
		}
		m := s.Mapping()
		v := vma{start: m.Start, end: m.End}
		switch {
		case m.IsFile():
			v.file, v.key = true, fileKey{m.Major, m.Minor, m.Inode}
		case len(m.Path) > 0 && m.Path[0] == '[' && m.Inode == 0 && !bytes.HasPrefix(m.Path, []byte("[anon")) &&
			!bytes.Equal(m.Path, []byte("[heap]")) && !bytes.HasPrefix(m.Path, []byte("[stack")):
			v.special = true // [vdso], [vvar], [vvar_vclock], [vsyscall], [uprobes]
		}
		out = append(out, v)
	}
	return out, true
}

// statRaw stats p inside the root, following symlinks there, with every
// field (the change time too).
func (r *procRoot) statRaw(p string) (unix.Stat_t, error) {
	var st unix.Stat_t
	fd, err := r.open(p, unix.O_PATH, 0)
	if err != nil {
		return st, err
	}
	defer func() { _ = unix.Close(fd) }()
	err = unix.Fstat(fd, &st)
	return st, err
}
