package trust

import (
	"path"
	"regexp"
	"slices"
	"strings"

	"github.com/modhunt/modhunt/internal/winproc"
)

// Dir is a trusted directory. Managed directories are the ones a package
// manager owns, so a module under them that no package owns is worth a
// reason (not_package_owned); directories an admin trusts by policy, and
// /usr/local or /opt from ld.so.conf, are trusted without that check.
type Dir struct {
	Path    string
	Managed bool
}

// Policy is the trust policy: the built-in defaults plus whatever a policy
// file adds. Build one with Linux (tests may start from a zero Policy) and
// extend it with Apply or LoadFile.
type Policy struct {
	// Source names where the policy came from, for logs and errors.
	Source string
	// TrustedDirs are the roots modules may load from.
	TrustedDirs []Dir
	// UntrustedDirs are exceptions to TrustedDirs: folders below a trusted
	// one that are not trusted, unless a trusted directory deeper than the
	// exception holds the file (Windows: the user-writable folders of
	// %SystemRoot%, WindowsWritableSystemDirs; macOS: /System/Volumes, the
	// writable volumes under the sealed /System, but not the OS cryptex
	// inside it).
	UntrustedDirs []string
	// TempDirs are scratch directories; a module under one is temp_dir. A
	// Windows entry may hold "*" components (C:\Users\*\AppData\Local\Temp).
	TempDirs []string
	// NoexecMounts are mount points that should be mounted noexec; a module
	// on one of them that is not gets exec_from_writable_mount.
	NoexecMounts []string
	// AllowModules and AllowProcesses drop rows the admin has vouched for.
	AllowModules   []ModuleRule
	AllowProcesses []ProcessRule
	// AllowSigners vouch for modules whose signature is Valid and whose
	// signer subject is one of them (exactly, without regard to case):
	// Windows' signer allowlist. It vouches for the file, not for how it
	// was loaded: a hidden_from_loader verdict stays.
	AllowSigners []string
	// VerifyTrustedDirs: check the signature of every module, also those
	// the trusted directories vouch for (unsigned inside them is then a low
	// verdict). Off by default, since WinVerifyTrust reads the whole file:
	// only modules with another reason are checked.
	VerifyTrustedDirs bool
	// JITHosts add to DefaultJITHosts (IsJITHost).
	JITHosts []JITHost
}

// ModuleRule allowlists modules. Exactly one matcher is set.
type ModuleRule struct {
	PathGlob string
	SHA256   string
	Package  string
	Comment  string
	path     *regexp.Regexp
}

// ProcessRule allowlists every module of matching processes (a JIT, a
// vendor agent). Exactly one matcher is set.
type ProcessRule struct {
	PathGlob string
	Name     string
	Comment  string
	path     *regexp.Regexp
}

// DefaultTempDirs are the scratch directories MITRE's AN0053 names. Any
// other world-writable directory on a module's path counts too, but that is
// a fact about the file system, so the caller reports it (Module.WorldWritableDir).
// /run/user stands for /run/user/<uid>: everything below it is a user's
// runtime directory.
var DefaultTempDirs = []string{"/tmp", "/var/tmp", "/dev/shm", "/run/user"}

// Under reports whether p is dir or lies below it. Both are clean absolute
// paths. A Windows directory (C:\Windows, \\server\share) is compared as
// Windows compares paths: without regard to case, and with either slash.
func Under(p, dir string) bool {
	if IsWindowsPath(dir) {
		return underWindowsPattern(p, dir)
	}
	if strings.IndexByte(dir, '\\') >= 0 {
		return underWindows(p, dir)
	}
	if dir == "/" {
		return strings.HasPrefix(p, "/")
	}
	return p == dir || (strings.HasPrefix(p, dir) && len(p) > len(dir) && p[len(dir)] == '/')
}

