package untrusted

import (
	"os"
	"testing"

	"github.com/modhunt/modhunt/tables/verdict"
)

// JudgeLoad gives an event's facts the reasons a scan gives the same
// facts, under the host's default policy and package index.
func TestJudgeLoadFromEventFacts(t *testing.T) {
	j, err := NewJudge(Config{})
	if err != nil {
		t.Fatal(err)
	}
	j.WarmLoads()
	cases := []struct {
		name string
		f    verdict.LoadFacts
		want string
	}{
		{"temp dir", verdict.LoadFacts{Path: "/tmp/x/libevil.so", Mode: 0o100755}, "outside_trusted_dirs,temp_dir"},
		{"deleted in temp", verdict.LoadFacts{Path: "/tmp/x/libgone.so", Deleted: true, Mode: 0o100755}, "deleted,outside_trusted_dirs,temp_dir"},
		{"memfd: path rules do not apply", verdict.LoadFacts{Path: "/memfd:x", Memfd: true, Deleted: true, Mode: 0o100777}, "memfd"},
		{"hidden", verdict.LoadFacts{Path: "/root/.cache/libx.so", Mode: 0o100755}, "hidden,outside_trusted_dirs"},
		{"group-writable file", verdict.LoadFacts{Path: "/opt/app/libw.so", Mode: 0o100775}, "outside_trusted_dirs,user_writable"},
		{"preloaded", verdict.LoadFacts{Path: "/opt/app/libp.so", Mode: 0o100755, Preloaded: true}, "outside_trusted_dirs,preloaded"},
	}
	for _, c := range cases {
		rs, _ := j.JudgeLoad(c.f)
		if got := rs.String(); got != c.want {
			t.Errorf("%s: reasons %q, want %q", c.name, got, c.want)
		}
	}
	// A packaged library in the loader's own directory is trusted, and its
	// package is named where the host has a package database.
	libc := "/usr/lib/x86_64-linux-gnu/libc.so.6"
	if _, err := os.Stat(libc); err != nil {
		t.Skipf("no %s here", libc)
	}
	rs, pkg := j.JudgeLoad(verdict.LoadFacts{Path: libc, Mode: 0o100755, HostView: true})
	if !rs.Empty() {
		t.Errorf("libc: reasons %q", rs)
	}
	if _, err := os.Stat("/var/lib/dpkg/status"); err != nil {
		return
	}
	if pkg == "" {
		t.Errorf("libc: no package named on a dpkg host")
	}
	// On a dpkg host a file no package owns in a managed directory is
	// not_package_owned, for a process that sees the host's files. In
	// another mount namespace (a container) the host's packages say
	// nothing: the same path is judged without them, and no host package
	// is named for a container's libc.
	unowned := "/usr/lib/x86_64-linux-gnu/libmodhunt-nobody-owns.so.1"
	if rs, _ := j.JudgeLoad(verdict.LoadFacts{Path: unowned, Mode: 0o100755, HostView: true}); rs.String() != "not_package_owned" {
		t.Errorf("unowned, host view: reasons %q", rs)
	}
	if rs, _ := j.JudgeLoad(verdict.LoadFacts{Path: unowned, Mode: 0o100755}); !rs.Empty() {
		t.Errorf("unowned, another mount namespace: reasons %q", rs)
	}
	if rs, pkg := j.JudgeLoad(verdict.LoadFacts{Path: libc, Mode: 0o100755}); !rs.Empty() || pkg != "" {
		t.Errorf("libc in another mount namespace: reasons %q package %q", rs, pkg)
	}
	// A cut path leads nowhere: no trust rests on it.
	rs, _ = j.JudgeLoad(verdict.LoadFacts{Path: libc, Mode: 0o100755, PathTruncated: true, HostView: true})
	if !rs.Has("path_mismatch") {
		t.Errorf("truncated path: reasons %q", rs)
	}
}

// An event's loader variables decide preloaded as ld.so reads them: the
// last LD_PRELOAD, every LD_AUDIT, an untrusted LD_LIBRARY_PATH directory,
// names and paths; AT_SECURE drops paths and LD_LIBRARY_PATH. The host's
// /etc/ld.so.preload counts for processes that see the host's files.
func TestJudgeLoadPreloadedFromLoaderEnv(t *testing.T) {
	dir := t.TempDir()
	saved := hostPreloadPath
	hostPreloadPath = dir + "/ld.so.preload"
	t.Cleanup(func() { hostPreloadPath = saved })
	if err := os.WriteFile(hostPreloadPath, []byte("/opt/host/libh.so\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	j, err := NewJudge(Config{})
	if err != nil {
		t.Fatal(err)
	}
	preloaded := func(f verdict.LoadFacts) bool {
		f.Mode = 0o100755
		rs, _ := j.JudgeLoad(f)
		return rs.Has("preloaded")
	}
	for _, c := range []struct {
		name string
		f    verdict.LoadFacts
		want bool
	}{
		{"no loader variables", verdict.LoadFacts{Path: "/opt/a/liba.so"}, false},
		{"LD_PRELOAD path", verdict.LoadFacts{Path: "/opt/a/liba.so", LoaderEnv: []string{"LD_PRELOAD=/opt/x.so /opt/a/liba.so"}}, true},
		{"LD_PRELOAD by name", verdict.LoadFacts{Path: "/opt/a/liba.so", LoaderEnv: []string{"LD_PRELOAD=liba.so"}}, true},
		{"a later LD_PRELOAD replaces it", verdict.LoadFacts{Path: "/opt/a/liba.so", LoaderEnv: []string{"LD_PRELOAD=/opt/a/liba.so", "LD_PRELOAD=/opt/b.so"}}, false},
		{"every LD_AUDIT counts", verdict.LoadFacts{Path: "/opt/a/liba.so", LoaderEnv: []string{"LD_AUDIT=/opt/a/liba.so", "LD_AUDIT=/opt/c.so"}}, true},
		{"LD_LIBRARY_PATH directory", verdict.LoadFacts{Path: "/opt/a/liba.so", LoaderEnv: []string{"LD_LIBRARY_PATH=/opt/a"}}, true},
		{"another directory", verdict.LoadFacts{Path: "/opt/b/liba.so", LoaderEnv: []string{"LD_LIBRARY_PATH=/opt/a"}}, false},
		{"AT_SECURE ignores LD_LIBRARY_PATH", verdict.LoadFacts{Path: "/opt/a/liba.so", LoaderEnv: []string{"LD_LIBRARY_PATH=/opt/a"}, Secure: true}, false},
		{"AT_SECURE ignores a path with a slash", verdict.LoadFacts{Path: "/opt/a/liba.so", LoaderEnv: []string{"LD_PRELOAD=/opt/a/liba.so"}, Secure: true}, false},
		{"not LD_ at all", verdict.LoadFacts{Path: "/opt/a/liba.so", LoaderEnv: []string{"XLD_PRELOAD=/opt/a/liba.so"}}, false},
		{"the host's ld.so.preload", verdict.LoadFacts{Path: "/opt/host/libh.so", HostView: true}, true},
		{"another namespace's", verdict.LoadFacts{Path: "/opt/host/libh.so"}, false},
		{"memfd", verdict.LoadFacts{Path: "/memfd:x", Memfd: true, LoaderEnv: []string{"LD_PRELOAD=/memfd:x"}}, false},
	} {
		if got := preloaded(c.f); got != c.want {
			t.Errorf("%s: preloaded %v, want %v", c.name, got, c.want)
		}
	}
}
