package pefacts

import (
	"crypto/md5"
	"encoding/hex"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// Native DLLs are built by mingw-w64 in the test: small (-nostdlib),
// importing by name and by ordinal from import libraries made from .def
// files, with version resources compiled by windres.

const importsC = `__declspec(dllimport) unsigned long __stdcall GetTickCount(void);
__declspec(dllimport) int accept(unsigned long long, void*, int*);
__declspec(dllimport) int mystery(void);
__declspec(dllimport) void* SysAllocString(const unsigned short*);
__declspec(dllimport) int dotted_by_name(void);
__declspec(dllimport) int dotted_by_ordinal(void);
__declspec(dllexport) int Probe(void) {
  return accept(0, 0, 0) + mystery() + (int)(long long)SysAllocString(0) +
         dotted_by_name() + dotted_by_ordinal() + (int)GetTickCount();
}
int __stdcall DllMain(void *h, unsigned long r, void *p) { return 1; }
`

const plainC = `__declspec(dllimport) unsigned long __stdcall GetTickCount(void);
__declspec(dllexport) int Probe(void) { return (int)GetTickCount(); }
int __stdcall DllMain(void *h, unsigned long r, void *p) { return 1; }
`

// importDefs are the import libraries: ordinals of ws2_32 and oleaut32
// that pefile's tables name (accept=1, SysAllocString=2) and one they do
// not (777), and a DLL whose name has more than one dot.
var importDefs = map[string]string{
	"ws2":  "LIBRARY ws2_32.dll\nEXPORTS\naccept @1 NONAME\nmystery @777 NONAME\n",
	"ole":  "LIBRARY oleaut32.dll\nEXPORTS\nSysAllocString @2 NONAME\n",
	"dots": "LIBRARY lib.dot.name.dll\nEXPORTS\ndotted_by_name\ndotted_by_ordinal @5 NONAME\n",
}

// importsWant is the "dll.func" list pefile's algorithm makes of the
// imports DLL, in import-descriptor order as the linker emits it.
const importsWant = "kernel32.gettickcount,lib.dot.name.dotted_by_name,lib.dot.name.ord5,oleaut32.sysallocstring,ws2_32.accept,ws2_32.ord777"

// verTable is one StringTable of a generated version resource.
type verTable struct {
	key    string
	values map[string]string
}

type verCase struct {
	name         string
	tables       []verTable
	translations [][2]uint16 // VarFileInfo\Translation, in order; nil for no VarFileInfo
	wantTable    string      // the table Windows' readers pick
}

var verCases = []verCase{
	{
		name: "translation-picks-second-table",
		tables: []verTable{
			{"040704b0", map[string]string{"CompanyName": "Firma", "OriginalFileName": "deutsch.dll", "FileVersion": "9.9"}},
			{"040904b0", map[string]string{"CompanyName": "Company", "OriginalFileName": "comsvcs.dll", "FileVersion": "1.2.3.4 (build)", "ProductName": "Product", "FileDescription": "Does things", "ProductVersion": "1.2"}},
		},
		translations: [][2]uint16{{0x409, 1200}, {0x407, 1200}},
		wantTable:    "040904b0",
	},
	{
		name: "absent-translation-falls-back-to-040904e4",
		tables: []verTable{
			{"041d04b0", map[string]string{"CompanyName": "Foretag", "OriginalFileName": "svenska.dll"}},
			{"040904e4", map[string]string{"CompanyName": "Company", "OriginalFileName": "english.dll"}},
		},
		translations: [][2]uint16{{0x0c0c, 1200}},
		wantTable:    "040904e4",
	},
	{
		name: "no-varfileinfo-prefers-040904e4-over-first",
		tables: []verTable{
			{"040904b0", map[string]string{"OriginalFileName": "unicode.dll"}},
			{"040904e4", map[string]string{"OriginalFileName": "ansi.dll"}},
		},
		wantTable: "040904e4",
	},
	{
		name: "nothing-matches-uses-first-table",
		tables: []verTable{
			{"041d04b0", map[string]string{"CompanyName": "Foretag", "OriginalFileName": "svenska.dll"}},
			{"040704b0", map[string]string{"CompanyName": "Firma", "OriginalFileName": "deutsch.dll"}},
		},
		translations: [][2]uint16{{0x0c0c, 1200}},
		wantTable:    "041d04b0",
	},
}

func (c verCase) rc() string {
	var b strings.Builder
	b.WriteString("1 VERSIONINFO\nFILEVERSION 1,2,3,4\nPRODUCTVERSION 1,2,0,0\nBEGIN\n  BLOCK \"StringFileInfo\"\n  BEGIN\n")
	for _, t := range c.tables {
		fmt.Fprintf(&b, "    BLOCK %q\n    BEGIN\n", t.key)
		for _, k := range []string{"CompanyName", "FileDescription", "FileVersion", "OriginalFileName", "ProductName", "ProductVersion"} {
			if v, ok := t.values[k]; ok {
				fmt.Fprintf(&b, "      VALUE %q, %q\n", k, v)
			}
		}
		b.WriteString("    END\n")
	}
	b.WriteString("  END\n")
	if c.translations != nil {
		b.WriteString("  BLOCK \"VarFileInfo\"\n  BEGIN\n    VALUE \"Translation\"")
		for _, tr := range c.translations {
			fmt.Fprintf(&b, ", 0x%x, %d", tr[0], tr[1])
		}
		b.WriteString("\n  END\n")
	}
	b.WriteString("END\n")
	return b.String()
}

func mingwGCC(t testing.TB) string {
	t.Helper()
	tool(t, "x86_64-w64-mingw32-windres", "binutils-mingw-w64-x86-64")
	tool(t, "x86_64-w64-mingw32-dlltool", "binutils-mingw-w64-x86-64")
	return tool(t, "x86_64-w64-mingw32-gcc", "gcc-mingw-w64-x86-64")
}

// mingwDLL builds (once per run) the DLL kind names: "plain" (imports
// only kernel32, no resources), "imports" (the importDefs ordinals and
// dotted name, with verCases[0]'s resource) or "ver-<verCase name>".
func mingwDLL(t testing.TB, kind string) string {
	t.Helper()
	gcc := mingwGCC(t)
	return buildOnce(t, "mingw-"+kind, func(dir string) (string, error) {
		src, libs, rc := plainC, []string{}, ""
		switch {
		case kind == "plain":
		case kind == "imports":
			src, rc = importsC, verCases[0].rc()
			for name, def := range importDefs {
				if err := os.WriteFile(filepath.Join(dir, name+".def"), []byte(def), 0o644); err != nil {
					return "", err
				}
				if err := command(dir, "x86_64-w64-mingw32-dlltool", "-d", name+".def", "-l", "lib"+name+".a"); err != nil {
					return "", err
				}
				libs = append(libs, "lib"+name+".a")
			}
		case strings.HasPrefix(kind, "ver-"):
			for _, c := range verCases {
				if "ver-"+c.name == kind {
					rc = c.rc()
				}
			}
			if rc == "" {
				return "", fmt.Errorf("no version case %s", kind)
			}
		default:
			return "", fmt.Errorf("unknown DLL kind %s", kind)
		}
		if err := os.WriteFile(filepath.Join(dir, "dll.c"), []byte(src), 0o644); err != nil {
			return "", err
		}
		args := []string{"-shared", "-nostdlib", "-Os", "-s", "-o", kind + ".dll", "dll.c", "-Wl,-e,DllMain"}
		if rc != "" {
			if err := os.WriteFile(filepath.Join(dir, "ver.rc"), []byte(rc), 0o644); err != nil {
				return "", err
			}
			if err := command(dir, "x86_64-w64-mingw32-windres", "ver.rc", "-O", "coff", "-o", "ver.o"); err != nil {
				return "", err
			}
			args = append(args, "ver.o")
		}
		args = append(append(args, libs...), "-lkernel32")
		return filepath.Join(dir, kind+".dll"), command(dir, gcc, args...)
	})
}

// pefilePython returns a Python interpreter that has pefile (Debian's
// python3-pefile), or skips.
func pefilePython(t testing.TB) string {
	t.Helper()
	for _, py := range []string{"/usr/bin/python3", "python3"} {
		if exec.Command(py, "-c", "import pefile").Run() == nil {
			return py
		}
	}
	t.Skip("no python3 with pefile (Debian package python3-pefile; .ci/run installs it)")
	return ""
}

// pefileImphash asks pefile for each file's imphash.
func pefileImphash(t testing.TB, paths ...string) map[string]string {
	t.Helper()
	py := pefilePython(t)
	out := run(t, "", py, append([]string{"-c", `import sys, pefile
for p in sys.argv[1:]:
    print(p + "\t" + pefile.PE(p).get_imphash())`}, paths...)...)
	got := map[string]string{}
	for _, line := range strings.Split(strings.TrimSpace(out), "\n") {
		p, h, _ := strings.Cut(line, "\t")
		got[p] = h
	}
	return got
}

// importString is the text imphash hashes, for assertions on its parts.
func importString(t testing.TB, p string) string {
	t.Helper()
	img, err := openImage(newBytesSource(readFile(t, p), Limits{}), 0, LayoutFile)
	if err != nil {
		t.Fatal(err)
	}
	s, err := img.importString()
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func TestImphashMatchesPefile(t *testing.T) {
	files := map[string]string{
		"ordinals-and-dotted-name": mingwDLL(t, "imports"),
		"kernel32-only":            mingwDLL(t, "plain"),
	}
	if _, err := exec.LookPath("mcs"); err == nil {
		files["assembly-pe32"] = monoAssemblies(t)["signed"].path
	}
	if _, err := os.Stat(gacSystemXML); err == nil {
		files["gac-system-xml"] = gacSystemXML
	}
	var paths []string
	for _, p := range files {
		paths = append(paths, p)
	}
	want := pefileImphash(t, paths...)
	for name, p := range files {
		t.Run(name, func(t *testing.T) {
			f := parseFile(t, p)
			if f.ImportsErr != nil {
				t.Fatal(f.ImportsErr)
			}
			if f.Imphash == "" || f.Imphash != want[p] {
				t.Errorf("imphash %q, pefile %q", f.Imphash, want[p])
			}
		})
	}
	t.Run("import-string", func(t *testing.T) {
		// The parts pefile's rules decide: ordinals named from its tables,
		// "ordN" otherwise, only the last extension dropped.
		if got := importString(t, files["ordinals-and-dotted-name"]); got != importsWant {
			t.Errorf("import string\n got %s\nwant %s", got, importsWant)
		}
	})
}

// TestImphashKnownValue pins the imphash of a committed DLL (the "imports"
// build) to the value pefile 2023.2.7 computes for it, so the algorithm is
// checked even where neither mingw nor pefile is installed.
func TestImphashKnownValue(t *testing.T) {
	const p = "testdata/imports.dll"
	const pefile = "3633ea565372308f2e4d7a523c676aa4" // pefile.PE("testdata/imports.dll").get_imphash()
	f := parseFile(t, p)
	if f.Imphash != pefile {
		t.Errorf("imphash %s, pefile says %s", f.Imphash, pefile)
	}
	sum := md5.Sum([]byte(importsWant))
	if f.Imphash != hex.EncodeToString(sum[:]) {
		t.Errorf("imphash %s is not md5(%q)", f.Imphash, importsWant)
	}
}

func TestVersionResource(t *testing.T) {
	for _, c := range verCases {
		t.Run(c.name, func(t *testing.T) {
			p := mingwDLL(t, "ver-"+c.name)
			f := parseFile(t, p)
			if f.VersionErr != nil {
				t.Fatal(f.VersionErr)
			}
			var want map[string]string
			for _, tb := range c.tables {
				if tb.key == c.wantTable {
					want = tb.values
				}
			}
			v := f.Version
			got := map[string]string{"OriginalFileName": v.OriginalFileName, "CompanyName": v.CompanyName, "ProductName": v.ProductName,
				"FileDescription": v.FileDescription, "FileVersion": v.FileVersion, "ProductVersion": v.ProductVersion}
			for k, g := range got {
				if g != want[k] {
					t.Errorf("%s = %q, want %q (table %s)", k, g, want[k], c.wantTable)
				}
			}
			if v.Translation != c.wantTable || v.FixedFileVersion != "1.2.3.4" {
				t.Errorf("translation %q fixed %q, want %q 1.2.3.4", v.Translation, v.FixedFileVersion, c.wantTable)
			}
		})
	}
	t.Run("no-resource", func(t *testing.T) {
		f := parseFile(t, mingwDLL(t, "plain"))
		if f.VersionErr != nil || f.Version != (VersionInfo{}) {
			t.Errorf("version %+v err %v", f.Version, f.VersionErr)
		}
	})
}

// TestVersionStringsMatchPefile checks the strings of the table we pick
// against pefile's decoding of the same table.
func TestVersionStringsMatchPefile(t *testing.T) {
	py := pefilePython(t)
	for _, c := range verCases {
		t.Run(c.name, func(t *testing.T) {
			p := mingwDLL(t, "ver-"+c.name)
			f := parseFile(t, p)
			out := run(t, "", py, "-c", `import sys, pefile
pe = pefile.PE(sys.argv[1])
for fi in pe.FileInfo:
    for x in fi:
        for st in getattr(x, "StringTable", []):
            if st.LangID.decode().lower() == sys.argv[2]:
                for k, v in st.entries.items():
                    print(k.decode() + "\t" + v.decode())`, p, f.Version.Translation)
			v := f.Version
			ours := map[string]string{"OriginalFileName": v.OriginalFileName, "CompanyName": v.CompanyName, "ProductName": v.ProductName,
				"FileDescription": v.FileDescription, "FileVersion": v.FileVersion, "ProductVersion": v.ProductVersion}
			n := 0
			for _, line := range strings.Split(strings.TrimSpace(out), "\n") {
				k, val, _ := strings.Cut(line, "\t")
				if g, ok := ours[k]; ok {
					n++
					if g != val {
						t.Errorf("%s: ours %q, pefile %q", k, g, val)
					}
				}
			}
			if n == 0 {
				// pefile 2023.2.7 stops before the last StringTable when no
				// VarFileInfo follows the StringFileInfo.
				t.Skipf("pefile decodes no table %s in this resource", f.Version.Translation)
			}
		})
	}
}
