package pkgindex

import (
	"hash/maphash"
	"os"
	"path/filepath"
	"runtime"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// linuxOnly skips a test of Linux's package databases on Windows, where
// neither dpkg nor rpm exists and the usrmerge symlinks these tests build do
// not resolve the Linux way.
func linuxOnly(t *testing.T) {
	t.Helper()
	if runtime.GOOS == "windows" {
		t.Skip("dpkg and rpm databases, and usrmerge's /lib -> usr/lib links, are Linux's")
	}
}

// fakeRoot builds a usrmerged Debian root: /lib and /lib64 are links into
// /usr, one package lists the old /lib path and one the new /usr/lib path.
func fakeRoot(t *testing.T) string {
	t.Helper()
	root := t.TempDir()
	must := func(err error) { t.Helper(); require.NoError(t, err) }
	must(os.MkdirAll(filepath.Join(root, "usr/lib/x86_64-linux-gnu"), 0o755))
	must(os.MkdirAll(filepath.Join(root, "usr/lib64"), 0o755))
	must(os.Symlink("usr/lib", filepath.Join(root, "lib")))
	must(os.Symlink("/usr/lib64", filepath.Join(root, "lib64")))
	must(os.MkdirAll(filepath.Join(root, "var/lib/dpkg/info"), 0o755))
	write := func(name, body string) {
		t.Helper()
		must(os.WriteFile(filepath.Join(root, "var/lib/dpkg", name), []byte(body), 0o644))
	}
	write("info/libc6:amd64.list", "/.\n/lib\n/lib/x86_64-linux-gnu\n/lib/x86_64-linux-gnu/libc.so.6\n/lib64/ld-linux-x86-64.so.2\n")
	write("info/libssl3.list", "/.\n/usr\n/usr/lib\n/usr/lib/x86_64-linux-gnu\n/usr/lib/x86_64-linux-gnu/libssl.so.3\n")
	write("info/dash.list", "/.\n/bin\n/bin/sh\n/usr/bin/dash\n")
	write("info/bash.list", "/.\n/bin/sh\n/usr/bin/bash\n")
	write("info/local-tool.list", "/usr/bin/ltool\n")
	write("info/libc6.md5sums", "ignored\n")
	write("diversions", "/bin/sh\n/bin/sh.distrib\ndash\n/usr/bin/ltool\n/usr/bin/ltool.orig\n:\n")
	must(os.WriteFile(filepath.Join(root, "var/lib/dpkg/status"), []byte("Package: libc6\n"), 0o644))
	return root
}

func TestOwnerAcrossUsrmerge(t *testing.T) {
	t.Parallel()
	linuxOnly(t)
	db := Open(fakeRoot(t))
	require.NoError(t, db.Refresh())
	cases := map[string]string{
		"/usr/lib/x86_64-linux-gnu/libc.so.6":   "libc6", // listed as /lib/...
		"/lib/x86_64-linux-gnu/libc.so.6":       "libc6",
		"/usr/lib64/ld-linux-x86-64.so.2":       "libc6", // absolute link target
		"/lib/x86_64-linux-gnu/libssl.so.3":     "libssl3",
		"/usr/lib/x86_64-linux-gnu/libssl.so.3": "libssl3",
		"/usr/lib/x86_64-linux-gnu/libevil.so":  "",
		"/usr/lib/x86_64-linux-gnu":             "",     // directories are not indexed
		"/bin/sh":                               "dash", // dash diverts bash's /bin/sh
		"/bin/sh.distrib":                       "bash",
		"/usr/bin/ltool":                        "", // local diversion: the admin's file
		"/usr/bin/ltool.orig":                   "local-tool",
	}
	for p, want := range cases {
		got, known := db.Owner(p)
		assert.True(t, known)
		assert.Equal(t, want, got, p)
	}
	ix := db.Index()
	assert.Equal(t, 5, ix.Packages)
	assert.Equal(t, 9, ix.Paths(), "8 files and the /lib link")
}

func TestNoDatabase(t *testing.T) {
	t.Parallel()
	db := Open(t.TempDir())
	require.NoError(t, db.Refresh())
	pkg, known := db.Owner("/usr/lib/libc.so.6")
	assert.False(t, known, "without a database nothing is claimed unowned")
	assert.Empty(t, pkg)
	_, known = Open(t.TempDir()).Owner("/x")
	assert.False(t, known, "before the first refresh")
}

func TestRefreshFollowsTheDatabase(t *testing.T) {
	t.Parallel()
	root := fakeRoot(t)
	db := Open(root)
	require.NoError(t, db.Refresh())
	first := db.Index()
	require.NoError(t, db.Refresh())
	assert.Same(t, first, db.Index(), "unchanged database: no rebuild")

	info := filepath.Join(root, "var/lib/dpkg/info")
	require.NoError(t, os.WriteFile(filepath.Join(info, "libnew.list"), []byte("/usr/lib/x86_64-linux-gnu/libnew.so.1\n"), 0o644))
	later := time.Now().Add(time.Minute)
	require.NoError(t, os.Chtimes(info, later, later))
	require.NoError(t, db.Refresh())
	assert.NotSame(t, first, db.Index())
	pkg, _ := db.Owner("/usr/lib/x86_64-linux-gnu/libnew.so.1")
	assert.Equal(t, "libnew", pkg)
}

func TestBadFilesAreReportedNotFatal(t *testing.T) {
	t.Parallel()
	linuxOnly(t)
	root := fakeRoot(t)
	require.NoError(t, os.WriteFile(filepath.Join(root, "var/lib/dpkg/diversions"), []byte("/a\n/b\n"), 0o644))
	ix, err := Build(root)
	require.Error(t, err)
	assert.Contains(t, err.Error(), "2 lines, want triples")
	p, _ := ix.lookup("/usr/lib/x86_64-linux-gnu/libc.so.6")
	assert.Equal(t, "libc6", p, "the lists are still read")
}

func TestThisHostsDpkg(t *testing.T) {
	t.Parallel()
	linuxOnly(t)
	if _, err := os.Stat("/var/lib/dpkg/info"); err != nil {
		t.Skip("no dpkg database on this host (a Debian-family system has one)")
	}
	db := Open("/")
	require.NoError(t, db.Refresh())
	libc, err := filepath.EvalSymlinks("/lib64/ld-linux-x86-64.so.2")
	if runtime.GOARCH != "amd64" || err != nil {
		t.Skip("the check names amd64's loader")
	}
	pkg, known := db.Owner(libc)
	assert.True(t, known)
	assert.Equal(t, "libc6", pkg, libc)
}

// BenchmarkBuild measures building the index from this machine's dpkg
// database, and reports the live heap the finished index keeps.
func BenchmarkBuild(b *testing.B) {
	if _, err := os.Stat("/var/lib/dpkg/info"); err != nil {
		b.Skip("no dpkg database on this host")
	}
	var ix *Index
	for b.Loop() {
		var err error
		ix, err = Build("/")
		if err != nil {
			b.Fatal(err)
		}
	}
	b.StopTimer()
	buildNs := float64(b.Elapsed().Nanoseconds()) / float64(b.N)
	// The I/O floor in the same run: reading every list without indexing.
	files, _ := filepath.Glob("/var/lib/dpkg/info/*.list")
	const passes = 3
	start := time.Now()
	for range passes {
		for _, f := range files {
			if _, err := readBounded(f, maxListBytes); err != nil {
				b.Fatal(err)
			}
		}
	}
	readNs := float64(time.Since(start).Nanoseconds()) / passes
	b.ReportMetric(buildNs/readNs, "x-read-lists")
	var before, after runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)
	ix2, _ := Build("/")
	runtime.GC()
	runtime.ReadMemStats(&after)
	b.ReportMetric(float64(after.HeapAlloc)-float64(before.HeapAlloc), "heap-bytes")
	b.ReportMetric(float64(ix2.Paths()), "paths")
	b.ReportMetric(float64(ix2.Packages), "packages")
	runtime.KeepAlive(ix)
	runtime.KeepAlive(ix2)
}

