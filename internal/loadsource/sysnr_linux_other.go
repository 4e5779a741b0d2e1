//go:build linux && !amd64 && !arm64

package loadsource

// vma_store reads system call numbers and arguments from x86_64's and
// arm64's registers only; elsewhere mmap is seen by its tracepoints.
const (
	sysMmap     = 0
	sysExecve   = 0
	sysExecveat = 0
)

const sysIA32Mmap, sysIA32Mmap2, sysIA32Execve, sysIA32Execveat = 0, 0, 0, 0
