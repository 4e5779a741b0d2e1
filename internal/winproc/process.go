package winproc

// Process is one entry of a Toolhelp process snapshot.
type Process struct {
	PID  uint32
	PPID uint32 // the creator's pid, which may since have exited or been reused
	Exe  string // the executable's file name, without folder
}

// Module is one entry of a process's loader list.
type Module struct {
	Base uint64
	Size uint64
	// Path is the full path, past MAX_PATH (GetModuleFileNameExW), in the
	// form the loader uses (drive letter or UNC).
	Path string
	// Name is the module's file name as the loader has it.
	Name string
	// PathTruncated: the full path could not be read (no handle with
	// PROCESS_QUERY_INFORMATION|PROCESS_VM_READ) and Toolhelp's MAX_PATH
	// field is full, so Path may be the first 259 characters of a longer
	// one. It must not be compared or reported as the module's path.
	PathTruncated bool
}

// Context is what a process is: image, command line, user and integrity.
type Context struct {
	PID         uint32
	PPID        uint32
	Image       string // QueryFullProcessImageNameW
	CommandLine string // from the process's PEB
	// User is DOMAIN\name of the token's user, or the SID (S-1-5-21-...)
	// when it maps to no name (a deleted account, a domain controller out
	// of reach).
	User      string
	Integrity string // IntegrityLevel of the token's mandatory label
	Session   uint32
}

// ProcessModules is one process of ScanModules: its snapshot entry and its
// loader list, or why the list could not be read.
type ProcessModules struct {
	Process
	Modules []Module
	Err     error
}
