package trust

import (
	"testing"

	"github.com/stretchr/testify/assert"
)

// TestDarwinDefaults: the macOS built-in policy trusts Apple's sealed
// locations and nothing that merely sits below /System on a writable
// volume, and calls every spelling of the user temp dirs temp_dir.
func TestDarwinDefaults(t *testing.T) {
	t.Parallel()
	p := Darwin()
	for path, want := range map[string]string{
		"/usr/lib/libSystem.B.dylib":                                                        "",
		"/System/Library/Frameworks/AppKit.framework/AppKit":                                "",
		"/Library/Apple/System/Library/Frameworks/x.dylib":                                  "",
		"/System/Volumes/Preboot/Cryptexes/OS/System/Library/dyld/dyld_shared_cache_arm64e": "",
		"/System/Volumes/Data/Users/alice/x.dylib":                                          "outside_trusted_dirs",
		"/System/Library/Caches/com.apple.x/evil.dylib":                                     "outside_trusted_dirs",
		"/System/Volumes/Preboot/evil.dylib":                                                "outside_trusted_dirs",
		"/usr/local/lib/libfoo.dylib":                                                       "outside_trusted_dirs",
		"/Library/Application Support/x/plugin.dylib":                                       "outside_trusted_dirs",
		"/private/tmp/evil.dylib":                                                           "outside_trusted_dirs,temp_dir",
		"/tmp/evil.dylib":                                                                   "outside_trusted_dirs,temp_dir",
		"/private/var/folders/zz/abc/T/x.dylib":                                             "outside_trusted_dirs,temp_dir",
		"/var/folders/zz/abc/T/x.dylib":                                                     "outside_trusted_dirs,temp_dir",
		"/Users/alice/.cache/libx.dylib":                                                    "hidden,outside_trusted_dirs",
		"/usr/libexec/x":                                                                    "outside_trusted_dirs",
	} {
		assert.Equal(t, want, p.Evaluate(Module{Path: path}).String(), path)
	}
	// A policy file's trusted_dirs add to the defaults and are not carved
	// out by them.
	p.TrustedDirs = append(p.TrustedDirs, Dir{Path: "/System/Volumes/Data/opt/vendor"})
	assert.Empty(t, p.Evaluate(Module{Path: "/System/Volumes/Data/opt/vendor/x.dylib"}).String())
	assert.Equal(t, "outside_trusted_dirs,unsigned", p.Evaluate(Module{Path: "/Users/a/x.dylib", Unsigned: true}).String())
	assert.Equal(t, Medium, reasons(Unsigned, OutsideTrustedDirs).Severity())
	assert.Equal(t, Low, reasons(Unsigned).Severity(), "alone it is inside the trusted directories")
	assert.Equal(t, "unsigned", p.Evaluate(Module{Path: "/usr/lib/x.dylib", Unsigned: true}).String())
}
