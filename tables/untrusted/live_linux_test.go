package untrusted

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"golang.org/x/sys/unix"

	"github.com/modhunt/modhunt/tables/inventory"
	"github.com/modhunt/modhunt/tables/mounts"
	"github.com/modhunt/modhunt/tables/pkgindex"
	"github.com/modhunt/modhunt/tables/table"
	"github.com/modhunt/modhunt/tables/trust"
	"github.com/modhunt/modhunt/test/sim"
)

// col is a column's position in a row (-1 for a name the table lacks, so
// a misspelt column fails the test instead of reading another one).
func col(name string) int { return Spec.ColumnIndex(name) }

func newTable(t *testing.T, cfg Config) *table.Table {
	t.Helper()
	tb, err := NewFromConfig(cfg)
	require.NoError(t, err)
	require.NoError(t, tb.Validate())
	return tb
}

func pidQuery(pids ...int) table.Query { return table.PIDQuery(pids) }

// rowsOf scans one process through pid pushdown.
func rowsOf(t *testing.T, tb *table.Table, pid int) []table.Row {
	t.Helper()
	rows, err := tb.Generate(context.Background(), pidQuery(pid))
	require.NoError(t, err)
	for _, r := range rows {
		require.Equal(t, strconv.Itoa(pid), r[col("pid")], "pid pushdown returned another process")
	}
	return rows
}

