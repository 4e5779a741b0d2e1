package loadsource

import "golang.org/x/sys/unix"

// The system calls inside which vma_store counts a new mapping.
const (
	sysMmap     = unix.SYS_MMAP
	sysExecve   = unix.SYS_EXECVE
	sysExecveat = unix.SYS_EXECVEAT
)

// No ia32 system calls here. An arm64 kernel's 32-bit (AArch32) tasks make
// calls vma_store does not read: their loads are not seen.
const sysIA32Mmap, sysIA32Mmap2, sysIA32Execve, sysIA32Execveat = 0, 0, 0, 0
