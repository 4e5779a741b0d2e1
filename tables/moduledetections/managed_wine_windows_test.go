package moduledetections

import (
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/modhunt/modhunt/test/wine/winfix"
)

// TestLiveWindowsManagedLoads: the managed events on Windows, live under
// Wine. No managed code runs (Debian 12 has no wine-mono); clrhost.exe
// (test/wine/fixtures) has a CLR host's shape: a stub clr.dll, an
// mcs-built assembly mapped with SEC_IMAGE from the prefix's .NET 4 GAC
// (C:\windows\Microsoft.NET\assembly: tables/dotnetloads' Wine test uses
// C:\windows\assembly, so the two packages, run at once, never share a
// folder one of them removes), and the bytes of an assembly named
// System.Management.Automation in VirtualAlloc'd memory, with no file of
// that name anywhere. Copied as rundll32.exe it fires PT-CR-642 on the GAC
// image (a module event, by path) and PT-CR-644 on the engine, which only
// its assembly identity names (a managed event: AssemblyName, InMemory,
// no ImageLoaded). Under another name (helper.exe, in no PT-CR-642 host
// list) and with another assembly's bytes, it fires neither.
func TestLiveWindowsManagedLoads(t *testing.T) {
	dir := winfix.Dir(t)
	gac := winfix.Place(t, filepath.Join(dir, "managed", "Mapped.dll"),
		filepath.Join(winfix.WindowsDir(), "Microsoft.NET", "assembly", "GAC_MSIL", "Mapped", "v4.0_2.7.1.8__modhunt"), "Mapped.dll")
	tmp := t.TempDir()
	clr := filepath.Join(tmp, "clr.dll")
	winfix.CopyFile(t, filepath.Join(dir, "clr.dll"), clr)
	blob := filepath.Join(tmp, "blob.bin")
	winfix.CopyFile(t, filepath.Join(dir, "managed", "System.Management.Automation.dll"), blob)
	exe := filepath.Join(tmp, "rundll32.exe")
	winfix.CopyFile(t, filepath.Join(dir, "clrhost.exe"), exe)
	pid, _ := winfix.Start(t, exe, "hosting", clr+"|"+gac+"|"+blob)
	other := filepath.Join(tmp, "helper.exe")
	winfix.CopyFile(t, exe, other)
	plain := filepath.Join(tmp, "plain.bin")
	winfix.CopyFile(t, filepath.Join(dir, "managed", "Bytes.dll"), plain)
	quiet, _ := winfix.Start(t, other, "hosting", clr+"|"+gac+"|"+plain)

	got, rows := fired(t, int(pid))
	t.Logf("fired: %v", wdescribe(rows))
	gacRule, ok := got[".NET Assembly Cache Module Loaded Into A Native Process"]
	require.True(t, ok, "PT-CR-642 on the GAC image: %v", wdescribe(rows))
	assert.Equal(t, "PT-CR-642", gacRule[wcol("siem_rule")])
	assert.True(t, strings.EqualFold(gac, gacRule[wcol("path")]), gacRule[wcol("path")])

	engine, ok := got["PowerShell Engine Loaded By A Non-PowerShell Process"]
	require.True(t, ok, "PT-CR-644 on the in-memory engine: %v", wdescribe(rows))
	assert.Equal(t, "PT-CR-644", engine[wcol("siem_rule")])
	assert.Empty(t, engine[wcol("path")], "no file: the engine exists only in memory")
	assert.Contains(t, engine[wcol("fields")], "System.Management.Automation")

	got, rows = fired(t, int(quiet))
	assert.NotContains(t, got, ".NET Assembly Cache Module Loaded Into A Native Process", "%v", wdescribe(rows))
	assert.NotContains(t, got, "PowerShell Engine Loaded By A Non-PowerShell Process", "%v", wdescribe(rows))
}
