package trust

import "github.com/modhunt/modhunt/internal/darwinpath"

// Darwin returns the built-in macOS policy: Apple's sealed and
// SIP-protected locations (/System, /usr/lib, /Library/Apple and the OS
// cryptex, where the dyld shared cache lives from macOS 13 on) are trusted,
// except the writable volumes and firmlinked directories under /System;
// /private/tmp, /private/var/tmp and /private/var/folders (every user's
// $TMPDIR) are temp dirs, with the /tmp and /var aliases. It reads nothing
// from the host, so a macOS inventory is judged the same on every OS.
// Nothing is package-managed: macOS has no package database to ask, so
// not_package_owned never applies.
func Darwin() *Policy {
	p := &Policy{Source: "built-in", UntrustedDirs: darwinpath.SystemWritableDirs()}
	for _, d := range darwinpath.TrustedRoots() {
		p.TrustedDirs = append(p.TrustedDirs, Dir{Path: d})
	}
	for _, d := range darwinpath.TempDirs() {
		p.TempDirs = append(p.TempDirs, d)
		if alias, ok := stripPrivate(d); ok {
			p.TempDirs = append(p.TempDirs, alias)
		}
	}
	return p
}

func stripPrivate(d string) (string, bool) {
	const pre = "/private"
	if len(d) > len(pre) && d[:len(pre)+1] == pre+"/" {
		return d[len(pre):], true
	}
	return "", false
}
