package unbacked

import (
	"context"
	"debug/elf"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/modhunt/modhunt/tables/inventory"
	"github.com/modhunt/modhunt/tables/table"
	"github.com/modhunt/modhunt/test/sim"
)

// buildC compiles testdata/<name>.c into the test's temporary directory.
func buildC(t testing.TB, name string, flags ...string) string {
	t.Helper()
	cc := sim.NeedGCC(t)
	out := filepath.Join(t.TempDir(), name)
	args := append([]string{"-O1", "-o", out, filepath.Join("testdata", name+".c")}, flags...)
	if b, err := exec.Command(cc, args...).CombinedOutput(); err != nil {
		t.Fatalf("gcc %s: %v\n%s", name, err, b)
	}
	return out
}

// addrs reads the "0xADDR [SIZE]" lines a simulation wrote.
func addrs(t testing.TB, file string) (starts, sizes []uint64) {
	t.Helper()
	b, err := os.ReadFile(file)
	require.NoError(t, err)
	for line := range strings.Lines(string(b)) {
		f := strings.Fields(line)
		a, err := strconv.ParseUint(strings.TrimPrefix(f[0], "0x"), 16, 64)
		require.NoError(t, err, line)
		starts = append(starts, a)
		if len(f) > 1 {
			n, err := strconv.ParseUint(f[1], 10, 64)
			require.NoError(t, err)
			sizes = append(sizes, n)
		}
	}
	return starts, sizes
}

// row is one table row by column name.
type row map[string]string

func scanPID(t testing.TB, s *Scanner, pid int) []row {
	t.Helper()
	rows, err := s.generate(context.Background(), table.PIDQuery([]int{pid}))
	require.NoError(t, err)
	out := make([]row, len(rows))
	for i, r := range rows {
		require.Len(t, r, len(Columns))
		out[i] = row{}
		for j, c := range Columns {
			out[i][c.Name] = r[j]
		}
	}
	return out
}

func at(rows []row, addr uint64) row {
	want := "0x" + strconv.FormatUint(addr, 16)
	for _, r := range rows {
		if r["address"] == want {
			return r
		}
	}
	return nil
}

func newScanner(t testing.TB, cfg Config) *Scanner {
	t.Helper()
	if cfg.Inventory == nil {
		cfg.Inventory = inventory.New(inventory.Config{ModulesOnly: true})
	}
	s, err := NewScanner(cfg)
	require.NoError(t, err)
	return s
}

// firstExecHeader is what the first bytes of an ELF file's lowest
// executable segment's mapping are: its ELF header when that segment maps
// the file from offset 0 (linked without a separate code segment), none
// otherwise. Read from the file itself with debug/elf.
func firstExecHeader(t testing.TB, path string) Header {
	t.Helper()
	f, err := elf.Open(path)
	require.NoError(t, err)
	defer func() { _ = f.Close() }()
	for _, p := range f.Progs {
		if p.Type == elf.PT_LOAD && p.Flags&elf.PF_X != 0 {
			if p.Off&^0xfff == 0 {
				return HeaderELF
			}
			return HeaderNone
		}
	}
	t.Fatalf("%s has no executable segment", path)
	return ""
}

