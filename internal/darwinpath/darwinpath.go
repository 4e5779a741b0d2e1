// Package darwinpath classifies macOS file paths for the trust judgement:
// which paths are Apple's own (trusted by default), which are temporary
// directories, which are hidden. It is pure string work, so every OS tests
// it; the policy that turns these facts into verdicts lives elsewhere.
//
// Paths are expected as the kernel reports them (proc_pidinfo's vnode
// path, proc_pidpath): absolute, without symlinks resolved by us. Canonical
// folds the few aliases macOS itself defines so that one location has one
// spelling before any prefix is compared.
package darwinpath

import (
	"path"
	"strings"
)

// firmlinks are the directories of the sealed system volume that are
// firmlinked into the writable data volume, mounted at /System/Volumes/Data
// since macOS 10.15 (the list is /usr/share/firmlinks). A data-volume path
// under one of them names the same file as the path without the prefix; any
// other data-volume path (/System/Volumes/Data/System/Library/x) is a
// different file from its look-alike on the sealed volume and stays as it is.
var firmlinks = [...]string{
	"/AppleInternal", "/Applications", "/Library", "/Users", "/Volumes",
	"/cores", "/opt", "/private", "/usr/local", "/usr/libexec/cups",
	"/usr/share/snmp",
	"/System/Library/Caches", "/System/Library/Assets", "/System/Library/AssetsV2",
	"/System/Library/PreinstalledAssets", "/System/Library/PreinstalledAssetsV2",
	"/System/Library/CoreServices/CoreTypes.bundle/Contents/Library",
	"/System/Library/Speech",
}

// dataVolume is the mount point of the writable data volume.
const dataVolume = "/System/Volumes/Data"

// osCryptex is where macOS 13+ keeps the OS cryptex (the dyld shared cache and
// parts of /System and /usr/lib); it is sealed like the system volume.
const osCryptex = "/System/Volumes/Preboot/Cryptexes/OS"

// aliases are the symlinks at the root of every macOS system volume
// (/var -> private/var, /tmp -> private/tmp, /etc -> private/etc). The kernel
// usually reports the /private spelling, but paths from the environment
// (DYLD_INSERT_LIBRARIES) carry whatever the user typed.
var aliases = [...]string{"var", "tmp", "etc"}

// Canonical returns p with "." and ".." resolved, the data-volume prefix
// removed and the root aliases replaced by their /private targets, so that
// "/System/Volumes/Data/private/tmp/x", "/tmp/x" and "/private/tmp//x" are all
// "/private/tmp/x". Components are walked in order the way the kernel resolves
// them: "/tmp/../System/x" is "/private/System/x" (the alias is a symlink, so
// ".." leaves /private/tmp, not /tmp), never the trusted "/System/x" a lexical
// path.Clean would give. A relative path is returned cleaned and is never
// trusted.
func Canonical(p string) string {
	if p == "" {
		return ""
	}
	if p[0] != '/' {
		return path.Clean(p)
	}
	stack := make([]string, 0, 8)
	for _, c := range strings.Split(p, "/") {
		switch c {
		case "", ".":
			continue
		case "..":
			if len(stack) > 0 {
				stack = stack[:len(stack)-1]
			}
			continue
		}
		stack = append(stack, c)
		if len(stack) == 1 {
			// Folded: the default APFS volume is case-insensitive, and
			// nobody can create a look-alike on the sealed root.
			for _, a := range aliases {
				if strings.EqualFold(c, a) {
					stack = append(stack[:0], "private", a)
				}
			}
		}
	}
	p = "/" + strings.Join(stack, "/")
	if rest, ok := under(p, dataVolume); ok && rest != "" {
		for _, f := range firmlinks {
			if _, ok := under("/"+rest, f); ok {
				return Canonical("/" + rest)
			}
		}
	}
	return p
}

// under reports whether p is dir or inside dir (component-wise, so "/usr/lib"
// does not contain "/usr/libexec"), and the remainder without a leading slash.
func under(p, dir string) (string, bool) {
	if p == dir {
		return "", true
	}
	if strings.HasPrefix(p, dir) && len(p) > len(dir) && p[len(dir)] == '/' {
		return p[len(dir)+1:], true
	}
	return "", false
}

