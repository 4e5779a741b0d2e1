package winproc

import (
	"strings"
	"unicode/utf8"
)

// Windows paths as the kernel and the loader report them come in several
// spellings of one file: drive-letter (C:\x), Win32 extended (\\?\C:\x),
// the NT object namespace (\??\C:\x, \Device\HarddiskVolume3\x), and for
// remote files UNC (\\host\share\x), \\?\UNC\host\share\x and the
// redirector devices (\Device\Mup\host\share\x). Everything here is pure
// string work so that it is tested on every OS; the Windows side supplies the
// device links (QueryDosDeviceW) and expands 8.3 names (GetLongPathNameW).

// DeviceLink is one drive letter and the NT device it links to, as
// QueryDosDeviceW reports it: {`C:`, `\Device\HarddiskVolume3`}.
type DeviceLink struct {
	Drive  string
	Device string
}

// DeviceMap is the host's drive letters; DOSPath uses it to turn device paths
// into drive-letter paths.
type DeviceMap []DeviceLink

// The redirector devices through which remote files are mapped. After the
// device name come either \host\share\... or, for a drive letter mapped to a
// share, provider and session components that start with ';'
// (\Device\Mup\;LanmanRedirector\;Z:000000000003e7f0\host\share\...).
var redirectors = []string{
	`\Device\Mup`,
	`\Device\LanmanRedirector`,
	`\Device\WebDavRedirector`,
	`\Device\MailslotRedirector`,
}

// DOSPath turns an NT path, as GetMappedFileNameW returns it, into the
// Win32 path a user would recognise: a device path through the drive letter
// that links to its device, a redirector path into UNC, and the \??\ and
// \\?\ forms (Wine's GetMappedFileNameW returns \??\C:\...) without their
// prefix. ok is false when no drive links to the device (a volume without a
// letter, a device this map does not know); the path is then returned as
// given, so a caller never mistakes it for a drive-letter path.
func (m DeviceMap) DOSPath(nt string) (dos string, ok bool) {
	if dos, ok = m.dosPath(nt); !ok {
		return nt, false
	}
	return dos, true
}