// waitRow polls until the process shows a row for modPath: a process that
// execs (env, unshare, sh) maps its modules a moment after it starts.
func waitRow(t *testing.T, tb *table.Table, pid int, modPath string) (table.Row, []table.Row) {
	t.Helper()
	deadline := time.Now().Add(15 * time.Second)
	for {
		rows := rowsOf(t, tb, pid)
		for _, r := range rows {
			if r[col("path")] == modPath {
				return r, rows
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("pid %d never showed a row for %s; rows: %v", pid, modPath, summary(rows))
		}
		time.Sleep(50 * time.Millisecond)
	}
}

func summary(rows []table.Row) []string {
	var out []string
	for _, r := range rows {
		out = append(out, r[col("path")]+" ["+r[col("reasons")]+"]")
	}
	return out
}

// expectOnly asserts that the planted module is the process's one row,
// with exactly the expected reasons and severity, and a correct hash.
func expectOnly(t *testing.T, tb *table.Table, pid int, modPath, reasons, severity, sum string) table.Row {
	t.Helper()
	row, rows := waitRow(t, tb, pid, modPath)
	assert.Equal(t, reasons, row[col("reasons")], modPath)
	assert.Equal(t, severity, row[col("severity")], modPath)
	assert.Len(t, rows, 1, "only the planted module is untrusted in this process: %v", summary(rows))
	if sum != "" {
		assert.Equal(t, sum, row[col("sha256")])
		assert.Empty(t, row[col("sha256_skipped")])
	}
	return row
}

func TestLiveTmp(t *testing.T) {
	t.Parallel()
	sim.NeedRoot(t)
	lib := sim.BuildLib(t, filepath.Join(sim.ExecDirIn(t, "/tmp", "modhunt-untrusted-"), "libtmp.so"))
	p := sim.StartLoader(t, sim.LoaderOpts{Lib: lib})
	row := expectOnly(t, newTable(t, Config{}), p.PID, lib, "outside_trusted_dirs,temp_dir", "high", sim.SHA256File(t, lib))
	assert.Equal(t, "libtmp.so", row[col("name")])
	assert.Equal(t, "0", row[col("owner_uid")])
	assert.Equal(t, "0755", row[col("mode")])
	assert.Empty(t, row[col("package")])
	assert.Equal(t, "loader", row[col("process_name")])
	assert.Equal(t, p.Cmd.Path, row[col("process_path")])
	assert.Contains(t, row[col("cmdline")], "dlopen "+lib)
	assert.Equal(t, "0", row[col("uid")])
}

func TestLiveDevShm(t *testing.T) {
	t.Parallel()
	sim.NeedRoot(t)
	lib := sim.BuildLib(t, filepath.Join(sim.ExecDirIn(t, "/dev/shm", "modhunt-untrusted-"), "libshm.so"))
	p := sim.StartLoader(t, sim.LoaderOpts{Lib: lib})
	row := expectOnly(t, newTable(t, Config{}), p.PID, lib, "outside_trusted_dirs,temp_dir", "high", sim.SHA256File(t, lib))
	assert.Equal(t, "tmpfs", row[col("fs_type")])
}

// homeDir is a HOME-like directory the test owns: /root/.modhunt-test-XXXX
// (hidden, as malware's ~/.cache/.x hideouts are).
func homeDir(t *testing.T, pattern string) string {
	t.Helper()
	return sim.ExecDirIn(t, "/root", pattern)
}

func TestLiveHiddenHomeDir(t *testing.T) {
	t.Parallel()
	sim.NeedRoot(t)
	dir := filepath.Join(homeDir(t, ".modhunt-test-"), ".cache")
	require.NoError(t, os.Mkdir(dir, 0o700))
	lib := sim.BuildLib(t, filepath.Join(dir, "libhidden.so"))
	p := sim.StartLoader(t, sim.LoaderOpts{Lib: lib})
	expectOnly(t, newTable(t, Config{}), p.PID, lib, "hidden,outside_trusted_dirs", "medium", sim.SHA256File(t, lib))
}

func TestLiveUserWritable(t *testing.T) {
	t.Parallel()
	sim.NeedRoot(t)
	home := homeDir(t, "modhunt-test-")
	// A file another user owns.
	owned := sim.BuildLib(t, filepath.Join(home, "libowned.so"))
	require.NoError(t, os.Chown(owned, 65534, 65534))
	// A root-owned file in a group-writable directory (no sticky bit).
	gw := filepath.Join(home, "shared")
	require.NoError(t, os.Mkdir(gw, 0o775))
	require.NoError(t, os.Chmod(gw, 0o775))
	inGW := sim.BuildLib(t, filepath.Join(gw, "libgw.so"))

	tb := newTable(t, Config{})
	p1 := sim.StartLoader(t, sim.LoaderOpts{Lib: owned})
	row := expectOnly(t, tb, p1.PID, owned, "outside_trusted_dirs,user_writable", "medium", "")
	assert.Equal(t, "65534", row[col("owner_uid")])
	p2 := sim.StartLoader(t, sim.LoaderOpts{Lib: inGW})
	expectOnly(t, tb, p2.PID, inGW, "outside_trusted_dirs,user_writable", "medium", "")
}

func TestLivePythonCtypesVarTmp(t *testing.T) {
	t.Parallel()
	sim.NeedRoot(t)
	sim.NeedPython(t)
	lib := sim.BuildLib(t, filepath.Join(sim.ExecDirIn(t, "/var/tmp", "modhunt-untrusted-"), "libpy.so"))
	p := sim.StartPythonCtypes(t, lib)
	// python3 may itself come from outside the trusted directories (pyenv),
	// so only the planted module's row is asserted.
	row, _ := waitRow(t, newTable(t, Config{}), p.PID, lib)
	assert.Equal(t, "outside_trusted_dirs,temp_dir", row[col("reasons")])
	assert.Equal(t, "high", row[col("severity")])
	assert.Equal(t, sim.SHA256File(t, lib), row[col("sha256")])
}

func TestLiveDeletedAfterLoad(t *testing.T) {
	t.Parallel()
	sim.NeedRoot(t)
	lib := sim.BuildLib(t, filepath.Join(sim.ExecDirIn(t, "/tmp", "modhunt-untrusted-"), "libgone.so"))
	sum := sim.SHA256File(t, lib)
	p := sim.StartLoader(t, sim.LoaderOpts{Lib: lib, Unlink: true})
	_, err := os.Stat(lib)
	require.ErrorIs(t, err, os.ErrNotExist, "the loader unlinked it")
	expectOnly(t, newTable(t, Config{}), p.PID, lib, "deleted,outside_trusted_dirs,temp_dir", "high", sum)
}

func TestLiveMemfd(t *testing.T) {
	t.Parallel()
	sim.NeedRoot(t)
	lib := sim.BuildLib(t, filepath.Join(t.TempDir(), "libmem.so"))
	p := sim.StartLoader(t, sim.LoaderOpts{Lib: lib, Memfd: true, MemfdName: "modhunt-fileless"})
	row := expectOnly(t, newTable(t, Config{}), p.PID, "/memfd:modhunt-fileless", "memfd", "high", sim.SHA256File(t, lib))
	assert.Empty(t, row[col("package")])
}

func TestLiveLDPreload(t *testing.T) {
	t.Parallel()
	sim.NeedRoot(t)
	lib := sim.BuildLib(t, filepath.Join(sim.ExecDirIn(t, "/tmp", "modhunt-untrusted-"), "libpre.so"))
	p := sim.StartPreloaded(t, lib)
	expectOnly(t, newTable(t, Config{}), p.PID, lib, "outside_trusted_dirs,preloaded,temp_dir", "high", sim.SHA256File(t, lib))
}

func TestLiveLDLibraryPath(t *testing.T) {
	t.Parallel()
	sim.NeedRoot(t)
	dir := sim.ExecDirIn(t, "/tmp", "modhunt-untrusted-")
	lib := sim.BuildLib(t, filepath.Join(dir, "libllp.so"))
	// dlopen by bare name: the loader finds it through LD_LIBRARY_PATH.
	p := sim.Start(t, "env", "LD_LIBRARY_PATH=/nonexistent:"+dir, sim.BuildLoader(t), "dlopen", "libllp.so")
	expectOnly(t, newTable(t, Config{}), p.PID, lib, "outside_trusted_dirs,preloaded,temp_dir", "high", "")
}

func TestLiveEtcLdSoPreloadInPrivateNamespace(t *testing.T) {
	t.Parallel()
	sim.NeedRoot(t)
	sim.NeedOverlay(t)
	hostBefore, hostErr := os.ReadFile("/etc/ld.so.preload")

	lib := sim.BuildLib(t, filepath.Join(sim.ExecDirIn(t, "/tmp", "modhunt-untrusted-"), "libetcpre.so"))
	upper := sim.ExecDirIn(t, "/tmp", "modhunt-ovl-etc-")
	require.NoError(t, os.Chmod(upper, 0o755))
	require.NoError(t, os.WriteFile(filepath.Join(upper, "ld.so.preload"), []byte(lib+"\n"), 0o644))
	sleep := sim.NeedTool(t, "sleep", "coreutils")
	argv := sim.OverlayNS(t, "/etc", upper, sleep, "3600")
	p := sim.StartNoWait(t, argv[0], argv[1:]...)

	tb := newTable(t, Config{})
	expectOnly(t, tb, p.PID, lib, "outside_trusted_dirs,preloaded,temp_dir", "high", sim.SHA256File(t, lib))

	// The host never saw it: its ld.so.preload is unchanged, and a process
	// outside the namespace is not preloaded.
	hostAfter, hostErr2 := os.ReadFile("/etc/ld.so.preload")
	assert.Equal(t, hostBefore, hostAfter)
	assert.Equal(t, hostErr == nil, hostErr2 == nil)
	outside := sim.StartLoader(t, sim.LoaderOpts{Lib: lib})
	row, _ := waitRow(t, tb, outside.PID, lib)
	assert.Equal(t, "outside_trusted_dirs,temp_dir", row[col("reasons")], "ld.so.preload is read from each process's own root")
}

func TestLiveUnpackagedInSystemDir(t *testing.T) {
	t.Parallel()
	sim.NeedRoot(t)
	sim.NeedDpkg(t)
	// Plant a library in /usr/lib through an overlay in a private mount
	// namespace: the loader sees it in /usr/lib, the host's /usr/lib is
	// untouched.
	p, planted, lib := sim.StartPlantedLoader(t, "/usr/lib", "libmodhunt-planted.so")
	row := expectOnly(t, newTable(t, Config{}), p.PID, planted, "not_package_owned", "low", sim.SHA256File(t, lib))
	assert.Equal(t, "0644", row[col("mode")])
}

// TestLiveShadowedPackagedLibrary lays a library over a packaged one in a
// private mount namespace. The name is a package's, the file is not: the
// package database must not vouch for it (nor an allow_modules package
// entry hide it).
func TestLiveShadowedPackagedLibrary(t *testing.T) {
	t.Parallel()
	sim.NeedRoot(t)
	sim.NeedDpkg(t)
	const dir = "/usr/lib/x86_64-linux-gnu"
	matches, _ := filepath.Glob(dir + "/libz.so.1.*")
	if len(matches) == 0 {
		t.Skipf("needs a packaged %s/libz.so.1.* to shadow: apt-get install zlib1g", dir)
	}
	victim := matches[0]
	db := pkgindex.Open("/")
	require.NoError(t, db.Refresh())
	pkg, known := db.Owner(victim)
	require.True(t, known)
	require.NotEmpty(t, pkg, "%s is packaged", victim)

	p, shadowed, lib := sim.StartShadowingLoader(t, dir, filepath.Base(victim))
	row := expectOnly(t, newTable(t, Config{}), p.PID, shadowed, "not_package_owned", "low", sim.SHA256File(t, lib))
	assert.Empty(t, row[col("package")], "the package owns the name, not this file")

	// The host's process loading the real file is not flagged.
	policy := filepath.Join(t.TempDir(), "policy.yml")
	require.NoError(t, os.WriteFile(policy, []byte("allow_modules:\n  - package: "+pkg+"\n"), 0o600))
	expectOnly(t, newTable(t, Config{PolicyFile: policy}), p.PID, shadowed, "not_package_owned", "low", sim.SHA256File(t, lib))
}

// TestLiveRemote puts the loader's module on a mount that the (injected)
// mountinfo calls nfs4: this kernel cannot mount a network file system
// without a network, so the mount table is the fixture and everything else
// (the process, the load, the device match) is real.
func TestLiveRemote(t *testing.T) {
	t.Parallel()
	sim.NeedRoot(t)
	dir := homeDir(t, "modhunt-nfs-")
	lib := sim.BuildLib(t, filepath.Join(dir, "libremote.so"))
	var st unix.Stat_t
	require.NoError(t, unix.Stat(lib, &st))
	real, err := os.ReadFile("/proc/self/mountinfo")
	require.NoError(t, err)
	fixture := fmt.Sprintf("%s9999 1 %d:%d /exports/tools %s rw,relatime - nfs4 fileserver:/exports/tools rw,vers=4.2\n",
		real, unix.Major(st.Dev), unix.Minor(st.Dev), dir)
	p := sim.StartLoader(t, sim.LoaderOpts{Lib: lib})
	tb := newTable(t, Config{MountInfo: func(int) ([]mounts.Mount, error) { return mounts.Parse([]byte(fixture)) }})
	row := expectOnly(t, tb, p.PID, lib, "outside_trusted_dirs,remote", "medium", "")
	assert.Equal(t, "nfs4", row[col("fs_type")])
}

func TestLivePolicyAllowlists(t *testing.T) {
	t.Parallel()
	sim.NeedRoot(t)
	dir := homeDir(t, "modhunt-test-")
	lib := sim.BuildLib(t, filepath.Join(dir, "libvendor.so"))
	p := sim.StartLoader(t, sim.LoaderOpts{Lib: lib})
	row, _ := waitRow(t, newTable(t, Config{}), p.PID, lib)
	require.Equal(t, "outside_trusted_dirs", row[col("reasons")])

	policies := map[string]string{
		"by path glob":    "allow_modules:\n  - path: " + dir + "/*.so\n",
		"by sha256":       "allow_modules:\n  - sha256: " + sim.SHA256File(t, lib) + "\n",
		"by process path": "allow_processes:\n  - path: " + filepath.Dir(p.Cmd.Path) + "/*\n",
		"by process name": "allow_processes:\n  - name: loader\n",
		"by trusted dir":  "trusted_dirs: [" + dir + "]\n",
	}
	for name, doc := range policies {
		file := filepath.Join(t.TempDir(), "policy.yaml")
		require.NoError(t, os.WriteFile(file, []byte(doc), 0o600))
		rows := rowsOf(t, newTable(t, Config{PolicyFile: file}), p.PID)
		assert.Empty(t, rows, "%s: %v", name, summary(rows))
	}
}

func TestNewRefusesAMalformedPolicy(t *testing.T) {
	t.Parallel()
	file := filepath.Join(t.TempDir(), "policy.yaml")
	require.NoError(t, os.WriteFile(file, []byte("trusted_dirs: [/opt]\nallow_module: []\n"), 0o600))
	_, err := NewFromConfig(Config{PolicyFile: file})
	require.Error(t, err)
	assert.Equal(t, "policy "+file+":2:1: allow_module: unknown key (known: trusted_dirs, noexec_mounts, allow_modules, allow_processes, untrusted_dirs, temp_dirs, allow_signers, verify_trusted_dirs, jit_hosts)", err.Error())
	_, err = NewFromConfig(Config{PolicyFile: filepath.Join(t.TempDir(), "absent.yaml")})
	assert.ErrorContains(t, err, "absent.yaml")
}

func TestPidPushdown(t *testing.T) {
	t.Parallel()
	sim.NeedRoot(t)
	lib := sim.BuildLib(t, filepath.Join(sim.ExecDirIn(t, "/tmp", "modhunt-untrusted-"), "libpush.so"))
	a := sim.StartLoader(t, sim.LoaderOpts{Lib: lib})
	b := sim.StartLoader(t, sim.LoaderOpts{Lib: lib})
	var walked []int
	inv := countingSource(t, &walked)
	tb := newTable(t, Config{Inventory: inv})
	rows, err := tb.Generate(context.Background(), pidQuery(a.PID, b.PID))
	require.NoError(t, err)
	assert.ElementsMatch(t, []int{a.PID, b.PID}, walked, "only the pinned processes are read")
	var pids []string
	for _, r := range rows {
		pids = append(pids, r[col("pid")])
	}
	assert.ElementsMatch(t, []string{strconv.Itoa(a.PID), strconv.Itoa(b.PID)}, pids)

	walked = walked[:0]
	rows, err = tb.Generate(context.Background(), table.Query{Constraints: map[string][]table.Constraint{
		"pid": {{Op: table.OpEquals, Expr: "not-a-pid"}}}})
	require.NoError(t, err)
	assert.Empty(t, rows)
	assert.Empty(t, walked, "a pid that cannot match reads nothing")
}

func TestReasonsColumnNamesTheVocabulary(t *testing.T) {
	t.Parallel()
	for _, w := range trust.Vocabulary {
		assert.Contains(t, columns[col("reasons")].Description, string(w))
	}
}

// countingSource is the real inventory, recording which pids it reads.
func countingSource(t *testing.T, walked *[]int) Source {
	t.Helper()
	return inventory.New(inventory.Config{OnProcess: func(pid int) { *walked = append(*walked, pid) }})
}

func TestLiveExecFromMountThatShouldBeNoexec(t *testing.T) {
	t.Parallel()
	sim.NeedRoot(t)
	lib := sim.BuildLib(t, filepath.Join(sim.ExecDirIn(t, "/dev/shm", "modhunt-untrusted-"), "libnoexec.so"))
	p := sim.StartLoader(t, sim.LoaderOpts{Lib: lib})
	file := filepath.Join(t.TempDir(), "policy.yaml")
	require.NoError(t, os.WriteFile(file, []byte("noexec_mounts: [/dev/shm]\n"), 0o600))
	expectOnly(t, newTable(t, Config{PolicyFile: file}), p.PID, lib,
		"exec_from_writable_mount,outside_trusted_dirs,temp_dir", "high", "")
}

// TestLiveContainerRoot runs the loader in a container-like root: a private
// mount namespace, pivot_root into a tmpfs with the host's /usr overlaid
// (and a library planted in its /usr/lib). The host's package database
// says nothing about a container's files, so the planted library gets no
// not_package_owned (ownership is unknown there, see the README), while
// the path rules still judge the container's own paths: a preload from the
// container's /tmp is caught.
func TestLiveContainerRoot(t *testing.T) {
	t.Parallel()
	sim.NeedRoot(t)
	sim.NeedOverlay(t)
	sim.NeedTool(t, "pivot_root", "util-linux")
	sim.NeedTool(t, "chroot", "coreutils")
	loader := sim.BuildLoader(t)
	upper := sim.ExecDirIn(t, "/tmp", "modhunt-ct-usr-")
	require.NoError(t, os.Chmod(upper, 0o755))
	require.NoError(t, os.Mkdir(filepath.Join(upper, "lib"), 0o755))
	sim.BuildLib(t, filepath.Join(upper, "lib", "libmodhunt-container.so"))
	pre := sim.ExecDirIn(t, "/tmp", "modhunt-ct-tmp-")
	sim.BuildLib(t, filepath.Join(pre, "libctpre.so"))
	newRoot := sim.ExecDirIn(t, "/tmp", "modhunt-ct-root-")
	work := sim.ExecDirIn(t, "/tmp", "modhunt-ct-work-")
	script := fmt.Sprintf(`set -e
R=%[1]s
mount -t tmpfs -o mode=0755 tmpfs "$R"
mkdir "$R/usr" "$R/old" "$R/sim" "$R/tmp" "$R/etc" "$R/proc"
mount -t overlay overlay -o lowerdir=/usr,upperdir=%[2]s,workdir=%[3]s "$R/usr"
ln -s usr/lib "$R/lib"; ln -s usr/lib64 "$R/lib64"; ln -s usr/bin "$R/bin"
mount --bind %[4]s "$R/sim"
mount --bind %[5]s "$R/tmp"
cd "$R"
pivot_root . old
exec /usr/sbin/chroot . /usr/bin/env LD_PRELOAD=/tmp/libctpre.so /sim/%[6]s dlopen /usr/lib/libmodhunt-container.so`,
		newRoot, upper, work, filepath.Dir(loader), pre, filepath.Base(loader))
	p := sim.Start(t, "unshare", "--mount", "--propagation", "private", "sh", "-c", script)

	// The kernel shows the container's own paths.
	procs, err := inventory.New(inventory.Config{}).Processes(context.Background(), []int{p.PID})
	require.NoError(t, err)
	require.Len(t, procs, 1)
	var mapped []string
	for _, m := range procs[0].Modules {
		mapped = append(mapped, m.Path)
	}
	require.Contains(t, mapped, "/usr/lib/libmodhunt-container.so")

	expectOnly(t, newTable(t, Config{}), p.PID, "/tmp/libctpre.so", "outside_trusted_dirs,preloaded,temp_dir", "high", "")
}

// TestConcurrentScans runs scans of one table at once, as the guard allows:
// the hash cache, the package index and the policy are shared.
func TestConcurrentScans(t *testing.T) {
	t.Parallel()
	sim.NeedRoot(t)
	lib := sim.BuildLib(t, filepath.Join(sim.ExecDirIn(t, "/tmp", "modhunt-untrusted-"), "libconc.so"))
	p := sim.StartLoader(t, sim.LoaderOpts{Lib: lib})
	tb := newTable(t, Config{})
	want := sim.SHA256File(t, lib)
	errs := make(chan error, 4)
	for range 4 {
		go func() {
			rows, err := tb.Generate(context.Background(), table.Query{})
			if err == nil {
				err = fmt.Errorf("no row for %s", lib)
				for _, r := range rows {
					if r[col("pid")] == strconv.Itoa(p.PID) && r[col("path")] == lib && r[col("sha256")] == want {
						err = nil
					}
				}
			}
			errs <- err
		}()
	}
	for range 4 {
		assert.NoError(t, <-errs)
	}
}
