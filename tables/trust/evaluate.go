package trust

import (
	"strings"

	"github.com/modhunt/modhunt/internal/winproc"
)

// Module holds the facts about one loaded module that the policy judges.
// The caller gathers them (from /proc on Linux); Evaluate only decides.
type Module struct {
	// Path is the path the kernel shows for the mapping, without the
	// " (deleted)" suffix.
	Path string
	// Deleted: the file was unlinked after it was mapped.
	Deleted bool
	// Memfd: the mapping is backed by a memfd_create file.
	Memfd bool
	// Preloaded: LD_PRELOAD, LD_AUDIT, /etc/ld.so.preload or an untrusted
	// LD_LIBRARY_PATH entry brought the module in.
	Preloaded bool
	// WorldWritableDir: a directory on the path is writable by everyone
	// (mode o+w), which makes it a temp directory whatever its name.
	WorldWritableDir bool
	// UserWritable: the file, or a directory on its path, can be changed by
	// a user other than root.
	UserWritable bool
	// Remote: the file lives on a network file system.
	Remote bool
	// MountPoint and MountNoexec describe the mount the file lives on; empty
	// MountPoint means unknown.
	MountPoint  string
	MountNoexec bool
	// Package owns the path; PackagesKnown says whether a package database
	// was read at all (without one, not_package_owned is never claimed).
	Package       string
	PackagesKnown bool
	// PathMismatch: Path does not lead to the mapped file (another file or
	// nothing is there; the file came through a detached mount or another
	// namespace, or the path was cut). The caller then gives no trust that
	// rests on the path (package, allowlisted path, mount).
	PathMismatch bool

	// Windows facts; zero elsewhere. Path is then in CleanWindowsPath's
	// spelling with 8.3 names expanded.
	//
	// NotInLoaderList: an image mapping the loader's list does not have.
	NotInLoaderList bool
	// Signature is the Authenticode verdict, when it was checked.
	Signature SignatureFacts
	// OriginalFileName is the version resource's claim ("" when none).
	OriginalFileName string
	// Unsigned (macOS): a Mach-O file that carries no code signature.
	Unsigned bool
}

// Evaluate returns the reasons m breaks the policy; an empty set means the
// load is trusted.
//
// A memfd module has no file system path, so the path rules (trusted and
// temp directories, hidden, package ownership, writability) do not apply to
// it: memfd says it all.
func (p *Policy) Evaluate(m Module) Reasons {
	var rs Reasons
	if m.Preloaded {
		rs.Add(Preloaded)
	}
	if m.Memfd {
		rs.Add(Memfd)
		return rs
	}
	if m.Deleted {
		rs.Add(Deleted)
	}
	if m.PathMismatch {
		rs.Add(PathMismatch)
	}
	dir, trusted := p.trustedDir(m.Path)
	if !trusted {
		rs.Add(OutsideTrustedDirs)
	}
	if p.IsTemp(m.Path) || m.WorldWritableDir {
		rs.Add(TempDir)
	}
	if m.UserWritable {
		rs.Add(UserWritable)
	}
	if IsHidden(m.Path) {
		rs.Add(Hidden)
	}
	if trusted && dir.Managed && m.PackagesKnown && m.Package == "" {
		rs.Add(NotPackageOwned)
	}
	if m.Remote {
		rs.Add(Remote)
	}
	if m.NotInLoaderList {
		rs.Add(HiddenFromLoader)
	}
	if m.Signature.Checked {
		switch {
		case !m.Signature.Signed:
			rs.Add(Unsigned)
		case m.Signature.Status != winproc.StatusValid:
			rs.Add(UntrustedSignature)
		}
	}
	if IsRenamed(baseName(m.Path), m.OriginalFileName) {
		rs.Add(Renamed)
	}
	if m.Unsigned {
		rs.Add(Unsigned)
	}
	if m.MountPoint != "" && !m.MountNoexec && p.shouldBeNoexec(m.MountPoint) {
		rs.Add(ExecFromWritableMount)
	}
	return rs
}

func (p *Policy) shouldBeNoexec(mountPoint string) bool {
	for _, d := range p.NoexecMounts {
		if d == mountPoint {
			return true
		}
	}
	return false
}

// baseName is the last component of a POSIX or Windows path.
func baseName(p string) string {
	return p[strings.LastIndexAny(p, `/\`)+1:]
}
