package untrusted

import (
	"path"
	"slices"
	"time"

	"github.com/modhunt/modhunt/tables/trust"
	"github.com/modhunt/modhunt/tables/verdict"
)

var _ verdict.LoadJudge = (*Judge)(nil)

// groupOtherWrite are the mode bits that let someone other than the owner
// change a file.
const groupOtherWrite = 0o022

// pkgRefreshEvery bounds how often JudgeLoad checks the package databases
// for a change: loads come by the thousand a second, package installs
// rarely.
const pkgRefreshEvery = 10 * time.Second

// JudgeLoad judges one load from what the kernel said of it at the time
// (verdict.LoadFacts), under this judge's policy and package index: the
// same rules as a scan, over the facts an event carries. What a scan reads
// from the live process (its environment and root, mountinfo, the mapped
// file's owner, start-up layout) is not read: the process may be gone. So
// preloaded comes from the loader's variables at exec (LD_PRELOAD,
// LD_AUDIT, LD_LIBRARY_PATH, matched by name: a symlinked entry is not
// followed) and the host's /etc/ld.so.preload for a process that sees the
// host's files; user_writable only from the file's mode; and remote,
// exec_from_writable_mount and a world-writable directory are not judged.
// The host's package databases speak only for a process that sees the
// host's files: in another mount namespace (a container) package ownership
// is unknown, never "unowned", and a host package's name vouches for
// nothing, as a scan treats a foreign root.
func (j *Judge) JudgeLoad(f verdict.LoadFacts) (trust.Reasons, string) {
	s := j.s
	if s.policy.AllowsProcess(f.ProcessPath, f.ProcessName) {
		return trust.Reasons{}, ""
	}
	facts := trust.Module{Path: f.Path, Deleted: f.Deleted, Memfd: f.Memfd, PathMismatch: f.PathTruncated,
		Preloaded: f.Preloaded || j.loadPreloaded(f)}
	pkg := ""
	if !f.Memfd {
		facts.UserWritable = f.Mode&groupOtherWrite != 0
		if !f.PathTruncated && f.HostView {
			j.refreshPackages()
			pkg, facts.PackagesKnown = s.pkgs.Owner(f.Path)
			facts.Package = pkg
		}
	}
	reasons := s.policy.Evaluate(facts)
	if reasons.Empty() || (!f.PathTruncated && s.policy.AllowsModule(f.Path, "", pkg)) {
		return trust.Reasons{}, pkg
	}
	return reasons, pkg
}

// loadPreloaded says whether the loader was told to load f's module
// first, from what the event knows of the process's loader: its LD_*
// variables at exec and, when it sees the host's files, the host's
// /etc/ld.so.preload. An LD_LIBRARY_PATH directory counts, as in a scan,
// unless the policy trusts it.
func (j *Judge) loadPreloaded(f verdict.LoadFacts) bool {
	if f.Memfd || f.PathTruncated {
		return false
	}
	var host []string
	if f.HostView {
		host = j.hostPreloads()
	}
	if len(f.LoaderEnv) == 0 && len(host) == 0 {
		return false
	}
	vars := loaderEnv(f.LoaderEnv)
	list := preloadList{secure: f.Secure}
	if vars.hasPreload {
		list.addPreloadEnv(vars.preload)
	}
	for _, a := range vars.audit {
		list.addAuditEnv(a)
	}
	for _, e := range host {
		list.add(e)
	}
	if list.matchName(f.Path, f.Mode&0o4000 != 0) {
		return true
	}
	if !vars.hasLibraryPath || f.Secure || j.s.policy.Trusted(f.Path) {
		return false // ld.so ignores LD_LIBRARY_PATH under AT_SECURE
	}
	return slices.Contains(libraryPath(vars.libraryPath), path.Dir(f.Path))
}

// refreshPackages checks the package databases for a change at most every
// pkgRefreshEvery, on a goroutine of its own: a rebuild reads every
// package's file list (half a second of CPU), which must not hold up the
// loads behind this one. Until the first build, ownership is unknown and
// not_package_owned is not claimed.
func (j *Judge) refreshPackages() {
	now := time.Now().UnixNano()
	last := j.pkgChecked.Load()
	if now-last < int64(pkgRefreshEvery) || !j.pkgChecked.CompareAndSwap(last, now) {
		return
	}
	go func() {
		if err := j.s.pkgs.Refresh(); err != nil {
			j.s.log.Warn("package database partly unreadable", "err", err)
		}
	}()
}

// WarmLoads reads the package databases now, so the first loads judged are
// judged with them. An event stream calls it once before its first event.
func (j *Judge) WarmLoads() {
	j.pkgChecked.Store(time.Now().UnixNano())
	if err := j.s.pkgs.Refresh(); err != nil {
		j.s.log.Warn("package database partly unreadable", "err", err)
	}
}
