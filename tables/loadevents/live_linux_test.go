package loadevents_test

import (
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"golang.org/x/sys/unix"

	"github.com/modhunt/modhunt/internal/loadsource/loadtest"
	"github.com/modhunt/modhunt/tables/loadstream"
	"github.com/modhunt/modhunt/tables/moduledetections"
	"github.com/modhunt/modhunt/tables/table"
)

const tempRule = "Shared Object Loaded From A Temporary Folder"

// A gcc-built loader dlopen()s a library from /tmp and _exits at once. The
// stream sees nothing until the process is gone from /proc (its events wait
// at a gate), and still the row has the process context and the exact
// path, device and inode as the kernel named them at the load, the trust
// reasons of untrusted_module_loads' policy, and the Sigma rule's match:
// what a /proc read after the fact could never give.
func TestShortLivedDlopenRow(t *testing.T) {
	l := startLive(t, loadstream.Config{})
	lib := tmpLib(t, "libmh_short.so")
	var st unix.Stat_t
	if err := unix.Stat(lib, &st); err != nil {
		t.Fatal(err)
	}
	pid := run(t, nil, "load", lib)
	gone(t, pid)
	l.src.open()

	row := waitRow(t, l.events, table.PIDQuery([]int{pid}), "the dlopen", func(m map[string]string) bool {
		return m["kind"] == "mmap" && m["path"] == lib
	})
	want := map[string]string{
		"pid":            strconv.Itoa(pid),
		"parent":         strconv.Itoa(os.Getpid()),
		"process_name":   "mhload",
		"process_path":   mhload,
		"cmdline":        mhload + " load " + lib,
		"uid":            "0",
		"euid":           "0",
		"device":         strconv.FormatUint(uint64(unix.Major(st.Dev)), 10) + ":" + strconv.FormatUint(uint64(unix.Minor(st.Dev)), 10),
		"inode":          strconv.FormatUint(st.Ino, 10),
		"memfd":          "0",
		"deleted":        "0",
		"is_exec_image":  "0",
		"is_interpreter": "0",
		"severity":       "high",
	}
	for k, v := range want {
		if row[k] != v {
			t.Errorf("%s = %q, want %q", k, row[k], v)
		}
	}
	if !strings.Contains(row["protection"], "x") || !has(row["reasons"], "temp_dir") || !has(row["reasons"], "outside_trusted_dirs") {
		t.Errorf("protection %q reasons %q", row["protection"], row["reasons"])
	}
	if !has(row["rules"], tempRule) {
		t.Errorf("rules %q lack %q", row["rules"], tempRule)
	}
	if row["time"] == "" || row["eid"] == "" || row["eid"] == "0" {
		t.Errorf("time %q eid %q", row["time"], row["eid"])
	}

	// The loader's exec is a row of its own: the main image.
	exe := waitRow(t, l.events, table.PIDQuery([]int{pid}), "the exec", func(m map[string]string) bool { return m["kind"] == "exec" })
	if exe["is_exec_image"] != "1" || exe["path"] != mhload || exe["reasons"] != "" || exe["protection"] != "" {
		t.Errorf("exec row: %v", exe)
	}
}

// A library copied into a memfd and loaded through /proc/self/fd: the row
// says memfd and deleted, names it as the kernel does, and the memfd rule
// and reason fire, for a process gone before the stream saw a thing. With
// the system call hooks on (--events_syscall_hooks), the memfd_create is a
// row too.
func TestMemfdLoadRow(t *testing.T) {
	l := startLive(t, loadstream.Config{SyscallHooks: true})
	pid := run(t, nil, "memfd", mhlib, "mh_fileless_row")
	gone(t, pid)
	l.src.open()
	row := waitRow(t, l.events, table.PIDQuery([]int{pid}), "the memfd load", func(m map[string]string) bool {
		return m["kind"] == "mmap" && m["memfd"] == "1"
	})
	if row["path"] != "/memfd:mh_fileless_row" || row["deleted"] != "1" || row["reasons"] != "memfd" || row["severity"] != "high" {
		t.Errorf("memfd row: path %q deleted %q reasons %q severity %q", row["path"], row["deleted"], row["reasons"], row["severity"])
	}
	if !has(row["rules"], "Executable Code Mapped From A Memfd") {
		t.Errorf("rules %q", row["rules"])
	}
	// The memfd_create itself is a row too, not judged.
	mc := waitRow(t, l.events, table.PIDQuery([]int{pid}), "the memfd_create", func(m map[string]string) bool { return m["kind"] == "memfd_create" })
	if mc["memfd"] != "1" || mc["reasons"] != "" || mc["inode"] != row["inode"] {
		t.Errorf("memfd_create row %v (load's inode %s)", mc, row["inode"])
	}
}

