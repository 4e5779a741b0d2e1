package sim

import (
	"os"
	"os/exec"
	"path/filepath"
	"testing"
)

// monoHostSource uses System.Xml from Mono's GAC, then Assembly.Load()s
// the bytes of args[0] (no file maps them) and prints "ready".
const monoHostSource = `using System;
using System.IO;
using System.Reflection;
using System.Threading;
class Host {
  static void Main(string[] args) {
    new System.Xml.XmlDocument().LoadXml("<x/>");
    Assembly.Load(File.ReadAllBytes(args[0])).GetType("InMemory").GetMethod("Run").Invoke(null, null);
    Console.WriteLine("ready");
    Thread.Sleep(Timeout.Infinite);
  }
}
`

const monoLibSource = `[assembly: System.Reflection.AssemblyVersion("1.0.0.0")]
public class InMemory { public static int Run() { return 42; } }
`

// StartMonoHost starts a real Mono process (Debian's mono-runtime; its C#
// is compiled here with mono-mcs) that holds a GAC assembly (System.Xml),
// its own host.exe, and an assembly it loaded from a byte array
// (InMemory, version 1.0.0.0), and returns once they are loaded.
func StartMonoHost(tb testing.TB) *Proc {
	tb.Helper()
	mcs := NeedTool(tb, "mcs", "mono-mcs")
	mono := NeedTool(tb, "mono", "mono-runtime")
	dir := tb.TempDir()
	compile := func(name, src string, args ...string) string {
		if err := os.WriteFile(filepath.Join(dir, name+".cs"), []byte(src), 0o644); err != nil {
			tb.Fatal(err)
		}
		cmd := exec.Command(mcs, append(append([]string{"-nologo"}, args...), name+".cs")...)
		cmd.Dir = dir
		if out, err := cmd.CombinedOutput(); err != nil {
			tb.Fatalf("mcs %s: %v\n%s", name, err, out)
		}
		return filepath.Join(dir, name)
	}
	lib := compile("InMemory", monoLibSource, "-target:library", "-out:InMemory.dll")
	exe := compile("host", monoHostSource, "-target:exe", "-r:System.Xml.dll", "-out:host.exe")
	return Start(tb, mono, exe+".exe", lib+".dll")
}
