package dotnetloads

import (
	"testing"

	"github.com/stretchr/testify/assert"

	"github.com/modhunt/modhunt/tables/inventory"
)

func procWith(path string, names ...string) *inventory.Process {
	p := &inventory.Process{Path: path}
	for _, n := range names {
		p.Modules = append(p.Modules, inventory.Module{Name: n, Path: `C:\Windows\System32\` + n})
	}
	return p
}

// Module lists as Windows and Linux loaders record them.
func TestRuntime(t *testing.T) {
	for _, tc := range []struct {
		name    string
		path    string
		modules []string
		want    string
	}{
		{"native Windows program", `C:\Windows\System32\notepad.exe`, []string{"ntdll.dll", "kernel32.dll", "user32.dll"}, ""},
		{".NET 4 PowerShell", `C:\Windows\System32\WindowsPowerShell\v1.0\powershell.exe`, []string{"ntdll.dll", "mscoree.dll", "mscoreei.dll", "clr.dll", "clrjit.dll"}, RuntimeCLR4},
		{".NET 2 host", `C:\app\old.exe`, []string{"ntdll.dll", "mscoree.dll", "mscorwks.dll"}, RuntimeCLR2},
		{"side by side 2 and 4", `C:\app\sxs.exe`, []string{"mscorwks.dll", "clr.dll"}, RuntimeCLR4},
		{"shim only", `C:\Windows\System32\rundll32.exe`, []string{"ntdll.dll", "MSCOREE.DLL"}, RuntimeShim},
		{"pwsh 7", `C:\Program Files\PowerShell\7\pwsh.exe`, []string{"hostfxr.dll", "hostpolicy.dll", "coreclr.dll"}, RuntimeCoreCLR},
		{"upper-case CLR", `C:\x.exe`, []string{"CLR.DLL"}, RuntimeCLR4},
		{"Mono on Windows", `C:\Program Files\Mono\bin\mono.exe`, []string{"mono-2.0-sgen.dll"}, RuntimeMono},
		{"Debian mono", "/usr/bin/mono-sgen", []string{"mono-sgen", "libc.so.6"}, RuntimeMono},
		{"embedded Mono (Unity)", "/opt/game/game.x86_64", []string{"libmonobdwgc-2.0.so", "libc.so.6"}, RuntimeMono},
		{"dotnet on Linux", "/usr/lib/dotnet/dotnet", []string{"libhostfxr.so", "libcoreclr.so", "libclrjit.so"}, RuntimeCoreCLR},
		{"Mono helper alone is no CLR", "/usr/bin/app", []string{"libmono-native.so", "libMonoPosixHelper.so"}, ""},
		{"a file merely named like a runtime is not a module", "/usr/bin/clr.dll.txt", []string{"libc.so.6"}, ""},
		{"executable known by path only", "/usr/bin/mono", []string{"libc.so.6"}, RuntimeMono},
	} {
		t.Run(tc.name, func(t *testing.T) {
			assert.Equal(t, tc.want, Runtime(procWith(tc.path, tc.modules...)))
		})
	}
}

func TestClassify(t *testing.T) {
	for _, tc := range []struct {
		path    string
		gac, ni bool
	}{
		{`C:\Windows\Microsoft.NET\assembly\GAC_MSIL\System.Management.Automation\v4.0_3.0.0.0__31bf3856ad364e35\System.Management.Automation.dll`, true, false},
		{`C:\Windows\Microsoft.NET\assembly\GAC_64\System.Data\v4.0_4.0.0.0__b77a5c561934e089\System.Data.dll`, true, false},
		{`c:\windows\assembly\GAC_MSIL\System.Management.Automation\1.0.0.0__31bf3856ad364e35\System.Management.Automation.dll`, true, false},
		{`C:\Windows\assembly\GAC\Microsoft.Build.Tasks\2.0.0.0__b03f5f7f11d50a3a\Microsoft.Build.Tasks.dll`, true, false},
		{`D:\Windows\assembly\GAC_32\x\1.0.0.0__0123456789abcdef\x.dll`, true, false},
		{`\\?\C:\Windows\Microsoft.NET\assembly\GAC_MSIL\a\v4.0_1.0.0.0__0123456789abcdef\a.dll`, true, false},
		{`C:\Windows\assembly\NativeImages_v4.0.30319_64\System.Manaa57fc8cc#\4b1c\System.Management.Automation.ni.dll`, false, true},
		{`C:\Windows\assembly\NativeImages_v2.0.50727_32\mscorlib\1f0d\mscorlib.ni.dll`, false, true},
		{`C:\Users\bob\AppData\Local\Temp\x.ni.dll`, false, true},
		{`C:\Windows\Microsoft.NET\Framework64\v4.0.30319\clr.dll`, false, false},
		{`C:\Windows\assembly\desktop.ini`, false, false},
		{`C:\Users\bob\Windows\assembly\GAC_MSIL\fake\fake.dll`, false, false},
		{`C:\Windows\Microsoft.NET\assembly\NotGAC\x.dll`, false, false},
		{"/usr/lib/mono/gac/System.Xml/4.0.0.0__b77a5c561934e089/System.Xml.dll", true, false},
		{"/opt/mono/lib/mono/gac/System/4.0.0.0__b77a5c561934e089/System.dll", true, false},
		{"/usr/lib/mono/4.5/mscorlib.dll", false, false},
		{"/tmp/gac/evil.dll", false, false},
	} {
		gac, ni := Classify(tc.path)
		assert.Equal(t, tc.gac, gac, "gac of %s", tc.path)
		assert.Equal(t, tc.ni, ni, "native image of %s", tc.path)
	}
}

func TestSearchable(t *testing.T) {
	r := func(typ inventory.RegionType, prot inventory.Protection, path string) inventory.Region {
		return inventory.Region{Start: 0x1000, Size: 0x1000, Type: typ, Prot: prot, Path: path}
	}
	rw := inventory.ProtRead | inventory.ProtWrite
	assert.True(t, Searchable(r(inventory.RegionPrivate, rw, "[heap]")))
	assert.True(t, Searchable(r(inventory.RegionPrivate, rw, "")))
	assert.True(t, Searchable(r(inventory.RegionAnonymous, inventory.ProtRead|inventory.ProtShared, "")))
	assert.False(t, Searchable(r(inventory.RegionPrivate, inventory.ProtWrite, "")), "unreadable")
	assert.False(t, Searchable(r(inventory.RegionImage, rw, `C:\x.dll`)), "file-backed: the module list has it")
	assert.False(t, Searchable(r(inventory.RegionMapped, rw, "/x")))
	assert.False(t, Searchable(r(inventory.RegionAnonymous, inventory.ProtRead, "[vvar]")))
	assert.False(t, Searchable(r(inventory.RegionAnonymous, inventory.ProtRead|inventory.ProtExec, "[vdso]")))
}
