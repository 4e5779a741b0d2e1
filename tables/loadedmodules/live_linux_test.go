package loadedmodules

import (
	"context"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"golang.org/x/sys/unix"

	"github.com/modhunt/modhunt/tables/deps"
	"github.com/modhunt/modhunt/tables/inventory"
	"github.com/modhunt/modhunt/tables/table"
	"github.com/modhunt/modhunt/test/sim"
)

// pidQuery is `WHERE pid IN (pids...)` as a host pushes it down.
func pidQuery(pids ...int) table.Query { return table.PIDQuery(pids) }

// rowsOf runs the table for one pid and returns its rows as column maps.
func rowsOf(t *testing.T, tbl *table.Table, pid int) []map[string]string {
	t.Helper()
	rows, err := tbl.Generate(context.Background(), pidQuery(pid))
	require.NoError(t, err)
	out := make([]map[string]string, 0, len(rows))
	for _, r := range rows {
		require.Len(t, r, len(tbl.Columns))
		m := map[string]string{}
		for i, c := range tbl.Columns {
			m[c.Name] = r[i]
		}
		out = append(out, m)
	}
	return out
}

func rowFor(t *testing.T, rows []map[string]string, path string) map[string]string {
	t.Helper()
	for _, r := range rows {
		if r["path"] == path {
			return r
		}
	}
	var paths []string
	for _, r := range rows {
		paths = append(paths, r["path"])
	}
	t.Fatalf("no row for %q among %q", path, paths)
	return nil
}

// kernelFacts reads /proc/PID/maps the plain way: the lowest start, the
// total size, the permission union, device and inode of the lines whose
// name is exactly kernelPath.
type facts struct {
	base, size uint64
	perms      string
	device     string
	inode      string
}

func kernelFacts(t *testing.T, pid int, kernelPath string) facts {
	t.Helper()
	// Read whole: a line can be longer than bufio.Scanner's default.
	maps, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/maps")
	require.NoError(t, err)
	var k facts
	union := []byte("---p")
	for line := range strings.SplitSeq(string(maps), "\n") {
		fields := strings.Fields(line)
		if len(fields) < 6 || !strings.HasSuffix(line, " "+kernelPath) {
			continue
		}
		// The name must be the whole tail after the padding.
		if strings.TrimLeft(line[len(strings.Join(fields[:5], " ")):], " ") != kernelPath {
			continue
		}
		rng := strings.SplitN(fields[0], "-", 2)
		s, err := strconv.ParseUint(rng[0], 16, 64)
		require.NoError(t, err)
		e, err := strconv.ParseUint(rng[1], 16, 64)
		require.NoError(t, err)
		if k.base == 0 || s < k.base {
			k.base = s
		}
		k.size += e - s
		for i := range 3 {
			if fields[1][i] != '-' {
				union[i] = fields[1][i]
			}
		}
		if fields[1][3] == 's' {
			union[3] = 's'
		}
		k.device, k.inode = fields[3], fields[4]
	}
	require.NotZero(t, k.base, "%q is not in /proc/%d/maps", kernelPath, pid)
	k.perms = string(union)
	return k
}

func inodeOf(t *testing.T, path string) string {
	t.Helper()
	var st unix.Stat_t
	require.NoError(t, unix.Stat(path, &st))
	return strconv.FormatUint(st.Ino, 10)
}

// checkModule asserts every column of the module row against what the
// kernel and the test know.
func checkModule(t *testing.T, r map[string]string, p *sim.Proc, path, kernelPath string, deleted, memfd bool) {
	t.Helper()
	k := kernelFacts(t, p.PID, kernelPath)
	exe, err := os.Readlink("/proc/" + strconv.Itoa(p.PID) + "/exe")
	require.NoError(t, err)
	assert.Equal(t, strconv.Itoa(p.PID), r["pid"])
	assert.Equal(t, strconv.Itoa(os.Getpid()), r["parent"])
	assert.Equal(t, strconv.Itoa(os.Getuid()), r["uid"])
	comm, err := os.ReadFile("/proc/" + strconv.Itoa(p.PID) + "/comm")
	require.NoError(t, err)
	cmdline, err := os.ReadFile("/proc/" + strconv.Itoa(p.PID) + "/cmdline")
	require.NoError(t, err)
	assert.Equal(t, strings.TrimSuffix(string(comm), "\n"), r["process_name"])
	assert.Equal(t, exe, r["process_path"])
	assert.Equal(t, strings.ReplaceAll(strings.TrimRight(string(cmdline), "\x00"), "\x00", " "), r["cmdline"])
	if p.Cmd.Path == exe {
		// Started directly (no wrapper or shim exec'd in between).
		assert.Equal(t, strings.Join(p.Cmd.Args, " "), r["cmdline"])
		assert.Equal(t, filepath.Base(exe), r["process_name"])
	}
	assert.Equal(t, path, r["path"])
	assert.Equal(t, path[strings.LastIndexByte(path, '/')+1:], r["name"])
	assert.Equal(t, "0x"+strconv.FormatUint(k.base, 16), r["base_address"])
	assert.Equal(t, strconv.FormatUint(k.size, 10), r["size"])
	assert.Equal(t, k.perms, r["permissions"])
	assert.Equal(t, k.inode, r["inode"])
	assert.Equal(t, k.device, r["device"])
	assert.Equal(t, table.Bool(deleted), r["deleted"])
	assert.Equal(t, table.Bool(memfd), r["memfd"])
	assert.Equal(t, "1", r["executable"])
	assert.Equal(t, "elf", r["file_type"])
}

