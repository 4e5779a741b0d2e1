package trust

import (
	"strings"

	"github.com/modhunt/modhunt/internal/winproc"
)

// WindowsDirs are the folders the Windows defaults are made of. On a live
// host they come from the system (GetSystemWindowsDirectory and the known
// folders); DefaultWindowsDirs are a stock installation's, for another
// OS's inventory judged on this host.
type WindowsDirs struct {
	SystemRoot      string // %SystemRoot%, C:\Windows
	ProgramFiles    string // %ProgramFiles%
	ProgramFilesX86 string // %ProgramFiles(x86)%; "" on a 32-bit system
	UserProfiles    string // the folder holding every profile, C:\Users
}

// DefaultWindowsDirs are a stock 64-bit installation on C:.
var DefaultWindowsDirs = WindowsDirs{
	SystemRoot:      `C:\Windows`,
	ProgramFiles:    `C:\Program Files`,
	ProgramFilesX86: `C:\Program Files (x86)`,
	UserProfiles:    `C:\Users`,
}

// WindowsWritableSystemDirs are the folders below %SystemRoot% that a
// standard user can create files in on a stock Windows 10/11: the list
// Oddvar Moe's Get-PALWriteablepaths (github.com/api0cradle/PowerAL, and
// his UltimateAppLockerByPassList) finds by trying to write in every folder
// as a standard user, which is why AppLocker's default "allow %WINDIR%\*"
// rule can be bypassed (Helge Klein, "AppLocker – Security Problems", 2012,
// showed the ACL of Windows\Temp). A DLL dropped there sits under a trusted
// folder without anyone's privilege, so these are not trusted. Tasks_Migrated
// exists after an in-place upgrade; PLA and debug\WIA grant CreateFiles to
// Users on the same builds. The paths are relative to %SystemRoot%.
var WindowsWritableSystemDirs = []string{
	`Temp`,
	`Tasks`,
	`tracing`,
	`Registration\CRMLog`,
	`debug\WIA`,
	`PLA\Reports`,
	`PLA\Rules`,
	`PLA\Templates`,
	`System32\FxsTmp`,
	`System32\Tasks`,
	`System32\Tasks_Migrated`,
	`System32\com\dmp`,
	`System32\Microsoft\Crypto\RSA\MachineKeys`,
	`System32\spool\PRINTERS`,
	`System32\spool\SERVERS`,
	`System32\spool\drivers\color`,
	`SysWOW64\FxsTmp`,
	`SysWOW64\Tasks`,
	`SysWOW64\com\dmp`,
}

