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
	rs, pkg := j.JudgeLoad(verdict.LoadFacts{Path: libc, Mode: 0o100755})
	if !rs.Empty() {
		t.Errorf("libc: reasons %q", rs)
	}
	if _, err := os.Stat("/var/lib/dpkg/status"); err == nil && pkg == "" {
		t.Errorf("libc: no package named on a dpkg host")
	}
	// A cut path leads nowhere: no trust rests on it.
	rs, _ = j.JudgeLoad(verdict.LoadFacts{Path: libc, Mode: 0o100755, PathTruncated: true})
	if !rs.Has("path_mismatch") {
		t.Errorf("truncated path: reasons %q", rs)
	}
}