// TestLiveAnonymousRWXWithELF: a process that copies an ELF image into
// anonymous RWX memory (what a reflective ELF loader does) has a row per
// region: anonymous, rwx, header elf, and the sha256 of the image's first
// page. Each region's first page is read once, and nothing else is.
func TestLiveAnonymousRWXWithELF(t *testing.T) {
	t.Parallel()
	prog := buildC(t, "anonelf")
	out := filepath.Join(t.TempDir(), "addrs")
	p := sim.Start(t, prog, out, prog, "3")
	starts, sizes := addrs(t, out)
	require.Len(t, starts, 3)

	var mu sync.Mutex
	var read []uint64
	s := newScanner(t, Config{OnRead: func(pid int, addr uint64) {
		mu.Lock()
		defer mu.Unlock()
		assert.Equal(t, p.PID, pid)
		read = append(read, addr)
	}})
	rows := scanPID(t, s, p.PID)
	img, err := os.ReadFile(prog)
	require.NoError(t, err)
	for i, a := range starts {
		r := at(rows, a)
		require.NotNil(t, r, "region %#x: rows %v", a, rows)
		assert.Equal(t, TypeAnonymous, r["region_type"])
		assert.Equal(t, "rwx", r["protection"])
		assert.Equal(t, "elf", r["header"])
		assert.Equal(t, "0", r["is_dotnet"])
		assert.Equal(t, strconv.FormatUint(sizes[i], 10), r["size"])
		assert.Equal(t, sha256Hex(img[:DefaultPageBytes]), r["sha256"], "the first page of the copied image")
		assert.Equal(t, strconv.Itoa(p.PID), r["pid"])
		assert.Equal(t, prog, r["process_path"])
		assert.Equal(t, "0", r["jit_host"])
		assert.Empty(t, r["path"])
	}
	for _, r := range rows {
		assert.NotEqual(t, "[vdso]", r["path"], "the kernel's code is not a row")
		assert.NotEqual(t, TypeMemfd, r["region_type"])
	}
	mu.Lock()
	defer mu.Unlock()
	assert.Len(t, read, len(rows), "one read per qualifying region, none for any other region: %v", read)
	for _, a := range read {
		assert.NotNil(t, at(rows, a), "read %#x, which is no row", a)
	}
}

// TestLiveHeaderReadsFollowColumnsAndBounds: a query that reads no header
// column reads no memory; the per-process and per-scan bounds stop reads
// (rows stay, without header and sha256), and the row bound stops rows.
func TestLiveHeaderReadsFollowColumnsAndBounds(t *testing.T) {
	t.Parallel()
	prog := buildC(t, "anonelf")
	out := filepath.Join(t.TempDir(), "addrs")
	p := sim.Start(t, prog, out, prog, "3")
	starts, _ := addrs(t, out)

	count := func(lim Limits, q table.Query) (rows []table.Row, reads int) {
		var mu sync.Mutex
		s := newScanner(t, Config{Limits: lim, OnRead: func(int, uint64) { mu.Lock(); reads++; mu.Unlock() }})
		q.Constraints = table.PIDQuery([]int{p.PID}).Constraints
		rows, err := s.generate(context.Background(), q)
		require.NoError(t, err)
		return rows, reads
	}
	headerCol := slices.IndexFunc(Columns, func(c table.Column) bool { return c.Name == "header" })
	headers := func(rows []table.Row) (read, unread int) {
		for _, r := range rows {
			if r[headerCol] == "" {
				unread++
			} else {
				read++
			}
		}
		return
	}

	rows, reads := count(Limits{}, table.Query{Used: table.UsedColumns("pid", "address", "region_type")})
	assert.GreaterOrEqual(t, len(rows), len(starts))
	assert.Zero(t, reads, "no header column read: no memory read")

	all, reads := count(Limits{}, table.Query{})
	assert.Equal(t, len(all), reads)

	rows, reads = count(Limits{ReadsPerProcess: 2}, table.Query{})
	assert.Equal(t, 2, reads)
	r, u := headers(rows)
	assert.Equal(t, 2, r)
	assert.Equal(t, len(all)-2, u, "past the bound: rows without a header")

	rows, reads = count(Limits{ScanBytes: DefaultPageBytes}, table.Query{})
	assert.Equal(t, 1, reads, "one page of budget")
	r, _ = headers(rows)
	assert.Equal(t, 1, r)

	rows, _ = count(Limits{RowsPerProcess: 1}, table.Query{})
	assert.Len(t, rows, 1)
}

