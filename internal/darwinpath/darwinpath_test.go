package darwinpath

import "testing"

func TestCanonical(t *testing.T) {
	for _, tc := range []struct{ in, want string }{
		{"/tmp/x.dylib", "/private/tmp/x.dylib"},
		{"/tmp", "/private/tmp"},
		{"/var/folders/ab/T/x", "/private/var/folders/ab/T/x"},
		{"/etc/x", "/private/etc/x"},
		{"/private/tmp//x", "/private/tmp/x"},
		{"/System/Volumes/Data/private/tmp/x", "/private/tmp/x"},
		{"/System/Volumes/Data/Users/a/x", "/Users/a/x"},
		{"/System/Volumes/Data/private/../tmp/x", "/System/Volumes/Data/tmp/x"},
		{"/System/Volumes/Data/System/Library/x", "/System/Volumes/Data/System/Library/x"},
		{"/System/Volumes/Data/System/Library/Caches/x", "/System/Library/Caches/x"},
		{"/System/Volumes/Data", "/System/Volumes/Data"},
		{"/TMP/x", "/private/tmp/x"},
		{"/Var/Folders/x", "/private/var/Folders/x"},
		// The alias is a symlink: ".." leaves /private/tmp.
		{"/tmp/../System/Library/x", "/private/System/Library/x"},
		{"/usr/lib/../local/lib/x", "/usr/local/lib/x"},
		{"/variable/x", "/variable/x"},
		{"/temp/x", "/temp/x"},
		{"/", "/"},
		{"", ""},
		{"rel/../x", "x"},
	} {
		if got := Canonical(tc.in); got != tc.want {
			t.Errorf("Canonical(%q) = %q, want %q", tc.in, got, tc.want)
		}
	}
}

func TestTrustedSystem(t *testing.T) {
	for _, tc := range []struct {
		p    string
		want bool
	}{
		{"/System/Library/Frameworks/AppKit.framework/AppKit", true},
		{"/usr/lib/libSystem.B.dylib", true},
		{"/usr/lib/system/libdyld.dylib", true},
		{"/Library/Apple/System/Library/x.dylib", true},
		{"/System/Volumes/Preboot/Cryptexes/OS/System/Library/dyld/dyld_shared_cache_arm64e", true},
		{"/System/Library/dyld/dyld_shared_cache_x86_64h", true},
		// 10.x kept the cache on what is now the writable data volume:
		// a name there proves nothing.
		{"/private/var/db/dyld/dyld_shared_cache_x86_64h", false},
		{"/var/db/dyld/dyld_shared_cache_x86_64h.map", false},
		// The writable data volume is under /System/Volumes.
		{"/System/Volumes/Data/private/tmp/evil.dylib", false},
		{"/System/Volumes/Data/System/Library/x.dylib", false},
		{"/System/Volumes/Data/Library/Apple/x.dylib", true},
		{"/System/Library/Caches/x.dylib", false},
		{"/System/Volumes/Data/System/Library/Caches/x.dylib", false},
		{"/System/Library/Speech/x.dylib", false},
		{"/VAR/db/dyld/dyld_shared_cache_x86_64h", false},
		{"/System/Cryptexes/OS/System/Library/dyld/dyld_shared_cache_arm64e", true},
		{"/System/Volumes/Update/x.dylib", false},
		{"/System/Volumes/Preboot/x.dylib", false},
		{"/usr/local/lib/libfoo.dylib", false},
		{"/usr/libexec/x", false},
		{"/usr/lib2/x.dylib", false},
		{"/Systemic/x.dylib", false},
		{"/Library/Application Support/x.dylib", false},
		{"/Library/Apple2/x.dylib", false},
		{"/tmp/../System/Library/x.dylib", false},
		{"/System/Library/../../tmp/x.dylib", false},
		{"/system/library/x.dylib", false},
		{"/private/var/db/dyld/evil.dylib", false},
		{"/tmp/dyld_shared_cache_arm64e", false},
		{"System/Library/x.dylib", false},
		{"", false},
	} {
		if got := TrustedSystem(tc.p); got != tc.want {
			t.Errorf("TrustedSystem(%q) = %v, want %v", tc.p, got, tc.want)
		}
	}
}

func TestIsSharedCache(t *testing.T) {
	for _, tc := range []struct {
		p    string
		want bool
	}{
		{"/System/Volumes/Preboot/Cryptexes/OS/System/Library/dyld/dyld_shared_cache_arm64e", true},
		{"/System/Volumes/Preboot/Cryptexes/OS/System/Library/dyld/dyld_shared_cache_arm64e.01", true},
		{"/System/Cryptexes/OS/System/Library/dyld/dyld_shared_cache_arm64e.symbols", true},
		{"/System/Library/dyld/dyld_shared_cache_arm64e", true},
		{"/private/var/db/dyld/dyld_shared_cache_x86_64h", true},
		{"/System/Library/dyld/sub/dyld_shared_cache_arm64e", false},
		{"/System/Library/dyld/libdyld.dylib", false},
		{"/Users/a/dyld_shared_cache_arm64e", false},
	} {
		if got := IsSharedCache(tc.p); got != tc.want {
			t.Errorf("IsSharedCache(%q) = %v, want %v", tc.p, got, tc.want)
		}
	}
}

func TestTempDir(t *testing.T) {
	for _, tc := range []struct {
		p    string
		want bool
	}{
		{"/tmp/x.dylib", true},
		{"/private/tmp/x.dylib", true},
		{"/var/tmp/x.dylib", true},
		{"/private/var/tmp/x.dylib", true},
		{"/var/folders/zz/abc/T/x.dylib", true},
		{"/private/var/folders/zz/abc/C/x.dylib", true},
		{"/System/Volumes/Data/private/var/folders/zz/x.dylib", true},
		{"/TMP/x.dylib", true},
		{"/Private/Var/Folders/x.dylib", true},
		{"/tmpfoo/x.dylib", false},
		{"/private/var/db/x.dylib", false},
		{"/var/log/x", false},
		{"/Users/a/tmp/x.dylib", false},
		{"/usr/lib/x.dylib", false},
	} {
		if got := TempDir(tc.p); got != tc.want {
			t.Errorf("TempDir(%q) = %v, want %v", tc.p, got, tc.want)
		}
	}
}

func TestHidden(t *testing.T) {
	for _, tc := range []struct {
		p    string
		want bool
	}{
		{"/Users/a/.cache/x.dylib", true},
		{"/tmp/.x.dylib", true},
		{"/Users/a/Library/x.dylib", false},
		{"/usr/lib/./x.dylib", false},
		{"/a/../x.dylib", false},
		{"/a/..b/x.dylib", true},
		{"/a/b./x.dylib", false},
	} {
		if got := Hidden(tc.p); got != tc.want {
			t.Errorf("Hidden(%q) = %v, want %v", tc.p, got, tc.want)
		}
	}
}