// trustedRoots are Apple's read-only or SIP-protected locations. /System is
// the sealed system volume except for /System/Volumes, which holds the
// writable data, preboot and VM volumes, and except for its firmlinked
// directories, which live on the data volume.
var trustedRoots = [...]string{"/System", "/usr/lib", "/Library/Apple"}

// TrustedSystem reports whether p is inside a location macOS trusts by
// default: the sealed system volume (/System, /usr/lib), /Library/Apple, and
// the OS cryptex, which hold the dyld shared cache from macOS 11 on. A cache
// file is not trusted by its name alone: /private/var/db/dyld (where 10.x
// kept it) is on the writable data volume, and any file can be called
// dyld_shared_cache_x. The comparison is case-sensitive on purpose: an odd
// spelling is left untrusted (reported, not hidden), which errs towards a
// finding rather than a miss.
func TrustedSystem(p string) bool {
	c := Canonical(p)
	if !strings.HasPrefix(c, "/") {
		return false
	}
	if _, ok := under(c, osCryptex); ok {
		return true
	}
	if _, ok := under(c, "/System/Volumes"); ok {
		return false
	}
	for _, f := range firmlinks {
		if _, ok := under(c, f); ok && strings.HasPrefix(f, "/System/") {
			return false
		}
	}
	for _, r := range trustedRoots {
		if _, ok := under(c, r); ok {
			return true
		}
	}
	return false
}

// sharedCacheDirs are the directories dyld has loaded its shared cache from:
// /private/var/db/dyld (macOS 10.x), /System/Library/dyld (11, 12) and the OS
// cryptex (13 and later).
var sharedCacheDirs = [...]string{
	"/private/var/db/dyld",
	"/System/Library/dyld",
	osCryptex + "/System/Library/dyld",
	"/System/Cryptexes/OS/System/Library/dyld",
}

// IsSharedCache reports whether p names a dyld shared cache file, including
// its sub-caches ("dyld_shared_cache_arm64e.01", ".symbols", ".dylddata").
// It is a name, not a proof: see TrustedSystem, and darwinproc.Fold, which
// also requires the mapping to lie in the shared region.
func IsSharedCache(p string) bool {
	c := Canonical(p)
	dir, file := path.Split(c)
	if !strings.HasPrefix(file, "dyld_shared_cache_") {
		return false
	}
	dir = strings.TrimSuffix(dir, "/")
	for _, d := range sharedCacheDirs {
		if dir == d {
			return true
		}
	}
	return false
}

// tempDirs are world-writable scratch locations, canonical spelling:
// /private/var/folders holds every user's $TMPDIR and caches.
var tempDirs = [...]string{"/private/tmp", "/private/var/tmp", "/private/var/folders"}

// TempDir reports whether p is inside a temporary directory. The match folds
// case because the default APFS volume is case-insensitive: "/TMP/x.dylib"
// opens "/private/tmp/x.dylib".
func TempDir(p string) bool {
	c := strings.ToLower(Canonical(p))
	for _, d := range tempDirs {
		if _, ok := under(c, d); ok {
			return true
		}
	}
	return false
}

// Hidden reports whether any component of p starts with a dot (".x.dylib",
// "/Users/a/.cache/x.dylib"); "." and ".." are not names and do not count.
func Hidden(p string) bool {
	for _, c := range strings.Split(p, "/") {
		if len(c) > 1 && c[0] == '.' && c != ".." {
			return true
		}
	}
	return false
}

// SystemWritableDirs are the places under /System that are not the sealed
// system volume: /System/Volumes (the data, preboot, VM and update volumes)
// and the /System/Library directories firmlinked into the data volume. A
// policy that trusts /System carves them out; the OS cryptex, inside
// /System/Volumes/Preboot, is sealed and stays trusted (OSCryptex).
func SystemWritableDirs() []string {
	out := []string{"/System/Volumes"}
	for _, f := range firmlinks {
		if strings.HasPrefix(f, "/System/") {
			out = append(out, f)
		}
	}
	return out
}

// TrustedRoots are the locations TrustedSystem trusts, the OS cryptex
// included.
func TrustedRoots() []string { return append(trustedRoots[:], osCryptex) }

// TempDirs are the temporary directories TempDir knows, canonical spelling.
func TempDirs() []string { return tempDirs[:] }