func liveSetup(t *testing.T) *table.Table {
	t.Helper()
	sim.NeedRoot(t)
	sim.NeedGCC(t)
	return mustNew(deps.Deps{})
}

func TestLiveSharedObjectFromTempDir(t *testing.T) {
	t.Parallel()
	tbl := liveSetup(t)
	lib := sim.BuildLib(t, filepath.Join(t.TempDir(), "libtmp.so"))
	p := sim.StartLoader(t, sim.LoaderOpts{Lib: lib})
	r := rowFor(t, rowsOf(t, tbl, p.PID), lib)
	checkModule(t, r, p, lib, lib, false, false)
	assert.Equal(t, inodeOf(t, lib), r["inode"])
}

func TestLivePathWithSpaces(t *testing.T) {
	t.Parallel()
	tbl := liveSetup(t)
	dir := filepath.Join(t.TempDir(), "two  spaces here")
	require.NoError(t, os.Mkdir(dir, 0o755))
	lib := sim.BuildLib(t, filepath.Join(dir, "lib with space.so"))
	p := sim.StartLoader(t, sim.LoaderOpts{Lib: lib})
	checkModule(t, rowFor(t, rowsOf(t, tbl, p.PID), lib), p, lib, lib, false, false)
}

func TestLiveDeletedAfterLoad(t *testing.T) {
	t.Parallel()
	tbl := liveSetup(t)
	lib := sim.BuildLib(t, filepath.Join(t.TempDir(), "libgone.so"))
	p := sim.StartLoader(t, sim.LoaderOpts{Lib: lib, Unlink: true})
	_, err := os.Stat(lib)
	require.True(t, os.IsNotExist(err))
	rows := rowsOf(t, tbl, p.PID)
	checkModule(t, rowFor(t, rows, lib), p, lib, lib+" (deleted)", true, false)
	for _, r := range rows {
		assert.NotContains(t, r["path"], "(deleted)", "a really deleted file loses the suffix")
	}
}

func TestLiveMemfd(t *testing.T) {
	t.Parallel()
	tbl := liveSetup(t)
	lib := sim.BuildLib(t, filepath.Join(t.TempDir(), "libmem.so"))
	p := sim.StartLoader(t, sim.LoaderOpts{Lib: lib, Memfd: true, MemfdName: "modhunt-payload"})
	rows := rowsOf(t, tbl, p.PID)
	checkModule(t, rowFor(t, rows, "/memfd:modhunt-payload"), p, "/memfd:modhunt-payload", "/memfd:modhunt-payload (deleted)", true, true)
	for _, r := range rows {
		if r["path"] == lib {
			t.Fatal("the source file was only read, never mapped")
		}
	}
}

// A file really named "lib (deleted).so" is not deleted; unlinked, it is.
func TestLiveDeletedInTheMiddleOfTheName(t *testing.T) {
	t.Parallel()
	tbl := liveSetup(t)
	lib := sim.BuildLib(t, filepath.Join(t.TempDir(), "lib (deleted).so"))
	kept := sim.StartLoader(t, sim.LoaderOpts{Lib: lib})
	checkModule(t, rowFor(t, rowsOf(t, tbl, kept.PID), lib), kept, lib, lib, false, false)

	lib2 := sim.BuildLib(t, filepath.Join(t.TempDir(), "lib (deleted).so"))
	gone := sim.StartLoader(t, sim.LoaderOpts{Lib: lib2, Unlink: true})
	checkModule(t, rowFor(t, rowsOf(t, tbl, gone.PID), lib2), gone, lib2, lib2+" (deleted)", true, false)
}

