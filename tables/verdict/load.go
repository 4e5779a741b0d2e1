package verdict

import "github.com/modhunt/modhunt/tables/trust"

// LoadFacts is what an event source knew of one module load at the moment
// it happened (the kernel's facts, from eBPF), for a judgement that must
// not read the process afterwards: by then it may be gone, or its pid
// reused.
type LoadFacts struct {
	ProcessPath, ProcessName string
	// Path is the module's path as the kernel named it at the load.
	Path string
	// Deleted and Memfd are the kernel's facts at the load.
	Deleted, Memfd bool
	// Mode is the file's st_mode (0 when unknown).
	Mode uint32
	// PathTruncated: the kernel's walk cut the path, so it leads nowhere
	// and no trust may rest on it.
	PathTruncated bool
	// Preloaded: the process's loader was told to load it first
	// (LD_PRELOAD or LD_AUDIT at its exec), as far as the caller knows.
	Preloaded bool
	// LoaderEnv is the process's LD_* environment variables at its exec,
	// in order, "NAME=value": the judge reads LD_PRELOAD, LD_AUDIT and
	// LD_LIBRARY_PATH from it as glibc's ld.so does. Secure is the exec's
	// AT_SECURE as far as known (a setuid exec), under which ld.so honours
	// less of them.
	LoaderEnv []string
	Secure    bool
	// HostView: the process sees the host's files (its mount namespace is
	// the judge's), so the host's /etc/ld.so.preload applied to it and the
	// host's package databases speak for its files.
	HostView bool
}

// LoadJudge judges single loads from their facts, under the same policy
// (and package index) as the Judge of the same host: the trust reasons of
// module_load_events are those untrusted_module_loads would give from the
// same facts. Package is the path's owner ("" when none). An empty
// Reasons means the load is trusted (or allowlisted).
type LoadJudge interface {
	JudgeLoad(f LoadFacts) (reasons trust.Reasons, pkg string)
}
