package pefacts

import (
	"bytes"
	"crypto/sha1"
	"encoding/hex"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/modhunt/modhunt/internal/pefacts/clitest"
)

// The assemblies these tests read are compiled by Mono's C# compiler in
// the test, and Mono's own reflection (an independent metadata reader) is
// the oracle for every identity: AssemblyName.GetAssemblyName for name,
// version, culture and token, Module.ModuleVersionId and ScopeName for the
// MVID and module name.

const identCS = `using System;
using System.IO;
using System.Reflection;
class Ident {
  static int Main(string[] args) {
    int rc = 0;
    foreach (var p in args) {
      try {
        var an = AssemblyName.GetAssemblyName(p);
        var m = Assembly.ReflectionOnlyLoad(File.ReadAllBytes(p)).ManifestModule;
        Console.WriteLine("{0}\t{1}\t{2}\t{3}", p, an.FullName, m.ModuleVersionId, m.ScopeName);
      } catch (Exception e) {
        Console.WriteLine("{0}\tERROR\t{1}", p, e.GetType().Name + ": " + e.Message.Replace('\n', ' '));
        rc = 1;
      }
    }
    return rc;
  }
}
`

func mcs(t testing.TB) string {
	t.Helper()
	tool(t, "mono", "mono-runtime")
	return tool(t, "mcs", "mono-mcs")
}

type monoIdent struct{ fullName, mvid, module string }

// monoIdentities asks Mono's reflection for the identity of each file.
func monoIdentities(t testing.TB, paths ...string) map[string]monoIdent {
	t.Helper()
	mc := mcs(t)
	exe := buildOnce(t, "ident", func(dir string) (string, error) {
		if err := os.WriteFile(filepath.Join(dir, "ident.cs"), []byte(identCS), 0o644); err != nil {
			return "", err
		}
		return filepath.Join(dir, "ident.exe"), command(dir, mc, "-nologo", "-out:ident.exe", "ident.cs")
	})
	// In a scratch directory: a crashing Mono leaves a dump file behind.
	out := run(t, t.TempDir(), "mono", append([]string{exe}, paths...)...)
	got := map[string]monoIdent{}
	for _, line := range strings.Split(strings.TrimSpace(out), "\n") {
		f := strings.Split(line, "\t")
		if len(f) != 4 {
			t.Fatalf("mono ident: %q", line)
		}
		got[f[0]] = monoIdent{fullName: f[1], mvid: f[2], module: f[3]}
	}
	return got
}

// tokenOf computes a public key token the long way, independently of
// publicKeyToken.
func tokenOf(pub []byte) string {
	sum := sha1.Sum(pub)
	var rev []byte
	for i := len(sum) - 1; i >= len(sum)-8; i-- {
		rev = append(rev, sum[i])
	}
	return hex.EncodeToString(rev)
}

// kitchenSource uses a feature that fills each metadata table before
// Assembly (and most after it), and makes Field, MethodDef, #Strings and
// #Blob large enough that table indexes, coded indexes and heap indexes
// all become 4 bytes wide.
func kitchenSource() string {
	var b strings.Builder
	b.WriteString(`using System;
using System.Reflection;
using System.Runtime.InteropServices;
using System.Runtime.CompilerServices;
using System.Security.Permissions;
[assembly: AssemblyVersion("3.1.4.1")]
[assembly: Big("` + strings.Repeat("d", 70000) + `")]
[assembly: TypeForwardedTo(typeof(System.Uri))]
[AttributeUsage(AttributeTargets.All)] public class BigAttribute : Attribute { public BigAttribute(string s) {} }
public interface IThing { event EventHandler Changed; int Size { get; } void Do(); }
[StructLayout(LayoutKind.Explicit, Size = 16)] public struct Blk { [FieldOffset(0)] public int A; [FieldOffset(8)] public long B; }
public class Thing : IThing {
  public event EventHandler Changed;
  public int Size { get { return Changed == null ? 1 : 2; } }
  void IThing.Do() {}
  public const int K = 7;
  static readonly int[] Data = { 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16, 17, 18, 19, 20 };
  [DllImport("user32.dll")] static extern int MessageBoxW(IntPtr h, [MarshalAs(UnmanagedType.LPWStr)] string t, string c, int f);
  public T Id<T>(T x) where T : IComparable { return x; }
  public int Use() { var l = new System.Collections.Generic.List<int>(); l.Add(Data[0]); return Id<int>(l.Count); }
  [SecurityPermission(SecurityAction.Demand, Unrestricted = true)] public void Sec() {}
  public class Nested {}
}
public class Big {
`)
	for i := range 70000 {
		fmt.Fprintf(&b, "  public static int F%05d_long_enough_to_grow_the_strings_heap;\n", i)
	}
	for i := range 9000 {
		fmt.Fprintf(&b, "  public static void M%05d() {}\n", i)
	}
	b.WriteString("}\n")
	return b.String()
}

