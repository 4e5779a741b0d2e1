package untrusted

import (
	"bufio"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"iter"
	"path"
	"strings"
)

// preloadList is the modules a process's loader was told to load before
// any other: LD_PRELOAD and LD_AUDIT from its environment and
// /etc/ld.so.preload from its root, each as glibc's ld.so reads it (see
// loaderEnv, addPreloadEnv, addAuditEnv, readPreloadFile). Entries with a
// slash are paths (possibly with the loader's $LIB/$PLATFORM/$ORIGIN
// tokens); entries without are names the loader searched for.
type preloadList struct {
	paths []string
	globs []string
	names []string
	// secure is the process's AT_SECURE (setuid, setgid, file
	// capabilities): ld.so then loads a searched name only from a file with
	// the set-user-ID bit (elf/dl-load.c open_path with __RTLD_SECURE).
	secure bool
	// seen holds the entries added, at most maxPreloadEntries of them;
	// cut says that more were left out.
	seen map[string]bool
	all  []string
	cut  bool
	// exact is paths and names as a set, built by matchName; files is the
	// paths' files, built by the scan (see preloaded).
	exact map[string]bool
	files map[fileKey]bool
}

// Separators the dynamic loader splits on (glibc 2.36): LD_PRELOAD on
// spaces and colons (elf/rtld.c handle_preload_list: strcspn (p, " :")),
// LD_AUDIT on colons (audit_list_next: strcspn (.., ":")),
// /etc/ld.so.preload on space, tab, newline and colon only (dl_main:
// strsep (&runp, ": \t\n") — a '\r' or any other byte stays in the name),
// LD_LIBRARY_PATH on colons and semicolons (elf/dl-load.c _dl_init_paths:
// fillin_rpath (.., ":;", ..)).
const (
	sepPreloadEnv  = " :"
	sepAuditEnv    = ":"
	sepPreloadFile = " \t\n:"
	sepLibraryPath = ":;"
)

// Name limits of glibc's ld.so on Linux (elf/dl-main.h): an LD_PRELOAD
// entry is copied into char fname[SECURE_PATH_LIMIT] (PATH_MAX) and an
// LD_AUDIT entry into char fname[SECURE_NAME_LIMIT] (NAME_MAX); a longer
// one is skipped, never loaded. Under AT_SECURE both lists also drop every
// name of SECURE_NAME_LIMIT bytes or more (dso_name_valid_for_suid).
const (
	securePathLimit = 4096 // PATH_MAX
	secureNameLimit = 255  // NAME_MAX
)

// splitBytes yields the non-empty fields of s between any of the bytes
// seps, without building a slice of them (an environment variable can hold
// a million). It works on bytes, as ld.so does: a byte that is not UTF-8
// neither splits a name nor vanishes from it.
func splitBytes(s, seps string) iter.Seq[string] {
	return func(yield func(string) bool) {
		for len(s) > 0 {
			i := 0
			for i < len(s) && strings.IndexByte(seps, s[i]) < 0 {
				i++
			}
			if i > 0 && !yield(s[:i]) {
				return
			}
			if i < len(s) {
				i++
			}
			s = s[i:]
		}
	}
}

// loaderVars is what glibc's ld.so takes from an environment. Its
// process_envvars (elf/rtld.c) walks every entry in order through
// _dl_next_ld_env_entry (elf/dl-environ.c), so a later LD_PRELOAD or
// LD_LIBRARY_PATH replaces an earlier one — also when it is empty — while
// each non-empty LD_AUDIT is appended to the audit list
// (audit_list_add_string) and all of them load. An entry without '=' is
// ignored. getenv, and a reader that stops at the first match, see the
// first LD_PRELOAD instead, which is not the one loaded.
type loaderVars struct {
	preload, libraryPath       string
	hasPreload, hasLibraryPath bool
	audit                      []string
}

func loaderEnv(env []string) loaderVars {
	var v loaderVars
	for _, kv := range env {
		if !strings.HasPrefix(kv, "LD_") {
			continue
		}
		name, value, ok := strings.Cut(kv[3:], "=")
		if !ok {
			continue
		}
		switch name {
		case "PRELOAD":
			v.preload, v.hasPreload = value, true
		case "AUDIT":
			if value != "" {
				v.audit = append(v.audit, value)
			}
		case "LIBRARY_PATH":
			v.libraryPath, v.hasLibraryPath = value, true
		}
	}
	return v
}

