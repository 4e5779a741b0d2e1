package loadedmodules

import (
	"context"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"

	"golang.org/x/sys/windows"

	"github.com/modhunt/modhunt/internal/pefacts"
	"github.com/modhunt/modhunt/tables/deps"
	"github.com/modhunt/modhunt/tables/inventory"
	"github.com/modhunt/modhunt/tables/table"
	"github.com/modhunt/modhunt/test/wine/winfix"
)

// These tests start mingw-built fixture programs (test/wine/fixtures) and
// query process_loaded_modules about them, through the table as a host
// serves it. They run for real under Wine (make test-windows).

// underWine: Wine's ntdll exports wine_get_version; Windows' does not.
func underWine() bool {
	return windows.NewLazySystemDLL("ntdll.dll").NewProc("wine_get_version").Find() == nil
}

func dropDLL(t *testing.T, fixture, name string) string {
	t.Helper()
	dll := filepath.Join(t.TempDir(), name)
	winfix.CopyFile(t, filepath.Join(winfix.Dir(t), fixture), dll)
	return dll
}

// liveRows queries the table for pid with a counting inventory and returns
// the rows by lower-case path, and the pids the inventory read.
func liveRows(t *testing.T, pid int, used ...string) (map[string]map[string]string, []int) {
	t.Helper()
	var mu sync.Mutex
	var read []int
	inv := inventory.New(inventory.Config{OnProcess: func(p int) {
		mu.Lock()
		read = append(read, p)
		mu.Unlock()
	}})
	tbl := mustNew(deps.Deps{Inventory: inv})
	q := table.Query{Constraints: map[string][]table.Constraint{"pid": {{Op: table.OpEquals, Expr: strconv.Itoa(pid)}}}}
	if len(used) > 0 {
		q.Used = table.UsedColumns(used...)
	}
	rows, err := tbl.Generate(context.Background(), q)
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]map[string]string{}
	for _, r := range rows {
		cells := map[string]string{}
		for i, c := range tbl.Columns {
			cells[c.Name] = r[i]
		}
		out[strings.ToLower(cells["path"])] = cells
	}
	return out, read
}

