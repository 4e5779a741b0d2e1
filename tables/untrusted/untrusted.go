// Package untrusted is the untrusted_module_loads table: every module load
// on the host that breaks the trust policy (MITRE M1038 for T1129, analytic
// AN0053 on Linux), one row per (pid, module), with the reasons.
//
// It composes the pieces below it: the inventory's scan of processes and
// their mapped files, the trust policy's verdicts, the package index, and
// mountinfo. Facts that cost more (the sha256) are computed only for rows.
package untrusted

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"time"

	"github.com/modhunt/modhunt/tables/deps"
	"github.com/modhunt/modhunt/tables/inventory"
	"github.com/modhunt/modhunt/tables/mounts"
	"github.com/modhunt/modhunt/tables/pkgindex"
	"github.com/modhunt/modhunt/tables/table"
	"github.com/modhunt/modhunt/tables/trust"
)

// Name is the table's name.
const Name = "untrusted_module_loads"

// Source is what the table needs from the inventory; *inventory.Inventory
// is one.
type Source interface {
	Walk(ctx context.Context, pids []int, fn func(*inventory.Process) error) error
	OpenModule(pid int, m *inventory.Module) (*os.File, error)
	StatModule(pid int, m *inventory.Module) (inventory.FileInfo, error)
	ModuleFSType(pid int, m *inventory.Module) (string, error)
	Environ(pid int, limit int) ([]string, bool, error)
	ReadFile(pid int, name string, limit int) ([]byte, bool, error)
}

// Config is what the table needs from the command line.
type Config struct {
	Log *slog.Logger
	// PolicyFile is the trust policy (YAML) that extends the built-in
	// defaults; "" means the defaults alone. A malformed file makes New fail.
	PolicyFile string
	// HashMax caps the bytes hashed per module; 0 means DefaultHashMax.
	// Bigger modules get an empty sha256 and sha256_skipped=over_size_cap.
	HashMax int64
	// HashBudget caps the bytes one scan reads to hash modules (files
	// hashed by an earlier scan are cached and cost nothing); HashTime caps
	// the time it spends hashing. 0 means DefaultHashBudget and
	// DefaultHashTime. Rows past either get sha256_skipped=budget.
	HashBudget int64
	HashTime   time.Duration
	// HostRoot is the host's root directory, where ld.so.conf and the
	// package databases are read; "" means "/". Tests point it elsewhere.
	HostRoot string
	// ProcFS is where procfs is mounted; "" means /proc.
	ProcFS string
	// Inventory is the scan to reuse; nil means a new inventory over ProcFS.
	Inventory Source
	// MountInfo returns a process's mounts; nil means reading
	// /proc/PID/mountinfo through the inventory. Tests inject fixtures
	// (a network file system cannot be mounted without a network).
	MountInfo func(pid int) ([]mounts.Mount, error)

	// noStartupEvidence turns off the start-up layout evidence of preloads
	// (benchmarks weigh its cost against a scan without it).
	noStartupEvidence bool
	// onHash, when set, is called just before a module is opened to be
	// hashed, so tests can count what hashing reads.
	onHash func(pid int, path string)
}

// Columns, in row order.
var columns = []table.Column{
	{Name: "pid", Type: table.BigInt, Index: true, Description: "Process ID"},
	{Name: "process_name", Type: table.Text, Description: "Process name (the kernel's comm)"},
	{Name: "process_path", Type: table.Text, Description: "Path of the process's executable"},
	{Name: "cmdline", Type: table.Text, Description: "Process command line, arguments joined by spaces"},
	{Name: "uid", Type: table.BigInt, Description: "User id procfs gives the process (owner of /proc/PID): its effective uid, or 0 while it is not dumpable. JOIN processes USING (pid) for real and saved ids."},
	{Name: "path", Type: table.Text, Description: "Path of the loaded module, as the kernel shows it (without \" (deleted)\")"},
	{Name: "name", Type: table.Text, Description: "File name of the module"},
	{Name: "reasons", Type: table.Text, Description: "Why the load is untrusted: sorted, comma-separated words from outside_trusted_dirs, temp_dir, user_writable, hidden, deleted, memfd, preloaded, not_package_owned, remote, exec_from_writable_mount, path_mismatch"},
	{Name: "severity", Type: table.Text, Description: "low, medium or high, derived from the reasons (see the README)"},
	{Name: "sha256", Type: table.Text, Description: "SHA-256 of the mapped file, read through /proc/PID/map_files (works for deleted and memfd modules); empty when sha256_skipped says why"},
	{Name: "sha256_skipped", Type: table.Text, Description: "Why sha256 is empty: over_size_cap (bigger than the cap, 128 MiB by default), unreadable, or budget (the scan's hashing budget, 1 GiB and 5 s by default, ran out first: every process is judged before any file is hashed, and processes take turns); empty when hashed"},
	{Name: "package", Type: table.Text, Description: "dpkg package owning the path, or empty (always empty when the path does not lead to the mapped file)"},
	{Name: "owner_uid", Type: table.BigInt, Description: "Owner of the mapped file"},
	{Name: "mode", Type: table.Text, Description: "Permission bits of the mapped file, octal (e.g. 0755)"},
	{Name: "fs_type", Type: table.Text, Description: "File system type of the mount the module lives on (e.g. ext4, tmpfs, nfs4); taken from the mapped file's own device when its path does not lead to it (path_mismatch)"},
}

