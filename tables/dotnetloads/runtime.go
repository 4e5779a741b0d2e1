package dotnetloads

import (
	"strings"

	"github.com/modhunt/modhunt/tables/inventory"
)

// Runtimes, as the runtime column spells them.
const (
	RuntimeCLR2    = "clr2"    // .NET Framework 2.0-3.5: mscorwks.dll
	RuntimeCLR4    = "clr4"    // .NET Framework 4.x: clr.dll
	RuntimeCoreCLR = "coreclr" // .NET Core / .NET 5+: coreclr.dll, libcoreclr.so
	RuntimeMono    = "mono"    // Mono: the mono executable or libmono*.so
	// RuntimeShim is a process holding only mscoree.dll, the CLR's shim:
	// it is a CLR host (the shim loads a runtime on first managed call),
	// but which runtime it will load is not known yet.
	RuntimeShim = "mscoree"
)

// Runtime says whether p hosts a CLR and which, from the names of the
// modules it has loaded (the maps or the loader list; no memory read):
// Linux's libcoreclr.so, libmono*.so or a mono executable, Windows'
// mscorwks.dll, clr.dll, coreclr.dll or mscoree.dll. "" means no CLR: the
// process is skipped before any of its memory is read.
//
// Names are compared case-insensitively, as Windows' loader does. A
// process holding several runtimes (clr.dll beside mscorwks.dll in side by
// side hosting) is named after the newest.
func Runtime(p *inventory.Process) string {
	best := 0
	for i := range p.Modules {
		m := &p.Modules[i]
		if r := runtimeRank(moduleName(m)); r > best {
			best = r
		}
	}
	if best == 0 {
		// The executable is not always marked (walks without DetailExe):
		// its path names it too.
		best = runtimeRank(baseName(p.Path))
	}
	return ranked[best]
}

var ranked = []string{"", RuntimeShim, RuntimeCLR2, RuntimeCLR4, RuntimeMono, RuntimeCoreCLR}

func runtimeRank(name string) int {
	n := strings.ToLower(name)
	switch {
	case n == "coreclr.dll" || n == "libcoreclr.so" || n == "libcoreclr.dylib":
		return 5
	case strings.HasPrefix(n, "libmono") && (strings.Contains(n, ".so") || strings.HasSuffix(n, ".dylib")) &&
		!strings.HasPrefix(n, "libmono-native") && !strings.HasPrefix(n, "libmonoposixhelper"):
		// libmonosgen-2.0.so, libmono-2.0.so, libmonobdwgc-2.0.so (Unity);
		// not Mono's helper libraries, which other programs load alone.
		return 4
	case n == "mono" || n == "mono.exe" || strings.HasPrefix(n, "mono-sgen") || strings.HasPrefix(n, "mono-boehm") ||
		strings.HasPrefix(n, "mono-2.0-") && strings.HasSuffix(n, ".dll"):
		// Debian's mono-sgen links the runtime statically; Windows' Mono
		// is mono-2.0-sgen.dll.
		return 4
	case n == "clr.dll":
		return 3
	case n == "mscorwks.dll":
		return 2
	case n == "mscoree.dll":
		return 1
	}
	return 0
}

func moduleName(m *inventory.Module) string {
	if m.Name != "" {
		return m.Name
	}
	return baseName(m.Path)
}

// baseName is the last element of a Unix or Windows path.
func baseName(p string) string {
	return p[strings.LastIndexAny(p, `/\`)+1:]
}

// Classify says whether path lies in a global assembly cache and whether
// it is an NGen native image, from the path alone (these are places, not
// identities: the identity comes from the metadata).
//
// GAC: Windows' C:\Windows\assembly\GAC, GAC_32, GAC_64, GAC_MSIL (.NET 2-3.5)
// and C:\Windows\Microsoft.NET\assembly\GAC_* (.NET 4), on any drive and
// in the \\?\ long-path form; Mono's lib/mono/gac/. Native image: a
// .ni.dll or .ni.exe, or anything under C:\Windows\assembly\NativeImages_*
// (NGen's cache, which is not the GAC).
func Classify(path string) (gac, nativeImage bool) {
	p := strings.ToLower(strings.ReplaceAll(path, `\`, "/"))
	if strings.HasSuffix(p, ".ni.dll") || strings.HasSuffix(p, ".ni.exe") || strings.Contains(p, "/assembly/nativeimages_") {
		nativeImage = true
	}
	switch {
	case strings.Contains(p, "/lib/mono/gac/"):
		gac = true
	case isWindowsGAC(p):
		gac = true
	}
	return gac, nativeImage
}

// isWindowsGAC matches <drive>:/windows/assembly/gac[_*]/ and
// <drive>:/windows/microsoft.net/assembly/gac_*/ in a lower-cased path
// with forward slashes.
func isWindowsGAC(p string) bool {
	p = strings.TrimPrefix(p, "//?/")
	if len(p) < 3 || p[1] != ':' || p[2] != '/' {
		return false
	}
	rest := p[3:]
	for _, dir := range []string{"windows/assembly/", "windows/microsoft.net/assembly/"} {
		if !strings.HasPrefix(rest, dir) {
			continue
		}
		sub := rest[len(dir):]
		slash := strings.IndexByte(sub, '/')
		if slash < 0 {
			return false
		}
		top := sub[:slash]
		return top == "gac" && dir == "windows/assembly/" || strings.HasPrefix(top, "gac_")
	}
	return false
}
