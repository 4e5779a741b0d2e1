package fakeinv

import (
	"bufio"
	"fmt"
	"io"
	"io/fs"
	"os"
	"strconv"
	"strings"

	"github.com/modhunt/modhunt/internal/darwinproc"
	"github.com/modhunt/modhunt/tables/inventory"
)

// MacProc is one recorded macOS process: what libproc and kern.procargs2
// said of it. Err (e.g. an EPERM *darwinproc.ProcError) is what
// proc_pidinfo answers instead, as for a SIP-protected process.
type MacProc struct {
	BSD     darwinproc.BSDInfo
	Exe     string
	Args    darwinproc.ProcArgs
	ArgsErr error
	Regions []darwinproc.Region
	Err     error
}

// MacRecording answers inventory.MacOS from recorded processes, so the real
// macOS inventory (inventory.NewDarwin) runs on Linux. Files maps a macOS
// path (a module or a directory on its way) to a file of this host standing
// for it; Lstat and Open reach only those. FSTypes maps a directory to the
// file system mounted there (longest match wins; "apfs" otherwise). Owners
// gives a path the owner it had on the Mac, whoever runs the test; a path
// not in it is owned by root.
type MacRecording struct {
	Procs   map[int32]*MacProc
	Users   map[uint32]string
	Files   map[string]string
	FSTypes map[string]string
	Owners  map[string]uint32
}

var _ inventory.MacOS = (*MacRecording)(nil)

func (r *MacRecording) proc(pid int32) (*MacProc, error) {
	p, ok := r.Procs[pid]
	if !ok {
		return nil, darwinproc.NewProcError(pid, "proc_pidinfo(PROC_PIDTBSDINFO)", 3 /* ESRCH */)
	}
	if p.Err != nil {
		return nil, p.Err
	}
	return p, nil
}

// ListPIDs lists every recorded pid, refused ones included.
func (r *MacRecording) ListPIDs() ([]int32, error) {
	out := make([]int32, 0, len(r.Procs))
	for pid := range r.Procs {
		out = append(out, pid)
	}
	return out, nil
}

// BSDInfo is the recorded proc_bsdinfo.
func (r *MacRecording) BSDInfo(pid int32) (darwinproc.BSDInfo, error) {
	p, err := r.proc(pid)
	if err != nil {
		return darwinproc.BSDInfo{}, err
	}
	return p.BSD, nil
}

// ExePath is the recorded proc_pidpath.
func (r *MacRecording) ExePath(pid int32) (string, error) {
	p, err := r.proc(pid)
	if err != nil {
		return "", err
	}
	return p.Exe, nil
}

// ProcArgs is the recorded kern.procargs2.
func (r *MacRecording) ProcArgs(pid int32) (darwinproc.ProcArgs, error) {
	p, err := r.proc(pid)
	if err != nil {
		return darwinproc.ProcArgs{}, err
	}
	return p.Args, p.ArgsErr
}

// Regions is every recorded region.
func (r *MacRecording) Regions(pid int32, _ darwinproc.Limits) (darwinproc.Walk, error) {
	p, err := r.proc(pid)
	if err != nil {
		return darwinproc.Walk{}, err
	}
	return darwinproc.Walk{Regions: p.Regions}, nil
}

// FileRegions is the file-backed regions, as PROC_PIDREGIONPATHINFO2
// returns them.
func (r *MacRecording) FileRegions(pid int32, _ darwinproc.Limits) (darwinproc.Walk, error) {
	p, err := r.proc(pid)
	if err != nil {
		return darwinproc.Walk{}, err
	}
	var w darwinproc.Walk
	for _, rg := range p.Regions {
		if !rg.Submap() && rg.Vnode.HasFile() {
			w.Regions = append(w.Regions, rg)
		}
	}
	return w, nil
}

// UserName is the recorded user name.
func (r *MacRecording) UserName(uid uint32) string { return r.Users[uid] }

