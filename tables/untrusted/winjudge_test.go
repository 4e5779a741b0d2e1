package untrusted

import (
	"context"
	"errors"
	"runtime"
	"strings"
	"sync"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/modhunt/modhunt/internal/winproc"
	"github.com/modhunt/modhunt/tables/fileinfo"
	"github.com/modhunt/modhunt/tables/inventory"
	"github.com/modhunt/modhunt/tables/inventory/fakeinv"
	"github.com/modhunt/modhunt/tables/table"
	"github.com/modhunt/modhunt/tables/trust"
)

// fakeFacts answers the Windows judgement's questions from maps keyed by
// the module's path as the inventory gives it, and counts the signature
// checks (which cost a read of the whole file on Windows).
type fakeFacts struct {
	long     map[string]string
	remote   map[string]bool // drive letters, "Z:"
	original map[string]string
	sig      map[string]trust.SignatureFacts
	writable map[string]bool // by clean path

	mu     sync.Mutex
	signed []string
}

func (f *fakeFacts) LongPath(p string) (string, error) {
	if l, ok := f.long[strings.ToUpper(p)]; ok {
		return l, nil
	}
	return "", errors.New("no such file")
}

func (f *fakeFacts) DriveRemote(p string) bool { return len(p) > 1 && f.remote[strings.ToUpper(p[:2])] }

func (f *fakeFacts) OriginalFileName(_ int, m *inventory.Module) (string, error) {
	return f.original[m.Path], nil
}

func (f *fakeFacts) Signature(_ int, m *inventory.Module) (trust.SignatureFacts, error) {
	f.mu.Lock()
	f.signed = append(f.signed, m.Path)
	f.mu.Unlock()
	if s, ok := f.sig[m.Path]; ok {
		return s, nil
	}
	return trust.SignatureFacts{Checked: true, Status: winproc.StatusUnavailable}, nil
}

func (f *fakeFacts) ProcessUser(int) (string, bool, error) { return "S-1-5-21-1-2-3-1001", true, nil }

// DACL: a writable file is one Users may modify; everything else is
// System32's.
func (f *fakeFacts) DACL(p string) (DACL, error) {
	if f.writable[p] {
		return DACL{ACEs: []ACE{{Allow: true, Mask: fileWriteData, SID: SIDUsers}}}, nil
	}
	return DACL{Owner: "S-1-5-18", ACEs: []ACE{{Allow: true, Mask: fileAllAccess, SID: "S-1-5-18"}, {Allow: true, Mask: 0x001200A9, SID: SIDUsers}}}, nil
}

func winMod(path string, idx uint64, loader bool) inventory.Module {
	return inventory.Module{Path: path, Name: path[strings.LastIndexAny(path, `\/`)+1:], Base: 0x7ff800000000 + idx<<20,
		Size: 0x10000, Executable: true, InLoaderList: loader, File: fileinfo.Key{Dev: 0x5a3c1e2f, Ino: idx}, FileType: fileinfo.PE}
}

