package untrusted

import (
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"golang.org/x/sys/unix"

	"github.com/modhunt/modhunt/tables/table"
	"github.com/modhunt/modhunt/test/sim"
)

// Issue 8: an unprivileged user must not be able to hide a module from
// this table, nor lower its severity. These tests load real libraries
// the ways an attacker would.

var severityRank = map[string]int{"low": 1, "medium": 2, "high": 3}

func publicLib(t *testing.T) string {
	t.Helper()
	return sim.BuildLib(t, filepath.Join(sim.PublicDir(t, "modhunt-ut-"), "libsrc.so"))
}

// rowsFor are the process's rows for one path.
func rowsFor(rows []table.Row, modPath string) []table.Row {
	var out []table.Row
	for _, r := range rows {
		if r[col("path")] == modPath {
			out = append(out, r)
		}
	}
	return out
}

func hasReason(r table.Row, reason string) bool {
	return strings.Contains(","+r[col("reasons")]+",", ","+reason+",")
}

// A library on a user's own tmpfs, named like the kernel's shared memory
// and detached, is judged like any other module: it is deleted, and its
// path leads nowhere.
func TestLiveKernelLookalikeNamesAreJudged(t *testing.T) {
	t.Parallel()
	lib := publicLib(t)
	tb := newTable(t, Config{})
	for _, name := range []string{"SYSV00001129", "dev/zero", "memfd:x"} {
		l := sim.StartTmpfsLoader(t, sim.TmpfsLoadOpts{Lib: lib, Name: name, Unlink: true})
		l.Detach(t)
		row, rows := waitRow(t, tb, l.PID, "/"+name)
		assert.Len(t, rowsFor(rows, "/"+name), 1, name)
		for _, reason := range []string{"deleted", "path_mismatch"} {
			assert.True(t, hasReason(row, reason), "%s: %s in %s", name, reason, row[col("reasons")])
		}
		assert.False(t, hasReason(row, "memfd"), "%s: a tmpfs file is no memfd", name)
		assert.Equal(t, "high", row[col("severity")], name)
		assert.Equal(t, "tmpfs", row[col("fs_type")], name)
		assert.Equal(t, sim.SHA256File(t, lib), row[col("sha256")], name)
	}
}

// systemLibrary is a packaged library the host has under its canonical
// path (libc), which a user can plant a file of their own under.
func systemLibrary(t *testing.T) string {
	t.Helper()
	sim.NeedDpkg(t)
	cands, _ := filepath.Glob("/usr/lib*/*/libc.so.6")
	cands = append(cands, "/usr/lib64/libc.so.6", "/usr/lib/libc.so.6")
	for _, c := range cands {
		if real, err := filepath.EvalSymlinks(c); err == nil && real == c {
			return c
		}
	}
	t.Skip("no libc.so.6 under its canonical path in /usr/lib")
	return ""
}

// A library on a tmpfs in a private mount namespace, at what reads as a
// system path once the tmpfs is detached, keeps at least the severity it
// had while mounted: its path does not lead to it (path_mismatch), its
// fs_type is its own device's, and neither the package that owns the name
// nor an allowlisted path vouches for it.
func TestLiveDetachedMountAtSystemPath(t *testing.T) {
	t.Parallel()
	sys := systemLibrary(t)
	lib := publicLib(t)
	policy := filepath.Join(t.TempDir(), "policy.yml")
	require.NoError(t, os.WriteFile(policy, []byte("allow_modules:\n  - path: "+filepath.Dir(sys)+"/**\n"), 0o600))
	plain, allowing := newTable(t, Config{}), newTable(t, Config{PolicyFile: policy})
	l := sim.StartTmpfsLoader(t, sim.TmpfsLoadOpts{Lib: lib, Name: strings.TrimPrefix(sys, "/")})

	mounted, _ := waitRow(t, plain, l.PID, l.Mount+sys)
	assert.Equal(t, "tmpfs", mounted[col("fs_type")])
	assert.False(t, hasReason(mounted, "path_mismatch"), "mounted, the path leads to the file: %s", mounted[col("reasons")])

	l.Detach(t)
	for _, tb := range []*table.Table{plain, allowing} {
		row, rows := waitRow(t, tb, l.PID, sys)
		assert.Len(t, rowsFor(rows, sys), 1, "the real libc is trusted, the planted one is not")
		assert.True(t, hasReason(row, "path_mismatch"), row[col("reasons")])
		assert.False(t, hasReason(row, "deleted"), row[col("reasons")])
		assert.Equal(t, "tmpfs", row[col("fs_type")], "the file's own file system, not the path's")
		assert.Empty(t, row[col("package")], "a package owns the name, not this file")
		assert.GreaterOrEqual(t, severityRank[row[col("severity")]], severityRank[mounted[col("severity")]],
			"detached %s (%s) against mounted %s (%s)", row[col("severity")], row[col("reasons")],
			mounted[col("severity")], mounted[col("reasons")])
		assert.Equal(t, sim.SHA256File(t, lib), row[col("sha256")])
	}
}

