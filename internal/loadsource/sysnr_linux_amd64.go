package loadsource

import "golang.org/x/sys/unix"

// The system calls inside which vma_store counts a new mapping.
const (
	sysMmap     = unix.SYS_MMAP
	sysExecve   = unix.SYS_EXECVE
	sysExecveat = unix.SYS_EXECVEAT
)
