package trust

import (
	"errors"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
	"testing/fstest"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// testPolicy is the Linux default on a host whose ld.so.conf lists
// /usr/local/lib and a packaged subdirectory, plus /usr/lib/<multiarch>.
func testPolicy(t *testing.T) *Policy {
	t.Helper()
	root := fstest.MapFS{
		"etc/ld.so.conf":             {Data: []byte("include /etc/ld.so.conf.d/*.conf\n")},
		"etc/ld.so.conf.d/libc.conf": {Data: []byte("# libc default configuration\n/usr/local/lib\n")},
		"etc/ld.so.conf.d/fake.conf": {Data: []byte("/usr/lib/x86_64-linux-gnu/libfakeroot\n")},
	}
	p, err := Linux(Host{Root: root})
	require.NoError(t, err)
	return p
}

func TestReasonsStringIsSortedAndDeduplicated(t *testing.T) {
	t.Parallel()
	var rs Reasons
	assert.True(t, rs.Empty())
	assert.Equal(t, "", rs.String())
	assert.Equal(t, Severity(""), rs.Severity())
	rs.Add(TempDir)
	rs.Add(OutsideTrustedDirs)
	rs.Add(Deleted)
	rs.Add(TempDir)
	assert.Equal(t, "deleted,outside_trusted_dirs,temp_dir", rs.String())
	assert.True(t, rs.Has(Deleted))
	assert.False(t, rs.Has(Memfd))
}

func TestVocabularyIsSortedAndComplete(t *testing.T) {
	t.Parallel()
	var all Reasons
	for _, r := range Vocabulary {
		all.Add(r)
	}
	assert.Len(t, Vocabulary, 15)
	assert.Equal(t, "deleted,exec_from_writable_mount,hidden,hidden_from_loader,memfd,not_package_owned,outside_trusted_dirs,path_mismatch,preloaded,remote,renamed,temp_dir,unsigned,untrusted_signature,user_writable", all.String())
}

func reasons(rs ...Reason) Reasons {
	var out Reasons
	for _, r := range rs {
		out.Add(r)
	}
	return out
}

func TestSeverityRule(t *testing.T) {
	t.Parallel()
	cases := []struct {
		reasons Reasons
		want    Severity
	}{
		{reasons(Memfd), High},
		{reasons(Memfd, Preloaded), High},
		{reasons(TempDir, OutsideTrustedDirs), High},
		{reasons(OutsideTrustedDirs, Preloaded), High},
		{reasons(OutsideTrustedDirs, Deleted), High},
		{reasons(OutsideTrustedDirs), Medium},
		{reasons(OutsideTrustedDirs, Hidden), Medium},
		{reasons(UserWritable), Medium},
		{reasons(Remote), Medium},
		{reasons(ExecFromWritableMount), Medium},
		{reasons(Deleted), Low},
		{reasons(NotPackageOwned), Low},
		{reasons(Deleted, NotPackageOwned), Low},
		{reasons(Preloaded), Low},
		// A path that does not lead to the file outranks whatever it
		// claims: a trusted, packaged name is the attacker's choice.
		{reasons(PathMismatch), High},
		{reasons(PathMismatch, NotPackageOwned), High},
		{reasons(PathMismatch, Deleted), High},
	}
	for _, c := range cases {
		assert.Equal(t, c.want, c.reasons.Severity(), c.reasons.String())
	}
}

func TestLinuxDefaults(t *testing.T) {
	t.Parallel()
	p := testPolicy(t)
	managed := map[string]bool{}
	for _, d := range p.TrustedDirs {
		managed[d.Path] = d.Managed
	}
	for _, d := range []string{"/lib", "/lib64", "/usr/lib", "/usr/lib64", "/usr/libexec", "/usr/lib/x86_64-linux-gnu/libfakeroot"} {
		assert.True(t, managed[d], "%s should be a managed trusted dir", d)
	}
	if runtime.GOARCH == "amd64" {
		assert.Contains(t, managed, "/usr/lib/x86_64-linux-gnu")
	}
	v, ok := managed["/usr/local/lib"]
	assert.True(t, ok, "ld.so.conf's /usr/local/lib is trusted")
	assert.False(t, v, "/usr/local/lib is not package-managed")
	assert.Equal(t, DefaultTempDirs, p.TempDirs)
}

func TestLdSoConf(t *testing.T) {
	t.Parallel()
	root := fstest.MapFS{
		"etc/ld.so.conf": {Data: []byte(
			"# comment\n/opt/a/lib   # trailing comment\n\ninclude ld.so.conf.d/*.conf\nhwcap 0 nosegneg\n/opt/b/lib=libc6\nrelative/ignored\n")},
		"etc/ld.so.conf.d/1.conf":    {Data: []byte("/opt/c/lib/\ninclude /etc/ld.so.conf\ninclude /etc/more/*.conf\n")},
		"etc/ld.so.conf.d/2.conf":    {Data: []byte("/opt/d/lib\n")},
		"etc/ld.so.conf.d/skip.txt":  {Data: []byte("/opt/never\n")},
		"etc/more/x.conf":            {Data: []byte("/opt/e/lib\n")},
		"etc/ld.so.conf.d/fifo.conf": {Mode: os.ModeNamedPipe},
	}
	dirs, err := LdSoConfDirs(root)
	assert.Equal(t, []string{"/opt/a/lib", "/opt/c/lib", "/opt/e/lib", "/opt/d/lib", "/opt/b/lib"}, dirs)
	require.Error(t, err, "the FIFO is refused, not opened")
	assert.Contains(t, err.Error(), "/etc/ld.so.conf.d/fifo.conf: not a regular file")

	dirs, err = LdSoConfDirs(fstest.MapFS{})
	assert.NoError(t, err, "no ld.so.conf is no problem")
	assert.Empty(t, dirs)

	big := make([]byte, maxConfBytes+1)
	_, err = LdSoConfDirs(fstest.MapFS{"etc/ld.so.conf": {Data: big}})
	assert.ErrorContains(t, err, "/etc/ld.so.conf: larger than 65536 bytes")
}

func TestLdSoConfResolvedDirsAreTrustedToo(t *testing.T) {
	t.Parallel()
	host := Host{
		Root: fstest.MapFS{"etc/ld.so.conf": {Data: []byte("/opt/link/lib\n")}},
		Resolve: func(d string) (string, error) {
			if d == "/opt/link/lib" {
				return "/srv/real/lib", nil
			}
			return d, nil
		},
	}
	p, err := Linux(host)
	require.NoError(t, err)
	assert.True(t, p.Trusted("/opt/link/lib/x.so"))
	assert.True(t, p.Trusted("/srv/real/lib/x.so"), "the kernel shows the canonical path")
}

func TestEvaluate(t *testing.T) {
	t.Parallel()
	p := testPolicy(t)
	cases := []struct {
		name string
		m    Module
		want string
	}{
		{"packaged libc", Module{Path: "/usr/lib/x86_64-linux-gnu/libc.so.6", Package: "libc6", PackagesKnown: true}, ""},
		{"unpackaged in a managed dir", Module{Path: "/usr/lib/x86_64-linux-gnu/libevil.so", PackagesKnown: true}, "not_package_owned"},
		{"no package database: no claim", Module{Path: "/usr/lib/x86_64-linux-gnu/libevil.so"}, ""},
		{"usr/local is trusted, not managed", Module{Path: "/usr/local/lib/libx.so", PackagesKnown: true}, ""},
		{"upgraded library", Module{Path: "/usr/lib/x86_64-linux-gnu/libssl.so.3", Deleted: true, Package: "libssl3", PackagesKnown: true}, "deleted"},
		{"tmp", Module{Path: "/tmp/x.so", PackagesKnown: true}, "outside_trusted_dirs,temp_dir"},
		{"dev shm", Module{Path: "/dev/shm/x.so"}, "outside_trusted_dirs,temp_dir"},
		{"var tmp", Module{Path: "/var/tmp/a/b.so"}, "outside_trusted_dirs,temp_dir"},
		{"run user", Module{Path: "/run/user/1000/x.so"}, "outside_trusted_dirs,temp_dir"},
		{"tmpfoo is not tmp", Module{Path: "/tmpfoo/x.so"}, "outside_trusted_dirs"},
		{"world-writable dir", Module{Path: "/srv/drop/x.so", WorldWritableDir: true}, "outside_trusted_dirs,temp_dir"},
		{"hidden in home", Module{Path: "/home/u/.cache/x.so", UserWritable: true}, "hidden,outside_trusted_dirs,user_writable"},
		{"hidden file in trusted dir", Module{Path: "/usr/lib/.x.so", PackagesKnown: true}, "hidden,not_package_owned"},
		{"deleted from tmp", Module{Path: "/tmp/x.so", Deleted: true}, "deleted,outside_trusted_dirs,temp_dir"},
		{"memfd", Module{Path: "/memfd:payload", Memfd: true, Deleted: true, UserWritable: true, PackagesKnown: true}, "memfd"},
		{"preloaded memfd", Module{Path: "/memfd:x", Memfd: true, Preloaded: true}, "memfd,preloaded"},
		{"preloaded from tmp", Module{Path: "/tmp/p.so", Preloaded: true}, "outside_trusted_dirs,preloaded,temp_dir"},
		{"remote", Module{Path: "/mnt/nfs/lib.so", Remote: true}, "outside_trusted_dirs,remote"},
		{"mount not noexec, no policy", Module{Path: "/tmp/x.so", MountPoint: "/tmp"}, "outside_trusted_dirs,temp_dir"},
		{"trusted name, another file", Module{Path: "/usr/lib/x86_64-linux-gnu/libz.so.1", PathMismatch: true, PackagesKnown: true}, "not_package_owned,path_mismatch"},
	}
	for _, c := range cases {
		assert.Equal(t, c.want, p.Evaluate(c.m).String(), c.name)
	}

	p.NoexecMounts = []string{"/tmp"}
	assert.Equal(t, "exec_from_writable_mount,outside_trusted_dirs,temp_dir", p.Evaluate(Module{Path: "/tmp/x.so", MountPoint: "/tmp"}).String())
	assert.Equal(t, "outside_trusted_dirs,temp_dir", p.Evaluate(Module{Path: "/tmp/x.so", MountPoint: "/tmp", MountNoexec: true}).String())
	assert.Equal(t, "outside_trusted_dirs,temp_dir", p.Evaluate(Module{Path: "/tmp/x.so", MountPoint: "/"}).String())
}

func TestUnderAndHidden(t *testing.T) {
	t.Parallel()
	assert.True(t, Under("/usr/lib", "/usr/lib"))
	assert.True(t, Under("/usr/lib/a", "/usr/lib"))
	assert.False(t, Under("/usr/lib64/a", "/usr/lib"))
	assert.True(t, Under("/x", "/"))
	assert.True(t, IsHidden("/home/u/.x/lib.so"))
	assert.True(t, IsHidden("/tmp/.lib.so"))
	assert.False(t, IsHidden("/usr/lib/libc.so.6"))
}

// A Windows-shaped policy (another OS's inventory judged here) compares
// Windows paths as Windows does: case-insensitive, either slash, whole
// components only.
func TestUnderWindowsPaths(t *testing.T) {
	t.Parallel()
	assert.True(t, Under(`C:\Windows\System32\kernel32.dll`, `C:\Windows`))
	assert.True(t, Under(`c:\windows\system32\KERNEL32.DLL`, `C:\Windows\`))
	assert.True(t, Under(`C:/Windows/System32/x.dll`, `C:\Windows`))
	assert.False(t, Under(`C:\WindowsApps\x.dll`, `C:\Windows`))
	assert.False(t, Under(`C:\Users\Public\evil.dll`, `C:\Windows`))
	assert.True(t, Under(`\\fs\share\x.dll`, `\\fs\share`))
	p := &Policy{TrustedDirs: []Dir{{Path: `C:\Windows`}}, TempDirs: []string{`C:\Windows\Temp`}}
	assert.Equal(t, "outside_trusted_dirs", p.Evaluate(Module{Path: `C:\Users\Public\evil.dll`}).String())
	assert.Equal(t, "temp_dir", p.Evaluate(Module{Path: `C:\WINDOWS\Temp\a.dll`}).String())
	assert.True(t, p.Evaluate(Module{Path: `C:\Windows\System32\kernel32.dll`}).Empty())
}

func TestGlob(t *testing.T) {
	t.Parallel()
	cases := []struct {
		glob, path string
		want       bool
	}{
		{"/opt/app/*.so", "/opt/app/a.so", true},
		{"/opt/app/*.so", "/opt/app/sub/a.so", false},
		{"/opt/app/**/*.so", "/opt/app/sub/deep/a.so", true},
		{"/opt/app/**", "/opt/app/x", true},
		{"/opt/lib?.so", "/opt/libz.so", true},
		{"/opt/lib?.so", "/opt/lib/.so", false},
		{"/opt/lib[0-9].so", "/opt/lib7.so", true},
		{"/opt/lib[^0-9].so", "/opt/lib7.so", false},
		{"/opt/a+b(c).so", "/opt/a+b(c).so", true},
		{"/opt/a.so", "/opt/aXso", false},
		{`/opt/\*.so`, "/opt/*.so", true},
		{"/home/*/.pyenv/versions/*/bin/python3*", "/home/u/.pyenv/versions/3.11.7/bin/python3.11", true},
	}
	for _, c := range cases {
		re, err := compileGlob(c.glob)
		require.NoError(t, err, c.glob)
		assert.Equal(t, c.want, re.MatchString(c.path), "%s ~ %s", c.glob, c.path)
	}
	_, err := compileGlob("/opt/[a")
	assert.Error(t, err)
}

const goodPolicy = `# site policy
trusted_dirs:
  - /opt/vendor/lib
noexec_mounts: [/tmp]
allow_modules:
  - path: /opt/app/**/*.so
    comment: vendor plugins
  - sha256: 0123456789ABCDEF0123456789abcdef0123456789abcdef0123456789abcdef
  - package: google-chrome-stable
allow_processes:
  - path: /usr/lib/jvm/*/bin/java
  - name: falcon-sensor
`

func TestPolicyFileApplies(t *testing.T) {
	t.Parallel()
	p := testPolicy(t)
	require.NoError(t, p.Apply(Host{}, "site.yaml", []byte(goodPolicy)))
	assert.Equal(t, "built-in + site.yaml", p.Source)
	assert.True(t, p.Trusted("/opt/vendor/lib/libv.so"))
	assert.Equal(t, "", p.Evaluate(Module{Path: "/opt/vendor/lib/libv.so", PackagesKnown: true}).String(),
		"a policy-trusted dir is not package-managed")
	assert.Equal(t, []string{"/tmp"}, p.NoexecMounts)
	assert.True(t, p.AllowsModule("/opt/app/x/y.so", "", ""))
	assert.True(t, p.AllowsModule("/tmp/x.so", "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef", ""))
	assert.True(t, p.AllowsModule("/tmp/x.so", "", "google-chrome-stable"))
	assert.False(t, p.AllowsModule("/tmp/x.so", "", ""))
	assert.True(t, p.AllowsProcess("/usr/lib/jvm/java-17/bin/java", "java"))
	assert.True(t, p.AllowsProcess("/opt/cs/falcon-sensor", "falcon-sensor"))
	assert.False(t, p.AllowsProcess("/usr/bin/bash", "bash"))

	q := testPolicy(t)
	require.NoError(t, q.Apply(Host{}, "empty.yaml", []byte("# nothing yet\n")))
	assert.Equal(t, testPolicy(t).TrustedDirs, q.TrustedDirs)
}

func TestPolicyFileErrors(t *testing.T) {
	t.Parallel()
	cases := []struct {
		name, doc, want string
	}{
		{"syntax", "trusted_dirs:\n  - /a\n\t- /b\n", "policy p.yaml:2: syntax: found a tab character that violates indentation"},
		{"not a mapping", "- /opt\n", "policy p.yaml:1:1: the policy must be a mapping of keys"},
		{"unknown top key", "trusted_dirs: [/a]\ntrusted_dir: [/b]\n", "policy p.yaml:2:1: trusted_dir: unknown key (known: trusted_dirs, noexec_mounts, allow_modules, allow_processes, untrusted_dirs, temp_dirs, allow_signers, verify_trusted_dirs, jit_hosts)"},
		{"duplicate key", "trusted_dirs: [/a]\ntrusted_dirs: [/b]\n", "policy p.yaml:2:1: trusted_dirs: key given twice"},
		{"dirs not a list", "trusted_dirs: /opt\n", "policy p.yaml:1:15: trusted_dirs: want a list, got the scalar \"/opt\""},
		{"relative dir", "trusted_dirs:\n  - /a\n  - opt/lib\n", "policy p.yaml:3:5: trusted_dirs[1]: \"opt/lib\" is not an absolute path"},
		{"glob dir", "noexec_mounts: [/tmp/*]\n", "policy p.yaml:1:17: noexec_mounts[0]: \"/tmp/*\": directories are literal paths, not globs"},
		{"empty dir", "trusted_dirs: ['']\n", "policy p.yaml:1:16: trusted_dirs[0]: empty value"},
		{"dir is a mapping", "trusted_dirs:\n  - {path: /a}\n", "policy p.yaml:2:5: trusted_dirs[0]: want a string, got a mapping"},
		{"unknown module key", "allow_modules:\n  - path: /a/*.so\n  - hash: abc\n", "policy p.yaml:3:5: allow_modules[1].hash: unknown key (known: path, sha256, package, comment)"},
		{"two matchers", "allow_modules:\n  - path: /a/*.so\n    package: x\n", "policy p.yaml:3:5: allow_modules[0].package: an entry takes one matcher, it already has path"},
		{"no matcher", "allow_modules:\n  - comment: why\n", "policy p.yaml:2:5: allow_modules[0]: no matcher: give one of path, sha256, package"},
		{"bad sha256", "allow_modules:\n  - sha256: deadbeef\n", "policy p.yaml:2:13: allow_modules[0].sha256: \"deadbeef\" is not a sha256 (want 64 hex digits)"},
		{"bad glob", "allow_modules:\n  - path: /opt/[a.so\n", "policy p.yaml:2:11: allow_modules[0].path: \"/opt/[a.so\" is not a valid glob"},
		{"relative glob", "allow_processes:\n  - path: '*/java'\n", "policy p.yaml:2:11: allow_processes[0].path: \"*/java\" is not an absolute path glob"},
		{"unknown process key", "allow_processes:\n  - uid: 0\n", "policy p.yaml:2:5: allow_processes[0].uid: unknown key (known: path, name, comment)"},
		{"rule not a mapping", "allow_processes:\n  - java\n", "policy p.yaml:2:5: allow_processes[0]: want a mapping with one of path, name, got the scalar \"java\""},
	}
	for _, c := range cases {
		p := testPolicy(t)
		before := len(p.TrustedDirs)
		err := p.Apply(Host{}, "p.yaml", []byte(c.doc))
		require.Error(t, err, c.name)
		assert.Contains(t, err.Error(), c.want, c.name)
		assert.Len(t, p.TrustedDirs, before, "%s: a refused policy changes nothing", c.name)
	}
}

func TestLoadFile(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	good := filepath.Join(dir, "good.yaml")
	require.NoError(t, os.WriteFile(good, []byte(goodPolicy), 0o600))
	p := testPolicy(t)
	require.NoError(t, p.LoadFile(Host{}, good))
	assert.True(t, p.Trusted("/opt/vendor/lib/x.so"))

	bad := filepath.Join(dir, "bad.yaml")
	require.NoError(t, os.WriteFile(bad, []byte("trusted_dirs: [/a]\nallow: []\n"), 0o600))
	err := testPolicy(t).LoadFile(Host{}, bad)
	var pe *PolicyError
	require.True(t, errors.As(err, &pe), "%v", err)
	assert.Equal(t, PolicyError{File: bad, Line: 2, Column: 1, Field: "allow", Msg: pe.Msg}, *pe)

	err = testPolicy(t).LoadFile(Host{}, filepath.Join(dir, "missing.yaml"))
	assert.ErrorContains(t, err, "policy "+filepath.Join(dir, "missing.yaml"))
	assert.ErrorIs(t, err, os.ErrNotExist)

	assert.ErrorContains(t, testPolicy(t).LoadFile(Host{}, dir), "not a regular file")
}

func FuzzPolicyFile(f *testing.F) {
	f.Add([]byte(goodPolicy))
	f.Add([]byte("allow_modules:\n  - path: /a/[\n"))
	f.Add([]byte("trusted_dirs: &a [/x]\nnoexec_mounts: *a\n"))
	f.Fuzz(func(t *testing.T, doc []byte) {
		p := &Policy{}
		err := p.Apply(Host{}, "fuzz.yaml", doc)
		if err != nil && !strings.HasPrefix(err.Error(), "policy fuzz.yaml") {
			t.Fatalf("error does not name the file: %v", err)
		}
		if err != nil && len(p.TrustedDirs)+len(p.AllowModules)+len(p.AllowProcesses)+len(p.NoexecMounts) > 0 {
			t.Fatal("a refused policy changed the policy")
		}
	})
}