// TestLiveMemfdExec: a program fexecve()d from a memfd runs from
// /memfd:payload: its code is a memfd row, and its header is what the
// payload's executable segment starts with.
func TestLiveMemfdExec(t *testing.T) {
	t.Parallel()
	loader := buildC(t, "memfdexec")
	// Linked so its code segment starts at the ELF header, as small
	// loaders' payloads often are.
	payload := buildC(t, "sleeper", "-Wl,-z,noseparate-code")
	p := sim.Start(t, loader, payload)

	rows := scanPID(t, newScanner(t, Config{}), p.PID)
	var memfd []row
	for _, r := range rows {
		if r["region_type"] == TypeMemfd {
			memfd = append(memfd, r)
		}
	}
	require.NotEmpty(t, memfd, "rows: %v", rows)
	want := firstExecHeader(t, payload)
	found := false
	for _, r := range memfd {
		assert.Equal(t, "/memfd:payload", r["path"])
		assert.Contains(t, r["protection"], "x")
		found = found || r["header"] == string(want)
	}
	assert.True(t, found, "a memfd code region starts with %s: %v", want, memfd)
	assert.Equal(t, "/memfd:payload", rows[0]["process_path"], "the process runs the memfd itself")
}

// TestLiveDeletedFile: a library loaded, unlinked and still mapped (its
// code still runs: the loader called it) is a deleted-file row naming the
// file it was; while the file is on disk the same library is no row.
func TestLiveDeletedFile(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	kept := sim.BuildLib(t, filepath.Join(dir, "libkept.so"))
	gone := sim.BuildLib(t, filepath.Join(dir, "libgone.so"))
	want := firstExecHeader(t, gone)
	pKept := sim.StartLoader(t, sim.LoaderOpts{Lib: kept})
	pGone := sim.StartLoader(t, sim.LoaderOpts{Lib: gone, Unlink: true})
	_, err := os.Stat(gone)
	require.ErrorIs(t, err, os.ErrNotExist)

	s := newScanner(t, Config{})
	for _, r := range scanPID(t, s, pKept.PID) {
		assert.NotEqual(t, kept, r["path"], "a library on disk is an image, not a row")
	}
	var del []row
	for _, r := range scanPID(t, s, pGone.PID) {
		if r["path"] == gone {
			del = append(del, r)
		}
	}
	require.NotEmpty(t, del)
	for _, r := range del {
		assert.Equal(t, TypeDeletedFile, r["region_type"])
		assert.Equal(t, "r-x", r["protection"])
		assert.Equal(t, string(want), r["header"])
	}
}

// TestLiveJITHostOnlyWhenListed: a program that JIT-compiles (writes code,
// makes it R-X, runs it) has an anonymous r-x row; it is a jit_host only
// once a policy file's jit_hosts names its path.
func TestLiveJITHostOnlyWhenListed(t *testing.T) {
	t.Parallel()
	prog := buildC(t, "jitlike")
	out := filepath.Join(t.TempDir(), "addr")
	p := sim.Start(t, prog, out)
	starts, _ := addrs(t, out)

	r := at(scanPID(t, newScanner(t, Config{}), p.PID), starts[0])
	require.NotNil(t, r)
	assert.Equal(t, TypeAnonymous, r["region_type"])
	assert.Equal(t, "r-x", r["protection"])
	assert.Equal(t, "none", r["header"])
	assert.Equal(t, "0", r["jit_host"], "not in the default list")

	policy := filepath.Join(t.TempDir(), "policy.yaml")
	require.NoError(t, os.WriteFile(policy, []byte("jit_hosts:\n  - path: "+prog+"\n    comment: the test's JIT\n"), 0o600))
	r = at(scanPID(t, newScanner(t, Config{Policy: policy}), p.PID), starts[0])
	require.NotNil(t, r)
	assert.Equal(t, "1", r["jit_host"])

	other := filepath.Join(t.TempDir(), "policy.yaml")
	require.NoError(t, os.WriteFile(other, []byte("jit_hosts:\n  - path: /opt/other/jitlike\n"), 0o600))
	r = at(scanPID(t, newScanner(t, Config{Policy: other}), p.PID), starts[0])
	require.NotNil(t, r)
	assert.Equal(t, "0", r["jit_host"], "another path is not this program")

	bad := filepath.Join(t.TempDir(), "bad.yaml")
	require.NoError(t, os.WriteFile(bad, []byte("jit_hosts:\n  - name: a/b\n"), 0o600))
	_, err := NewScanner(Config{Policy: bad})
	require.ErrorContains(t, err, bad+":2:11: jit_hosts[0].name")
}
