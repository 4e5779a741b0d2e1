package untrusted

import (
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/modhunt/modhunt/tables/elfdyn"
	"github.com/modhunt/modhunt/tables/table"
	"github.com/modhunt/modhunt/test/sim"
)

// Unit cases of how glibc 2.36's ld.so reads its environment; the live
// tests below hold the table to the real loader.
func TestLoaderEnv(t *testing.T) {
	t.Parallel()
	// elf/rtld.c process_envvars: every LD_ entry, in order; PRELOAD and
	// LIBRARY_PATH assign (the last wins, an empty one too), AUDIT appends
	// each non-empty value (audit_list_add_string), and an entry without
	// '=' is skipped.
	v := loaderEnv([]string{
		"LD_PRELOAD=/first.so", "X=1", "LD_PRELOAD=/last.so",
		"LD_AUDIT=/a1.so", "LD_AUDIT=", "LD_AUDIT=/a2.so:/a3.so",
		"LD_LIBRARY_PATH=/one", "LD_LIBRARY_PATH=/two", "LD_PRELOAD",
		"LD_PRELOADX=/no.so", "XLD_PRELOAD=/no.so",
	})
	assert.True(t, v.hasPreload)
	assert.Equal(t, "/last.so", v.preload)
	assert.Equal(t, []string{"/a1.so", "/a2.so:/a3.so"}, v.audit)
	assert.Equal(t, "/two", v.libraryPath)

	v = loaderEnv([]string{"LD_PRELOAD=/first.so", "LD_PRELOAD="})
	assert.True(t, v.hasPreload)
	assert.Empty(t, v.preload, "a later empty LD_PRELOAD preloads nothing")
	assert.False(t, loaderEnv([]string{"PATH=/bin"}).any())
}

func TestPreloadEnvLists(t *testing.T) {
	t.Parallel()
	long := "/" + strings.Repeat("d", securePathLimit-1) // 4096 bytes
	var l preloadList
	// handle_preload_list: strcspn (p, " :") — a tab is part of a name —
	// and a field must fit char fname[SECURE_PATH_LIMIT] with its NUL.
	l.addPreloadEnv("/a.so:/b.so /c\t.so::" + long + " " + long[:securePathLimit-1])
	assert.Equal(t, []string{"/a.so", "/b.so", "/c\t.so", long[:securePathLimit-1]}, l.entries())

	// audit_list_next: strcspn (.., ":") into char fname[SECURE_NAME_LIMIT].
	var a preloadList
	name := strings.Repeat("n", secureNameLimit)
	a.addAuditEnv("/x.so /y.so:" + name + ":" + name[1:])
	assert.Equal(t, []string{"/x.so /y.so", name[1:]}, a.entries())

	// Under AT_SECURE, dso_name_valid_for_suid drops names with a slash
	// and names of SECURE_NAME_LIMIT bytes or more, in both lists; a
	// searched name is loaded only from a set-user-ID file (elf/dl-load.c
	// open_path with __RTLD_SECURE).
	s := preloadList{secure: true}
	s.addPreloadEnv("/tmp/evil.so libok.so " + name)
	s.addAuditEnv("/tmp/audit.so:libaud.so")
	assert.Equal(t, []string{"libok.so", "libaud.so"}, s.entries())
	assert.False(t, s.matchName("/tmp/evil.so", false))
	assert.False(t, s.matchName("/usr/lib/libok.so", false))
	assert.True(t, s.matchName("/usr/lib/libok.so", true))
}

func TestAtSecure(t *testing.T) {
	t.Parallel()
	le64 := func(pairs ...uint64) []byte {
		var b []byte
		for _, v := range pairs {
			b = append(b, byte(v), byte(v>>8), byte(v>>16), byte(v>>24), byte(v>>32), byte(v>>40), byte(v>>48), byte(v>>56))
		}
		return b
	}
	le32 := func(pairs ...uint32) []byte {
		var b []byte
		for _, v := range pairs {
			b = append(b, byte(v), byte(v>>8), byte(v>>16), byte(v>>24))
		}
		return b
	}
	secure, ok := atSecure(le64(6, 4096, 23, 1, 0, 0))
	assert.True(t, ok)
	assert.True(t, secure)
	secure, ok = atSecure(le64(6, 4096, 23, 0, 0, 0))
	assert.True(t, ok)
	assert.False(t, secure)
	secure, ok = atSecure(le32(6, 4096, 23, 1, 0, 0)) // a 32-bit process
	assert.True(t, ok)
	assert.True(t, secure)
	_, ok = atSecure([]byte("garbage!"))
	assert.False(t, ok)
}