// LD_PRELOAD in a process that exits at once (true): the preloaded library
// is a row of that process, set only in the child's environment, and judged
// preloaded from the environment the kernel side read at its exec.
func TestLDPreloadRow(t *testing.T) {
	l := startLive(t, loadstream.Config{})
	lib := tmpLib(t, "libmh_preload.so")
	pid := runCmd(t, []string{"LD_PRELOAD=" + lib}, "/bin/true")
	gone(t, pid)
	l.src.open()
	row := waitRow(t, l.events, table.PIDQuery([]int{pid}), "the preloaded library", func(m map[string]string) bool {
		return m["kind"] == "mmap" && m["path"] == lib
	})
	if row["process_name"] != "true" || !strings.HasSuffix(row["process_path"], "/true") || row["cmdline"] != "/bin/true" ||
		!has(row["reasons"], "temp_dir") || !has(row["reasons"], "preloaded") {
		t.Errorf("preload row: %v", row)
	}
	// The same library dlopen()ed without LD_PRELOAD is no preload.
	pid = run(t, nil, "load", lib)
	row = waitRow(t, l.events, table.PIDQuery([]int{pid}), "the dlopen", func(m map[string]string) bool {
		return m["kind"] == "mmap" && m["path"] == lib
	})
	if has(row["reasons"], "preloaded") || !has(row["reasons"], "temp_dir") {
		t.Errorf("dlopen row: %v", row)
	}
}

// The built-in rule fires through module_detections for a process gone
// before the query: its snapshot part finds nothing of the pid, the event
// part has the match with the rule and the event.
func TestDetectionOfGoneProcess(t *testing.T) {
	l := startLive(t, loadstream.Config{})
	lib := tmpLib(t, "libmh_detect.so")
	pid := run(t, nil, "load", lib)
	gone(t, pid)
	l.src.open()
	// Wait until the stream has the load.
	waitRow(t, l.events, table.PIDQuery([]int{pid}), "the dlopen", func(m map[string]string) bool { return m["path"] == lib })

	md, err := moduledetections.New(l.d)
	if err != nil {
		t.Fatal(err)
	}
	row := waitRow(t, md, table.PIDQuery([]int{pid}), "the detection", func(m map[string]string) bool {
		return m["rule_title"] == tempRule && m["path"] == lib
	})
	if row["pid"] != strconv.Itoa(pid) || row["process_path"] != mhload || row["level"] != "high" ||
		!strings.Contains(row["fields"], `"EventKind":"mmap"`) || !strings.Contains(row["fields"], `"CommandLine":"`+mhload+` load `+lib+`"`) {
		t.Errorf("detection row: %v", row)
	}
	// A scheduled query sees the match once.
	q := table.Query{Constraints: table.PIDQuery([]int{pid}).Constraints, Scheduled: "pack_modhunt_detect"}
	first := count(t, md, q, tempRule)
	second := count(t, md, q, tempRule)
	if first != 1 || second != 0 {
		t.Errorf("scheduled query saw the match %d then %d times, want 1 then 0", first, second)
	}
}

func count(t *testing.T, tbl *table.Table, q table.Query, title string) int {
	t.Helper()
	rows, err := tbl.Generate(t.Context(), q)
	if err != nil {
		t.Fatal(err)
	}
	n := 0
	for _, r := range rows {
		if rowMap(tbl, r)["rule_title"] == title {
			n++
		}
	}
	return n
}

