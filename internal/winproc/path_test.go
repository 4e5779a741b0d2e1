package winproc

import (
	"strings"
	"testing"
)

// A host as QueryDosDeviceW shows it: HarddiskVolume1 and HarddiskVolume10
// tell apart whether device matching stops at a component boundary.
var hostDevices = DeviceMap{
	{Drive: "C:", Device: `\Device\HarddiskVolume3`},
	{Drive: "D:", Device: `\Device\HarddiskVolume1`},
	{Drive: "E:", Device: `\Device\HarddiskVolume10`},
	{Drive: "F:", Device: `\Device\CdRom0`},
}

func TestDOSPath(t *testing.T) {
	for _, c := range []struct {
		nt, want string
		ok       bool
	}{
		{`\Device\HarddiskVolume3\Windows\System32\ntdll.dll`, `C:\Windows\System32\ntdll.dll`, true},
		{`\device\harddiskvolume3\Windows\x.dll`, `C:\Windows\x.dll`, true},
		{`\Device\HarddiskVolume1\x.dll`, `D:\x.dll`, true},
		{`\Device\HarddiskVolume10\x.dll`, `E:\x.dll`, true},
		{`\Device\HarddiskVolume100\x.dll`, `\Device\HarddiskVolume100\x.dll`, false},
		{`\Device\HarddiskVolume3`, `C:\`, true},
		{`\Device\CdRom0\setup.dll`, `F:\setup.dll`, true},
		{`\Device\HarddiskVolumeShadowCopy4\Windows\x.dll`, `\Device\HarddiskVolumeShadowCopy4\Windows\x.dll`, false},
		// Wine's GetMappedFileNameW.
		{`\??\C:\users\root\Temp\x.dll`, `C:\users\root\Temp\x.dll`, true},
		{`\??\UNC\host\share\x.dll`, `\\host\share\x.dll`, true},
		{`\\?\C:\long\x.dll`, `C:\long\x.dll`, true},
		{`\\?\UNC\host\share\x.dll`, `\\host\share\x.dll`, true},
		{`\\.\C:\x.dll`, `C:\x.dll`, true},
		{`\\?\GLOBALROOT\Device\HarddiskVolume3\x.dll`, `C:\x.dll`, true},
		{`\\?\Volume{3f0c1a2b-0000-0000-0000-100000000000}\x.dll`, `\\?\Volume{3f0c1a2b-0000-0000-0000-100000000000}\x.dll`, false},
		// Remote files through the redirectors.
		{`\Device\Mup\host\share\dir\x.dll`, `\\host\share\dir\x.dll`, true},
		{`\Device\Mup\;LanmanRedirector\;Z:000000000003e7f0\host\share\x.dll`, `\\host\share\x.dll`, true},
		{`\Device\LanmanRedirector\;Z:000000000003e7f0\host\share\x.dll`, `\\host\share\x.dll`, true},
		{`\Device\LanmanRedirector\host\share\x.dll`, `\\host\share\x.dll`, true},
		{`\Device\Mup\;WebDavRedirector\host@SSL\DavWWWRoot\x.dll`, `\\host@SSL\DavWWWRoot\x.dll`, true},
		{`\Device\WebDavRedirector\host@8080\DavWWWRoot\x.dll`, `\\host@8080\DavWWWRoot\x.dll`, true},
		{`\Device\Mupx\host\share\x.dll`, `\Device\Mupx\host\share\x.dll`, false},
		{`\Device\Mup`, `\Device\Mup`, false},
		{`\\host\share\x.dll`, `\\host\share\x.dll`, true},
		{``, ``, false},
	} {
		got, ok := hostDevices.DOSPath(c.nt)
		if got != c.want || ok != c.ok {
			t.Errorf("DOSPath(%q) = %q, %v; want %q, %v", c.nt, got, ok, c.want, c.ok)
		}
	}
}

func TestIsUnder(t *testing.T) {
	for _, c := range []struct {
		path, dir string
		want      bool
	}{
		{`C:\Windows\System32\x.dll`, `C:\Windows`, true},
		{`c:\windows\system32\X.DLL`, `C:\Windows\`, true},
		{`C:\Windows`, `C:\Windows`, true},
		{`C:\WindowsApps\x.dll`, `C:\Windows`, false},
		{`C:\Windows.\x.dll`, `C:\Windows`, false},
		{`C:\Windows \x.dll`, `C:\Windows`, false},
		{`C:\Windows\..\Users\x.dll`, `C:\Windows`, false},
		{`C:\Users\..\Windows\x.dll`, `C:\Windows`, true},
		{`C:\Windows\.\System32\x.dll`, `C:\Windows\System32`, true},
		{`C:/Windows/System32/x.dll`, `C:\Windows`, true},
		{`C:\\Windows\\x.dll`, `C:\Windows`, true},
		{`\\?\C:\Windows\x.dll`, `C:\Windows`, true},
		{`\??\C:\Windows\x.dll`, `C:\Windows`, true},
		{`D:\Windows\x.dll`, `C:\Windows`, false},
		{`\\host\share\Windows\x.dll`, `C:\Windows`, false},
		{`\\?\UNC\host\share\dir\x.dll`, `\\host\share`, true},
		{`\\host\share2\x.dll`, `\\host\share`, false},
		{`C:\PROGRA~1\x.dll`, `C:\Program Files`, false}, // expand short names first
		{`C:\x.dll`, `C:\`, true},
		{`C:\x.dll`, ``, false},
	} {
		if got := IsUnder(c.path, c.dir); got != c.want {
			t.Errorf("IsUnder(%q, %q) = %v, want %v", c.path, c.dir, got, c.want)
		}
	}
}

func TestSamePath(t *testing.T) {
	for _, c := range []struct {
		a, b string
		want bool
	}{
		{`C:\Windows\System32\NTDLL.dll`, `c:\windows\system32\ntdll.DLL`, true},
		{`\\?\C:\x.dll`, `C:\x.dll`, true},
		{`\\?\UNC\Host\Share\x.dll`, `\\host\share\X.dll`, true},
		{`C:\x.dll`, `C:\x.dll.`, false},
		{`C:\ÄÖ\x.dll`, `C:\äö\x.dll`, true},
		{`C:\a\x.dll`, `C:\b\x.dll`, false},
	} {
		if got := SamePath(c.a, c.b); got != c.want {
			t.Errorf("SamePath(%q, %q) = %v, want %v", c.a, c.b, got, c.want)
		}
	}
}

func TestClassify(t *testing.T) {
	for _, c := range []struct {
		path string
		want Kind
	}{
		{`C:\Windows\System32\x.dll`, Kind{}},
		{`\\host\share\x.dll`, Kind{Remote: true, Host: "host"}},
		{`//host/share/x.dll`, Kind{Remote: true, Host: "host"}},
		{`\\?\UNC\host\share\x.dll`, Kind{Remote: true, Host: "host", Extended: true}},
		{`\??\UNC\host\share\x.dll`, Kind{Remote: true, Host: "host", Extended: true}},
		{`\\?\C:\x.dll`, Kind{Extended: true}},
		{`\Device\Mup\host\share\x.dll`, Kind{Remote: true, Host: "host", Device: true}},
		{`\Device\Mup\;LanmanRedirector\;Z:0000000000012345\host\share\x.dll`, Kind{Remote: true, Host: "host", Device: true}},
		{`\Device\HarddiskVolume3\x.dll`, Kind{Device: true}},
		{`\\.\C:\x.dll`, Kind{Device: true}},
		{`\\host@SSL\DavWWWRoot\x.dll`, Kind{Remote: true, Host: "host@SSL", WebDAV: true}},
		{`\\host@SSL@8443\share\x.dll`, Kind{Remote: true, Host: "host@SSL@8443", WebDAV: true}},
		{`\\host@8080\share\x.dll`, Kind{Remote: true, Host: "host@8080", WebDAV: true}},
		{`\\host\davwwwroot\x.dll`, Kind{Remote: true, Host: "host", WebDAV: true}},
		{`\\host@evil\share\x.dll`, Kind{Remote: true, Host: "host@evil"}},
		{`\Device\WebDavRedirector\host\DavWWWRoot\x.dll`, Kind{Remote: true, Host: "host", Device: true, WebDAV: true}},
		{`C:\PROGRA~1\x.dll`, Kind{ShortName: true}},
		{`C:\progra~2\App\x.dll`, Kind{ShortName: true}},
		{`C:\users\root\Temp\TEST~FEY\MODH~CG3.DLL`, Kind{ShortName: true}},
		{`C:\Users\ADMINI~1\AppData\x.dll`, Kind{ShortName: true}},
		{`C:\docs\~$report.docx`, Kind{}},
		{`C:\docs\backup~`, Kind{}},
		{`C:\a~b~c\x.dll`, Kind{}},
		{`C:\Program Files\My~App Thing\x.dll`, Kind{}},
		{`C:\dir\LONGNAME~1.dll`, Kind{}}, // 9 characters before the dot: not 8.3
		{`C:\Temp:evil.dll`, Kind{Stream: true}},
		{`C:\Users\x\notes.txt:payload.dll`, Kind{Stream: true}},
		{`\\?\C:\Temp:evil.dll`, Kind{Extended: true, Stream: true}},
		{`\??\C:\x.dll`, Kind{Extended: true}},
		{`\\.\C:\x.dll:s`, Kind{Device: true, Stream: true}},
		{`\\host\share\x.dll:s`, Kind{Remote: true, Host: "host", Stream: true}},
		{`\\?\GLOBALROOT\Device\HarddiskVolumeShadowCopy1\Windows\x.dll`, Kind{Extended: true, Device: true}},
		{`\Device\Mup\;LanmanRedirector\;Z:0000000000012345\host\share\x.dll:s`, Kind{Remote: true, Host: "host", Device: true, Stream: true}},
	} {
		if got := Classify(c.path); got != c.want {
			t.Errorf("Classify(%q) = %+v, want %+v", c.path, got, c.want)
		}
	}
}

// FuzzPaths: no spelling of a path makes the translation or the comparisons
// panic, Clean is idempotent, and a translated path is never left a device
// path.
func FuzzPaths(f *testing.F) {
	for _, s := range []string{`\Device\HarddiskVolume3\x`, `\??\C:\x`, `\\?\UNC\h\s\x`, `\Device\Mup\;L\;Z:0\h\s`,
		`C:\a\..\..\b`, `\\h@SSL@1\DavWWWRoot`, `C:\PROGRA~1`, `\\.\GLOBALROOT\Device\Mup\h\s`, `\\`, `\\?\`, ``} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, p string) {
		c := Clean(p)
		if c2 := Clean(c); c2 != c {
			t.Errorf("Clean(%q) = %q, Clean of that = %q", p, c, c2)
		}
		if dos, ok := hostDevices.DOSPath(p); ok && Classify(dos).Device && !strings.HasPrefix(dos, `\\`) {
			t.Errorf("DOSPath(%q) = %q, still a device path", p, dos)
		}
		_ = Classify(p)
		_ = IsUnder(p, `C:\Windows`)
		_ = SamePath(p, c)
	})
}
