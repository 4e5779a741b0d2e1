package imagefacts

import (
	"errors"
	"os"
	"path/filepath"
	"runtime"
	"testing"

	"github.com/modhunt/modhunt/tables/inventory"
	"github.com/modhunt/modhunt/tables/inventory/fakeinv"
)

// counting is a fake inventory that counts the files it opens.
type counting struct {
	*fakeinv.Inventory
	opens int
}

func (c *counting) OpenModule(pid int, m *inventory.Module) (*os.File, error) {
	c.opens++
	return c.Inventory.OpenModule(pid, m)
}

// host is a Windows-shaped fake whose module C:\x\lib.dll is backed by the
// file at backing.
func host(backing string) (*counting, *inventory.Module) {
	inv := fakeinv.Windows("")
	inv.Backing = map[string]string{`C:\x\lib.dll`: backing}
	return &counting{Inventory: inv}, &inventory.Module{Path: `C:\x\lib.dll`, Name: "lib.dll"}
}

func copyTo(t *testing.T, from string) string {
	t.Helper()
	b, err := os.ReadFile(from)
	if err != nil {
		t.Fatal(err)
	}
	p := filepath.Join(t.TempDir(), "lib.dll")
	if err := os.WriteFile(p, b, 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

// TestReadPEVersionAndImphash reads versioned.dll, built by make
// wine-fixtures from test/wine/fixtures/versioned.{c,rc} and committed so
// that every OS runs this.
func TestReadPEVersionAndImphash(t *testing.T) {
	src, m := host(copyTo(t, "testdata/versioned.dll"))
	pe, err := ReadPE(src, 1, m)
	if err != nil {
		t.Fatal(err)
	}
	want := PE{
		OriginalFileName: "vendorlib.dll", Company: "Modhunt Test Vendor", Product: "Modhunt Fixtures",
		Description: "modhunt versioned fixture", FileVersion: "4.3.2.1 (fixture.251202)", IsPE: true,
		Imphash: pe.Imphash,
	}
	if pe != want {
		t.Errorf("ReadPE = %+v\nwant %+v", pe, want)
	}
	if len(pe.Imphash) != 32 {
		t.Errorf("imphash %q", pe.Imphash)
	}
	// Cached per identity: a second read opens nothing.
	opens := src.opens
	if again, err := ReadPE(src, 1, m); err != nil || again != pe || src.opens != opens {
		t.Errorf("second read: %+v, %v, %d more opens", again, err, src.opens-opens)
	}
}

// TestReadPEImphashIsPefiles pins the imphash to pefile's for the DLL
// internal/pefacts pins it for, through the file-facts layer.
func TestReadPEImphashIsPefiles(t *testing.T) {
	src, m := host(copyTo(t, "../../internal/pefacts/testdata/imports.dll"))
	pe, err := ReadPE(src, 1, m)
	if err != nil {
		t.Fatal(err)
	}
	if pe.Imphash != "3633ea565372308f2e4d7a523c676aa4" || !pe.IsPE || pe.IsDotNet {
		t.Errorf("ReadPE(imports.dll) = %+v, want pefile's imphash 3633ea565372308f2e4d7a523c676aa4", pe)
	}
	src, m = host(copyTo(t, "../../internal/pefacts/testdata/assembly.dll"))
	if pe, err := ReadPE(src, 1, m); err != nil || !pe.IsDotNet {
		t.Errorf("ReadPE(assembly.dll) = %+v, %v; want a .NET assembly", pe, err)
	}
}

func TestReadPEOfFilesThatAreNotPEs(t *testing.T) {
	dir := t.TempDir()
	for name, content := range map[string][]byte{
		"text":     []byte("not a PE at all"),
		"empty":    nil,
		"bare MZ":  append([]byte("MZ"), make([]byte, 62)...),
		"bad PE":   append(append([]byte("MZ"), make([]byte, 58)...), 0x40, 0, 0, 0, 'P', 'E', 0, 0, 0xff, 0xff),
		"huge hdr": append(append([]byte("MZ"), make([]byte, 58)...), 0xff, 0xff, 0xff, 0x7f),
	} {
		p := filepath.Join(dir, "f")
		if err := os.WriteFile(p, content, 0o600); err != nil {
			t.Fatal(err)
		}
		src, m := host(p)
		pe, err := ReadPE(src, 1, m)
		if err != nil || pe != (PE{}) {
			t.Errorf("%s: ReadPE = %+v, %v; want no facts and no error", name, pe, err)
		}
	}
}

func TestReadPEOfAChangedFileIsNew(t *testing.T) {
	p := copyTo(t, "testdata/versioned.dll")
	src, m := host(p)
	first, err := ReadPE(src, 1, m)
	if err != nil || first.OriginalFileName == "" {
		t.Fatalf("%+v, %v", first, err)
	}
	b, _ := os.ReadFile("../../internal/pefacts/testdata/imports.dll")
	if err := os.WriteFile(p, b, 0o600); err != nil {
		t.Fatal(err)
	}
	second, err := ReadPE(src, 1, m)
	if err != nil || second.OriginalFileName != "comsvcs.dll" || second.Imphash != "3633ea565372308f2e4d7a523c676aa4" {
		t.Errorf("after the file was rewritten: %+v, %v; the old facts were served", second, err)
	}
}

func TestReadFactsOfModulesWithoutAFile(t *testing.T) {
	src, _ := host("testdata/versioned.dll")
	for _, m := range []*inventory.Module{
		{Path: `C:\gone.dll`},
		{Path: "[anon]"},
		{Path: `C:\x\lib.dll`, PathTruncated: true},
	} {
		if pe, err := ReadPE(src, 1, m); err == nil {
			t.Errorf("ReadPE(%+v) = %+v without an error", *m, pe)
		}
	}
}

func TestReadSignatureOffWindows(t *testing.T) {
	if runtime.GOOS == "windows" {
		t.Skip("Windows verifies: see the live tests")
	}
	src, m := host(copyTo(t, "testdata/versioned.dll"))
	if _, err := ReadSignature(src, 1, m); !errors.Is(err, ErrUnsupported) {
		t.Errorf("ReadSignature: %v, want ErrUnsupported", err)
	}
}