// A file whose real name ends in " (deleted)" reads in maps exactly like
// an unlinked one; only the file can tell them apart.
func TestLiveDeletedSuffixInTheRealName(t *testing.T) {
	t.Parallel()
	tbl := liveSetup(t)
	lib := sim.BuildLib(t, filepath.Join(t.TempDir(), "libz.so (deleted)"))
	p := sim.StartLoader(t, sim.LoaderOpts{Lib: lib})
	checkModule(t, rowFor(t, rowsOf(t, tbl, p.PID), lib), p, lib, lib, false, false)

	// The decoy: load libq.so, unlink it, then plant a different file
	// under the name maps now shows. Still deleted.
	dir := t.TempDir()
	libq := sim.BuildLib(t, filepath.Join(dir, "libq.so"))
	q := sim.StartLoader(t, sim.LoaderOpts{Lib: libq, Unlink: true})
	sim.BuildLib(t, libq+" (deleted)")
	checkModule(t, rowFor(t, rowsOf(t, tbl, q.PID), libq), q, libq, libq+" (deleted)", true, false)
}

func TestLiveNonUTF8Path(t *testing.T) {
	t.Parallel()
	tbl := liveSetup(t)
	dir := filepath.Join(t.TempDir(), "caf\xe9")
	require.NoError(t, os.Mkdir(dir, 0o755))
	lib := sim.BuildLib(t, filepath.Join(dir, "lib\xff\xfe.so"))
	p := sim.StartLoader(t, sim.LoaderOpts{Lib: lib})
	r := rowFor(t, rowsOf(t, tbl, p.PID), lib)
	assert.Equal(t, []byte(lib), []byte(r["path"]), "bytes round-trip exactly")
	assert.Equal(t, []byte("lib\xff\xfe.so"), []byte(r["name"]))
	checkModule(t, r, p, lib, lib, false, false)
}

func TestLivePseudoRegionsAbsentMainExecutablePresent(t *testing.T) {
	t.Parallel()
	tbl := liveSetup(t)
	lib := sim.BuildLib(t, filepath.Join(t.TempDir(), "libp.so"))
	p := sim.StartLoader(t, sim.LoaderOpts{Lib: lib})
	maps, err := os.ReadFile("/proc/" + strconv.Itoa(p.PID) + "/maps")
	require.NoError(t, err)
	for _, pseudo := range []string{"[heap]", "[stack]", "[vdso]"} {
		require.Contains(t, string(maps), pseudo, "the process does have %s", pseudo)
	}
	require.Regexp(t, `(?m) 0 *$`, string(maps), "the process does have anonymous mappings")
	rows := rowsOf(t, tbl, p.PID)
	paths := map[string]bool{}
	for _, r := range rows {
		assert.True(t, strings.HasPrefix(r["path"], "/"), "row for %q", r["path"])
		assert.False(t, paths[r["path"]], "one row per file: %s twice", r["path"])
		paths[r["path"]] = true
	}
	loader := p.Cmd.Path
	r := rowFor(t, rows, loader)
	assert.Equal(t, "elf", r["file_type"])
	assert.Equal(t, "1", r["executable"])
	assert.Equal(t, "loader", r["name"])
	k := kernelFacts(t, p.PID, loader)
	assert.Equal(t, "0x"+strconv.FormatUint(k.base, 16), r["base_address"])
	assert.Equal(t, strconv.FormatUint(k.size, 10), r["size"])
	assert.Equal(t, k.perms, r["permissions"])
	assert.Equal(t, inodeOf(t, loader), r["inode"])
}

func TestLivePythonCtypes(t *testing.T) {
	t.Parallel()
	tbl := liveSetup(t)
	sim.NeedPython(t)
	lib := sim.BuildLib(t, filepath.Join(t.TempDir(), "libpy.so"))
	p := sim.StartPythonCtypes(t, lib)
	checkModule(t, rowFor(t, rowsOf(t, tbl, p.PID), lib), p, lib, lib, false, false)
}

