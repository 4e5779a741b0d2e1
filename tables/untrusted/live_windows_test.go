package untrusted

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"golang.org/x/sys/windows"

	"github.com/modhunt/modhunt/internal/winproc"
	"github.com/modhunt/modhunt/tables/inventory"
	"github.com/modhunt/modhunt/tables/table"
	"github.com/modhunt/modhunt/tables/trust"
	"github.com/modhunt/modhunt/test/wine/winfix"
)

// These tests start mingw-built fixture programs (test/wine/fixtures) that
// really load the DLLs, and judge them through the Windows inventory and the
// live Windows facts, as the tables do. They run for real under Wine (make
// test-windows, or GOOS=windows go test -exec test/wine/go_windows_amd64_exec
// with MODHUNT_WINE_FIXTURES set, after make wine-fixtures).

// outsideDir is a fresh folder at the root of the system drive: under no
// trusted folder and no temp folder.
func outsideDir(t *testing.T) string {
	t.Helper()
	root := os.Getenv("SystemDrive")
	if root == "" {
		root = "C:"
	}
	dir, err := os.MkdirTemp(root+`\`, "modhunt-outside-")
	require.NoError(t, err)
	t.Cleanup(func() { _ = os.RemoveAll(dir) })
	return dir
}

func fixture(t *testing.T, name string) string {
	t.Helper()
	return filepath.Join(winfix.Dir(t), name)
}

func copyFixture(t *testing.T, name, to string) string {
	t.Helper()
	winfix.CopyFile(t, fixture(t, name), to)
	return to
}

// liveRows judges pid on this host as untrusted_module_loads does (the
// built-in Windows policy, the live inventory and facts) and returns its
// rows by lower-cased path: reasons and severity.
func liveRows(t *testing.T, j *Judge, pid int) map[string][2]string {
	t.Helper()
	tbl := j.Table()
	rows, err := tbl.Generate(context.Background(), table.PIDQuery([]int{pid}))
	require.NoError(t, err)
	got := map[string][2]string{}
	for _, r := range rows {
		require.Equal(t, table.Int(pid), r[tbl.ColumnIndex("pid")])
		got[strings.ToLower(r[tbl.ColumnIndex("path")])] = [2]string{r[tbl.ColumnIndex("reasons")], r[tbl.ColumnIndex("severity")]}
	}
	return got
}

func liveJudge(t *testing.T) *Judge {
	t.Helper()
	j, err := NewJudge(Config{Inventory: inventory.New(inventory.Config{ModulesOnly: true}), ShareWindow: -1})
	require.NoError(t, err)
	require.True(t, j.s.policy.Trusted(os.Getenv("SystemRoot")+`\System32\kernel32.dll`), "the live Windows defaults trust %%SystemRoot%%")
	return j
}

// A program that LoadLibrary()s a DLL from its temp folder and one from a
// folder outside the trusted ones: both are rows with the path reasons, and
// unsigned (Wine's WinVerifyTrust finds no signature in a mingw DLL and no
// catalog lists it, as on Windows); the system DLLs of the process are no
// rows. (module_detections' events carrying the same reasons:
// moduledetections' TestLiveWindowsEventsCarryTheVerdicts.)
func TestLiveWindowsTempAndOutsideLoads(t *testing.T) {
	tempDLL := copyFixture(t, "payload.dll", filepath.Join(t.TempDir(), "tempload.dll"))
	outDLL := copyFixture(t, "payload.dll", filepath.Join(outsideDir(t), "outside.dll"))
	pid32, _ := winfix.Start(t, fixture(t, "loadmany.exe"), "loaded", tempDLL+"|"+outDLL)
	pid := int(pid32)

	j := liveJudge(t)
	got := liveRows(t, j, pid)
	assert.Equal(t, [2]string{"outside_trusted_dirs,temp_dir,unsigned", "high"}, got[strings.ToLower(tempDLL)], "%v", got)
	assert.Equal(t, [2]string{"outside_trusted_dirs,unsigned", "medium"}, got[strings.ToLower(outDLL)], "%v", got)
	for p := range got {
		assert.False(t, trust.Under(p, os.Getenv("SystemRoot")+`\System32`), "a system DLL is trusted: %s", p)
	}

}

// A DLL whose version resource says OriginalFileName vendorlib.dll
// (versioned.dll, the fixture process_loaded_modules' PE columns read too),
// loaded under another name, is renamed; the same bytes under their own
// name are not.
func TestLiveWindowsRenamed(t *testing.T) {
	dir := outsideDir(t)
	renamed := copyFixture(t, "versioned.dll", filepath.Join(dir, "notes.dll"))
	own := copyFixture(t, "versioned.dll", filepath.Join(dir, "vendorlib.dll"))
	pid32, _ := winfix.Start(t, fixture(t, "loadmany.exe"), "loaded", renamed+"|"+own)

	got := liveRows(t, liveJudge(t), int(pid32))
	assert.Equal(t, [2]string{"outside_trusted_dirs,renamed,unsigned", "high"}, got[strings.ToLower(renamed)], "%v", got)
	assert.Equal(t, [2]string{"outside_trusted_dirs,unsigned", "medium"}, got[strings.ToLower(own)], "%v", got)
}

// A DLL signed by osslsigncode with a self-signed certificate. Windows
// answers CERT_E_UNTRUSTEDROOT (Untrusted: untrusted_signature); Wine 8's
// WinVerifyTrust checks the digest and not the chain and answers
// ERROR_SUCCESS (Valid), so under Wine the module has no signature reason,
// only the path's. Asserted as Wine answers; the mapping from each
// WinVerifyTrust result to the reasons is TestSignatureReasons. A changed
// byte breaks the digest, which Wine does check: untrusted_signature.
func TestLiveWindowsSelfSignedDLL(t *testing.T) {
	dir := outsideDir(t)
	signed := copyFixture(t, "payload_signed.dll", filepath.Join(dir, "selfsigned.dll"))
	sig, err := winproc.Verify(signed)
	require.NoError(t, err)
	require.True(t, sig.Signed)
	want := "outside_trusted_dirs"
	if sig.Status == winproc.StatusUntrusted {
		want = "outside_trusted_dirs,untrusted_signature" // Windows
	} else {
		require.Equal(t, winproc.StatusValid, sig.Status, "Wine 8 does not check the chain")
	}
	tampered := filepath.Join(dir, "tampered.dll")
	data, err := os.ReadFile(signed)
	require.NoError(t, err)
	data[0x400] ^= 0xff // the first section's raw data: the code, inside the digest
	require.NoError(t, os.WriteFile(tampered, data, 0o644))

	pid32, _ := winfix.Start(t, fixture(t, "loadmany.exe"), "loaded", signed+"|"+tampered)
	got := liveRows(t, liveJudge(t), int(pid32))
	assert.Equal(t, want, got[strings.ToLower(signed)][0], "%v", got)
	assert.Equal(t, "outside_trusted_dirs,untrusted_signature", got[strings.ToLower(tampered)][0], "%v", got)
}

// A DLL mapped by hand (CreateFileMapping(SEC_IMAGE) + MapViewOfFile), which
// no loader list has: hidden_from_loader, high, whatever its folder.
func TestLiveWindowsHandMappedImage(t *testing.T) {
	dll := copyFixture(t, "payload.dll", filepath.Join(outsideDir(t), "handmapped.dll"))
	pid32, _ := winfix.Start(t, fixture(t, "mapimage.exe"), "mapped", dll)

	got := liveRows(t, liveJudge(t), int(pid32))
	assert.Equal(t, [2]string{"hidden_from_loader,outside_trusted_dirs,unsigned", "high"}, got[strings.ToLower(dll)], "%v", got)
}

// A folder whose DACL lets Everyone create files (set here with
// SetNamedSecurityInfoW, which Wine keeps and reads back): the DLL in it is
// user_writable; the same DLL in a folder with the default DACL is not.
// Wine enforces no ACLs (everything runs as one elevated user), so this
// proves the reading and the evaluation of real DACLs, not the access.
func TestLiveWindowsUserWritableFolder(t *testing.T) {
	open := outsideDir(t)
	everyone, err := windows.StringToSid(SIDEveryone)
	require.NoError(t, err)
	acl, err := windows.ACLFromEntries([]windows.EXPLICIT_ACCESS{{
		AccessPermissions: windows.GENERIC_ALL, AccessMode: windows.GRANT_ACCESS,
		Inheritance: windows.SUB_CONTAINERS_AND_OBJECTS_INHERIT,
		Trustee: windows.TRUSTEE{TrusteeForm: windows.TRUSTEE_IS_SID, TrusteeType: windows.TRUSTEE_IS_WELL_KNOWN_GROUP,
			TrusteeValue: windows.TrusteeValueFromSID(everyone)},
	}}, nil)
	require.NoError(t, err)
	require.NoError(t, windows.SetNamedSecurityInfo(open, windows.SE_FILE_OBJECT, windows.DACL_SECURITY_INFORMATION, nil, nil, acl, nil))
	d, err := readDACL(open)
	require.NoError(t, err)
	require.True(t, d.GrantsWrite(LowPrivilegeSIDs), "Wine reads back the DACL set: %+v", d)

	writable := copyFixture(t, "payload.dll", filepath.Join(open, "plugin.dll"))
	closed := copyFixture(t, "payload.dll", filepath.Join(outsideDir(t), "plugin.dll"))
	pid32, _ := winfix.Start(t, fixture(t, "loadmany.exe"), "loaded", writable+"|"+closed)
	got := liveRows(t, liveJudge(t), int(pid32))
	assert.Equal(t, [2]string{"outside_trusted_dirs,unsigned,user_writable", "medium"}, got[strings.ToLower(writable)], "%v", got)
	assert.Equal(t, [2]string{"outside_trusted_dirs,unsigned", "medium"}, got[strings.ToLower(closed)], "%v", got)
}

// liveHashes judges pid with j and returns its rows' sha256 and
// sha256_skipped by lower-cased path.
func liveHashes(t *testing.T, j *Judge, pid int) map[string][2]string {
	t.Helper()
	tbl := j.Table()
	rows, err := tbl.Generate(context.Background(), table.PIDQuery([]int{pid}))
	require.NoError(t, err)
	got := map[string][2]string{}
	for _, r := range rows {
		got[strings.ToLower(r[tbl.ColumnIndex("path")])] = [2]string{r[tbl.ColumnIndex("sha256")], r[tbl.ColumnIndex("sha256_skipped")]}
	}
	return got
}

func fileSHA256(t *testing.T, path string) string {
	t.Helper()
	data, err := os.ReadFile(path)
	require.NoError(t, err)
	sum := sha256.Sum256(data)
	return hex.EncodeToString(sum[:])
}

// An untrusted DLL a live process loaded is hashed: the file the hashing
// pass opens has the volume serial number and file id the judgement
// stated, so it is the judged one.
func TestLiveWindowsHashesUntrustedDLL(t *testing.T) {
	dll := copyFixture(t, "payload.dll", filepath.Join(outsideDir(t), "hashed.dll"))
	pid32, _ := winfix.Start(t, fixture(t, "loadmany.exe"), "loaded", dll)

	got := liveHashes(t, liveJudge(t), int(pid32))
	require.Contains(t, got, strings.ToLower(dll))
	assert.Equal(t, [2]string{fileSHA256(t, fixture(t, "payload.dll")), ""}, got[strings.ToLower(dll)])
}

// A DLL renamed away after it was judged, another file put at its path:
// the hashing pass opens the path, finds another file id and hashes
// nothing (sha256_skipped=unreadable), rather than the sum of bytes no
// process mapped. Windows and Wine both let a loaded DLL be renamed, not
// deleted. The live inventory's OpenModule refuses the new file itself
// (the walk gave the module its file id); isFile is the check for every
// source, unit-tested in TestIsFileComparesVolumeAndFileID.
func TestLiveWindowsReplacedDLLIsNotHashed(t *testing.T) {
	dll := copyFixture(t, "payload.dll", filepath.Join(outsideDir(t), "replaced.dll"))
	pid32, _ := winfix.Start(t, fixture(t, "loadmany.exe"), "loaded", dll)

	var replaced bool
	j, err := NewJudge(Config{
		Inventory: inventory.New(inventory.Config{ModulesOnly: true}), ShareWindow: -1,
		onHash: func(_ int, path string) {
			if !strings.EqualFold(path, dll) || replaced {
				return
			}
			replaced = true
			if assert.NoError(t, os.Rename(dll, dll+".old")) {
				assert.NoError(t, os.WriteFile(dll, []byte("not the mapped DLL"), 0o644))
			}
		},
	})
	require.NoError(t, err)
	got := liveHashes(t, j, int(pid32))
	require.True(t, replaced, "the DLL was hashed: %v", got)
	assert.Equal(t, [2]string{"", "unreadable"}, got[strings.ToLower(dll)])
}