// reasonsOf waits for lib's row in pid and returns its reasons.
func reasonsOf(t *testing.T, tb *table.Table, pid int, lib string) []string {
	t.Helper()
	row, _ := waitRow(t, tb, pid, lib)
	return strings.Split(row[col("reasons")], ",")
}

// waitMapped polls until every lib is mapped in pid.
func waitMapped(t *testing.T, pid int, libs ...string) {
	t.Helper()
	deadline := time.Now().Add(15 * time.Second)
	for {
		m := sim.MappedFiles(t, pid)
		missing := slices.DeleteFunc(slices.Clone(libs), func(l string) bool { return m[l] })
		if len(missing) == 0 {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("pid %d never mapped %q", pid, missing)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// Two LD_PRELOAD entries: ld.so loads the last one's list only, so the
// first one's library, mapped by dlopen, is no preload. The same for
// LD_LIBRARY_PATH.
func TestLiveDuplicateLDPreloadLastWins(t *testing.T) {
	t.Parallel()
	sim.NeedRoot(t)
	dir := sim.ExecDirIn(t, "/tmp", "modhunt-dup-")
	first := sim.BuildLib(t, filepath.Join(dir, "libfirst.so"))
	last := sim.BuildLib(t, filepath.Join(dir, "liblast.so"))
	llpOld, llpNew := filepath.Join(dir, "old"), filepath.Join(dir, "new")
	require.NoError(t, os.Mkdir(llpOld, 0o755))
	require.NoError(t, os.Mkdir(llpNew, 0o755))
	inOld := sim.BuildLib(t, filepath.Join(llpOld, "libold.so"))
	launch := sim.BuildLaunch(t, dir)
	loader := sim.BuildMultiLoader(t, dir)
	sleep := sim.NeedTool(t, "sleep", "coreutils")

	// The real loader first: the later entry is the one it loads.
	truth := sim.StartNoWait(t, launch, "LD_PRELOAD="+first, "LD_PRELOAD="+last, "--", sleep, "60")
	sim.WaitSleeping(t, truth.PID, sleep)
	assert.True(t, sim.MappedFiles(t, truth.PID)[last], "ld.so did not load the last LD_PRELOAD")
	assert.False(t, sim.MappedFiles(t, truth.PID)[first], "ld.so loaded the first LD_PRELOAD too")

	p := sim.Start(t, launch, "LD_PRELOAD="+first, "LD_PRELOAD="+last,
		"LD_LIBRARY_PATH="+llpOld, "LD_LIBRARY_PATH="+llpNew, "--", loader, first, inOld)
	tb := newTable(t, Config{})
	assert.Contains(t, reasonsOf(t, tb, p.PID, last), "preloaded")
	assert.NotContains(t, reasonsOf(t, tb, p.PID, first), "preloaded", "the first LD_PRELOAD is not the one ld.so read")
	assert.NotContains(t, reasonsOf(t, tb, p.PID, inOld), "preloaded", "the first LD_LIBRARY_PATH is not the one ld.so read")
}

// Two LD_AUDIT entries: ld.so loads both (glibc >= 2.35 appends each).
func TestLiveDuplicateLDAuditAllLoad(t *testing.T) {
	t.Parallel()
	sim.NeedRoot(t)
	dir := sim.ExecDirIn(t, "/tmp", "modhunt-audit-")
	a1 := sim.BuildLibFrom(t, filepath.Join(dir, "libaudit1.so"), sim.AuditLibSource)
	a2 := sim.BuildLibFrom(t, filepath.Join(dir, "libaudit2.so"), sim.AuditLibSource)
	launch := sim.BuildLaunch(t, dir)
	sleep := sim.NeedTool(t, "sleep", "coreutils")

	p := sim.StartNoWait(t, launch, "LD_AUDIT="+a1, "LD_AUDIT="+a2, "--", sleep, "60")
	waitMapped(t, p.PID, a1, a2) // the real loader kept both
	tb := newTable(t, Config{})
	assert.Contains(t, reasonsOf(t, tb, p.PID, a1), "preloaded")
	assert.Contains(t, reasonsOf(t, tb, p.PID, a2), "preloaded")
}

// The table against the real loader, for /etc/ld.so.preload texts whose
// reading turns on glibc's rules (see TestLdSoPreloadText). For each text,
// a sleep in a private mount namespace shows which libraries ld.so
// preloads (its maps); then a loader that dlopens every library under the
// same file must have exactly those called preloaded, no more (a library
// mapped by dlopen is not preloaded) and no fewer.
func TestLiveLdSoPreloadAgreesWithLdSo(t *testing.T) {
	t.Parallel()
	sim.NeedRoot(t)
	unshare := sim.NeedTool(t, "unshare", "util-linux")
	sleep := sim.NeedTool(t, "sleep", "coreutils")
	dir := sim.ExecDirIn(t, "/tmp", "modhunt-ldso-")
	a := sim.BuildLib(t, filepath.Join(dir, "a.so"))
	b := sim.BuildLib(t, filepath.Join(dir, "b.so"))
	aCR := sim.BuildLib(t, filepath.Join(dir, "a.so\r"))
	bHash := sim.BuildLib(t, filepath.Join(dir, "b.so#c2"))
	libs := []string{a, b, aCR, bHash}
	loader := sim.BuildMultiLoader(t, dir)

	texts := map[string]string{
		"comment quirk":         a + " # c1\n" + b + "#c2",
		"crlf":                  a + "\r\n",
		"vertical tab":          a + "\v" + b + "\n",
		"nul then last field":   a + "\x00 " + b,
		"nul then newline":      a + "\x00 " + b + "\n",
		"early comment":         "#c\n" + a + " #c2\n" + b + "\n",
		"comment runs out":      a + " #1\n" + b + "#cdefgh",
		"plain":                 a + ":" + b + "\n",
		"problem field has nul": a + "\n" + b + "\x00" + aCR,
	}
	tb := newTable(t, Config{})
	for name, text := range texts {
		t.Run(name, func(t *testing.T) {
			file := filepath.Join(dir, strings.ReplaceAll(name, " ", "-")+".preload")
			require.NoError(t, os.WriteFile(file, []byte(text), 0o644))
			script := `mount -t tmpfs none /etc && cp "$1" /etc/ld.so.preload && shift && exec "$@"`
			inNS := func(argv ...string) []string {
				return append([]string{"-m", "--propagation", "private", "sh", "-c", script, "sh", file}, argv...)
			}

			truth := sim.StartNoWait(t, unshare, inNS(sleep, "60")...)
			sim.WaitSleeping(t, truth.PID, sleep)
			mapped := sim.MappedFiles(t, truth.PID)
			var want []string
			for _, l := range libs {
				if mapped[l] {
					want = append(want, l)
				}
			}
			var parsed preloadList
			require.NoError(t, readPreloadFile(strings.NewReader(text), int64(len(text)), &parsed))
			var predicted []string
			for _, l := range libs {
				if parsed.matchName(l, false) {
					predicted = append(predicted, l)
				}
			}
			assert.Equal(t, want, predicted, "the parser disagrees with ld.so on %q", text)

			p := sim.Start(t, unshare, inNS(append([]string{loader}, libs...)...)...)
			var got []string
			for _, l := range libs {
				if slices.Contains(reasonsOf(t, tb, p.PID, l), "preloaded") {
					got = append(got, l)
				}
			}
			assert.Equal(t, want, got, "the table disagrees with ld.so on %q", text)
		})
	}
}

// Under AT_SECURE (a setuid program started by another user) ld.so ignores
// LD_PRELOAD entries with a slash: the library the program then dlopens
// itself is no preload.
func TestLiveSecureExecIgnoresPreloadPaths(t *testing.T) {
	t.Parallel()
	sim.NeedRoot(t)
	setpriv := sim.NeedTool(t, "setpriv", "util-linux")
	dir := sim.ExecDirIn(t, "/tmp", "modhunt-suid-")
	require.NoError(t, os.Chmod(dir, 0o755))
	lib := sim.BuildLib(t, filepath.Join(dir, "libsuid.so"))
	launch := sim.BuildLaunch(t, dir)
	loader := sim.BuildMultiLoader(t, dir)
	require.NoError(t, os.Chmod(loader, os.ModeSetuid|0o755))

	nobody := []string{"--reuid", "65534", "--regid", "65534", "--clear-groups", "--"}
	truth := sim.Start(t, setpriv, append(nobody, launch, "LD_PRELOAD="+lib, "--", loader)...)
	p := sim.Start(t, setpriv, append(nobody, launch, "LD_PRELOAD="+lib, "--", loader, lib)...)
	assert.False(t, sim.MappedFiles(t, truth.PID)[lib], "ld.so preloaded a path into a setuid program")
	assert.NotContains(t, reasonsOf(t, newTable(t, Config{}), p.PID, lib), "preloaded")
}

// ld.so run as a command reads its own options (elf/rtld.c dl_main's
// argument loop): --preload's value replaces an earlier one, every --audit
// counts, options end at the program.
func TestParseRtldArgs(t *testing.T) {
	t.Parallel()
	a := parseRtldArgs([]string{"/lib64/ld-linux-x86-64.so.2", "--inhibit-cache", "--preload", "/a.so",
		"--audit", "/x.so", "--library-path", "/l", "--preload", "/b.so /c.so", "--audit", "/y.so",
		"--argv0", "--preload", "/bin/prog", "--preload", "/not-an-option.so"})
	assert.Equal(t, "/b.so /c.so", a.preload)
	assert.Equal(t, []string{"/x.so", "/y.so"}, a.audit)
	assert.Equal(t, "/l", a.libraryPath)
	assert.False(t, parseRtldArgs([]string{"ld.so", "/bin/prog", "--preload", "/x.so"}).hasPreload)
}

// "ld.so --preload LIB PROGRAM" preloads with no variable in the
// environment at all: the arguments name it, and the last --preload is the
// one loaded.
func TestLiveRtldCommandPreload(t *testing.T) {
	t.Parallel()
	sim.NeedRoot(t)
	dir := sim.ExecDirIn(t, "/tmp", "modhunt-rtld-")
	first := sim.BuildLib(t, filepath.Join(dir, "libfirstarg.so"))
	last := sim.BuildLib(t, filepath.Join(dir, "liblastarg.so"))
	audit := sim.BuildLibFrom(t, filepath.Join(dir, "libauditarg.so"), sim.AuditLibSource)
	loader := sim.BuildMultiLoader(t, dir)
	interp := interpreterOf(t, loader)

	p := sim.Start(t, interp, "--preload", first, "--audit", audit, "--preload", last, loader, first)
	tb := newTable(t, Config{})
	assert.Contains(t, reasonsOf(t, tb, p.PID, last), "preloaded")
	assert.Contains(t, reasonsOf(t, tb, p.PID, audit), "preloaded")
	assert.NotContains(t, reasonsOf(t, tb, p.PID, first), "preloaded", "an earlier --preload is not the one ld.so read")
}

// interpreterOf is a program's PT_INTERP.
func interpreterOf(t *testing.T, prog string) string {
	t.Helper()
	f, err := os.Open(prog)
	require.NoError(t, err)
	defer f.Close()
	st, err := f.Stat()
	require.NoError(t, err)
	info, err := elfdyn.Parse(f, st.Size(), 4096)
	require.NoError(t, err)
	require.NotEmpty(t, info.Interp)
	return info.Interp
}