// A library deleted from a detached bind mount of the host's own file
// system reads like one a package upgrade left behind: a trusted
// directory that exists, on the same device. It was opened through
// another mount, and that is what tells them apart.
func TestLiveDeletedFromDetachedBindMount(t *testing.T) {
	t.Parallel()
	sys := systemLibrary(t)
	src := sim.TempDirIn(t, "/var/tmp", "modhunt-bind-")
	var vst, lst unix.Stat_t
	require.NoError(t, unix.Stat(src, &vst))
	require.NoError(t, unix.Stat(filepath.Dir(sys), &lst))
	if vst.Dev != lst.Dev {
		t.Skipf("/var/tmp is not on the file system of %s here", filepath.Dir(sys))
	}
	inner := filepath.Join(filepath.Dir(sys), "libmodhunt-bind.so")
	require.NoError(t, os.MkdirAll(filepath.Join(src, filepath.Dir(inner)), 0o755))
	require.NoError(t, filepath.Walk(src, func(p string, _ os.FileInfo, err error) error {
		if err != nil {
			return err
		}
		return os.Chown(p, sim.Nobody, sim.Nobody)
	}))
	lib := publicLib(t)
	l := sim.StartTmpfsLoader(t, sim.TmpfsLoadOpts{Lib: lib, Name: strings.TrimPrefix(inner, "/"), Unlink: true, Bind: src})
	l.Detach(t)
	row, _ := waitRow(t, newTable(t, Config{}), l.PID, inner)
	assert.True(t, hasReason(row, "deleted"), row[col("reasons")])
	assert.True(t, hasReason(row, "path_mismatch"), row[col("reasons")])
	assert.Equal(t, "high", row[col("severity")])
}

// A process allowlisted by the path of its program is allowlisted only when
// that path leads to the program it runs: a user can run anything from a
// detached tmpfs under an allowlisted name.
func TestLiveDetachedProgramIsNotAllowlisted(t *testing.T) {
	t.Parallel()
	lib := publicLib(t)
	policy := filepath.Join(t.TempDir(), "policy.yml")
	real := sim.BuildLoader(t)
	require.NoError(t, os.WriteFile(policy, []byte(
		"allow_processes:\n  - path: /usr/lib/jvm/*/bin/java\n  - path: "+real+"\n"), 0o600))
	tb := newTable(t, Config{PolicyFile: policy})

	l := sim.StartTmpfsLoader(t, sim.TmpfsLoadOpts{Lib: lib, Name: "x/libevil.so", Exe: "usr/lib/jvm/modhunt/bin/java"})
	l.Detach(t)
	exe, err := os.Readlink("/proc/" + strconv.Itoa(l.PID) + "/exe")
	require.NoError(t, err)
	require.Equal(t, "/usr/lib/jvm/modhunt/bin/java", exe, "the program reads as an allowlisted one")
	row, _ := waitRow(t, tb, l.PID, "/x/libevil.so")
	assert.True(t, hasReason(row, "path_mismatch"), row[col("reasons")])

	// The allowlist still holds for the program it names.
	ok := sim.Start(t, real, sim.LoaderArgs(sim.LoaderOpts{Lib: sim.BuildLib(t, filepath.Join(sim.ExecDirIn(t, "/tmp", "modhunt-ut-"), "liba.so"))})...)
	assert.Empty(t, rowsOf(t, tb, ok.PID), "allowlisted by its real path")
}

