package trust

import (
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/modhunt/modhunt/internal/winproc"
)

// The Windows path rules are pure string work: they run on every OS.

func TestCleanWindowsPathSpellings(t *testing.T) {
	t.Parallel()
	for in, want := range map[string]string{
		`C:\Windows\System32\kernel32.dll`:                                    `C:\Windows\System32\kernel32.dll`,
		`c:/windows/system32/KERNEL32.DLL`:                                    `C:\windows\system32\KERNEL32.DLL`,
		`\\?\C:\Windows\System32\x.dll`:                                       `C:\Windows\System32\x.dll`,
		`\??\C:\Windows\System32\x.dll`:                                       `C:\Windows\System32\x.dll`,
		`\\?\UNC\fs01\share\x.dll`:                                            `\\fs01\share\x.dll`,
		`\Device\Mup\fs01\share\x.dll`:                                        `\\fs01\share\x.dll`,
		`\Device\Mup\;LanmanRedirector\;Z:0000000000003e7f0\fs01\share\x.dll`: `\\fs01\share\x.dll`,
		`C:\Windows\System32\..\..\Users\Public\x.dll`:                        `C:\Users\Public\x.dll`,
		`C:\Windows\.\System32\\x.dll`:                                        `C:\Windows\System32\x.dll`,
		// The kernel's names are real: a trailing dot stays.
		`C:\Windows.\x.dll`: `C:\Windows.\x.dll`,
	} {
		assert.Equal(t, want, CleanWindowsPath(in), in)
	}
	assert.Equal(t, `C:\Program Files`, CleanWindowsDir(`c:\Program Files. \`), "an admin's folder is opened as Win32 opens it")
	assert.Equal(t, `\\fs01\share`, CleanWindowsDir(`\\fs01\share\`))
}

func TestWindowsDefaults(t *testing.T) {
	t.Parallel()
	p := Windows(DefaultWindowsDirs)
	cases := []struct {
		path    string
		trusted bool
		temp    bool
	}{
		{`C:\Windows\System32\kernel32.dll`, true, false},
		{`c:\WINDOWS\system32\KERNEL32.dll`, true, false},
		{`\\?\C:\Windows\System32\kernel32.dll`, true, false},
		{`\??\c:\windows\system32\ntdll.dll`, true, false},
		{`C:/Windows/SysWOW64/kernel32.dll`, true, false},
		{`C:\Program Files\Vendor\v.dll`, true, false},
		{`C:\Program Files (x86)\Vendor\v.dll`, true, false},
		{`C:\Windows\Temp\x.dll`, false, true},
		{`C:\windows\temp\sub\x.dll`, false, true},
		{`C:\Windows\Tasks\x.dll`, false, false},
		{`C:\Windows\tracing\x.dll`, false, false},
		{`C:\Windows\System32\spool\drivers\color\x.dll`, false, false},
		{`C:\Windows\System32\Tasks\x.dll`, false, false},
		{`C:\Windows\Registration\CRMLog\x.dll`, false, false},
		{`C:\Windows\System32\spool\drivers\x64\3\unidrv.dll`, true, false},
		{`C:\Users\alice\AppData\Local\Temp\x.dll`, false, true},
		{`C:\Users\alice\AppData\Local\Temp\7z123\x.dll`, false, true},
		{`c:\users\BOB\appdata\local\temp\x.dll`, false, true},
		{`C:\Users\alice\AppData\Local\x.dll`, false, false},
		{`C:\Users\Public\x.dll`, false, false},
		// Look-alikes.
		{`C:\WindowsApps\x.dll`, false, false},
		{`C:\Windows.\x.dll`, false, false},
		{`C:\Windows \x.dll`, false, false},
		{`C:\Windows\System32\..\..\Users\Public\x.dll`, false, false},
		{`D:\Windows\System32\x.dll`, false, false},
		{`\\fs01\share\Windows\x.dll`, false, false},
		{`C:\Program Files\..\x.dll`, false, false},
	}
	for _, c := range cases {
		assert.Equal(t, c.trusted, p.Trusted(c.path), "trusted %s", c.path)
		assert.Equal(t, c.temp, p.IsTemp(c.path), "temp %s", c.path)
	}
	// Another installation's folders.
	q := Windows(WindowsDirs{SystemRoot: `D:\WINNT`, ProgramFiles: `D:\Apps`, UserProfiles: `D:\Profiles`})
	assert.True(t, q.Trusted(`d:\winnt\system32\x.dll`))
	assert.False(t, q.Trusted(`C:\Windows\System32\x.dll`))
	assert.False(t, q.Trusted(`D:\WINNT\Temp\x.dll`))
	assert.True(t, q.IsTemp(`D:\Profiles\a\AppData\Local\Temp\x.dll`))
}

func TestIsRenamed(t *testing.T) {
	t.Parallel()
	for _, c := range []struct {
		name, original string
		want           bool
	}{
		{"comsvcs.dll", "COMSVCS.DLL", false},
		{"notes.dll", "COMSVCS.DLL", true},
		{"c.dll", "comsvcs.dll", true},
		{"x.dll", "", false},
		{"x.dll", "  ", false},
		{"kernel32.dll.mui", "kernel32.dll.mui", false},
		{"kernel32.dll.mui", "KERNEL32.DLL", false},
		{"vendor.dll", "vendor", false},
		{"vendor.dll", "other", true},
		{"rundll32.exe", "RUNDLL32.EXE", false},
		{"svchost.exe", "RUNDLL32.EXE", true},
	} {
		assert.Equal(t, c.want, IsRenamed(c.name, c.original), "%s claims %q", c.name, c.original)
	}
}

func TestEvaluateWindowsReasons(t *testing.T) {
	t.Parallel()
	p := Windows(DefaultWindowsDirs)
	valid := SignatureFacts{Checked: true, Signed: true, Status: winproc.StatusValid, Subject: "Microsoft Windows"}
	cases := []struct {
		name string
		m    Module
		want string
		sev  Severity
	}{
		{"system dll", Module{Path: `C:\Windows\System32\comsvcs.dll`, OriginalFileName: "comsvcs.dll", Signature: valid}, "", ""},
		{"public folder", Module{Path: `C:\Users\Public\evil.dll`}, "outside_trusted_dirs", Medium},
		{"profile temp", Module{Path: `C:\Users\a\AppData\Local\Temp\x.dll`}, "outside_trusted_dirs,temp_dir", High},
		{"writable system folder", Module{Path: `C:\Windows\Tasks\x.dll`, UserWritable: true}, "outside_trusted_dirs,user_writable", Medium},
		{"renamed copy", Module{Path: `C:\Users\Public\notes.dll`, OriginalFileName: "COMSVCS.DLL", Signature: valid},
			"outside_trusted_dirs,renamed", High},
		{"renamed in trusted dir", Module{Path: `C:\Program Files\V\a.dll`, OriginalFileName: "b.dll"}, "renamed", Medium},
		{"hand mapped", Module{Path: `C:\Windows\System32\x.dll`, NotInLoaderList: true}, "hidden_from_loader", High},
		{"unsigned outside", Module{Path: `D:\x.dll`, Signature: SignatureFacts{Checked: true, Status: winproc.StatusUnavailable}},
			"outside_trusted_dirs,unsigned", Medium},
		{"unsigned inside", Module{Path: `C:\Windows\System32\x.dll`, Signature: SignatureFacts{Checked: true, Status: winproc.StatusUnavailable}},
			"unsigned", Low},
		{"self-signed", Module{Path: `C:\Program Files\V\a.dll`, Signature: SignatureFacts{Checked: true, Signed: true, Status: winproc.StatusUntrusted}},
			"untrusted_signature", Medium},
		{"expired", Module{Path: `C:\Program Files\V\a.dll`, Signature: SignatureFacts{Checked: true, Signed: true, Status: winproc.StatusExpired}},
			"untrusted_signature", Medium},
		{"remote", Module{Path: `\\fs01\share\x.dll`, Remote: true}, "outside_trusted_dirs,remote", Medium},
		{"unchecked signature says nothing", Module{Path: `C:\Windows\System32\x.dll`}, "", ""},
	}
	for _, c := range cases {
		rs := p.Evaluate(c.m)
		assert.Equal(t, c.want, rs.String(), c.name)
		assert.Equal(t, c.sev, rs.Severity(), c.name)
	}
}

func TestUnderWindowsPattern(t *testing.T) {
	t.Parallel()
	assert.True(t, Under(`C:\Users\x\AppData\Local\Temp\a.dll`, `C:\Users\*\AppData\Local\Temp`))
	assert.False(t, Under(`C:\Users\AppData\Local\Temp\a.dll`, `C:\Users\*\AppData\Local\Temp`), "* is one whole component")
	assert.False(t, Under(`C:\Users\x\y\AppData\Local\Temp\a.dll`, `C:\Users\*\AppData\Local\Temp`))
	assert.True(t, Under(`c:\windows`, `C:\Windows\`))
	assert.False(t, Under(`C:\Windows10\x`, `C:\Windows`))
	// A POSIX path never lies under a Windows folder and back.
	assert.False(t, Under(`/usr/lib/x.so`, `C:\Windows`))
	assert.False(t, Under(`C:\usr\lib\x.so`, `/usr/lib`))
}

const windowsPolicy = `
trusted_dirs: ['D:\Apps\', 'c:/tools']
untrusted_dirs: ['C:\Program Files\Vendor\Plugins']
temp_dirs: ['E:\Scratch', 'D:\Home\*\Tmp']
allow_signers: [Contoso Ltd]
verify_trusted_dirs: true
allow_modules:
  - path: 'C:\Program Files\Contoso\**\*.dll'
  - path: 'C:\Users\*\AppData\Local\Contoso\[ab]*.dll'
allow_processes:
  - path: 'C:\Program Files\Java\*\bin\java.exe'
`

func TestPolicyFileWindowsSettings(t *testing.T) {
	t.Parallel()
	p := Windows(DefaultWindowsDirs)
	require.NoError(t, p.Apply(Host{}, "w.yaml", []byte(windowsPolicy)))
	assert.True(t, p.Trusted(`d:\apps\x.dll`))
	assert.True(t, p.Trusted(`C:\Tools\x.dll`))
	assert.True(t, p.Trusted(`C:\Program Files\Vendor\v.dll`))
	assert.False(t, p.Trusted(`C:\Program Files\Vendor\Plugins\p.dll`), "an exception to a trusted dir")
	assert.True(t, p.IsTemp(`e:\scratch\x.dll`))
	assert.True(t, p.IsTemp(`D:\Home\a\Tmp\x.dll`))
	assert.True(t, p.VerifyTrustedDirs)
	assert.True(t, p.AllowsSigner(SignatureFacts{Checked: true, Signed: true, Status: winproc.StatusValid, Subject: "contoso ltd"}))
	assert.False(t, p.AllowsSigner(SignatureFacts{Checked: true, Signed: true, Status: winproc.StatusExpired, Subject: "Contoso Ltd"}),
		"only a signature that verifies vouches")
	assert.False(t, p.AllowsSigner(SignatureFacts{Checked: true, Signed: true, Status: winproc.StatusValid, Subject: "Contoso Ltd Evil"}))
	assert.True(t, p.AllowsModule(`c:\program files\contoso\a\b\c.dll`, "", ""))
	assert.False(t, p.AllowsModule(`C:\Program Files\Contoso2\c.dll`, "", ""))
	assert.True(t, p.AllowsModule(`C:\Users\z\AppData\Local\Contoso\a1.dll`, "", ""))
	assert.False(t, p.AllowsModule(`C:\Users\z\y\AppData\Local\Contoso\a1.dll`, "", ""), "* stays in one component")
	assert.False(t, p.AllowsModule(`C:\Users\z\AppData\Local\Contoso\c1.dll`, "", ""))
	assert.True(t, p.AllowsProcess(`C:\Program Files\Java\jdk-21\bin\java.exe`, ""))

	for _, c := range []struct{ name, doc, want string }{
		{"relative windows dir", "trusted_dirs: ['Apps\\x']\n", `policy w.yaml:1:16: trusted_dirs[0]: "Apps\\x" is not an absolute path`},
		{"glob in temp dir", "temp_dirs: ['C:\\Users\\a*\\Temp']\n", `policy w.yaml:1:13: temp_dirs[0]: "C:\\Users\\a*\\Temp": only a whole component may be "*"`},
		{"signer not text", "allow_signers: [{subject: x}]\n", `policy w.yaml:1:17: allow_signers[0]: want a string, got a mapping`},
		{"verify not bool", "verify_trusted_dirs: sometimes\n", `policy w.yaml:1:22: verify_trusted_dirs: want true or false, got the scalar "sometimes"`},
		{"bad windows glob", "allow_modules:\n  - path: 'C:\\x\\[.dll'\n", `policy w.yaml:2:11: allow_modules[0].path: "C:\\x\\[.dll" is not a valid glob`},
	} {
		q := Windows(DefaultWindowsDirs)
		err := q.Apply(Host{}, "w.yaml", []byte(c.doc))
		require.Error(t, err, c.name)
		assert.Contains(t, err.Error(), c.want, c.name)
	}
}
