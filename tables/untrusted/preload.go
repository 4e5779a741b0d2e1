package untrusted

import (
	"bufio"
	"errors"
	"fmt"
	"io"
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

// Bounds on reading /etc/ld.so.preload. The loader acts on all of it, so a
// bound on bytes is padding a process could hide a preload behind: the
// file is streamed, and the bound is set where the padding would cost the
// padder more than it hides (the loader writes its private copy of the file
// through, every page of it, in every process started). Entries are kept up
// to a count: each one the loader cannot open prints an error in every
// process started, so a list long enough to push a preload past it is
// anything but quiet.
const (
	maxPreloadBytes   = 64 << 20
	maxPreloadEntries = 4096
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
	read, entries := 0, 0
	flush := func() {
		if len(tok) > 0 && !long && entries < maxPreloadEntries {
			l.add(string(tok), sepPreloadFile)
			entries++
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
