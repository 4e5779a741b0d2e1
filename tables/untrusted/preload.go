package untrusted

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"iter"
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
	// seen holds the entries added, at most maxPreloadEntries of them;
	// cut says that more were left out.
	seen map[string]bool
	cut  bool
	// exact is paths and names as a set, built by matchName; files is the
	// paths' files, built by the scan (see preloaded).
	exact map[string]bool
	files map[fileKey]bool
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

// splitAny yields the fields of s between any of seps, without building a
// slice of them: an environment variable can hold a million.
func splitAny(s, seps string) iter.Seq[string] {
	return strings.FieldsFuncSeq(s, func(r rune) bool { return strings.ContainsRune(seps, r) })
}

// add adds the entries of list, each once and at most maxPreloadEntries in
// all: a preload list is data a process chooses, and memory for it is ours.
func (l *preloadList) add(list, seps string) {
	for e := range splitAny(list, seps) {
		if l.seen[e] {
			continue
		}
		if len(l.seen) >= maxPreloadEntries {
			l.cut = true
			return
		}
		if l.seen == nil {
			l.seen = map[string]bool{}
		}
		l.seen[e] = true
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
// the loader would have searched for. Paths and names are looked up in
// sets built on first use, so a list of thousands costs each module two
// lookups; add nothing after the first call.
func (l *preloadList) matchName(p string) bool {
	if l.exact == nil {
		l.exact = make(map[string]bool, len(l.paths)+len(l.names))
		for _, e := range l.paths {
			l.exact[e] = true
		}
		for _, n := range l.names {
			l.exact[n] = true // a name has no slash, a path has one: no clash
		}
	}
	if l.exact[p] || l.exact[path.Base(p)] {
		return true
	}
	for _, g := range l.globs {
		if ok, _ := path.Match(g, p); ok {
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
	seen := map[string]bool{}
	for e := range splitAny(v, sepLibraryPath) {
		if !path.IsAbs(e) || seen[e] {
			continue
		}
		if len(seen) >= maxPreloadEntries {
			break // as for preloadList.add
		}
		seen[e] = true
		out = append(out, path.Clean(e))
	}
	return out
}

// Bounds on preload lists. The loader acts on all of /etc/ld.so.preload,
// so a bound on bytes is padding a process could hide a preload behind: the
// file is streamed, and the bound is set where the padding would cost the
// padder more than it hides (the loader writes its private copy of the file
// through, every page of it, in every process started). Distinct entries
// are kept up to a count, in the file and in the environment alike, high
// enough that the environment cannot reach it: execve caps one variable at
// 128 KiB (MAX_ARG_STRLEN), which holds 32768 entries of 3 bytes and a
// separator (and a few hundred shorter ones), and LD_PRELOAD and LD_AUDIT
// share one list. In
// the file, each entry the loader cannot open prints an error in every
// process started, so a list long enough to reach the count is no quiet one.
const (
	maxPreloadBytes   = 64 << 20
	maxPreloadEntries = 1<<16 + 1024
	maxPreloadEntry   = 4096 // PATH_MAX: the loader cannot open a longer name
)

// readPreloadFile adds the entries of /etc/ld.so.preload to l, reading it as
// glibc's loader does (elf/rtld.c): every '#' is blanked to the end of its
// line (NULs in it too), then the list is split, and the split stops at the
// first NUL left. Read naively, "/tmp/x.so#" hides a preload that is loaded,
// and "# /tmp/x.so" reports one that is not.
func readPreloadFile(r io.Reader, l *preloadList) error {
	br := bufio.NewReaderSize(r, 64<<10)
	var tok []byte
	long, comment := false, false
	read := 0
	flush := func() {
		if len(tok) > 0 && !long {
			l.add(string(tok), sepPreloadFile)
		}
		tok, long = tok[:0], false
	}
	for {
		c, err := br.ReadByte()
		if errors.Is(err, io.EOF) {
			flush()
			return nil
		}
		if err != nil {
			flush()
			return err
		}
		if read++; read > maxPreloadBytes {
			flush()
			return fmt.Errorf("larger than %d bytes, read the first %d", maxPreloadBytes, maxPreloadBytes)
		}
		switch {
		case c == '\n':
			comment = false
			flush()
		case comment:
		case c == '#':
			comment = true
			flush()
		case c == 0:
			flush()
			return nil
		case strings.IndexByte(sepPreloadFile, c) >= 0:
			flush()
		case len(tok) >= maxPreloadEntry:
			long = true
		default:
			tok = append(tok, c)
		}
	}
}