func underWindows(p, dir string) bool {
	norm := func(s string) string { return strings.ToLower(strings.ReplaceAll(s, "/", `\`)) }
	p, dir = norm(p), strings.TrimSuffix(norm(dir), `\`)
	return p == dir || (strings.HasPrefix(p, dir) && len(p) > len(dir) && p[len(dir)] == '\\')
}

// trustedDir returns the trusted directory p lies under, preferring managed
// ones so that a package-managed path keeps its not_package_owned check even
// when a policy also trusts a parent.
func (p *Policy) trustedDir(file string) (Dir, bool) {
	var found Dir
	ok := false
	for _, d := range p.TrustedDirs {
		if Under(file, d.Path) && (!ok || (d.Managed && !found.Managed)) {
			found, ok = d, true
		}
	}
	if !ok {
		return found, false
	}
	for _, u := range p.UntrustedDirs {
		if Under(file, u) && !slices.ContainsFunc(p.TrustedDirs, func(d Dir) bool {
			return len(d.Path) > len(u) && Under(file, d.Path)
		}) {
			return Dir{}, false
		}
	}
	return found, true
}

// Trusted reports whether a file at p lies under a trusted directory.
func (p *Policy) Trusted(file string) bool {
	_, ok := p.trustedDir(file)
	return ok
}

// IsTemp reports whether p lies under one of the policy's temp directories.
func (p *Policy) IsTemp(file string) bool {
	return slices.ContainsFunc(p.TempDirs, func(d string) bool { return Under(file, d) })
}

// IsHidden reports whether a component of p starts with a dot.
func IsHidden(p string) bool {
	for c := range strings.SplitSeq(p, "/") {
		if strings.HasPrefix(c, ".") && c != "." && c != ".." {
			return true
		}
	}
	return false
}

// AllowsProcess reports whether the policy allowlists every module of a
// process with this executable path and name.
func (p *Policy) AllowsProcess(exe, name string) bool {
	for _, r := range p.AllowProcesses {
		if (r.Name != "" && r.Name == name) || (r.path != nil && r.path.MatchString(exe)) {
			return true
		}
	}
	return false
}

// AllowsSigner reports whether the policy vouches for a module with this
// signature.
func (p *Policy) AllowsSigner(sig SignatureFacts) bool {
	if !sig.Checked || !sig.Signed || sig.Status != winproc.StatusValid || sig.Subject == "" {
		return false
	}
	return slices.ContainsFunc(p.AllowSigners, func(s string) bool { return strings.EqualFold(s, sig.Subject) })
}

// AllowsModule reports whether the policy allowlists a module. sha256 and
// pkg may be empty when unknown; an empty value never matches.
func (p *Policy) AllowsModule(file, sha256, pkg string) bool {
	for _, r := range p.AllowModules {
		switch {
		case r.path != nil && r.path.MatchString(file),
			r.SHA256 != "" && strings.EqualFold(r.SHA256, sha256),
			r.Package != "" && r.Package == pkg:
			return true
		}
	}
	return false
}

// compileGlob turns a path glob into a regexp: "*" and "?" stay inside one
// path component, "**" crosses components, "[...]" is a character class as
// in path.Match. It rejects what path.Match would reject.
func compileGlob(glob string) (*regexp.Regexp, error) {
	if IsWindowsPath(glob) {
		return compileWindowsGlob(glob)
	}
	if _, err := path.Match(strings.ReplaceAll(glob, "**", "*"), ""); err != nil {
		return nil, err
	}
	var b strings.Builder
	b.WriteString("^")
	for i := 0; i < len(glob); i++ {
		c := glob[i]
		switch c {
		case '*':
			if i+1 < len(glob) && glob[i+1] == '*' {
				b.WriteString(".*")
				i++
			} else {
				b.WriteString("[^/]*")
			}
		case '?':
			b.WriteString("[^/]")
		case '[':
			// path.Match and regexp agree on classes: "^" negates, "a-z" ranges.
			end := strings.IndexByte(glob[i+1:], ']')
			if end < 0 {
				return nil, path.ErrBadPattern
			}
			b.WriteString(glob[i : i+end+2])
			i += end + 1
		case '\\':
			if i+1 < len(glob) {
				i++
				b.WriteString(regexp.QuoteMeta(string(glob[i])))
			}
		default:
			b.WriteString(regexp.QuoteMeta(string(c)))
		}
	}
	b.WriteString("$")
	return regexp.Compile(b.String())
}

// compileWindowsGlob compiles a Windows path glob (C:\Program Files\*\x.dll):
// the separator is a backslash (or a slash), which therefore escapes
// nothing; "*" and "?" stay inside one component, "**" crosses components,
// "[...]" is a class; the match ignores case, as Windows compares names.
// Module paths are matched in CleanWindowsPath's spelling.
func compileWindowsGlob(glob string) (*regexp.Regexp, error) {
	g := CleanWindowsPath(glob)
	var b strings.Builder
	b.WriteString(`(?i)^`)
	for i := 0; i < len(g); i++ {
		switch c := g[i]; c {
		case '*':
			if i+1 < len(g) && g[i+1] == '*' {
				b.WriteString(".*")
				i++
			} else {
				b.WriteString(`[^\\]*`)
			}
		case '?':
			b.WriteString(`[^\\]`)
		case '[':
			end := strings.IndexByte(g[i+1:], ']')
			if end < 0 || end == 0 {
				return nil, path.ErrBadPattern
			}
			class := g[i+1 : i+1+end]
			if strings.HasPrefix(class, "^") {
				class = "^" + regexp.QuoteMeta(class[1:])
			} else {
				class = regexp.QuoteMeta(class)
			}
			b.WriteString("[" + class + "]")
			i += end + 1
		default:
			b.WriteString(regexp.QuoteMeta(string(c)))
		}
	}
	b.WriteString("$")
	return regexp.Compile(b.String())
}
