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
	"log/slog"
	"os"
	"path/filepath"
	"time"

	"github.com/modhunt/modhunt/tables/deps"
	"github.com/modhunt/modhunt/tables/fileinfo"
	"github.com/modhunt/modhunt/tables/inventory"
	"github.com/modhunt/modhunt/tables/mounts"
	"github.com/modhunt/modhunt/tables/pkgindex"
	"github.com/modhunt/modhunt/tables/table"
	"github.com/modhunt/modhunt/tables/trust"
	"github.com/modhunt/modhunt/tables/verdict"
)

// Name is the table's name.
const Name = "untrusted_module_loads"

// Source is what the table needs from the inventory.
type Source = inventory.Source

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
	// Policy is the built-in policy to start from; nil means the default
	// policy of the inventory's platform (Linux: the loader's directories
	// and ld.so.conf). Tests of another OS's inventory give their own.
	Policy *trust.Policy
	// Inventory is the scan to reuse; nil means a new inventory over ProcFS.
	Inventory Source
	// Files is the file-facts cache sums and ELF facts are kept in; nil
	// means the inventory's (Files()), or a new one.
	Files *fileinfo.Cache
	// MountInfo returns a process's mounts; nil means reading
	// /proc/PID/mountinfo through the inventory. Tests inject fixtures
	// (a network file system cannot be mounted without a network).
	MountInfo func(pid int) ([]mounts.Mount, error)

	// WindowsFacts answers what the judgement of a Windows inventory asks
	// beyond the inventory (signatures, version resources, DACLs, 8.3
	// names, drive types); nil means this OS's own: Windows' APIs on
	// Windows, none elsewhere (a Windows-shaped fake is then judged by its
	// paths and loader list alone).
	WindowsFacts WindowsFacts

	// ShareWindow is how long a finished scan is offered to the Judge's
	// other consumer; 0 means DefaultShareWindow, negative never.
	ShareWindow time.Duration
	// OnJudge, when set, is called with each process's pid as it is judged
	// (tests count scans with it).
	OnJudge func(pid int)

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
	{Name: "uid", Type: table.BigInt, Description: "User id procfs gives the process (owner of /proc/PID): its effective uid, or 0 while it is not dumpable. On macOS the effective uid from proc_bsdinfo. JOIN processes USING (pid) for real and saved ids."},
	{Name: "path", Type: table.Text, Description: "Path of the loaded module, as the kernel shows it (without \" (deleted)\"); on Windows as the inventory gives it (a drive letter or \\\\host\\share path)"},
	{Name: "name", Type: table.Text, Description: "File name of the module"},
	{Name: "reasons", Type: table.Text, Description: "Why the load is untrusted: sorted, comma-separated words from outside_trusted_dirs, temp_dir, user_writable, hidden, deleted, memfd, preloaded, not_package_owned, remote, exec_from_writable_mount, path_mismatch; unsigned (Windows: no Authenticode signature; macOS: no LC_CODE_SIGNATURE); on Windows also hidden_from_loader, untrusted_signature, renamed"},
	{Name: "severity", Type: table.Text, Description: "low, medium or high, derived from the reasons (see the README)"},
	{Name: "sha256", Type: table.Text, Description: "SHA-256 of the mapped file, read through /proc/PID/map_files on Linux (works for deleted and memfd modules), by path on Windows (unreadable when the file there is no longer the judged one: another volume serial number or file id); empty when sha256_skipped says why"},
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
		"deleted or fileless (memfd), preloaded, not owned by a package, or on a network file system; on Windows " +
		"also DLLs outside %SystemRoot% and Program Files, mapped outside the loader's list, unsigned, with a " +
		"signature that does not verify, or renamed (OriginalFileName). " +
		"One row per (pid, module) with at least one reason.",
	Platforms: []string{table.Linux, table.Windows, table.Darwin},
	Columns:   columns,
	Examples: []string{
		"SELECT pid, process_name, path, reasons, severity FROM untrusted_module_loads WHERE severity = 'high'",
		"SELECT * FROM untrusted_module_loads WHERE pid = 1234",
		"SELECT path, reasons, sha256, count(*) AS processes FROM untrusted_module_loads GROUP BY path, reasons, sha256",
	},
}

// New returns the table over the host's shared judge when d carries one
// (d.Judge, which tables.Build makes, so module_detections judges from the
// same scans), else over a new judge of d.Inventory under d.Policy.
func New(d deps.Deps) (*table.Table, error) {
	if d.Judge != nil {
		return TableOf(d.Judge), nil
	}
	cfg := Config{Log: d.Log, PolicyFile: d.Policy, HashBudget: d.HashBudget, HashTime: d.HashTime}
	if d.Inventory != nil {
		cfg.Inventory = d.Inventory
	}
	return NewFromConfig(cfg)
}

// NewFromConfig builds the table over its own Judge (see NewJudge).
func NewFromConfig(cfg Config) (*table.Table, error) {
	j, err := NewJudge(cfg)
	if err != nil {
		return nil, err
	}
	return j.Table(), nil
}

// Table is untrusted_module_loads, rendering this judge's verdicts.
func (j *Judge) Table() *table.Table { return TableOf(j) }

// TableOf is untrusted_module_loads over any judge: its verdicts as rows.
func TableOf(j verdict.Judge) *table.Table {
	return &table.Table{
		Spec: Spec,
		Generate: func(ctx context.Context, q table.Query) ([]table.Row, error) {
			res, err := j.Judge(ctx, q.PIDs(), verdict.ForTable, needOf(q))
			return rows(res), err
		},
	}
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
	policy := cfg.Policy
	if policy == nil {
		var err error
		if policy, err = defaultPolicy(host, cfg.Inventory.Platform()); err != nil {
			// The system's configuration, not the admin's policy file (on
			// Linux ld.so.conf): a problem there leaves the system
			// directories trusted and is logged.
			cfg.Log.Warn("loader configuration partly unreadable", "err", err)
		}
	}
	if cfg.PolicyFile != "" {
		if err := policy.LoadFile(host, cfg.PolicyFile); err != nil {
			return nil, err
		}
	}
	if cfg.HashMax <= 0 {
		cfg.HashMax = DefaultHashMax
	}
	files := cfg.Files
	if files == nil {
		if f, ok := cfg.Inventory.(interface{ Files() *fileinfo.Cache }); ok {
			files = f.Files()
		} else {
			files = fileinfo.New(0, 0)
		}
	}
	s := &scanner{
		cfg:    cfg,
		src:    cfg.Inventory,
		policy: policy,
		pkgs:   pkgindex.Open(cfg.HostRoot),
		facts:  files,
		hash:   fileinfo.Hasher{Cache: files, Max: cfg.HashMax},
		log:    cfg.Log,
	}
	if s.winFacts = cfg.WindowsFacts; s.winFacts == nil && isWindows(cfg.Inventory.Platform()) {
		s.winFacts = liveWindowsFacts(cfg.Inventory)
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