// The status table of a running source: running, hooks attached, counts.
func TestStatusRunning(t *testing.T) {
	l := startLive(t, loadstream.Config{})
	l.src.open()
	lib := tmpLib(t, "libmh_status.so")
	pid := run(t, nil, "load", lib)
	waitRow(t, l.events, table.PIDQuery([]int{pid}), "the dlopen", func(m map[string]string) bool { return m["path"] == lib })
	rows, err := l.status.Generate(t.Context(), table.Query{})
	if err != nil || len(rows) != 1 {
		t.Fatalf("status: %v rows, %v", len(rows), err)
	}
	m := rowMap(l.status, rows[0])
	// mmap is seen by one of its two hooks; the other stands by.
	mmapSeen := strings.Contains(m["hooks"], "maple_tree:ma_write=attached") && strings.Contains(m["hooks"], "syscalls:sys_enter_mmap=spare") ||
		strings.Contains(m["hooks"], "syscalls:sys_enter_mmap=attached")
	if m["state"] != "running" || m["reason"] != "" || !mmapSeen || !strings.Contains(m["hooks"], "sched:sched_process_exec=attached") ||
		m["emitted"] == "0" || m["buffered"] == "0" || m["last_eid"] == "0" || m["expiry"] != "3600" {
		t.Errorf("status: %v", m)
	}
}

// A program whose interpreter (PT_INTERP) was planted in a temporary
// directory: the kernel maps it during exec, before any library or
// LD_PRELOAD, and the row says so (is_interpreter = 1) with the judgement
// of a module in /tmp, after the process is gone: what the
// load_events_foreign_interpreter hunt selects. The system's own interpreter
// of an ordinary program is a trusted row.
func TestForeignInterpreterRow(t *testing.T) {
	l := startLive(t, loadstream.Config{})
	dir := filepath.Dir(tmpLib(t, "libmh_unused.so"))
	interp := filepath.Join(dir, "ld-planted.so")
	sys := loadtest.Interpreter(t, mhload)
	b, err := os.ReadFile(sys)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(interp, b, 0o755); err != nil {
		t.Fatal(err)
	}
	prog := loadtest.BuildLoader(t, t.TempDir(), "planted", "-Wl,--dynamic-linker="+interp)
	lib := tmpLib(t, "libmh_interp.so")
	pid := runCmd(t, nil, prog, "load", lib)
	gone(t, pid)
	l.src.open()
	row := waitRow(t, l.events, table.PIDQuery([]int{pid}), "the planted interpreter", func(m map[string]string) bool {
		return m["path"] == interp
	})
	if row["is_interpreter"] != "1" || row["kind"] != "mmap" || !has(row["reasons"], "temp_dir") || row["process_path"] != prog ||
		!strings.Contains(row["cmdline"], "load "+lib) {
		t.Errorf("interpreter row: %v", row)
	}
	pid = run(t, nil, "load", lib)
	row = waitRow(t, l.events, table.PIDQuery([]int{pid}), "the system interpreter", func(m map[string]string) bool {
		return m["is_interpreter"] == "1"
	})
	if row["path"] != sys || row["reasons"] != "" {
		t.Errorf("system interpreter row: %v", row)
	}
}

// A load in another mount namespace (a container's view) is judged without
// the host's package databases: a library the loader mounted over
// /usr/lib/x86_64-linux-gnu in a private namespace of its own, which no
// host package owns, is not not_package_owned, as untrusted_module_loads
// treats a foreign root; seen from the host's namespace the same path
// would be (TestJudgeLoadFromEventFacts).
func TestContainerLoadNotJudgedByHostPackages(t *testing.T) {
	const dir = "/usr/lib/x86_64-linux-gnu"
	for _, need := range []string{dir, "/var/lib/dpkg/status"} {
		if _, err := os.Stat(need); err != nil {
			t.Skipf("no %s here: the host has no package database for this case", need)
		}
	}
	l := startLive(t, loadstream.Config{})
	l.src.open()
	pid := run(t, nil, "mountload", tmpLib(t, "libmh_ns.so"), dir)
	path := dir + "/sub/libmh_mounted.so"
	row := waitRow(t, l.events, table.PIDQuery([]int{pid}), "the load in the private namespace", func(m map[string]string) bool {
		return m["kind"] == "mmap" && m["path"] == path
	})
	if row["reasons"] != "" || row["severity"] != "" {
		t.Errorf("reasons %q severity %q, want none: the host's packages say nothing of another namespace's files", row["reasons"], row["severity"])
	}
}
