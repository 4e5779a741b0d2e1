/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The kernel types loadsource.bpf.c reads, written by hand instead of dumped
 * from one kernel's BTF: only the fields the program touches, by name. Every
 * struct carries preserve_access_index, so clang emits a CO-RE relocation for
 * each field access and the loader (cilium/ebpf) rewrites the offsets against
 * the running kernel's /sys/kernel/btf/vmlinux. Field order and the absent
 * fields do not matter; names and types do. Anonymous unions mirror the
 * kernel's where a field sits in one (i_nlink, d_name, vm_flags), which CO-RE
 * matches by name through the anonymous members.
 */
#ifndef __LOADSOURCE_VMLINUX_H__
#define __LOADSOURCE_VMLINUX_H__

typedef unsigned char __u8;
typedef signed char __s8;
typedef unsigned short __u16;
typedef short __s16;
typedef unsigned int __u32;
typedef int __s32;
typedef unsigned long long __u64;
typedef long long __s64;
typedef __u16 __be16;
typedef __u32 __be32;
typedef __u32 __wsum;

typedef __u8 u8;
typedef __u16 u16;
typedef __u32 u32;
typedef __u64 u64;
typedef __s32 s32;
typedef __s64 s64;
typedef __u32 dev_t;
typedef int pid_t;
typedef unsigned short umode_t;
typedef unsigned long vm_flags_t;

enum {
	BPF_MAP_TYPE_HASH = 1,
	BPF_MAP_TYPE_ARRAY = 2,
	BPF_MAP_TYPE_PERCPU_ARRAY = 6,
	BPF_MAP_TYPE_LRU_HASH = 9,
	BPF_MAP_TYPE_RINGBUF = 27,
};

enum {
	BPF_ANY = 0,
};

/*
 * Tracepoint contexts. These are the trace event records, laid out by the
 * tracing ABI (see events/<group>/<name>/format), not kernel structs: no CO-RE.
 */
struct syscall_enter_ctx {
	u64 common;	/* common_type, common_flags, common_preempt_count, common_pid */
	s32 syscall_nr;
	u32 pad;
	u64 args[6];
};

struct syscall_exit_ctx {
	u64 common;
	s32 syscall_nr;
	u32 pad;
	s64 ret;
};

/* A raw tracepoint's arguments: its TP_PROTO's, in order, as u64s. */
struct bpf_raw_tracepoint_args {
	u64 args[0];
};

struct sched_process_exec_ctx {
	u64 common;
	u32 filename_loc;	/* __data_loc char[] filename */
	pid_t pid;
	pid_t old_pid;
};

#pragma clang attribute push(__attribute__((preserve_access_index)), apply_to = record)

typedef struct {
	unsigned int val;
} kuid_t;

struct qstr {
	union {
		struct {
			u32 hash;
			u32 len;
		};
		u64 hash_len;
	};
	const unsigned char *name;
};

struct hlist_bl_node {
	struct hlist_bl_node *next, **pprev;
};

struct super_block {
	dev_t s_dev;
	unsigned long s_magic;
	unsigned long s_iflags;
};

struct inode {
	umode_t i_mode;
	struct super_block *i_sb;
	unsigned long i_ino;
	union {
		const unsigned int i_nlink;
		unsigned int __i_nlink;
	};
};

struct dentry {
	struct hlist_bl_node d_hash;
	struct dentry *d_parent;
	union {
		struct qstr __d_name;
		const struct qstr d_name;
	};
	struct inode *d_inode;
	struct super_block *d_sb;
};

struct vfsmount {
	struct dentry *mnt_root;
	struct super_block *mnt_sb;
	int mnt_flags;
};

struct ns_common {
	unsigned int inum;
};

struct mnt_namespace {
	struct ns_common ns;
};

struct mount {
	struct mount *mnt_parent;
	struct dentry *mnt_mountpoint;
	struct vfsmount mnt;
	struct mnt_namespace *mnt_ns;
};

struct path {
	struct vfsmount *mnt;
	struct dentry *dentry;
};

struct file {
	union {
		const struct path f_path;
		struct path __f_path;
	};
	struct inode *f_inode;
};

/* A stacked filesystem's mapped file (overlayfs, FUSE passthrough; Linux
 * 6.8+): f_path is the backing file's own, user_path what the user opened. */
struct backing_file {
	struct file file;
	union {
		struct path user_path;
	};
};

struct fdtable {
	unsigned int max_fds;
	struct file **fd;
};

struct files_struct {
	struct fdtable *fdt;
};

/* Only its address matters: mm_struct embeds the tree of its mappings. */
struct maple_tree {
	unsigned int ma_flags;
};

struct ma_state {
	struct maple_tree *tree;
};

struct mm_struct {
	struct {
		struct maple_tree mm_mt;
		unsigned long arg_start;
		unsigned long arg_end;
		unsigned long env_start;
		unsigned long env_end;
		struct file *exe_file;
	};
};

struct vm_area_struct {
	unsigned long vm_start;
	unsigned long vm_end;
	unsigned long vm_pgoff;
	union {
		const vm_flags_t vm_flags;
		vm_flags_t __vm_flags;
	};
	struct file *vm_file;
};

/* A task's user registers at system call entry, for the call's number and
 * arguments: x86_64 and arm64 name them differently, and the program reads
 * the ones this kernel has. */
struct pt_regs {
	/* x86_64 (bx, cx and bp carry an ia32 system call's arguments) */
	unsigned long orig_ax;
	unsigned long di, si, dx, r10, r8;
	unsigned long bx, cx, bp;
	/* arm64 */
	int syscallno;
	u64 orig_x0;
	u64 regs[31];
};

struct cred {
	kuid_t uid;
	kuid_t euid;
};

/* x86's: status has TS_COMPAT while an ia32 system call runs. */
struct thread_info {
	u32 status;
};

struct task_struct {
	struct thread_info thread_info;
	void *stack;
	unsigned int personality;
	char comm[16];
	pid_t pid;
	pid_t tgid;
	struct task_struct *real_parent;
	const struct cred *real_cred;
	struct files_struct *files;
	struct mm_struct *mm;
};

#pragma clang attribute pop

#endif /* __LOADSOURCE_VMLINUX_H__ */