func windowsHost() (*fakeinv.Inventory, *fakeFacts) {
	exe := winMod(`C:\Windows\System32\rundll32.exe`, 1, true)
	exe.Exe = true
	valid := trust.SignatureFacts{Checked: true, Signed: true, Status: winproc.StatusValid, Subject: "Microsoft Windows"}
	inv := &fakeinv.Inventory{OS: "windows", Procs: []inventory.Process{{
		PID: fakeinv.PID, Name: "rundll32.exe", Path: `C:\Windows\System32\rundll32.exe`, UID: -1, User: `DESKTOP-7\alice`,
		Cmdline: `rundll32.exe C:\Users\Public\notes.dll, MiniDump 624 C:\Users\Public\d.bin full`,
		Modules: []inventory.Module{
			exe,
			winMod(`C:\Windows\System32\kernel32.dll`, 2, true),
			winMod(`\??\C:\Windows\System32\ntdll.dll`, 3, true),
			winMod(`C:\Users\Public\evil.dll`, 4, true),
			winMod(`C:\Users\alice\AppData\Local\Temp\7zS1\x.dll`, 5, true),
			winMod(`C:\Windows\System32\mapped.dll`, 6, false),
			winMod(`C:\Users\Public\notes.dll`, 7, true),
			winMod(`\\?\UNC\fs01\share\r.dll`, 8, true),
			winMod(`\\fs02@SSL\DavWWWRoot\w.dll`, 9, true),
			winMod(`C:\PROGRA~1\Vendor\v.dll`, 10, true),
			winMod(`C:\PROGRA~2\Nowhere\n.dll`, 11, true),
			winMod(`Z:\tools\z.dll`, 12, true),
			winMod(`C:\Windows\Tasks\t.dll`, 13, true),
			winMod(`C:\Program Files\Contoso\c.dll`, 14, true),
			winMod(`D:\Apps\selfsigned.dll`, 15, true),
			winMod(`C:\Windows.\System32\dot.dll`, 16, true),
		},
	}}}
	facts := &fakeFacts{
		long:   map[string]string{`C:\PROGRA~1\VENDOR\V.DLL`: `C:\Program Files\Vendor\v.dll`},
		remote: map[string]bool{"Z:": true},
		original: map[string]string{
			`C:\Users\Public\notes.dll`:        "COMSVCS.DLL",
			`C:\Windows\System32\kernel32.dll`: "kernel32",
			`C:\Program Files\Contoso\c.dll`:   "other.dll",
			`D:\Apps\selfsigned.dll`:           "selfsigned.dll",
		},
		sig: map[string]trust.SignatureFacts{
			`C:\Windows\System32\kernel32.dll`: valid,
			`C:\Users\Public\notes.dll`:        valid,
			`C:\Program Files\Contoso\c.dll`:   {Checked: true, Signed: true, Status: winproc.StatusValid, Subject: "Contoso Ltd"},
			`D:\Apps\selfsigned.dll`:           {Checked: true, Signed: true, Status: winproc.StatusUntrusted, Subject: "modhunt test signer"},
		},
		writable: map[string]bool{`C:\Windows\Tasks\t.dll`: true},
	}
	return inv, facts
}

func reasonsByPath(t *testing.T, j *Judge) map[string][2]string {
	t.Helper()
	tbl := j.Table()
	rows, err := tbl.Generate(context.Background(), table.Query{})
	require.NoError(t, err)
	got := map[string][2]string{}
	for _, r := range rows {
		got[r[tbl.ColumnIndex("path")]] = [2]string{r[tbl.ColumnIndex("reasons")], r[tbl.ColumnIndex("severity")]}
	}
	return got
}

// The Windows judgement on a Windows-shaped host, with every fact it can
// ask for: the default Windows policy, each reason from the fact that
// gives it.
func TestWindowsJudgementReasons(t *testing.T) {
	t.Parallel()
	inv, facts := windowsHost()
	j, err := NewJudge(Config{Inventory: inv, WindowsFacts: facts})
	require.NoError(t, err)
	got := reasonsByPath(t, j)
	want := map[string][2]string{
		`C:\Users\Public\evil.dll`:                     {"outside_trusted_dirs,unsigned", "medium"},
		`C:\Users\alice\AppData\Local\Temp\7zS1\x.dll`: {"outside_trusted_dirs,temp_dir,unsigned", "high"},
		`C:\Windows\System32\mapped.dll`:               {"hidden_from_loader,unsigned", "high"},
		`C:\Users\Public\notes.dll`:                    {"outside_trusted_dirs,renamed", "high"},
		`\\?\UNC\fs01\share\r.dll`:                     {"outside_trusted_dirs,remote,unsigned", "medium"},
		`\\fs02@SSL\DavWWWRoot\w.dll`:                  {"outside_trusted_dirs,remote,unsigned", "medium"},
		`C:\PROGRA~2\Nowhere\n.dll`:                    {"outside_trusted_dirs,unsigned", "medium"},
		`Z:\tools\z.dll`:                               {"outside_trusted_dirs,remote,unsigned", "medium"},
		`C:\Windows\Tasks\t.dll`:                       {"outside_trusted_dirs,unsigned,user_writable", "medium"},
		`D:\Apps\selfsigned.dll`:                       {"outside_trusted_dirs,untrusted_signature", "medium"},
		`C:\Windows.\System32\dot.dll`:                 {"outside_trusted_dirs,unsigned", "medium"},
	}
	assert.Equal(t, want, got)
	// c.dll claims another name but sits in Program Files with nothing
	// else against it: its claims are read only under verify_trusted_dirs.
	// kernel32 claims "kernel32" (no extension): no rename; ntdll through
	// \??\ and v.dll through its 8.3 name are in trusted folders.
	facts.mu.Lock()
	defer facts.mu.Unlock()
	assert.NotContains(t, facts.signed, `C:\Windows\System32\kernel32.dll`, "a module nothing casts doubt on is not verified")
	assert.NotContains(t, facts.signed, `C:\PROGRA~1\Vendor\v.dll`)
	assert.Contains(t, facts.signed, `C:\Users\Public\evil.dll`)
}