// BenchmarkReadListsBaseline only reads every .list file: the I/O floor
// BenchmarkBuild is compared against (build / baseline is the cost of
// parsing, canonicalising and indexing).
func BenchmarkReadListsBaseline(b *testing.B) {
	files, _ := filepath.Glob("/var/lib/dpkg/info/*.list")
	if len(files) == 0 {
		b.Skip("no dpkg database on this host")
	}
	for b.Loop() {
		n := 0
		for _, f := range files {
			data, err := readBounded(f, maxListBytes)
			if err != nil {
				b.Fatal(err)
			}
			n += len(data)
		}
		if n == 0 {
			b.Fatal("empty lists")
		}
	}
}

// BenchmarkOwner is one lookup against this machine's index.
func BenchmarkOwner(b *testing.B) {
	if _, err := os.Stat("/var/lib/dpkg/info"); err != nil {
		b.Skip("no dpkg database on this host")
	}
	db := Open("/")
	if err := db.Refresh(); err != nil {
		b.Fatal(err)
	}
	for b.Loop() {
		db.Owner("/usr/lib/x86_64-linux-gnu/libc.so.6")
	}
}

// A directory is never a file's owner, also when it sits several levels
// above the only file listed under it (rpm lists need not list every
// directory between); the first package to list a file owns it.
func TestDirectoriesAboveFilesAreNotIndexed(t *testing.T) {
	t.Parallel()
	b := builder{res: newResolver(t.TempDir()), seed: maphash.MakeSeed(), diverted: map[string]bool{}, dirs: map[uint64]struct{}{}}
	first, second := b.intern("first"), b.intern("second")
	for _, p := range []string{"/a", "/a/b/c/lib.so", "/x/y.so"} {
		b.add(p, first)
	}
	b.add("/x/y.so", second)
	ix := b.finish()
	for p, want := range map[string]string{"/a": "", "/a/b": "", "/a/b/c/lib.so": "first", "/x/y.so": "first", "/x": ""} {
		got, _ := ix.lookup(p)
		assert.Equal(t, want, got, p)
	}
	assert.Equal(t, 2, ix.Paths())
}