// any reports whether the environment changes what ld.so loads.
func (v loaderVars) any() bool { return v.hasPreload || v.hasLibraryPath || len(v.audit) > 0 }

// addPreloadEnv adds an LD_PRELOAD value as handle_preload_list reads it:
// fields between spaces and colons, each shorter than SECURE_PATH_LIMIT,
// and under AT_SECURE only names without a slash shorter than
// SECURE_NAME_LIMIT (dso_name_valid_for_suid).
func (l *preloadList) addPreloadEnv(v string) {
	for e := range splitBytes(v, sepPreloadEnv) {
		if len(e) < securePathLimit && l.validForSecure(e) {
			l.add(e)
		}
	}
}

// addAuditEnv adds one LD_AUDIT value as audit_list_next reads it: fields
// between colons, each shorter than SECURE_NAME_LIMIT (the size of its
// name buffer, whatever AT_SECURE says), and under AT_SECURE without a
// slash.
func (l *preloadList) addAuditEnv(v string) {
	for e := range splitBytes(v, sepAuditEnv) {
		if len(e) < secureNameLimit && l.validForSecure(e) {
			l.add(e)
		}
	}
}

func (l *preloadList) validForSecure(e string) bool {
	return !l.secure || (len(e) < secureNameLimit && !strings.Contains(e, "/"))
}