func (m DeviceMap) dosPath(nt string) (string, bool) {
	p := strings.ReplaceAll(nt, "/", `\`)
	for _, g := range []string{`\\?\GLOBALROOT`, `\\.\GLOBALROOT`, `\??\GLOBALROOT`} {
		if rest, found := cutPrefixFold(p, g); found && strings.HasPrefix(rest, `\`) {
			p = rest
			break
		}
	}
	if rest, found := cutPrefixFold(p, `\??\`); found {
		return win32Path(`\\?\` + rest)
	}
	if strings.HasPrefix(p, `\\`) {
		return win32Path(p)
	}
	for _, r := range redirectors {
		if rest, found := cutComponentFold(p, r); found {
			return uncFromRedirector(rest)
		}
	}
	// The longest device that prefixes the path at a component boundary:
	// \Device\HarddiskVolume1 must not claim \Device\HarddiskVolume10\x.
	best := -1
	for i, l := range m {
		if l.Device == "" || l.Drive == "" {
			continue
		}
		if _, found := cutComponentFold(p, l.Device); found && (best < 0 || len(l.Device) > len(m[best].Device)) {
			best = i
		}
	}
	if best < 0 {
		return nt, false
	}
	rest, _ := cutComponentFold(p, m[best].Device)
	if rest == "" {
		rest = `\`
	}
	return m[best].Drive + rest, true
}

// win32Path handles paths that start with two backslashes: \\?\C:\x and
// \\.\C:\x become C:\x, \\?\UNC\host\share\x becomes \\host\share\x, and a
// plain UNC path is returned as it is.
func win32Path(p string) (string, bool) {
	for _, pre := range []string{`\\?\`, `\\.\`} {
		rest, found := cutPrefixFold(p, pre)
		if !found {
			continue
		}
		if unc, isUNC := cutComponentFold(rest, `UNC`); isUNC {
			host, _, _ := strings.Cut(strings.TrimPrefix(unc, `\`), `\`)
			if host == "" || host == "." || host == "?" {
				return p, false // no host
			}
			return `\` + unc, true
		}
		if isDrive(rest) {
			return rest, true
		}
		return p, false
	}
	if len(p) > 2 && p[2] != '\\' {
		return p, true
	}
	return p, false
}

// uncFromRedirector turns what follows a redirector device into a UNC path,
// dropping the ';'-prefixed provider and session components a mapped drive
// letter adds.
func uncFromRedirector(rest string) (string, bool) {
	parts := strings.Split(strings.TrimPrefix(rest, `\`), `\`)
	for len(parts) > 0 && strings.HasPrefix(parts[0], ";") {
		parts = parts[1:]
	}
	if len(parts) == 0 || parts[0] == "" {
		return rest, false
	}
	return `\\` + strings.Join(parts, `\`), true
}

// isDrive says whether p starts with a drive letter and a colon.
func isDrive(p string) bool {
	return len(p) >= 2 && p[1] == ':' && (p[0]|0x20) >= 'a' && (p[0]|0x20) <= 'z' && (len(p) == 2 || p[2] == '\\')
}

// cutPrefixFold is strings.CutPrefix without regard to case.
func cutPrefixFold(s, prefix string) (string, bool) {
	if len(s) < len(prefix) || !strings.EqualFold(s[:len(prefix)], prefix) {
		return s, false
	}
	return s[len(prefix):], true
}

// cutComponentFold cuts prefix from s when it ends at a component boundary:
// s is prefix itself, or prefix followed by a backslash (kept in rest).
func cutComponentFold(s, prefix string) (string, bool) {
	rest, ok := cutPrefixFold(s, prefix)
	if !ok || (rest != "" && rest[0] != '\\') {
		return s, false
	}
	return rest, true
}

// Clean brings a Win32 path into the one spelling the comparisons below use:
// backslashes, no \\?\ or \??\ prefix (\\?\UNC\ becomes \\), no empty, "."
// or ".." components (resolved lexically, never above the root). It does not
// strip trailing dots or spaces: the kernel reports the names a file really
// has, and C:\Windows.\x (creatable through \\?\) is not C:\Windows\x.
func Clean(p string) string {
	p = strings.ReplaceAll(p, "/", `\`)
	if rest, ok := cutPrefixFold(p, `\??\`); ok {
		p = `\\?\` + rest
	}
	if strings.HasPrefix(p, `\\`) {
		if q, ok := win32Path(p); ok {
			p = q
		}
	}
	var root string
	var rest string
	switch {
	case isDrive(p):
		root, rest = strings.ToUpper(p[:2])+`\`, p[2:]
	case strings.HasPrefix(p, `\\`):
		// \\host\share is the root of a UNC path.
		parts := strings.SplitN(strings.TrimLeft(p, `\`), `\`, 3)
		if len(parts) < 2 || parts[0] == "." || parts[0] == "?" {
			// No share, or a \\.\ or \\?\ path win32Path could not
			// translate (a volume GUID, GLOBALROOT, a stray backslash):
			// left as it is.
			return p
		}
		root = `\\` + parts[0] + `\` + parts[1] + `\`
		if len(parts) == 3 {
			rest = parts[2]
		}
	case strings.HasPrefix(p, `\`):
		root, rest = `\`, p
	default:
		return p
	}
	var out []string
	for _, c := range strings.Split(rest, `\`) {
		switch c {
		case "", ".":
		case "..":
			if len(out) > 0 {
				out = out[:len(out)-1]
			}
		default:
			out = append(out, c)
		}
	}
	return root + strings.Join(out, `\`)
}

// SamePath says whether a and b name the same path, compared as Windows
// compares names: without regard to case. (NTFS folds case with the volume's
// upcase table; Unicode simple folding agrees with it outside a few
// historical characters.) 8.3 short names must be expanded first.
func SamePath(a, b string) bool {
	return strings.EqualFold(Clean(a), Clean(b))
}

// IsUnder says whether path lies inside dir (or is dir), comparing whole
// components without regard to case: C:\Windows\x is under C:\Windows,
// C:\WindowsApps\x and C:\Windows.\x are not, and neither is
// C:\Windows\..\Users\x. 8.3 short names (C:\PROGRA~1) must be expanded
// first (LongPath on Windows); Classify reports them.
func IsUnder(path, dir string) bool {
	p, d := Clean(path), strings.TrimRight(Clean(dir), `\`)
	if d == "" {
		return false
	}
	if len(p) < len(d) || !strings.EqualFold(p[:len(d)], d) {
		return false
	}
	return len(p) == len(d) || p[len(d)] == '\\'
}

// Kind is what a path's spelling says about where the file is.
type Kind struct {
	// Remote: on another host, through UNC (\\host\share), \\?\UNC\, or a
	// redirector device (\Device\Mup\, \Device\LanmanRedirector\, ...). A
	// drive letter mapped to a share is not visible in the spelling: ask
	// GetDriveTypeW.
	Remote bool
	// Host is the remote host, with any WebDAV suffix (host@SSL@443).
	Host string
	// WebDAV: fetched over HTTP(S) by the WebClient service: a DavWWWRoot
	// component, a host@SSL or host@port name, or the WebDAV redirector.
	WebDAV bool
	// Extended: spelled with a \\?\ or \??\ prefix, which turns off Win32
	// normalization (and so reaches names such as "C:\Windows.").
	Extended bool
	// Device: an NT device path (\Device\...) or \\.\ device namespace
	// path, not a drive-letter one.
	Device bool
	// ShortName: a component looks like an 8.3 short name (PROGRA~1,
	// Wine's TEST~FEY): the long name must be looked up before the path is
	// compared with anything.
	ShortName bool
	// Stream: the file is an alternate data stream (C:\Temp:x.dll,
	// x.txt:payload.dll), where T1564.004 hides a DLL from folder listings.
	Stream bool
}

// Classify reads a path's spelling.
func Classify(path string) Kind {
	p := strings.ReplaceAll(path, "/", `\`)
	var k Kind
	if _, ok := cutPrefixFold(p, `\\?\`); ok {
		k.Extended = true
	}
	if _, ok := cutPrefixFold(p, `\??\`); ok {
		k.Extended = true
	}
	if _, ok := cutPrefixFold(p, `\\.\`); ok {
		k.Device = true
	}
	if _, ok := cutComponentFold(p, `\Device`); ok {
		k.Device = true
	}
	for _, g := range []string{`\\?\GLOBALROOT\`, `\\.\GLOBALROOT\`, `\??\GLOBALROOT\`} {
		if _, ok := cutPrefixFold(p, g); ok {
			k.Device = true
		}
	}
	if _, ok := cutComponentFold(p, `\Device\WebDavRedirector`); ok {
		k.WebDAV = true
	}
	if unc, ok := (DeviceMap{}).DOSPath(p); ok && strings.HasPrefix(unc, `\\`) {
		k.Remote = true
		k.Host, _, _ = strings.Cut(unc[2:], `\`)
	}
	comps := strings.Split(p, `\`)
	for _, c := range comps {
		if strings.EqualFold(c, "DavWWWRoot") {
			k.WebDAV = true
		}
		if isShortName(c) {
			k.ShortName = true
		}
	}
	// A colon belongs to the drive letter of a drive-letter path, and to
	// nothing in a UNC path (the ';Z:0000...' session component of a
	// redirector path is gone once it is one); anywhere else it names a
	// stream.
	q := p
	if dos, ok := (DeviceMap{}).DOSPath(p); ok {
		q = dos
	}
	if isDrive(q) {
		q = q[2:]
	}
	k.Stream = strings.Contains(q, ":")
	if k.Remote && isWebDAVHost(k.Host) {
		k.WebDAV = true
	}
	return k
}

// isWebDAVHost: the WebClient service's UNC names carry the transport after
// the host: host@SSL, host@8080, host@SSL@8443.
func isWebDAVHost(h string) bool {
	_, suffix, ok := strings.Cut(h, "@")
	if !ok {
		return false
	}
	for s := range strings.SplitSeq(suffix, "@") {
		if !strings.EqualFold(s, "SSL") && !allDigits(s) {
			return false
		}
	}
	return true
}

func allDigits(s string) bool {
	if s == "" {
		return false
	}
	for _, c := range s {
		if c < '0' || c > '9' {
			return false
		}
	}
	return true
}

// isShortName says whether a path component looks like a generated 8.3 name:
// at most 8 characters before the dot, at most 3 after, and a '~' after the
// first character followed by letters or digits only (NTFS: PROGRA~1,
// LONGFI~12; Wine: TEST~FEY). Office's ~$x.docx lock files and backup files
// ending in '~' do not.
func isShortName(c string) bool {
	base, ext, _ := strings.Cut(c, ".")
	if strings.Contains(ext, ".") || utf8.RuneCountInString(ext) > 3 || len(base) > 8 || len(base) < 3 {
		return false
	}
	i := strings.IndexByte(base, '~')
	if i < 1 || i == len(base)-1 {
		return false
	}
	for _, r := range base[i+1:] {
		if !isAlnum(r) {
			return false
		}
	}
	for _, r := range c {
		if r > 0x7f || r == ' ' {
			return false
		}
	}
	return true
}

func isAlnum(r rune) bool {
	return r >= '0' && r <= '9' || r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z'
}