// Spec is the table's definition.
var Spec = table.Spec{
	Name: Name,
	Description: "Module loads that break the trust policy (MITRE M1038, DET0018/AN0053): shared objects " +
		"loaded from outside the loader's trusted directories, from temp or hidden or user-writable places, " +
		"deleted or fileless (memfd), preloaded, not owned by a package, or on a network file system. " +
		"One row per (pid, module) with at least one reason.",
	Platforms: []string{table.Linux},
	Columns:   columns,
	Examples: []string{
		"SELECT pid, process_name, path, reasons, severity FROM untrusted_module_loads WHERE severity = 'high'",
		"SELECT * FROM untrusted_module_loads WHERE pid = 1234",
		"SELECT path, reasons, sha256, count(*) AS processes FROM untrusted_module_loads GROUP BY path, reasons, sha256",
	},
}

// New returns the host's shared table when d carries one (d.Untrusted,
// which tables.Build makes), else a new one over d.Inventory and d.Policy.
func New(d deps.Deps) (*table.Table, error) {
	if d.Untrusted != nil {
		return d.Untrusted, nil
	}
	cfg := Config{Log: d.Log, PolicyFile: d.Policy, HashBudget: d.HashBudget, HashTime: d.HashTime}
	if d.Inventory != nil {
		cfg.Inventory = d.Inventory
	}
	return NewFromConfig(cfg)
}

// NewFromConfig builds the table: the built-in Linux policy, extended by
// cfg.PolicyFile. A policy file that cannot be read or parsed is an error
// naming the file, line and field; it is never replaced by an empty policy.
func NewFromConfig(cfg Config) (*table.Table, error) {
	s, err := newScanner(cfg)
	if err != nil {
		return nil, err
	}
	return &table.Table{Spec: Spec, Generate: s.generate}, nil
}

func newScanner(cfg Config) (*scanner, error) {
	if cfg.Log == nil {
		cfg.Log = slog.New(slog.DiscardHandler)
	}
	if cfg.HostRoot == "" {
		cfg.HostRoot = "/"
	}
	if cfg.ProcFS == "" {
		cfg.ProcFS = "/proc"
	}
	if cfg.HashBudget <= 0 {
		cfg.HashBudget = DefaultHashBudget
	}
	if cfg.HashTime <= 0 {
		cfg.HashTime = DefaultHashTime
	}
	if cfg.Inventory == nil {
		// A process that maps no file (a kernel thread) has no module to judge.
		cfg.Inventory = inventory.New(inventory.Config{ProcRoot: cfg.ProcFS, Log: cfg.Log, ModulesOnly: true})
	}
	host := trust.Host{Root: os.DirFS(cfg.HostRoot)}
	if cfg.HostRoot == "/" {
		host.Resolve = filepath.EvalSymlinks
	}
	policy, err := trust.Linux(host)
	if err != nil {
		// ld.so.conf is the system's, not the admin's policy file: a
		// problem there leaves the system directories trusted and is logged.
		cfg.Log.Warn("ld.so.conf partly unreadable", "err", err)
	}
	if cfg.PolicyFile != "" {
		if err := policy.LoadFile(host, cfg.PolicyFile); err != nil {
			return nil, err
		}
	}
	s := &scanner{
		cfg:    cfg,
		src:    cfg.Inventory,
		policy: policy,
		pkgs:   pkgindex.Open(cfg.HostRoot),
		hash:   newHasher(cfg.HashMax),
		elf:    &elfCache{},
		log:    cfg.Log,
	}
	for _, r := range policy.AllowModules {
		s.allowBySHA256 = s.allowBySHA256 || r.SHA256 != ""
		s.allowByPackage = s.allowByPackage || r.Package != ""
	}
	if s.mountInfo = cfg.MountInfo; s.mountInfo == nil {
		s.mountInfo = s.readMountInfo
	}
	return s, nil
}

// maxMountInfo bounds one mountinfo read; a host with many thousands of
// mounts (container hosts) stays well below it.
const maxMountInfo = 4 << 20

func (s *scanner) readMountInfo(pid int) ([]mounts.Mount, error) {
	data, truncated, err := s.src.ReadFile(pid, "mountinfo", maxMountInfo)
	if err != nil {
		return nil, err
	}
	ms, err := mounts.Parse(data)
	if truncated {
		err = fmt.Errorf("mountinfo of pid %d larger than %d bytes", pid, maxMountInfo)
	}
	return ms, err
}