// A process in its own mount namespace sees a tmpfs the host does not:
// its paths are its own, and file facts come from its files, not from
// whatever the host has under the same name.
func TestLiveOwnMountNamespace(t *testing.T) {
	t.Parallel()
	tbl := liveSetup(t)
	sim.NeedTool(t, "unshare", "util-linux")
	sh := sim.NeedTool(t, "sh", "dash")
	lib := sim.BuildLib(t, filepath.Join(t.TempDir(), "libsrc.so"))
	dir := filepath.Join(t.TempDir(), "ns")
	require.NoError(t, os.Mkdir(dir, 0o755))
	// On the host, the same path holds a script.
	hostFile := filepath.Join(dir, "libns.so")
	require.NoError(t, os.WriteFile(hostFile, []byte("#!/bin/sh\necho decoy\n"), 0o755))
	// Inside, a file named with " (deleted)" exists only there.
	inner := filepath.Join(dir, "libns.so")
	innerSuffixed := filepath.Join(dir, "libalso.so (deleted)")
	script := `mount -t tmpfs modhunt-test "$1" && cp "$2" "$3" && cp "$2" "$4" && exec "$5" dlopen "$3"`
	p := sim.StartLoader(t, sim.LoaderOpts{
		Lib:  inner,
		Wrap: []string{"unshare", "--mount", "--propagation", "private", sh, "-c", script, "sh", dir, lib, inner, innerSuffixed},
	})
	rows := rowsOf(t, tbl, p.PID)
	r := rowFor(t, rows, inner)
	assert.Equal(t, "elf", r["file_type"], "read through the process's view, not the host's script")
	assert.NotEqual(t, inodeOf(t, hostFile), r["inode"])
	assert.Equal(t, "0", r["deleted"])
	k := kernelFacts(t, p.PID, inner)
	assert.Equal(t, "0x"+strconv.FormatUint(k.base, 16), r["base_address"])
	assert.Equal(t, k.inode, r["inode"])
	_, err := os.Stat(innerSuffixed)
	require.True(t, os.IsNotExist(err), "the suffixed file exists only in the namespace")

	// Now the same process loads nothing more, but a second loader in a
	// fresh namespace loads the suffixed name: not deleted, because the
	// name resolves inside its root.
	p2 := sim.StartLoader(t, sim.LoaderOpts{
		Lib:  innerSuffixed,
		Wrap: []string{"unshare", "--mount", "--propagation", "private", sh, "-c", script, "sh", dir, lib, innerSuffixed, inner},
	})
	r2 := rowFor(t, rowsOf(t, tbl, p2.PID), innerSuffixed)
	assert.Equal(t, "0", r2["deleted"], "resolved in the process's root, where it exists")
	assert.Equal(t, "elf", r2["file_type"])
}

func TestLivePIDPushdownReadsOnlyThose(t *testing.T) {
	t.Parallel()
	liveSetup(t)
	lib := sim.BuildLib(t, filepath.Join(t.TempDir(), "libpin.so"))
	a := sim.StartLoader(t, sim.LoaderOpts{Lib: lib})
	b := sim.StartLoader(t, sim.LoaderOpts{Lib: lib})
	var mu sync.Mutex
	var read []int
	inv := inventory.New(inventory.Config{ModulesOnly: true, OnProcess: func(pid int) {
		mu.Lock()
		defer mu.Unlock()
		read = append(read, pid)
	}})
	tbl := mustNew(deps.Deps{Inventory: inv})
	rows, err := tbl.Generate(context.Background(), pidQuery(b.PID, a.PID, a.PID))
	require.NoError(t, err)
	want := []int{a.PID, b.PID}
	slices.Sort(want)
	assert.Equal(t, want, read, "only the pinned processes are read")
	seen := map[string]bool{}
	for _, r := range rows {
		seen[r[0]] = true
	}
	assert.Equal(t, map[string]bool{strconv.Itoa(a.PID): true, strconv.Itoa(b.PID): true}, seen)

	read = nil
	rows, err = tbl.Generate(context.Background(), table.Query{Constraints: map[string][]table.Constraint{
		"pid": {{Op: table.OpEquals, Expr: "not-a-pid"}},
	}})
	require.NoError(t, err)
	assert.Empty(t, rows)
	assert.Empty(t, read, "a pid that cannot exist reads nothing")

	read = nil
	_, err = tbl.Generate(context.Background(), table.Query{})
	require.NoError(t, err)
	assert.Contains(t, read, a.PID)
	assert.Greater(t, len(read), 2, "no constraint reads every process")
}

// A process whose own executable was unlinked after it started: the main
// executable's row and process_path both lose the suffix, deleted = 1.
func TestLiveDeletedExecutable(t *testing.T) {
	t.Parallel()
	tbl := liveSetup(t)
	lib := sim.BuildLib(t, filepath.Join(t.TempDir(), "libx.so"))
	exe := filepath.Join(t.TempDir(), "gone loader")
	src, err := os.ReadFile(sim.BuildLoader(t))
	require.NoError(t, err)
	require.NoError(t, os.WriteFile(exe, src, 0o755))
	p := sim.Start(t, exe, sim.LoaderArgs(sim.LoaderOpts{Lib: lib})...)
	require.NoError(t, os.Remove(exe))
	rows := rowsOf(t, tbl, p.PID)
	r := rowFor(t, rows, exe)
	assert.Equal(t, "1", r["deleted"])
	assert.Equal(t, "elf", r["file_type"], "read through map_files although unlinked")
	assert.Equal(t, "gone loader", r["name"])
	k := kernelFacts(t, p.PID, exe+" (deleted)")
	assert.Equal(t, "0x"+strconv.FormatUint(k.base, 16), r["base_address"])
	for _, r := range rows {
		assert.Equal(t, exe, r["process_path"])
	}
}