type builtAssembly struct {
	path    string
	name    string
	version string
	culture string
	token   string // expected from the key the test generated; "" unsigned
}

// monoAssemblies compiles the test assemblies once per run.
func monoAssemblies(t testing.TB) map[string]builtAssembly {
	t.Helper()
	mc := mcs(t)
	var out map[string]builtAssembly
	dir := buildOnce(t, "assemblies", func(dir string) (string, error) {
		pub, err := clitest.StrongNameKey(filepath.Join(dir, "key.snk"))
		if err != nil {
			return "", err
		}
		if err := os.WriteFile(filepath.Join(dir, "pub.bin"), pub, 0o644); err != nil {
			return "", err
		}
		ver := `using System.Reflection; [assembly: AssemblyVersion("%s")] %s public class C { public static int X() { return 1; } }`
		if _, err := clitest.CompileCS(mc, dir, "Signed.Lib.dll", fmt.Sprintf(ver, "1.2.3.4", ""), "-keyfile:key.snk"); err != nil {
			return "", err
		}
		if _, err := clitest.CompileCS(mc, dir, "Plain.dll", fmt.Sprintf(ver, "2.0.0.0", "")); err != nil {
			return "", err
		}
		if _, err := clitest.CompileCS(mc, dir, "Localized.resources.dll", fmt.Sprintf(ver, "1.0.0.0", `[assembly: AssemblyCulture("de-DE")]`), "-keyfile:key.snk"); err != nil {
			return "", err
		}
		if err := os.WriteFile(filepath.Join(dir, "res.txt"), []byte("a manifest resource"), 0o644); err != nil {
			return "", err
		}
		if _, err := clitest.CompileCS(mc, dir, "Kitchen.dll", kitchenSource(), "-unsafe", "-resource:res.txt"); err != nil {
			return "", err
		}
		// The same bytes under a name that says nothing: identity must come
		// from the metadata.
		signed, err := os.ReadFile(filepath.Join(dir, "Signed.Lib.dll"))
		if err != nil {
			return "", err
		}
		return dir, os.WriteFile(filepath.Join(dir, "notes.txt"), signed, 0o644)
	})
	pub := readFile(t, filepath.Join(dir, "pub.bin"))
	tok := tokenOf(pub)
	out = map[string]builtAssembly{
		"signed":   {filepath.Join(dir, "Signed.Lib.dll"), "Signed.Lib", "1.2.3.4", "", tok},
		"unsigned": {filepath.Join(dir, "Plain.dll"), "Plain", "2.0.0.0", "", ""},
		"culture":  {filepath.Join(dir, "Localized.resources.dll"), "Localized.resources", "1.0.0.0", "de-DE", tok},
		"renamed":  {filepath.Join(dir, "notes.txt"), "Signed.Lib", "1.2.3.4", "", tok},
		"wide-idx": {filepath.Join(dir, "Kitchen.dll"), "Kitchen", "3.1.4.1", "", ""},
	}
	return out
}

const gacSystemXML = "/usr/lib/mono/gac/System.Xml/4.0.0.0__b77a5c561934e089/System.Xml.dll"