// The policy file's Windows settings change the verdicts.
func TestWindowsJudgementPolicy(t *testing.T) {
	t.Parallel()
	inv, facts := windowsHost()
	p := trust.Windows(trust.DefaultWindowsDirs)
	require.NoError(t, p.Apply(trust.Host{}, "w.yaml", []byte(`
trusted_dirs: ['D:\Apps']
allow_signers: [Contoso Ltd, Microsoft Windows]
allow_modules: [{path: 'C:\Users\Public\evil.dll'}]
verify_trusted_dirs: true
`)))
	j, err := NewJudge(Config{Inventory: inv, WindowsFacts: facts, Policy: p})
	require.NoError(t, err)
	got := reasonsByPath(t, j)
	assert.NotContains(t, got, `C:\Program Files\Contoso\c.dll`, "an allowed signer vouches for its file")
	assert.NotContains(t, got, `C:\Users\Public\notes.dll`, "Microsoft's signature vouches for the renamed copy too: the admin's choice")
	assert.NotContains(t, got, `C:\Users\Public\evil.dll`)
	assert.Equal(t, [2]string{"untrusted_signature", "medium"}, got[`D:\Apps\selfsigned.dll`])
	assert.Equal(t, [2]string{"unsigned", "low"}, got[`C:\PROGRA~1\Vendor\v.dll`], "verify_trusted_dirs checks trusted folders too")
	assert.Equal(t, [2]string{"hidden_from_loader,unsigned", "high"}, got[`C:\Windows\System32\mapped.dll`])
	facts.mu.Lock()
	defer facts.mu.Unlock()
	assert.Contains(t, facts.signed, `C:\Windows\System32\kernel32.dll`)
}

// Without Windows facts (a Windows-shaped inventory on another OS), the
// paths and the loader list still judge.
func TestWindowsJudgementWithoutFacts(t *testing.T) {
	t.Parallel()
	if isWindows(runtimeGOOS) {
		t.Skip("on Windows the live facts are used")
	}
	inv, _ := windowsHost()
	j, err := NewJudge(Config{Inventory: inv})
	require.NoError(t, err)
	got := reasonsByPath(t, j)
	assert.Equal(t, [2]string{"outside_trusted_dirs,temp_dir", "high"}, got[`C:\Users\alice\AppData\Local\Temp\7zS1\x.dll`])
	assert.Equal(t, [2]string{"hidden_from_loader", "high"}, got[`C:\Windows\System32\mapped.dll`])
	assert.Equal(t, [2]string{"outside_trusted_dirs,remote", "medium"}, got[`\\?\UNC\fs01\share\r.dll`])
	assert.Equal(t, [2]string{"outside_trusted_dirs", "medium"}, got[`C:\PROGRA~1\Vendor\v.dll`],
		"an 8.3 name no one expanded is never taken for a trusted folder")
	assert.NotContains(t, got, `C:\Windows\System32\kernel32.dll`)
	assert.NotContains(t, got, `\??\C:\Windows\System32\ntdll.dll`)
}