// A library whose path reads exactly like the program's is still judged:
// the program is the file /proc/PID/exe leads to, not a name.
func TestLiveLibraryNamedLikeItsProgram(t *testing.T) {
	t.Parallel()
	lib := publicLib(t)
	l := sim.StartTmpfsLoader(t, sim.TmpfsLoadOpts{Lib: lib})
	l.Detach(t)
	tb := newTable(t, Config{})
	row, rows := waitRow(t, tb, l.PID, l.Loader)
	assert.Len(t, rowsFor(rows, l.Loader), 1, "the program itself is not judged, the library is")
	assert.True(t, hasReason(row, "path_mismatch"), row[col("reasons")])
	assert.Equal(t, sim.SHA256File(t, lib), row[col("sha256")])
}

// chrootScript loads a library, then locks itself in a directory.
const chrootScript = `import ctypes, os, sys, time
lib = ctypes.CDLL(sys.argv[1])
assert lib.modhunt_probe() == 42
os.chroot(sys.argv[2])
print("ready", flush=True)
time.sleep(3600)
`

// Paths that do lead to the file get no path_mismatch, however they look:
// 75,000 bytes deep (resolved a piece at a time), with a newline and a
// real " (deleted)" in the name, or loaded before the process chrooted
// (the kernel names them from our root, not the jail's).
func TestLivePathsThatLeadToTheFile(t *testing.T) {
	t.Parallel()
	tb := newTable(t, Config{})

	deep, lib := sim.StartDeepLoader(t, sim.ExecDirIn(t, "/tmp", "modhunt-ut-"), 300)
	row, _ := waitRow(t, tb, deep.PID, lib)
	assert.Equal(t, "outside_trusted_dirs,temp_dir", row[col("reasons")])

	nl := sim.BuildLib(t, filepath.Join(sim.ExecDirIn(t, "/tmp", "modhunt-ut-"), "a\nb.so (deleted)"))
	p := sim.StartLoader(t, sim.LoaderOpts{Lib: nl})
	expectOnly(t, tb, p.PID, nl, "outside_trusted_dirs,temp_dir", "high", sim.SHA256File(t, nl))

	py := sim.NeedPython(t)
	jailed := sim.BuildLib(t, filepath.Join(sim.ExecDirIn(t, "/tmp", "modhunt-ut-"), "libjail.so"))
	jail := t.TempDir()
	j := sim.Start(t, py, "-c", chrootScript, jailed, jail)
	root, err := os.Readlink("/proc/" + strconv.Itoa(j.PID) + "/root")
	require.NoError(t, err)
	require.Equal(t, jail, root, "the process is jailed")
	row, _ = waitRow(t, tb, j.PID, jailed)
	assert.Equal(t, "outside_trusted_dirs,temp_dir", row[col("reasons")])

	// The same in a mount namespace of its own, from a tmpfs only it has:
	// the kernel names the library from the top of that namespace, which
	// is neither our root nor the process's.
	sim.NeedTool(t, "unshare", "util-linux")
	ns := sim.ExecDirIn(t, "/tmp", "modhunt-ut-")
	k := sim.Start(t, "unshare", "--mount", "--propagation", "private", "sh", "-c",
		`mount -t tmpfs modhunt-test "$1" && mkdir "$1/jail" && cp "$2" "$1/libns.so" && exec "$3" -c "$4" "$1/libns.so" "$1/jail"`,
		"sh", ns, jailed, py, chrootScript)
	row, _ = waitRow(t, tb, k.PID, ns+"/libns.so")
	assert.Equal(t, "outside_trusted_dirs,temp_dir", row[col("reasons")])
}