// add adds one entry, once, and at most maxPreloadEntries in all: a
// preload list is data a process chooses, and memory for it is ours.
func (l *preloadList) add(e string) {
	if l.seen[e] {
		return
	}
	if len(l.seen) >= maxPreloadEntries {
		l.cut = true
		return
	}
	if l.seen == nil {
		l.seen = map[string]bool{}
	}
	l.seen[e] = true
	l.all = append(l.all, e)
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

// matchName reports whether the module at p is named by the list without
// looking at the file system: an exact path, a token glob, or a bare name
// the loader would have searched for. setuid is the module file's
// set-user-ID bit, which a searched name needs under AT_SECURE. Paths and
// names are looked up in sets built on first use, so a list of thousands
// costs each module two lookups; add nothing after the first call.
func (l *preloadList) matchName(p string, setuid bool) bool {
	if l.exact == nil {
		l.exact = make(map[string]bool, len(l.paths)+len(l.names))
		for _, e := range l.paths {
			l.exact[e] = true
		}
		for _, n := range l.names {
			l.exact[n] = true // a name has no slash, a path has one: no clash
		}
	}
	if l.exact[p] {
		return true
	}
	if l.exact[path.Base(p)] && (setuid || !l.secure) {
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
	for e := range splitBytes(v, sepLibraryPath) {
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

// atSecure reports the AT_SECURE entry of a process's auxiliary vector
// (/proc/PID/auxv): pairs of native words, 8 bytes each for a 64-bit
// process and 4 for a 32-bit one on the same kernel, ended by AT_NULL.
// ok is false when the vector cannot be read either way.
func atSecure(auxv []byte) (secure, ok bool) {
	const atNull, atSecureTag, atMax = 0, 23, 64
	for _, word := range []int{8, 4} {
		if len(auxv) == 0 || len(auxv)%(2*word) != 0 {
			continue
		}
		get := func(i int) uint64 {
			if word == 8 {
				return binary.NativeEndian.Uint64(auxv[i:])
			}
			return uint64(binary.NativeEndian.Uint32(auxv[i:]))
		}
		valid, found := false, false
		for i := 0; i+2*word <= len(auxv); i += 2 * word {
			tag := get(i)
			if tag >= atMax {
				break // not this word size: tags are small
			}
			if tag == atNull {
				valid = true
				break
			}
			if tag == atSecureTag {
				secure, found = get(i+word) != 0, true
			}
		}
		if valid {
			return secure && found, true
		}
		secure = false
	}
	return false, false
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
	maxPreloadEntry   = securePathLimit // the loader cannot open a longer name
)

// readPreloadFile adds the entries of /etc/ld.so.preload to l, reading the
// size bytes of the file exactly as glibc 2.36's dl_main (elf/rtld.c)
// does after mapping it whole:
//
//  1. Comments. The loop blanks from each '#' to the end of its line, but
//     it searches with memchr (runp, '#', rest) and never moves runp off the
//     start of the file, while rest shrinks by each comment's offset and
//     length. So a '#' at an offset of rest or beyond is no comment, and a
//     comment is blanked only while rest lasts. Read naively, "/a.so#c\n
//     /b.so#c" is two entries; ld.so loads /a.so and tries "/b.so#c".
//  2. A file that does not end in a separator ends in "the problematic
//     case": its last field is cut off with a NUL and loaded on its own
//     (strndupa), up to its first NUL.
//  3. Everything before is split with strsep (&runp, ": \t\n") as a C
//     string: the first NUL ends it (a field that holds it is cut there).
//
// So "/a.so\0 /b.so" loads both, "/a.so\0 /b.so\n" only /a.so, and
// "/x.so\r\n" loads a file whose name ends in '\r'.
func readPreloadFile(r io.Reader, size int64, l *preloadList) error {
	br := bufio.NewReaderSize(r, 64<<10)
	var (
		tok          []byte
		long, tokNUL bool
		stringEnded  bool // step 3 met its NUL
		rest         = size
		commentsOver bool // memchr found no '#' within rest: no more comments
		inComment    bool
		endsInSep    = true // an empty file has no last field
		pos          int64
		readErr      error
	)
	endField := func() {
		if !stringEnded && len(tok) > 0 && !long {
			l.add(string(tok))
		}
		stringEnded = stringEnded || tokNUL
		tok, long, tokNUL = tok[:0], false, false
	}
	for ; pos < size; pos++ {
		if pos >= maxPreloadBytes {
			readErr = fmt.Errorf("larger than %d bytes, read the first %d", maxPreloadBytes, maxPreloadBytes)
			break
		}
		c, err := br.ReadByte()
		if err != nil {
			if !errors.Is(err, io.EOF) {
				readErr = err
			}
			break // a file cut short since its stat ends here
		}
		switch {
		case inComment && c == '\n':
			inComment = false // the newline stays
		case inComment:
			c = ' '
			if rest--; rest == 0 {
				inComment, commentsOver = false, true
			}
		case c == '#' && !commentsOver:
			if pos >= rest {
				commentsOver = true
				break
			}
			rest -= pos // rest -= comment - runp, runp being the file's start
			c = ' '
			if rest--; rest == 0 {
				commentsOver = true
			} else {
				inComment = true
			}
		}
		if strings.IndexByte(sepPreloadFile, c) >= 0 {
			endsInSep = true
			endField()
			continue
		}
		endsInSep = false
		switch {
		case tokNUL:
		case c == 0:
			tokNUL = true
		case len(tok) >= maxPreloadEntry:
			long = true
		default:
			tok = append(tok, c)
		}
	}
	if readErr != nil {
		return readErr // the last field is not known to be the last
	}
	if !endsInSep {
		// The problematic case: loaded up to its first NUL, whatever
		// step 3 met before it.
		stringEnded = false
		endField()
	}
	return nil
}

// entries is every entry added, in order, as the loader spelt it.
func (l *preloadList) entries() []string { return l.all }

// rtldArgs is what ld.so run as a command ("ld.so [OPTION]... PROGRAM
// [ARG]...") takes from its own arguments (glibc 2.36 elf/rtld.c dl_main):
// --preload LIST (the last one counts, read as LD_PRELOAD is, and loaded
// besides LD_PRELOAD), --audit LIST (each one counts, as LD_AUDIT), and
// --library-path PATH (the last one, replacing LD_LIBRARY_PATH). Options
// end at the first argument that is none.
type rtldArgs struct {
	preload, libraryPath       string
	hasPreload, hasLibraryPath bool
	audit                      []string
}

func parseRtldArgs(argv []string) rtldArgs {
	var a rtldArgs
	withValue := map[string]bool{"--library-path": true, "--inhibit-rpath": true, "--audit": true,
		"--preload": true, "--argv0": true, "--glibc-hwcaps-prepend": true, "--glibc-hwcaps-mask": true}
	for i := 1; i < len(argv); i++ {
		opt := argv[i]
		if !strings.HasPrefix(opt, "--") {
			break // the program
		}
		if !withValue[opt] {
			continue // --list, --verify, --inhibit-cache, --help, ...
		}
		if i+1 >= len(argv) {
			break // "_dl_argc > 2" fails: not an option with a value
		}
		i++
		switch opt {
		case "--preload":
			a.preload, a.hasPreload = argv[i], true
		case "--audit":
			if argv[i] != "" {
				a.audit = append(a.audit, argv[i])
			}
		case "--library-path":
			a.libraryPath, a.hasLibraryPath = argv[i], true
		}
	}
	return a
}
