// Package mounts parses /proc/PID/mountinfo and answers two questions about a
// mapped file: which mount it lives on, and whether that mount is a network
// file system (so the code came from another machine).
package mounts

import (
	"bufio"
	"bytes"
	"fmt"
	"strconv"
	"strings"
)

// Mount is one line of mountinfo (proc_pid_mountinfo(5)).
type Mount struct {
	ID, Parent   int
	Major, Minor uint32
	Root         string // the path of the mount's root inside its file system
	MountPoint   string // relative to the reading process's root
	Options      string // per-mount options: rw, noexec, nosuid, ...
	FSType       string // "nfs4", "fuse.sshfs", ...
	Source       string
	SuperOptions string
}

// Noexec reports whether the mount forbids executing (and mmap PROT_EXEC of)
// its files.
func (m Mount) Noexec() bool { return hasOption(m.Options, "noexec") }

// ReadOnly reports whether the mount is read-only.
func (m Mount) ReadOnly() bool { return hasOption(m.Options, "ro") }

func hasOption(opts, want string) bool {
	for o := range strings.SplitSeq(opts, ",") {
		if o == want {
			return true
		}
	}
	return false
}

// networkTypes are file systems whose files are served by another machine.
// 9p and virtiofs are a hypervisor host's share (QEMU virtfs, WSL, Kata):
// the code still comes from outside this system, so they count as remote.
var networkTypes = map[string]bool{
	"nfs": true, "nfs4": true, "cifs": true, "smb3": true, "smbfs": true, "ncpfs": true,
	"afs": true, "coda": true, "ceph": true, "glusterfs": true, "lustre": true, "gpfs": true,
	"ocfs2": true, "gfs2": true, "9p": true, "virtiofs": true, "davfs": true, "orangefs": true,
	"beegfs": true, "pvfs2": true,
}

// networkFuse are FUSE subtypes (the part after "fuse.") that reach the
// network. FUSE file systems that stay local (fuse.gvfsd-fuse is mixed,
// fuse.lxcfs, fuse.portal, fuse.squashfuse, ...) are not listed.
var networkFuse = map[string]bool{
	"sshfs": true, "s3fs": true, "rclone": true, "gcsfuse": true, "goofys": true,
	"glusterfs": true, "ceph-fuse": true, "cephfs": true, "davfs": true, "davfs2": true,
	"juicefs": true, "mountpoint-s3": true, "blobfuse": true, "blobfuse2": true,
	"curlftpfs": true, "smbnetfs": true, "afpfs": true, "lizardfs": true, "moosefs": true,
	"mfs": true, "seaweedfs": true, "geesefs": true, "cvmfs2": true, "cvmfs": true,
}

// Remote reports whether the mount is a network file system.
func (m Mount) Remote() bool { return IsNetworkFS(m.FSType) }

// IsNetworkFS classifies a mountinfo file system type.
func IsNetworkFS(fsType string) bool {
	if networkTypes[fsType] {
		return true
	}
	if sub, ok := strings.CutPrefix(fsType, "fuse."); ok {
		return networkFuse[sub]
	}
	if sub, ok := strings.CutPrefix(fsType, "fuseblk."); ok {
		return networkFuse[sub]
	}
	return false
}

// Parse reads mountinfo text. A malformed line is an error naming its line
// number; the mounts parsed before it are returned with it.
func Parse(data []byte) ([]Mount, error) {
	var out []Mount
	sc := bufio.NewScanner(bytes.NewReader(data))
	// A line may be as long as the data: the caller has bounded that, and
	// a cap per line would drop every mount after one long line (overlayfs
	// prints all its layers on one, up to 500 of them, and a user namespace
	// may mount one).
	sc.Buffer(make([]byte, 0, 4096), max(len(data)+1, 4096))
	n := 0
	for sc.Scan() {
		n++
		line := sc.Text()
		if strings.TrimSpace(line) == "" {
			continue
		}
		m, err := parseLine(line)
		if err != nil {
			return out, fmt.Errorf("mountinfo line %d: %w", n, err)
		}
		out = append(out, m)
	}
	if err := sc.Err(); err != nil {
		return out, fmt.Errorf("mountinfo line %d: %w", n+1, err)
	}
	return out, nil
}