// Windows returns the built-in Windows policy: %SystemRoot%, %ProgramFiles%
// and %ProgramFiles(x86)% are trusted (MITRE M1038's own examples of
// protected folders), except their user-writable subfolders
// (WindowsWritableSystemDirs); %SystemRoot%\Temp and every profile's
// AppData\Local\Temp are temp dirs.
func Windows(d WindowsDirs) *Policy {
	p := &Policy{Source: "built-in"}
	for _, dir := range []string{d.SystemRoot, d.ProgramFiles, d.ProgramFilesX86} {
		if dir != "" {
			p.TrustedDirs = append(p.TrustedDirs, Dir{Path: CleanWindowsDir(dir)})
		}
	}
	if d.SystemRoot != "" {
		root := CleanWindowsDir(d.SystemRoot)
		for _, sub := range WindowsWritableSystemDirs {
			p.UntrustedDirs = append(p.UntrustedDirs, root+`\`+sub)
		}
		p.TempDirs = append(p.TempDirs, root+`\Temp`)
	}
	if d.UserProfiles != "" {
		// "*" is one component: any profile's %TEMP%.
		p.TempDirs = append(p.TempDirs, CleanWindowsDir(d.UserProfiles)+`\*\AppData\Local\Temp`)
	}
	return p
}

// IsWindowsPath reports whether p is an absolute Windows path in any of the
// spellings the kernel, the loader or an admin uses: C:\x (or C:/x),
// \\host\share, \\?\..., \??\..., \Device\....
func IsWindowsPath(p string) bool {
	switch {
	case len(p) >= 3 && p[1] == ':' && (p[2] == '\\' || p[2] == '/'):
		c := p[0] | 0x20
		return c >= 'a' && c <= 'z'
	case strings.HasPrefix(p, `\\`), strings.HasPrefix(p, `\??\`):
		return true
	case len(p) > 8 && strings.EqualFold(p[:8], `\Device\`):
		return true
	}
	return false
}

// CleanWindowsPath brings a module path as Windows reports it into the one
// spelling the policy compares: \??\ and \\?\ prefixes gone (\\?\UNC\ and
// the redirector devices \Device\Mup\ etc. become \\host\share), forward
// slashes turned back, "." and ".." resolved, the drive letter upper-cased.
// Case is kept (comparisons ignore it). Trailing dots and spaces are kept:
// they are the names the file really has (C:\Windows.\x.dll, made through
// \\?\, is not in C:\Windows), and stripping them as Win32 does would let
// such a file pass for a trusted one. 8.3 short names are the caller's to
// expand (they need the file system).
func CleanWindowsPath(p string) string {
	p = strings.ReplaceAll(p, "/", `\`)
	if dos, ok := (winproc.DeviceMap{}).DOSPath(p); ok {
		p = dos
	}
	return winproc.Clean(p)
}

// CleanWindowsDir is CleanWindowsPath for a folder an admin (or the
// defaults) names in Win32 spelling: trailing dots and spaces of each
// component are dropped, as Win32 drops them when it opens the name, so
// "C:\Program Files. " means the folder the admin meant; no trailing
// backslash.
func CleanWindowsDir(p string) string {
	p = CleanWindowsPath(p)
	parts := strings.Split(p, `\`)
	for i, c := range parts {
		// The empty components of a UNC root (\\host) stay.
		if t := strings.TrimRight(c, ". "); t != "" || c == "" {
			parts[i] = t
		}
	}
	return strings.TrimRight(strings.Join(parts, `\`), `\`)
}

// underWindowsPattern reports whether path lies in dir (or is dir), both
// Windows paths, comparing whole components without regard to case; a
// component "*" in dir stands for any one component.
func underWindowsPattern(path, dir string) bool {
	pc := strings.Split(CleanWindowsPath(path), `\`)
	dc := strings.Split(CleanWindowsDir(dir), `\`)
	if len(dc) == 0 || len(pc) < len(dc) {
		return false
	}
	for i, d := range dc {
		if d == "*" && pc[i] != "" {
			continue
		}
		if !strings.EqualFold(pc[i], d) {
			return false
		}
	}
	return true
}

// IsRenamed reports whether a module file called name claims another name in
// its version resource (OriginalFileName): a copied comsvcs.dll, a renamed
// rundll32. Case is ignored; an empty claim says nothing. A claim without an
// extension is compared with the name without its own, and language
// resources (x.dll.mui, claimed as x.dll.mui or x.dll) and the ".dll"
// suffix some vendors leave out of a .dll's claim are not renames.
func IsRenamed(name, original string) bool {
	original = strings.TrimSpace(original)
	if original == "" || name == "" {
		return false
	}
	n, o := strings.ToLower(name), strings.ToLower(original)
	n = strings.TrimSuffix(n, ".mui")
	o = strings.TrimSuffix(o, ".mui")
	if n == o {
		return false
	}
	stem := func(s string) string {
		if i := strings.LastIndexByte(s, '.'); i > 0 {
			return s[:i]
		}
		return s
	}
	if !strings.Contains(o, ".") && stem(n) == o {
		return false
	}
	return true
}

// SignatureFacts is Sysmon's view of a module's signature: Signed, and
// SignatureStatus in Sysmon's words (winproc.Status*). Checked is false
// when no one looked (the judge checks only what it doubts; see Evaluate).
type SignatureFacts struct {
	Checked bool
	Signed  bool
	Status  string
	Subject string
}