func TestAssemblyIdentity(t *testing.T) {
	cases := monoAssemblies(t)
	if _, err := os.Stat(gacSystemXML); err == nil {
		// The ECMA key's token, published by Microsoft; Mono signs its
		// framework with the same key.
		cases["gac-system-xml"] = builtAssembly{gacSystemXML, "System.Xml", "4.0.0.0", "", "b77a5c561934e089"}
	}
	var paths []string
	for _, c := range cases {
		paths = append(paths, c.path)
	}
	mono := monoIdentities(t, paths...)
	for name, c := range cases {
		t.Run(name, func(t *testing.T) {
			want := mono[c.path]
			f := parseFile(t, c.path)
			if !f.IsDotNet || f.AssemblyErr != nil || f.Assembly == nil {
				t.Fatalf("IsDotNet=%v Assembly=%v err=%v", f.IsDotNet, f.Assembly, f.AssemblyErr)
			}
			a := f.Assembly
			if a.Name != c.name || a.Version != c.version || a.Culture != c.culture || a.PublicKeyToken != c.token {
				t.Errorf("got %s, %s, %q, %q; want %s, %s, %q, %q", a.Name, a.Version, a.Culture, a.PublicKeyToken, c.name, c.version, c.culture, c.token)
			}
			if a.FullName() != want.fullName || a.MVID != want.mvid || a.ModuleName != want.module {
				t.Errorf("got %q %s %q; Mono says %q %s %q", a.FullName(), a.MVID, a.ModuleName, want.fullName, want.mvid, want.module)
			}
			// The same identity from the image layout the loader builds.
			img := mapImage(t, readFile(t, c.path))
			b, err := ReadAssembly(bytes.NewReader(img), int64(len(img)), LayoutImage, Limits{})
			if err != nil {
				t.Fatalf("image layout: %v", err)
			}
			if b.FullName() != a.FullName() || b.MVID != a.MVID || b.ModuleName != a.ModuleName {
				t.Errorf("image layout: %s %s %s, file layout: %s %s %s", b.FullName(), b.MVID, b.ModuleName, a.FullName(), a.MVID, a.ModuleName)
			}
		})
	}
}

// TestAssemblyIdentityRewrittenTables re-encodes real metadata in the
// forms compilers rarely emit: every heap index 4 bytes wide, the
// uncompressed #- stream with edit-and-continue pointer and log tables,
// the HeapSizes extra-data word, and a #JTD stream (all indexes wide).
// (Mono 6.8, unlike the CLR, dnlib and newer Mono, gives EncLog and EncMap
// rows no size, so it misreads metadata that has them.)
// Where Mono can read the result, Mono is the oracle; otherwise the
// identity must equal the original's, which Mono confirmed.
func TestAssemblyIdentityRewrittenTables(t *testing.T) {
	cases := monoAssemblies(t)
	variants := []mdVariant{
		{name: "wide-heaps", wideHeaps: true, monoReads: true},
		{name: "enc-ptr-tables", enc: true, monoReads: true},
		{name: "enc-log-map", encLog: true},
		{name: "extra-data", extraData: true},
		{name: "jtd", jtd: true},
		{name: "all", wideHeaps: true, enc: true, encLog: true, extraData: true},
	}
	dir := t.TempDir()
	for _, src := range []string{"signed", "wide-idx"} {
		orig := parseFile(t, cases[src].path).Assembly
		for _, v := range variants {
			t.Run(src+"/"+v.name, func(t *testing.T) {
				out := filepath.Join(dir, src+"-"+v.name+".dll")
				if err := os.WriteFile(out, rewriteMetadata(t, readFile(t, cases[src].path), v), 0o644); err != nil {
					t.Fatal(err)
				}
				f := parseFile(t, out)
				if f.AssemblyErr != nil {
					t.Fatalf("rewritten: %v", f.AssemblyErr)
				}
				a := f.Assembly
				if a.FullName() != orig.FullName() || a.MVID != orig.MVID || a.ModuleName != orig.ModuleName {
					t.Errorf("rewritten %q %s %s, original %q %s %s", a.FullName(), a.MVID, a.ModuleName, orig.FullName(), orig.MVID, orig.ModuleName)
				}
				if v.monoReads {
					m := monoIdentities(t, out)[out]
					if m.fullName != a.FullName() || m.mvid != a.MVID {
						t.Errorf("Mono reads the rewritten file as %q %s, we read %q %s", m.fullName, m.mvid, a.FullName(), a.MVID)
					}
				}
			})
		}
	}
}

func TestNativeDLLIsNotDotNet(t *testing.T) {
	f := parseFile(t, mingwDLL(t, "plain"))
	if f.IsDotNet || f.Assembly != nil || f.AssemblyErr != nil {
		t.Errorf("native DLL: IsDotNet=%v Assembly=%v err=%v", f.IsDotNet, f.Assembly, f.AssemblyErr)
	}
	if !f.IsDLL || f.MachineName != "x64" || !f.Is64 {
		t.Errorf("native DLL: IsDLL=%v machine=%s is64=%v", f.IsDLL, f.MachineName, f.Is64)
	}
	a := parseFile(t, monoAssemblies(t)["unsigned"].path)
	if !a.IsDotNet || !a.IsDLL || a.MachineName != "x86" || a.Is64 {
		t.Errorf("assembly: IsDotNet=%v IsDLL=%v machine=%s is64=%v", a.IsDotNet, a.IsDLL, a.MachineName, a.Is64)
	}
}