// Lstat stats the host file standing for p.
func (r *MacRecording) Lstat(p string) (inventory.FileInfo, error) {
	b, ok := r.Files[p]
	if !ok {
		return inventory.FileInfo{}, &os.PathError{Op: "lstat", Path: p, Err: fs.ErrNotExist}
	}
	fi, err := os.Lstat(b)
	if err != nil {
		return inventory.FileInfo{}, err
	}
	out := fullInfo(fi)
	out.UID = r.Owners[p]
	out.Dev = uint64(uint32(out.Dev)) //nolint:gosec // st_dev is 32 bits on macOS
	return out, nil
}

// Open opens the host file standing for p (regular files only).
func (r *MacRecording) Open(p string) (*os.File, inventory.FileInfo, error) {
	fi, err := r.Lstat(p)
	if err != nil {
		return nil, fi, err
	}
	if fi.Mode&0o170000 != 0o100000 {
		return nil, inventory.FileInfo{}, fmt.Errorf("%s is not a regular file", p)
	}
	f, err := os.Open(r.Files[p])
	return f, fi, err
}

// FSType is the file system of the longest FSTypes directory above p.
func (r *MacRecording) FSType(p string) (string, error) {
	best, t := -1, "apfs"
	for dir, ft := range r.FSTypes {
		if (p == dir || strings.HasPrefix(p, strings.TrimSuffix(dir, "/")+"/")) && len(dir) > best {
			best, t = len(dir), ft
		}
	}
	return t, nil
}

// SetVnode gives every region of path in pid's recording the identity of
// the host file standing for it, so the inventory's identity checks pass
// (the recording's device and inode are a Mac's).
func (r *MacRecording) SetVnode(pid int32, path string) error {
	fi, err := r.Lstat(path)
	if err != nil {
		return err
	}
	for i := range r.Procs[pid].Regions {
		if v := &r.Procs[pid].Regions[i].Vnode; v.Path == path {
			v.Dev, v.Inode = uint32(fi.Dev), fi.Ino //nolint:gosec // the bits are what the kernel gives
		}
	}
	return nil
}

// ParseRegionList reads a region list in darwinproc's testdata format, one
// region a line: address size prot maxprot flags share_mode dev inode path
// ("-" for no file; a path may hold spaces). A file's link count is 1 unless
// the line ends with " (nlink=0)", which records a deleted file.
func ParseRegionList(name string, rd io.Reader) ([]darwinproc.Region, error) {
	var out []darwinproc.Region
	sc := bufio.NewScanner(rd)
	for line := 1; sc.Scan(); line++ {
		s := strings.TrimSpace(sc.Text())
		if s == "" || s[0] == '#' {
			continue
		}
		fs := strings.SplitN(s, " ", 9)
		if len(fs) != 9 {
			return nil, fmt.Errorf("%s:%d: %d fields, want 9", name, line, len(fs))
		}
		var n [8]uint64
		for i := range n {
			v, err := strconv.ParseUint(fs[i], 0, 64)
			if err != nil {
				return nil, fmt.Errorf("%s:%d: field %d: %w", name, line, i+1, err)
			}
			n[i] = v
		}
		r := darwinproc.Region{Address: n[0], Size: n[1], Protection: uint32(n[2]), MaxProtection: uint32(n[3]),
			Flags: uint32(n[4]), ShareMode: darwinproc.ShareMode(n[5])}
		if p := fs[8]; p != "-" {
			nlink := uint16(1)
			if cut, ok := strings.CutSuffix(p, " (nlink=0)"); ok {
				p, nlink = cut, 0
			}
			r.Vnode = darwinproc.Vnode{Dev: uint32(n[6]), Inode: n[7], Mode: 0o100755, Nlink: nlink, Type: 1, Path: p}
		}
		out = append(out, r)
	}
	return out, sc.Err()
}

// LoadRegionList is ParseRegionList of a file.
func LoadRegionList(file string) ([]darwinproc.Region, error) {
	f, err := os.Open(file)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	return ParseRegionList(file, f)
}