func TestLiveDLLFromTempWithPEFacts(t *testing.T) {
	dll := dropDLL(t, "versioned.dll", "modhunt_table_versioned.dll")
	pid, addrs := winfix.Start(t, filepath.Join(winfix.Dir(t), "loadlib.exe"), "loaded", dll)
	rows, read := liveRows(t, int(pid))
	if len(read) != 1 || read[0] != int(pid) {
		t.Errorf("pid = %d read pids %v", pid, read)
	}
	r := rows[strings.ToLower(dll)]
	if r == nil {
		t.Fatalf("no row for %s in pid %d; rows: %v", dll, pid, keys(rows))
	}
	// The imphash the table gives is pefacts' (checked against pefile in
	// internal/pefacts) of the very file.
	f, err := os.Open(dll)
	if err != nil {
		t.Fatal(err)
	}
	st, _ := f.Stat()
	pe, err := pefacts.Parse(f, st.Size(), pefacts.LayoutFile, pefacts.Limits{})
	_ = f.Close()
	if err != nil || pe.Imphash == "" {
		t.Fatalf("pefacts of %s: %v", dll, err)
	}
	want := map[string]string{
		"pid": strconv.Itoa(int(pid)), "name": filepath.Base(dll), "base_address": "0x" + strconv.FormatUint(addrs[0], 16),
		"in_loader_list": "1", "executable": "1", "file_type": "pe", "process_name": "loadlib.exe",
		"original_file_name": "vendorlib.dll", "company": "Modhunt Test Vendor", "product": "Modhunt Fixtures",
		"description": "modhunt versioned fixture", "file_version": "4.3.2.1 (fixture.251202)",
		"imphash": pe.Imphash, "is_dotnet": "0",
		// Unsigned: no embedded signature, no catalog lists it (Wine has
		// no catalogs; on Windows none lists a test DLL either).
		"signed": "0", "signature_status": "Unavailable", "signer": "",
		"parent": strconv.Itoa(os.Getpid()), "uid": "",
	}
	for col, w := range want {
		if r[col] != w {
			t.Errorf("%s = %q, want %q", col, r[col], w)
		}
	}
	if !strings.Contains(r["cmdline"], dll) || !strings.Contains(r["user"], `\`) || r["integrity_level"] == "" || r["session_id"] == "" {
		t.Errorf("process context: cmdline %q user %q integrity %q session %q", r["cmdline"], r["user"], r["integrity_level"], r["session_id"])
	}
	// The system DLLs are there too, from the loader list.
	if k := rows[strings.ToLower(`C:\windows\system32\kernel32.dll`)]; k == nil || k["in_loader_list"] != "1" || k["file_type"] != "pe" {
		t.Errorf("kernel32.dll row: %v", k)
	}
}

func TestLiveHiddenModulesAreOutsideTheLoaderList(t *testing.T) {
	for _, c := range []struct{ program, word string }{{"mapimage.exe", "mapped"}, {"unlink.exe", "unlinked"}} {
		t.Run(c.program, func(t *testing.T) {
			dll := dropDLL(t, "versioned.dll", "modhunt_table_hidden.dll")
			pid, addrs := winfix.Start(t, filepath.Join(winfix.Dir(t), c.program), c.word, dll)
			rows, _ := liveRows(t, int(pid), "pid", "path", "base_address", "in_loader_list", "original_file_name")
			r := rows[strings.ToLower(dll)]
			if r == nil {
				t.Fatalf("no row for %s in pid %d; rows: %v", dll, pid, keys(rows))
			}
			if r["in_loader_list"] != "0" || r["base_address"] != "0x"+strconv.FormatUint(addrs[0], 16) || r["original_file_name"] != "vendorlib.dll" {
				t.Errorf("%s: %v, want in_loader_list 0 at %#x with its PE facts", c.program, r, addrs[0])
			}
		})
	}
}

// TestLiveSignatureColumns: payload.dll signed by osslsigncode with a
// self-signed certificate, and with one valid only in 2020 (wine.mk).
// Windows answers Untrusted (CERT_E_UNTRUSTEDROOT) and Expired
// (CERT_E_EXPIRED); Wine 8's WinVerifyTrust checks the digest only and
// answers Valid for both, so under Wine this asserts Wine's answer. The
// HRESULT-to-word mapping is unit-tested on every OS (internal/winproc).
func TestLiveSignatureColumns(t *testing.T) {
	for _, c := range []struct{ fixture, windows, signer string }{
		{"payload_signed.dll", "Untrusted", "modhunt test signer"},
		{"payload_expired.dll", "Expired", "modhunt expired signer"},
	} {
		t.Run(c.fixture, func(t *testing.T) {
			dll := dropDLL(t, c.fixture, "modhunt_table_"+c.fixture)
			pid, _ := winfix.Start(t, filepath.Join(winfix.Dir(t), "loadlib.exe"), "loaded", dll)
			rows, _ := liveRows(t, int(pid), "pid", "path", "signed", "signature_status", "signer")
			r := rows[strings.ToLower(dll)]
			if r == nil {
				t.Fatalf("no row for %s; rows: %v", dll, keys(rows))
			}
			want := c.windows
			if underWine() {
				want = "Valid"
			}
			if r["signed"] != "1" || r["signature_status"] != want || r["signer"] != c.signer {
				t.Errorf("%s: signed %q status %q signer %q, want 1 %s %s", c.fixture, r["signed"], r["signature_status"], r["signer"], want, c.signer)
			}
			if r["original_file_name"] != "" {
				t.Errorf("an unused column was filled: %q", r["original_file_name"])
			}
		})
	}
}

func keys(m map[string]map[string]string) []string {
	var out []string
	for k := range m {
		out = append(out, k)
	}
	return out
}