func parseLine(line string) (Mount, error) {
	f := strings.Fields(line)
	sep := -1
	for i := 6; i < len(f); i++ {
		if f[i] == "-" {
			sep = i
			break
		}
	}
	if len(f) < 7 || sep < 0 || len(f) < sep+3 {
		return Mount{}, fmt.Errorf("want at least 10 fields with a \"-\" separator, got %q", line)
	}
	var m Mount
	var err error
	if m.ID, err = strconv.Atoi(f[0]); err != nil {
		return m, fmt.Errorf("mount id %q: not a number", f[0])
	}
	if m.Parent, err = strconv.Atoi(f[1]); err != nil {
		return m, fmt.Errorf("parent id %q: not a number", f[1])
	}
	maj, min, ok := strings.Cut(f[2], ":")
	major, err1 := strconv.ParseUint(maj, 10, 32)
	minor, err2 := strconv.ParseUint(min, 10, 32)
	if !ok || err1 != nil || err2 != nil {
		return m, fmt.Errorf("device %q: want major:minor", f[2])
	}
	m.Major, m.Minor = uint32(major), uint32(minor)
	m.Root = Unescape(f[3])
	m.MountPoint = Unescape(f[4])
	m.Options = f[5]
	m.FSType = Unescape(f[sep+1])
	m.Source = Unescape(f[sep+2])
	if len(f) > sep+3 {
		m.SuperOptions = f[sep+3]
	}
	return m, nil
}

// Unescape undoes the kernel's octal escapes (\040 space, \011 tab, \012
// newline, \134 backslash) in a mountinfo field. A backslash not followed by
// three octal digits is kept as is.
func Unescape(s string) string {
	if !strings.Contains(s, `\`) {
		return s
	}
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		if s[i] == '\\' && i+3 < len(s) && isOctal(s[i+1]) && isOctal(s[i+2]) && isOctal(s[i+3]) {
			v := (s[i+1]-'0')<<6 | (s[i+2]-'0')<<3 | (s[i+3] - '0')
			b.WriteByte(v)
			i += 3
			continue
		}
		b.WriteByte(s[i])
	}
	return b.String()
}

func isOctal(c byte) bool { return c >= '0' && c <= '7' }

// under reports whether p is mountPoint or below it.
func under(p, mountPoint string) bool {
	if mountPoint == "/" {
		return strings.HasPrefix(p, "/")
	}
	return p == mountPoint || (strings.HasPrefix(p, mountPoint) && len(p) > len(mountPoint) && p[len(mountPoint)] == '/')
}

// Find returns the mount a file lives on. When the file's device is known
// (from /proc/PID/maps) only mounts of that device are candidates, which
// stays right even when the path was renamed; among candidates the longest
// mount point the path lies under wins, and of equal ones the later line
// (the mount on top). Without a device, or when no mount of the device
// covers the path, it falls back to the longest prefix over all mounts.
func Find(ms []Mount, file string, major, minor uint32, haveDev bool) (Mount, bool) {
	if haveDev {
		if m, ok := longest(ms, file, func(m Mount) bool { return m.Major == major && m.Minor == minor }); ok {
			return m, true
		}
	}
	return longest(ms, file, func(Mount) bool { return true })
}

func longest(ms []Mount, file string, keep func(Mount) bool) (Mount, bool) {
	best, found := Mount{}, false
	for _, m := range ms {
		if keep(m) && under(file, m.MountPoint) && (!found || len(m.MountPoint) >= len(best.MountPoint)) {
			best, found = m, true
		}
	}
	return best, found
}

// ByDevice returns a mount of the device (the last one in mountinfo), by
// the device alone: every mount of one file system shares its type, so this
// names the file system of a file whose path cannot be trusted to say where
// it lives.
func ByDevice(ms []Mount, major, minor uint32) (Mount, bool) {
	for i := len(ms) - 1; i >= 0; i-- {
		if ms[i].Major == major && ms[i].Minor == minor {
			return ms[i], true
		}
	}
	return Mount{}, false
}
