package loadsource

import "golang.org/x/sys/unix"

// The system calls inside which vma_store counts a new mapping.
const (
	sysMmap     = unix.SYS_MMAP
	sysExecve   = unix.SYS_EXECVE
	sysExecveat = unix.SYS_EXECVEAT
)

// Their ia32 numbers (arch/x86/entry/syscalls/syscall_32.tbl): a 32-bit
// program's calls, or a 64-bit one's through int $0x80. 90 is the old mmap,
// whose one argument points to the six.
const (
	sysIA32Mmap     = 90
	sysIA32Mmap2    = 192
	sysIA32Execve   = 11
	sysIA32Execveat = 358
)
