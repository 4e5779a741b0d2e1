package trust

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"path"
	"runtime"
	"slices"
	"strings"

	"github.com/modhunt/modhunt/internal/safefile"
)

// Host is what the defaults read from the machine: its root file system and
// a way to canonicalise a directory (resolve symlinks). Tests pass an
// fstest.MapFS and no resolver; production passes os.DirFS("/") and
// filepath.EvalSymlinks.
type Host struct {
	Root    fs.FS
	Resolve func(dir string) (string, error)
}

// multiarch is the Debian multiarch triplet of this build's architecture,
// where the dynamic loader also looks.
var multiarch = map[string]string{
	"amd64":    "x86_64-linux-gnu",
	"386":      "i386-linux-gnu",
	"arm64":    "aarch64-linux-gnu",
	"arm":      "arm-linux-gnueabihf",
	"ppc64le":  "powerpc64le-linux-gnu",
	"s390x":    "s390x-linux-gnu",
	"riscv64":  "riscv64-linux-gnu",
	"mips64le": "mips64el-linux-gnuabi64",
	"loong64":  "loongarch64-linux-gnu",
}

// LinuxSystemDirs are the dynamic loader's own directories (glibc's
// SYSTEM_DIRS on every architecture Debian and RHEL ship, plus the multiarch
// one) and /usr/libexec, where packaged helpers live. Package managers own
// everything under them.
func LinuxSystemDirs() []string {
	dirs := []string{"/lib", "/lib64", "/lib32", "/libx32", "/usr/lib", "/usr/lib64", "/usr/lib32", "/usr/libx32", "/usr/libexec"}
	if t, ok := multiarch[runtime.GOARCH]; ok {
		dirs = append(dirs, "/lib/"+t, "/usr/lib/"+t)
	}
	return dirs
}

// Limits on reading ld.so.conf: it is a handful of short files, so anything
// bigger is not a loader configuration worth trusting.
const (
	maxConfBytes = 64 << 10
	maxConfFiles = 256
	maxConfDepth = 8
)

// Linux returns the built-in Linux policy for host: the loader's system
// directories and what ld.so.conf lists are trusted, the AN0053 scratch
// directories are temp dirs. A problem reading ld.so.conf is returned with
// the policy (which then holds the system directories only) so the caller
// can log it; a missing ld.so.conf is no problem.
func Linux(host Host) (*Policy, error) {
	p := &Policy{Source: "built-in", TempDirs: slices.Clone(DefaultTempDirs)}
	system := LinuxSystemDirs()
	for _, d := range system {
		p.addTrusted(host, d, true)
	}
	conf, err := LdSoConfDirs(host.Root)
	for _, d := range conf {
		managed := slices.ContainsFunc(system, func(s string) bool { return Under(d, s) })
		p.addTrusted(host, d, managed)
	}
	return p, err
}

// addTrusted adds dir, and its canonical form when a symlink leads
// elsewhere: the kernel shows mapped files by their canonical path.
func (p *Policy) addTrusted(host Host, dir string, managed bool) {
	var forms []string
	if IsWindowsPath(dir) {
		// A Windows folder is compared in its one clean spelling; the
		// judge expands 8.3 names and device paths of the modules.
		dir = CleanWindowsDir(dir)
	} else {
		dir = path.Clean(dir)
	}
	forms = append(forms, dir)
	if host.Resolve != nil && !IsWindowsPath(dir) {
		if c, err := host.Resolve(dir); err == nil && path.IsAbs(c) && path.Clean(c) != dir {
			forms = append(forms, path.Clean(c))
		}
	}
	for _, f := range forms {
		i := slices.IndexFunc(p.TrustedDirs, func(d Dir) bool { return d.Path == f })
		if i < 0 {
			p.TrustedDirs = append(p.TrustedDirs, Dir{Path: f, Managed: managed})
		} else if managed {
			p.TrustedDirs[i].Managed = true
		}
	}
}

