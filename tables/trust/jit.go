package trust

import (
	"path"
	"regexp"
	"strings"

	"gopkg.in/yaml.v3"
)

// JITHost is a process that compiles code at run time and so holds
// executable memory no file backs: JVMs, JavaScript engines, .NET, browsers,
// LuaJIT, PCRE JIT users. unbacked_executable_memory flags their rows
// (jit_host = 1) so hunts can set them aside; it never drops them, since
// code injected into a JIT host is still injected code. Exactly one matcher
// is set.
type JITHost struct {
	// PathGlob matches the executable's full path (globs as allow_processes).
	PathGlob string
	// Name matches the executable's base name: exactly, or as a path.Match
	// pattern ("php-fpm*"). Windows names (anything ending in .exe) compare
	// without regard to case.
	Name    string
	Comment string
	path    *regexp.Regexp
}

// DefaultJITHosts are the executables (base names) known to generate code
// at run time. A name is only a name: anyone can call their program java,
// which is why jit_host only marks rows and a hunt for PE or ELF headers
// in executable memory should not exclude JIT hosts. A policy file's
// jit_hosts add to this list.
var DefaultJITHosts = []string{
	// JVMs.
	"java", "javaw", "java.exe", "javaw.exe", "jshell",
	// Node and other V8, JavaScriptCore and SpiderMonkey embedders.
	"node", "nodejs", "node.exe", "deno", "deno.exe", "bun", "d8", "gjs", "gnome-shell",
	// .NET and Mono.
	"dotnet", "dotnet.exe", "pwsh", "pwsh.exe", "powershell.exe", "powershell_ise.exe", "w3wp.exe",
	"mono", "mono-sgen",
	// Browsers and their helpers (Electron apps run as themselves: add them).
	"chrome", "chrome.exe", "chromium", "chromium-browser", "chrome_crashpad_handler", "msedge", "msedge.exe",
	"firefox", "firefox-bin", "firefox-esr", "firefox.exe", "brave", "brave.exe", "opera", "opera.exe",
	"iexplore.exe", "WebKitWebProcess", "electron",
	// LuaJIT, PyPy, QEMU's TCG.
	"luajit", "pypy", "pypy3", "qemu-system-*", "qemu-*-static",
	// PCRE JIT users.
	"php", "php[0-9]*", "php-fpm*", "php-cgi*", "nginx", "httpd", "apache2", "varnishd", "grep",
}

// IsJITHost reports whether the executable exe is a known JIT runtime:
// its base name is in DefaultJITHosts, or a jit_hosts entry of the policy
// matches it.
func (p *Policy) IsJITHost(exe string) bool {
	if exe == "" {
		return false
	}
	base := exe[strings.LastIndexAny(exe, `/\`)+1:]
	for _, n := range DefaultJITHosts {
		if nameMatches(n, base) {
			return true
		}
	}
	for _, r := range p.JITHosts {
		if (r.Name != "" && nameMatches(r.Name, base)) || (r.path != nil && r.path.MatchString(exe)) {
			return true
		}
	}
	return false
}

func nameMatches(pattern, base string) bool {
	if strings.HasSuffix(strings.ToLower(base), ".exe") {
		pattern, base = strings.ToLower(pattern), strings.ToLower(base)
	}
	if pattern == base {
		return true
	}
	ok, err := path.Match(pattern, base)
	return err == nil && ok
}

func (ps parser) jitHost(n *yaml.Node, field string) (JITHost, error) {
	key, value, comment, err := ps.rule(n, field, []string{"path", "name"})
	if err != nil {
		return JITHost{}, err
	}
	r := JITHost{Comment: comment}
	vn := valueNode(n, key)
	switch key {
	case "path":
		r.PathGlob = value
		r.path, err = ps.glob(vn, field+".path", value)
	case "name":
		if strings.ContainsAny(value, `/\`) {
			return r, ps.errAt(vn, field+".name", "%q: a name is an executable's base name, without a directory (use path for a path)", value)
		}
		if _, perr := path.Match(value, ""); perr != nil {
			return r, ps.errAt(vn, field+".name", "%q is not a valid pattern (unclosed [ or bad escape)", value)
		}
		r.Name = value
	}
	return r, err
}
