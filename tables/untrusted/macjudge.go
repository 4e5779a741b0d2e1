package untrusted

// The macOS judgement, without a build tag: a macOS inventory is judged by
// it on a Mac (scan_other.go) and on Linux alike (tests feed recorded macOS
// hosts), from what the inventory gives and nothing of this host's own file
// system.

import (
	"context"
	"path"
	"slices"

	"github.com/modhunt/modhunt/internal/darwinpath"
	"github.com/modhunt/modhunt/internal/darwinproc"
	"github.com/modhunt/modhunt/tables/inventory"
	"github.com/modhunt/modhunt/tables/machofile"
	"github.com/modhunt/modhunt/tables/mounts"
	"github.com/modhunt/modhunt/tables/trust"
)

// pathStater is an inventory that can stat a path as a process sees it
// (the macOS inventory: the host's view is every process's). Without it,
// directories on a module's path are not judged.
type pathStater interface {
	StatPath(pid int, p string) (inventory.FileInfo, error)
}

// macDir is what a directory contributes to the modules below it.
type macDir struct {
	known, userWritable, worldWritable bool
}

// macRemoteFS are macOS's network file systems (statfs f_fstypename) that
// mounts.IsNetworkFS, written for Linux's mountinfo, does not name.
var macRemoteFS = map[string]bool{"afpfs": true, "webdav": true, "ftp": true, "cifs": true}

// processDarwin judges a macOS process: temp_dir (the user temp dirs in
// any spelling, or a world-writable directory on the way), user_writable
// (the file, or a directory on its path, changeable by someone other than
// root), hidden, deleted (the vnode's link count), preloaded (named by
// DYLD_INSERT_LIBRARIES in the environment and mapped: dyld ignores the
// variable for restricted processes, so the mapping is the evidence),
// remote (smbfs, nfs, afpfs, webdav mounts) and unsigned (a Mach-O without
// LC_CODE_SIGNATURE). The dyld shared cache, mapped by the kernel in the
// shared region, is the system's own and not judged.
func (sc *scan) processDarwin(ctx context.Context, proc int) {
	p := &sc.res.Processes[proc]
	if sc.policy.AllowsProcess(p.Path, p.Name) {
		return
	}
	var inserted []string
	envRead := false
	stater, _ := sc.src.(pathStater)
	for i := range p.Modules {
		m := &p.Modules[i]
		if ctx.Err() != nil {
			return // the walk reports it
		}
		if !Judged(p, m) {
			continue
		}
		canon := darwinpath.Canonical(m.Path)
		if darwinpath.IsSharedCache(canon) && darwinproc.InSharedRegion(m.Base) {
			continue
		}
		if !envRead {
			envRead = true
			if env, _, err := sc.src.Environ(p.PID, inventory.DefaultEnvironMax); err == nil {
				inserted = darwinproc.DYLDInsertLibraries(env)
			}
		}
		fi, err := sc.src.StatModule(p.PID, m)
		statOK := err == nil
		facts := trust.Module{Path: canon, Deleted: m.Deleted, Preloaded: insertedMatch(inserted, canon)}
		// APFS is case-insensitive by default: /TMP/x opens /private/tmp/x.
		facts.WorldWritableDir = darwinpath.TempDir(canon)
		facts.UserWritable = statOK && (fi.UID != 0 || fi.Mode&0o022 != 0)
		if stater != nil && !m.Deleted {
			d := sc.macDirFacts(stater, p.PID, path.Dir(canon))
			facts.UserWritable = facts.UserWritable || d.userWritable
			facts.WorldWritableDir = facts.WorldWritableDir || d.worldWritable
		}
		fsType := ""
		if statOK {
			fsType, _ = sc.src.ModuleFSType(p.PID, m)
			facts.Remote = mounts.IsNetworkFS(fsType) || macRemoteFS[fsType]
		}
		if info, err := machofile.Of(sc.src, p.PID, m); err == nil {
			facts.Unsigned = info.Unsigned()
		}
		reasons := sc.policy.Evaluate(facts)
		if reasons.Empty() || sc.policy.AllowsModule(m.Path, "", "") || sc.policy.AllowsModule(canon, "", "") {
			continue
		}
		sc.add(proc, i, reasons, fi, statOK, "", fsType)
	}
}

// insertedMatch reports whether a DYLD_INSERT_LIBRARIES entry names the
// module: by its canonical path, or, for an entry dyld resolves itself
// (@executable_path/..., @loader_path/..., a relative path), by file name.
func insertedMatch(inserted []string, canon string) bool {
	return slices.ContainsFunc(inserted, func(e string) bool {
		if len(e) > 0 && e[0] == '/' {
			return darwinpath.Canonical(e) == canon
		}
		return path.Base(e) == path.Base(canon)
	})
}

// macDirFacts judges dir and the directories above it as Linux's dirFacts
// does: user-writable when someone other than root owns one, or group or
// others may write it without the sticky bit; world-writable when any is
// o+w. A directory that cannot be statted (or is not a directory) leaves it
// and everything below unknown.
func (sc *scan) macDirFacts(st pathStater, pid int, dir string) macDir {
	if sc.macDirs == nil {
		sc.macDirs = map[string]macDir{}
	}
	if f, ok := sc.macDirs[dir]; ok {
		return f
	}
	var parent macDir
	if dir != "/" {
		parent = sc.macDirFacts(st, pid, path.Dir(dir))
		if !parent.known {
			sc.macDirs[dir] = parent
			return parent
		}
	}
	var f macDir
	if fi, err := st.StatPath(pid, dir); err == nil && fi.Mode&0o170000 == 0o040000 {
		f.known = true
		f.userWritable = parent.userWritable || fi.UID != 0 || (fi.Mode&0o022 != 0 && fi.Mode&0o1000 == 0)
		f.worldWritable = parent.worldWritable || fi.Mode&0o002 != 0
	}
	sc.macDirs[dir] = f
	return f
}
