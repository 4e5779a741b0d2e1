package untrusted

import (
	"bytes"
	"path"
	"strings"
)

// preloadList is the modules a process was told to load before any other:
// LD_PRELOAD and LD_AUDIT from its environment and /etc/ld.so.preload from
// its root. Entries with a slash are paths (possibly with the loader's
// $LIB/$PLATFORM/$ORIGIN tokens); entries without are names the loader
// searched for.
type preloadList struct {
	paths []string
	globs []string
	names []string
}

// Separators the dynamic loader splits on (glibc elf/rtld.c and
// dl-load.c): LD_PRELOAD on spaces and colons, LD_AUDIT on colons,
// /etc/ld.so.preload on whitespace and colons, LD_LIBRARY_PATH on colons
// and semicolons.
const (
	sepPreloadEnv  = " :"
	sepAuditEnv    = ":"
	sepPreloadFile = " \t\n\r:"
	sepLibraryPath = ":;"
)

func splitAny(s, seps string) []string {
	return strings.FieldsFunc(s, func(r rune) bool { return strings.ContainsRune(seps, r) })
}

func (l *preloadList) add(list, seps string) {
	for _, e := range splitAny(list, seps) {
		switch {
		case !strings.Contains(e, "/"):
			l.names = append(l.names, e)
		case strings.Contains(e, "$"):
			g := e
			for _, tok := range []string{"${LIB}", "$LIB", "${PLATFORM}", "$PLATFORM", "${ORIGIN}", "$ORIGIN"} {
				g = strings.ReplaceAll(g, tok, "*")
			}
			l.globs = append(l.globs, path.Clean(g))
		default:
			l.paths = append(l.paths, path.Clean(e))
		}
	}
}

// matchName reports whether the module at p is named by the list without
// looking at the file system: an exact path, a token glob, or a bare name
// the loader would have searched for.
func (l *preloadList) matchName(p string) bool {
	for _, e := range l.paths {
		if e == p {
			return true
		}
	}
	for _, g := range l.globs {
		if ok, _ := path.Match(g, p); ok {
			return true
		}
	}
	base := path.Base(p)
	for _, n := range l.names {
		if n == base {
			return true
		}
	}
	return false
}

// libraryPath holds LD_LIBRARY_PATH's absolute entries, cleaned; relative
// and empty ones name the process's working directory at exec time, which
// /proc no longer tells.
func libraryPath(v string) []string {
	var out []string
	for _, e := range splitAny(v, sepLibraryPath) {
		if path.IsAbs(e) {
			out = append(out, path.Clean(e))
		}
	}
	return out
}

// ldSoPreloadText is the part of /etc/ld.so.preload the loader acts on
// (glibc elf/rtld.c): first every '#' to the end of its line is blanked out,
// NULs inside included, then the list is split with strsep, which stops at
// the first NUL left. Read naively, "/tmp/x.so#" hides a preload that is
// loaded, and "# /tmp/x.so" reports one that is not.
func ldSoPreloadText(data []byte) string {
	var b strings.Builder
	b.Grow(len(data))
	for len(data) > 0 {
		i := bytes.IndexByte(data, '#')
		if i < 0 {
			b.Write(data)
			break
		}
		b.Write(data[:i])
		data = data[i:]
		j := bytes.IndexByte(data, '\n')
		if j < 0 {
			break
		}
		b.WriteByte(' ')
		data = data[j:]
	}
	text := b.String()
	if i := strings.IndexByte(text, 0); i >= 0 {
		text = text[:i]
	}
	return text
}