// LdSoConfDirs returns the directories root's /etc/ld.so.conf lists, in
// order, following "include" globs (relative ones from the including file's
// directory, as ldconfig does). "hwcap" lines and comments are skipped. The
// directories found before a problem are returned with it.
func LdSoConfDirs(root fs.FS) ([]string, error) {
	r := confReader{root: root, seen: map[string]bool{}}
	err := r.read("etc/ld.so.conf", 0)
	if errors.Is(err, fs.ErrNotExist) {
		err = nil
	}
	return r.dirs, err
}

type confReader struct {
	root  fs.FS
	seen  map[string]bool
	dirs  []string
	files int
}

func (r *confReader) read(name string, depth int) error {
	if depth > maxConfDepth {
		return fmt.Errorf("/%s: includes nest deeper than %d", name, maxConfDepth)
	}
	if r.seen[name] {
		return nil
	}
	r.seen[name] = true
	if r.files++; r.files > maxConfFiles {
		return fmt.Errorf("/%s: more than %d ld.so.conf files", name, maxConfFiles)
	}
	data, err := readBounded(r.root, name, maxConfBytes)
	if err != nil {
		return err
	}
	var errs []error
	sc := bufio.NewScanner(bytes.NewReader(data))
	for sc.Scan() {
		line := sc.Text()
		if i := strings.IndexByte(line, '#'); i >= 0 {
			line = line[:i]
		}
		line = strings.TrimSpace(line)
		switch {
		case line == "":
		case strings.HasPrefix(line, "include") && len(line) > 7 && (line[7] == ' ' || line[7] == '\t'):
			for _, pat := range strings.Fields(line[8:]) {
				if !path.IsAbs(pat) {
					pat = path.Join("/", path.Dir(name), pat)
				}
				matches, err := fs.Glob(r.root, strings.TrimPrefix(path.Clean(pat), "/"))
				if err != nil {
					errs = append(errs, fmt.Errorf("/%s: include %s: %w", name, pat, err))
					continue
				}
				for _, m := range matches {
					if err := r.read(m, depth+1); err != nil && !errors.Is(err, fs.ErrNotExist) {
						errs = append(errs, err)
					}
				}
			}
		case strings.HasPrefix(line, "hwcap") && len(line) > 5 && (line[5] == ' ' || line[5] == '\t'):
		default:
			// Old ldconfig allowed "dir=TYPE"; the type is not part of the path.
			if i := strings.IndexByte(line, '='); i > 0 {
				line = strings.TrimSpace(line[:i])
			}
			if path.IsAbs(line) {
				r.dirs = append(r.dirs, path.Clean(line))
			}
		}
	}
	return errors.Join(errs...)
}

// readBounded reads a regular file of at most limit bytes. It refuses
// anything else before opening it: opening a FIFO would block.
func readBounded(root fs.FS, name string, limit int64) ([]byte, error) {
	st, err := fs.Stat(root, name)
	if err != nil {
		return nil, err
	}
	if !st.Mode().IsRegular() {
		return nil, fmt.Errorf("/%s: not a regular file", name)
	}
	// ld.so.conf decides which directories are trusted: a file a user
	// could have written is refused (its directories stay untrusted). An
	// in-memory test file system has no owners to check.
	if st.Sys() != nil {
		if err := safefile.CheckTrusted(st); err != nil {
			return nil, fmt.Errorf("/%s: %w", name, err)
		}
	}
	f, err := root.Open(name)
	if err != nil {
		return nil, err
	}
	defer func() { _ = f.Close() }()
	data, err := io.ReadAll(io.LimitReader(f, limit+1))
	if err != nil {
		return nil, fmt.Errorf("/%s: %w", name, err)
	}
	if int64(len(data)) > limit {
		return nil, fmt.Errorf("/%s: larger than %d bytes", name, limit)
	}
	return data, nil
}