var runtimeGOOS = runtime.GOOS

// Every WinVerifyTrust outcome Sysmon has a word for, through to the
// reason it gives a module: the mapping the live tests cannot reach under
// Wine (which answers Valid for a chain Windows rejects).
func TestSignatureReasons(t *testing.T) {
	t.Parallel()
	p := trust.Windows(trust.DefaultWindowsDirs)
	for hr, want := range map[uint32]string{
		0x00000000: "",                    // ERROR_SUCCESS: Valid
		0x800B0100: "unsigned",            // TRUST_E_NOSIGNATURE: Unavailable
		0x800B0003: "unsigned",            // TRUST_E_SUBJECT_FORM_UNKNOWN
		0x800B0109: "untrusted_signature", // CERT_E_UNTRUSTEDROOT: a self-signed DLL on Windows
		0x800B0101: "untrusted_signature", // CERT_E_EXPIRED
		0x800B010C: "untrusted_signature", // CERT_E_REVOKED
		0x80096010: "untrusted_signature", // TRUST_E_BAD_DIGEST
		0x800B0111: "untrusted_signature", // TRUST_E_EXPLICIT_DISTRUST
		0x80092026: "untrusted_signature", // CRYPT_E_SECURITY_SETTINGS: Disallowed
	} {
		signed, status := winproc.VerdictFromResult(hr)
		facts := SignatureFactsOf(winproc.Signature{Signed: signed, Status: status, Result: hr})
		rs := p.Evaluate(trust.Module{Path: `C:\Windows\System32\x.dll`, Signature: facts})
		assert.Equal(t, want, rs.String(), "HRESULT %#x (%s)", hr, status)
	}
}

// userFacts grants write on one folder to one user only.
type userFacts struct {
	noWinFacts
	low bool
}

func (f userFacts) ProcessUser(int) (string, bool, error) { return "S-1-5-21-9-9-9-1001", f.low, nil }
func (f userFacts) DACL(p string) (DACL, error) {
	if p == `D:\Apps\Alice` {
		return DACL{Owner: "S-1-5-18", ACEs: []ACE{{Allow: true, Mask: fileAllAccess, SID: "S-1-5-21-9-9-9-1001"}}}, nil
	}
	return DACL{Owner: "S-1-5-18"}, nil
}

// noWinFacts answers nothing but what a test overrides.
type noWinFacts struct{}

func (noWinFacts) LongPath(string) (string, error) { return "", errors.New("none") }
func (noWinFacts) DriveRemote(string) bool         { return false }
func (noWinFacts) OriginalFileName(int, *inventory.Module) (string, error) {
	return "", nil
}
func (noWinFacts) Signature(int, *inventory.Module) (trust.SignatureFacts, error) {
	return trust.SignatureFacts{}, errors.New("none")
}

// A folder only the process's own user may write is user_writable when
// that user runs without admin rights, and not when the process is
// elevated (an admin can write anywhere: no lower privilege gains).
func TestWindowsUserWritableByTheProcessUser(t *testing.T) {
	t.Parallel()
	inv := &fakeinv.Inventory{OS: "windows", Procs: []inventory.Process{{PID: fakeinv.PID, Name: "app.exe", Path: `D:\Apps\Alice\app.exe`, UID: -1,
		Modules: []inventory.Module{winMod(`D:\Apps\Alice\plugin.dll`, 1, true)}}}}
	p := trust.Windows(trust.DefaultWindowsDirs)
	require.NoError(t, p.Apply(trust.Host{}, "w.yaml", []byte(`trusted_dirs: ['D:\Apps']`)))
	for _, low := range []bool{true, false} {
		j, err := NewJudge(Config{Inventory: inv, Policy: p, WindowsFacts: userFacts{low: low}})
		require.NoError(t, err)
		got := reasonsByPath(t, j)
		if low {
			assert.Equal(t, [2]string{"user_writable", "medium"}, got[`D:\Apps\Alice\plugin.dll`])
		} else {
			assert.Empty(t, got)
		}
	}
}
