// SPDX-License-Identifier: GPL-2.0
/*
 * loadsource: every module load as it happens. A load is
 *   - a new executable mapping of a file, made by mmap(2) or, for the
 *     program interpreter, by the kernel during exec,
 *   - a successful mprotect(2) that adds PROT_EXEC to a file mapping,
 *   - an exec (the main image), and
 *   - a memfd_create(2) (the usual first step of fileless code).
 * The file is resolved here, at the moment of the load, from the mapping
 * itself (or the task's file table), so a process that exits right after
 * is still described exactly. Events leave through one bounded ring buffer;
 * an event the ring has no room for is counted, never waited for.
 *
 * GPL because bpf_probe_read_kernel and friends are GPL-only helpers.
 */
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_core_read.h>

char LICENSE[] SEC("license") = "GPL";

#define PROT_READ 0x1
#define PROT_EXEC 0x4
#define READ_IMPLIES_EXEC 0x0400000 /* uapi/linux/personality.h */
#define MNT_NOEXEC 0x04
#define SB_I_NOEXEC 0x00000002
#define MAP_ANONYMOUS 0x20 /* the same on x86, arm64 and every asm-generic arch */
#define VM_EXEC 0x4
#define VM_SHARED 0x8
#define VM_MAYEXEC 0x40
#define MAP_SHARED 0x01
#define MAP_PRIVATE 0x02
#define MAX_ERRNO 4095

#define TMPFS_MAGIC 0x01021994
#define HUGETLBFS_MAGIC 0x958458f6
/* fs/mount.h: a kern_mount()ed filesystem's namespace, distinct from any real one. */
#define MNT_NS_INTERNAL ((void *)-22L)

/*
 * Bounds. A path is at most PATH_BYTES-1 bytes (PATH_MAX, 4096, includes the
 * NUL d_path would write); the walk takes at most WALK_STEPS steps, each one
 * path component or one mount crossing; a component is at most NAME_BYTES-1
 * bytes (NAME_MAX). Hitting any bound keeps the deepest part of the path
 * and sets EV_PATH_TRUNCATED. An exec's argv is kept up to ARGS_BYTES.
 */
#define PATH_BYTES 4096
#define WALK_STEPS 64
#define NAME_BYTES 256
#define ARGS_BYTES 1024
/* An exec's environment is kept up to ENV_BYTES: user space keeps only the
 * dynamic loader's variables (LD_PRELOAD, LD_AUDIT, ...) and drops the rest. */
#define ENV_BYTES 4096

enum kind {
	KIND_MMAP = 1,
	KIND_MPROTECT = 2,
	KIND_EXEC = 3,
	KIND_MEMFD_CREATE = 4,
};

enum ev_flags {
	EV_PATH_TRUNCATED = 1 << 0,	/* the path lost leading components */
	EV_MEMFD = 1 << 1,		/* memfd_create file: shmem/hugetlbfs internal mount, "memfd:" name */
	EV_INTERNAL = 1 << 2,		/* file on a kernel-internal mount: no path names it */
	EV_UNLINKED = 1 << 3,		/* its name was unlinked (what maps shows as " (deleted)") */
	EV_NO_FILE = 1 << 4,		/* the fd or mapping had no file when read */
	EV_AUX_TRUNCATED = 1 << 5,	/* the exe path or argv was cut */
	EV_PSEUDO = 1 << 6,		/* a pseudo dentry (alloc_file_pseudo): named, never linked */
	EV_EXE_SENT = 1 << 7,		/* no exe path: an earlier event of this process carried it */
	EV_ENV_TRUNCATED = 1 << 8,	/* the exec's environment was cut at ENV_BYTES */
	EV_INTERP = 1 << 9,		/* the program interpreter, mapped by the kernel during exec */
	EV_PATH_CACHED = 1 << 10,	/* the path came from path_map, not a walk */
};

/*
 * One event as it crosses the ring: this fixed header, then path_len bytes
 * of path, then aux_len bytes of aux (the process's executable path for a
 * load; for an exec, argv NUL-separated, then its last env_len bytes are the
 * environment, NUL-separated). No NULs are added. Go decodes this
 * layout in event.go; keep the two in step (TestHeaderLayout checks).
 */
struct event {
	u64 boot_ns;	/* CLOCK_BOOTTIME at the load, to the tick (tick_time) */
	u64 seq;	/* the CPU in the top 16 bits, then its count of events made */
	u64 ino;
	u64 fs_magic;
	u64 prot;	/* mmap/mprotect prot */
	u64 flags;	/* mmap flags; memfd_create flags */
	u64 offset;	/* mmap file offset in bytes */
	u64 len;
	u64 addr;	/* the mapping's address (mmap's return, mprotect's start) */
	u32 dev;	/* the superblock's kernel dev_t: major<<20 | minor */
	u32 nlink;
	u32 mode;
	u32 pid;	/* tgid */
	u32 tid;
	u32 ppid;	/* real_parent's tgid */
	u32 uid;
	u32 euid;
	u32 mnt_ns;	/* inode number of the mount namespace the path is rooted in; 0 internal */
	u32 ev_flags;
	s32 fd;
	u16 path_len;
	u16 aux_len;
	u8 kind;
	u8 pad;
	u16 env_len;
	char comm[16];
};

/* path, then argv or the exe path, then the environment; every masked
 * offset plus its masked length stays inside. */
#define DATA_BYTES (2 * PATH_BYTES + 2 * ENV_BYTES)

struct scratch {
	struct event ev;
	char data[DATA_BYTES];
};

/* Components are written backwards from PATH_BYTES; the slack keeps every
 * masked offset plus a NAME_BYTES read inside the buffer for the verifier.
 * The walk's other results go here too, not on the stack: the verifier
 * does not track map memory, so every way out of a walk looks the same to
 * it and the code after a walk is verified once, not once per way out. */
struct walkbuf {
	char buf[PATH_BYTES + NAME_BYTES];
	u32 flags;
	u32 mnt_ns;
	u32 off;
	u32 cached;	/* the path_map slot + 1 that named the path; 0: walked into buf */
	/* Object heads (see HEAD_FIELD): too big for the 512-byte stack. */
	u64 head[16];	/* a file, an inode, a superblock */
	u64 mhead[8];	/* a mount */
	u64 dhead[8];	/* a dentry */
};

/* What sys_enter saw, for sys_exit to finish once the call succeeded. */
struct pending {
	u64 file;	/* struct file *, resolved at entry */
	u64 path_file;	/* the file mmap was passed: a backing file is named by its path and inode */
	u64 prot;
	u64 flags;
	u64 offset;
	u64 len;
	u64 addr;
	s32 fd;
	u32 kind;
	u32 ev_flags;	/* flags the hook knows before the event is built */
	u32 pad;
};

/* bpf_ringbuf_output flags and query (uapi/linux/bpf.h). */
#define BPF_RB_NO_WAKEUP 1
#define BPF_RB_FORCE_WAKEUP 2
#define BPF_RB_AVAIL_DATA 0

/*
 * Waking the reader for every event costs the loading process a cross-CPU
 * wakeup per load (an IPI, dear under virtualization): most of what
 * tracing would add to a dlopen. Events are written without a wakeup; the
 * reader polls at a short interval, and is woken at once only when this
 * many bytes wait, so a burst cannot fill the ring between two polls.
 * User space sets it before loading.
 */
const volatile u64 wakeup_bytes = 1 << 20;

/*
 * Asking the ring how full it is costs a helper call and a read of the
 * reader's position, written from another CPU: each CPU asks only once its
 * events since it last asked reach this many bytes. User space sets it to a
 * quarter of wakeup_bytes shared among the CPUs, so the ring can pass
 * wakeup_bytes unnoticed by at most that quarter and one event per CPU.
 */
const volatile u64 wake_check_bytes = 0;

/*
 * What vma_store needs of the architecture, set by user space before loading
 * (one object serves every little-endian architecture): the system call
 * numbers of mmap, execve and execveat (and their ia32 twins, below), and
 * the page size as a shift. The defaults match no call.
 */
const volatile u32 nr_mmap = ~0U;
const volatile u32 nr_execve = ~0U;
const volatile u32 nr_execveat = ~0U;
const volatile u32 page_shift = 12;

/* Send the executable's path once per process image (exe_map). User space
 * clears it only to measure what that saves, in the same run. */
const volatile u8 exe_once = 1;

struct {
	__uint(type, BPF_MAP_TYPE_RINGBUF);
	__uint(max_entries, 4 << 20); /* user space sets the real size before loading */
} events SEC(".maps");

/* What each CPU keeps between events (see tick_time and submit), and its
 * counts, which user space sums over the CPUs (Stats). */
struct cpu_state {
	u64 seq;	/* events this CPU made: written to the ring, or ring_full */
	u64 ring_full;	/* events the ring had no room for */
	u64 vma_busy;	/* mprotect checks skipped: the mm lock was contended */
	u64 unchecked;	/* bytes sent since this CPU last asked how full the ring is */
	u64 tick;	/* jiffies when tick_ns was read */
	u64 tick_ns;
};

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 1);
	__type(key, u32);
	__type(value, struct cpu_state);
} cpu_map SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 1);
	__type(key, u32);
	__type(value, struct scratch);
} scratch_map SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 1);
	__type(key, u32);
	__type(value, struct walkbuf);
} walk_map SEC(".maps");

/* Keyed by pid_tgid: at most one syscall in flight per thread. LRU so a
 * record whose exit never came (the program attached mid-call) ages out. */
struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, 8192);
	__type(key, u64);
	__type(value, struct pending);
} pending_map SEC(".maps");

/*
 * The executable whose path a process's events carried last: its tgid, mm
 * and exe_file, in the slot its tgid picks. A load by a process whose
 * (tgid, mm, exe_file) is in its slot carries no exe path (EV_EXE_SENT) and
 * user space takes it from that earlier event, and the second path walk is
 * saved (BenchmarkProgramCost measures it). A new process (fork: a new mm)
 * or a new image (exec: a new mm and exe_file) does not match, so a reused
 * pid never inherits another process's path. Direct-mapped, not a hash: the
 * lookup is a few instructions where a hash map's costs a helper call and
 * its bucket's cache misses on every load. Two live processes whose tgids
 * share a slot take turns and resend their paths. Each slot is written by
 * the CPUs of its own processes; a torn read mixes fields of two processes,
 * which match neither, and costs one walk.
 */
#define EXE_SLOTS 16384

struct exe_seen {
	u64 tgid;
	u64 mm;
	u64 exe_file;
};

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, EXE_SLOTS);
	__type(key, u32);
	__type(value, struct exe_seen);
} exe_map SEC(".maps");

static __always_inline struct exe_seen *exe_slot(u32 tgid)
{
	u32 slot = tgid & (EXE_SLOTS - 1);
	return bpf_map_lookup_elem(&exe_map, &slot);
}

/* exe_sent records that tgid's events carry the path of (mm, exe). */
static __always_inline void exe_sent(struct exe_seen *seen, u32 tgid, struct mm_struct *mm, struct file *exe)
{
	seen->tgid = tgid;
	seen->mm = (u64)mm;
	seen->exe_file = (u64)exe;
}

static __always_inline struct cpu_state *cpu_state(void)
{
	u32 zero = 0;
	return bpf_map_lookup_elem(&cpu_map, &zero);
}

/*
 * The time of an event on CLOCK_BOOTTIME, read once per CPU per kernel tick
 * (jiffies, inlined by the verifier to a load): later events in that tick
 * on that CPU take the same reading. Reading the clock is a helper call and
 * a serialized TSC read, ~150 ns a load under virtualization; what the
 * time is used for (the table's time, in seconds) needs no finer grain than
 * a tick (4 ms at HZ=250), and an event is never stamped later than it
 * happened. Written time first, tick second, so a program nested on this
 * CPU between the two (an interrupt) reads the clock itself.
 */
static __always_inline u64 tick_time(void)
{
	struct cpu_state *c = cpu_state();
	if (!c)
		return bpf_ktime_get_boot_ns();
	u64 tick = bpf_jiffies64();
	if (c->tick == tick && c->tick_ns)
		return c->tick_ns;
	u64 now = bpf_ktime_get_boot_ns();
	c->tick_ns = now;
	barrier();
	c->tick = tick;
	return now;
}

/*
 * Several fields of one kernel object for one helper call: the head of the
 * object is copied once and each field picked out at its CO-RE-relocated
 * offset. Helper calls are most of what a load costs the loading process,
 * and the fields a walk needs sit together at the start of each struct. A
 * field that a kernel places beyond the copied head is read on its own: the
 * test is on load-time constants, so the verifier keeps one path only.
 * Heads are smaller than their objects, so the copy never reads past one;
 * they live in struct walkbuf, as the stack is too small for them.
 */
#define READ_HEAD(h, src) bpf_probe_read_kernel(&(h), sizeof(h), (const void *)(src))
#define HEAD_FIELD(h, src, ctype, type, field)                                                               \
	({                                                                                                   \
		ctype __v;                                                                                   \
		u32 __off = bpf_core_field_offset(type, field);                                              \
		if (__off + sizeof(__v) <= sizeof(h))                                                        \
			__v = *(ctype *)((char *)&(h) + __off);                                              \
		else                                                                                         \
			bpf_core_read(&__v, sizeof(__v), &((type *)(src))->field);                           \
		__v;                                                                                         \
	})

/*
 * The event path comes in two builds, picked by typed, a constant at every
 * call site (so the compiler keeps one branch). In a BTF-typed program
 * (vma_store, Linux 6.2+) kernel pointers are typed, and a field is a plain
 * load, which the JIT guards like a probe: no helper call. Elsewhere each
 * object's head is copied once with a helper and fields are picked out of
 * it (READ_HEAD, HEAD_FIELD), or a field is read on its own (RD).
 *
 * PTR makes an address read as a number (a map value, a helper's copy) a
 * pointer the typed build can load through; bpf_rdonly_cast costs nothing
 * (the verifier drops the call). FIELD is one field either way.
 */
extern void *bpf_rdonly_cast(const void *obj, __u32 btf_id) __ksym;

#define RD(typed, p, f) ((typed) ? (p)->f : BPF_CORE_READ(p, f))
#define PTR(typed, type, p)                                                                                   \
	((typed) ? (type *)bpf_rdonly_cast((const void *)(p), bpf_core_type_id_kernel(type)) : (type *)(p))
#define HEAD(typed, h, src)                                                                                   \
	do {                                                                                                 \
		if (!(typed))                                                                                \
			READ_HEAD(h, src);                                                                   \
	} while (0)
#define FIELD(typed, h, src, ctype, type, field)                                                              \
	((typed) ? (ctype)(((type *)(src))->field) : HEAD_FIELD(h, src, ctype, type, field))

static __always_inline struct mount *real_mount(struct vfsmount *mnt, const int typed)
{
	return PTR(typed, struct mount, (void *)mnt - bpf_core_field_offset(struct mount, mnt));
}

/* fd -> struct file * through task->files->fdt, as fget would find it. */
static __always_inline struct file *fd_file(struct task_struct *task, s32 fd, const int typed)
{
	if (fd < 0)
		return 0;
	struct fdtable *fdt = typed ? task->files->fdt : BPF_CORE_READ(task, files, fdt);
	if (!fdt)
		return 0;
	unsigned int max = RD(typed, fdt, max_fds);
	if ((unsigned int)fd >= max)
		return 0;
	struct file **fds = RD(typed, fdt, fd);
	struct file *f = 0;
	/* An index the verifier cannot bound: a helper copy in either build. */
	bpf_probe_read_kernel(&f, sizeof(f), &fds[fd]);
	return f;
}

/*
 * The paths walked last, per CPU, in a slot picked by the walk's first
 * dentry, with every step the walk took: each component's dentry and its
 * name's hash and length (d_name.hash_len), each mount crossed into. A path
 * is made of those names alone, so when the same steps, taken again, meet
 * the same dentries with the same names and end the same way, the path is
 * the one recorded, however the dentries and mounts got there (a dentry
 * freed and another allocated at its address under the same name names the
 * same path). A rename changes a name or a parent, a mount move a mount
 * crossing: either fails the check, and the path is walked again. Checking
 * is a few loads a step; walking copies each name with a helper call. Paths
 * of at most PC_STEPS steps and PC_PATH bytes, not truncated, are kept.
 */
#define PC_SLOTS 16
#define PC_STEPS 16
#define PC_PATH 256

struct path_cache {
	u64 dentry;		/* the walk's first dentry and mount: the key */
	u64 mnt;
	u64 step[PC_STEPS];	/* a component's dentry, or the mount crossed into */
	u64 name[PC_STEPS];	/* the component's d_name.hash_len; 0 for a crossing */
	u32 steps;		/* 0: nothing recorded */
	u32 len;
	u32 flags;		/* the walk's flags: 0 or EV_PSEUDO */
	u32 pad;
	char path[PC_PATH];
};

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, PC_SLOTS);
	__type(key, u32);
	__type(value, struct path_cache);
} path_map SEC(".maps");

/* A dentry's slot, from its name's hash (salted with its parent): a BTF
 * pointer is no number the verifier lets a program hash. */
static __always_inline u32 pc_slot(struct dentry *dentry, const int typed)
{
	return RD(typed, dentry, d_name.hash) & (PC_SLOTS - 1);
}

/* The head of a mount, and the two fields every step needs. */
#define MOUNT_HEAD(typed, w, mnt, mnt_parent, mnt_root)                                                       \
	do {                                                                                                 \
		HEAD(typed, (w)->mhead, mnt);                                                                \
		mnt_parent = FIELD(typed, (w)->mhead, mnt, struct mount *, struct mount, mnt_parent);        \
		mnt_root = FIELD(typed, (w)->mhead, mnt, struct dentry *, struct mount, mnt.mnt_root);       \
	} while (0)

/* walk_ns leaves in w the namespace of the mount a walk ended in. */
static __always_inline void walk_ns(struct mount *mnt, struct walkbuf *w, const int typed)
{
	w->mnt_ns = 0;
	struct mnt_namespace *ns = RD(typed, mnt, mnt_ns);
	if (ns && ns != MNT_NS_INTERNAL)
		w->mnt_ns = RD(typed, ns, ns.inum);
}

/* recorded says whether pc still names (dentry, vfsmnt), taking the steps
 * walk takes; if so, w gets the walk's flags and namespace. */
static __always_inline int recorded(struct path_cache *pc, struct dentry *dentry, struct vfsmount *vfsmnt,
				    struct walkbuf *w, const int typed)
{
	if (pc->dentry != (u64)dentry || pc->mnt != (u64)vfsmnt)
		return 0;
	u32 steps = pc->steps;
	struct mount *mnt = real_mount(vfsmnt, typed);
	struct mount *mnt_parent;
	struct dentry *mnt_root;
	MOUNT_HEAD(typed, w, mnt, mnt_parent, mnt_root);
	u32 flags = 0;
	u32 i = 0;
	for (; i < PC_STEPS; i++) {
		if (dentry == mnt_root) {
			if (mnt == mnt_parent)
				break;
			dentry = FIELD(typed, w->mhead, mnt, struct dentry *, struct mount, mnt_mountpoint);
			mnt = mnt_parent;
			if (i >= steps || pc->step[i] != (u64)mnt || pc->name[i])
				return 0;
			MOUNT_HEAD(typed, w, mnt, mnt_parent, mnt_root);
			continue;
		}
		HEAD(typed, w->dhead, dentry);
		if (i >= steps || pc->step[i] != (u64)dentry ||
		    pc->name[i] != FIELD(typed, w->dhead, dentry, u64, struct dentry, d_name.hash_len))
			return 0;
		struct dentry *parent = FIELD(typed, w->dhead, dentry, struct dentry *, struct dentry, d_parent);
		if (dentry == parent) {
			flags = EV_PSEUDO;
			i++;
			break;
		}
		dentry = parent;
	}
	if (i != steps || flags != pc->flags)
		return 0;
	w->flags = flags;
	walk_ns(mnt, w, typed);
	return 1;
}

/*
 * walk writes the path of (dentry, vfsmnt) into w->buf ending at PATH_BYTES,
 * the way d_path names it for a reader in the initial mount namespace: up
 * the dentries to the mount's root, across to the mount point in the parent
 * mount, until a mount that is its own parent (its namespace's root, or a
 * kernel-internal mount). A pseudo dentry (its own parent but not its mount's
 * root: memfd, other alloc_file_pseudo files) ends the walk with its own name,
 * as simple_dname does. Returns the offset where the path starts; w->flags
 * gets EV_PATH_TRUNCATED or EV_PSEUDO, w->mnt_ns the namespace.
 */
static __always_inline u32 walk(struct dentry *dentry, struct vfsmount *vfsmnt, struct walkbuf *w,
				struct path_cache *pc, const int typed)
{
	u32 off = PATH_BYTES;
	u32 flags = EV_PATH_TRUNCATED; /* until the walk reaches a root */
	struct dentry *first = dentry;
	struct mount *mnt = real_mount(vfsmnt, typed);
	struct mount *mnt_parent;
	struct dentry *mnt_root;
	MOUNT_HEAD(typed, w, mnt, mnt_parent, mnt_root);
	/* The slot's steps are overwritten as this walk goes: it names
	 * nothing until the walk has finished and fits. */
	pc->steps = 0;
	u32 steps = 0;

	for (int i = 0; i < WALK_STEPS; i++) {
		if (dentry == mnt_root) {
			if (mnt == mnt_parent) {
				flags = 0;
				break;
			}
			dentry = FIELD(typed, w->mhead, mnt, struct dentry *, struct mount, mnt_mountpoint);
			mnt = mnt_parent;
			if (steps < PC_STEPS) {
				pc->step[steps] = (u64)mnt;
				pc->name[steps] = 0;
			}
			steps++;
			MOUNT_HEAD(typed, w, mnt, mnt_parent, mnt_root);
			continue;
		}
		HEAD(typed, w->dhead, dentry);
		struct dentry *parent = FIELD(typed, w->dhead, dentry, struct dentry *, struct dentry, d_parent);
		const unsigned char *name = FIELD(typed, w->dhead, dentry, const unsigned char *, struct dentry, d_name.name);
		/* hash_len holds the length in its top half (hashlen_len), on
		 * either byte order. NAME_MAX is 255: VFS refuses longer names,
		 * and memfd's "memfd:" + 249 bytes fits. The mask only keeps the
		 * verifier sure. */
		u64 hash_len = FIELD(typed, w->dhead, dentry, u64, struct dentry, d_name.hash_len);
		u32 len = (u32)(hash_len >> 32) & (NAME_BYTES - 1);
		if (steps < PC_STEPS) {
			pc->step[steps] = (u64)dentry;
			pc->name[steps] = hash_len;
		}
		steps++;
		if (len + 1 >= off)
			break; /* "/" + name would not fit in PATH_BYTES-1 */
		/* Through map memory, which the verifier does not track: it then
		 * sees the same offset range after every component, so states of
		 * one iteration converge instead of one per component count. */
		*(volatile u32 *)&w->off = off - len - 1;
		off = *(volatile u32 *)&w->off & (PATH_BYTES - 1);
		w->buf[off] = '/';
		bpf_probe_read_kernel(&w->buf[off + 1], len, name);
		if (dentry == parent) {
			flags = EV_PSEUDO; /* never in any tree: its name is all there is */
			break;
		}
		dentry = parent;
	}
	if (off >= PATH_BYTES) {
		/* the root itself */
		off = PATH_BYTES - 1;
		w->buf[off] = '/';
	}
	w->flags = flags;
	walk_ns(mnt, w, typed);
	u32 len = (PATH_BYTES - off) & (PATH_BYTES - 1);
	if (!(flags & EV_PATH_TRUNCATED) && steps && steps <= PC_STEPS && len <= PC_PATH) {
		bpf_probe_read_kernel(pc->path, len, &w->buf[off]);
		pc->dentry = (u64)first;
		pc->mnt = (u64)vfsmnt;
		pc->len = len;
		pc->flags = flags;
		pc->steps = steps;
	}
	return off;
}

/*
 * One subprogram per build keeps the verifier's work per walk what it was.
 * Each returns where the path starts in w->buf, or with w->cached set, the
 * path_map slot (plus one) that holds it.
 */
static __always_inline u32 cached_walk(struct dentry *dentry, struct vfsmount *vfsmnt, struct walkbuf *w, const int typed)
{
	u32 slot = pc_slot(dentry, typed);
	struct path_cache *pc = bpf_map_lookup_elem(&path_map, &slot);
	w->cached = 0;
	if (!pc) {
		w->flags = EV_PATH_TRUNCATED;
		w->mnt_ns = 0;
		return PATH_BYTES; /* no path: the slot always exists */
	}
	if (pc->steps && recorded(pc, dentry, vfsmnt, w, typed)) {
		w->cached = slot + 1;
		return 0;
	}
	return walk(dentry, vfsmnt, w, pc, typed);
}

static __noinline u32 walk_typed(struct dentry *dentry, struct vfsmount *vfsmnt, struct walkbuf *w)
{
	return cached_walk(dentry, vfsmnt, w, 1);
}

static __noinline u32 walk_raw(struct dentry *dentry, struct vfsmount *vfsmnt, struct walkbuf *w)
{
	return cached_walk(dentry, vfsmnt, w, 0);
}

/* copy_path walks (dentry, vfsmnt) into s->data at data_off and returns
 * the path's length; the walk's flags and namespace are left in w. */
static __always_inline u32 copy_path(struct dentry *dentry, struct vfsmount *vfsmnt, struct scratch *s,
				     struct walkbuf *w, u32 data_off, const int typed)
{
	w->flags = EV_NO_FILE;
	if (!dentry || !vfsmnt)
		return 0;
	u32 off = (typed ? walk_typed(dentry, vfsmnt, w) : walk_raw(dentry, vfsmnt, w)) & (PATH_BYTES - 1);
	barrier_var(data_off);
	data_off &= PATH_BYTES - 1;
	if (w->cached) {
		u32 slot = w->cached - 1;
		struct path_cache *pc = bpf_map_lookup_elem(&path_map, &slot);
		if (!pc)
			return 0;
		u32 len = pc->len;
		if (len > PC_PATH)
			return 0;
		bpf_probe_read_kernel(&s->data[data_off], len, pc->path);
		return len;
	}
	u32 len = (PATH_BYTES - off) & (PATH_BYTES - 1);
	bpf_probe_read_kernel(&s->data[data_off], len, &w->buf[off]);
	return len;
}

/* Where a file is: its dentry and mount, from its head. */
#define FILE_DENTRY(typed, h, f) FIELD(typed, h, f, struct dentry *, struct file, f_path.dentry)
#define FILE_MNT(typed, h, f) FIELD(typed, h, f, struct vfsmount *, struct file, f_path.mnt)

/*
 * A stacked filesystem (overlayfs, how container images are mounted; FUSE
 * passthrough) maps its backing file: a file on the layer below, whose
 * f_path is the layer's (on a private mount) and not what the process
 * opened. Since Linux 6.8 the kernel keeps the path the user opened beside
 * it (struct backing_file.user_path), and /proc/PID/maps names the mapping
 * by that; earlier kernels gave the mapped file that path as its own f_path.
 * user_path reads the words where a backing file keeps it: for any other
 * file they belong to another object, so every caller checks what it got.
 */
static __always_inline int user_path(struct file *f, struct path *up, const int typed)
{
	if (!bpf_core_type_exists(struct backing_file) || !bpf_core_field_exists(struct backing_file, user_path))
		return 0;
	if (typed) {
		struct backing_file *bf = PTR(typed, struct backing_file, f);
		up->mnt = bf->user_path.mnt;
		up->dentry = bf->user_path.dentry;
	} else {
		bpf_core_read(up, sizeof(*up), &((struct backing_file *)f)->user_path);
	}
	return 1;
}

/* backs says whether the mapping's file is the backing file of ff, the file
 * the process passed: the path it keeps for its user is ff's. */
static __always_inline int backs(struct file *file, struct file *ff, const int typed)
{
	if (!ff)
		return 0;
	struct path up = {};
	if (!user_path(file, &up, typed)) {
		up.mnt = RD(typed, file, f_path.mnt);
		up.dentry = RD(typed, file, f_path.dentry);
	}
	return up.dentry && (u64)up.dentry == (u64)RD(typed, ff, f_path.dentry) && (u64)up.mnt == (u64)RD(typed, ff, f_path.mnt);
}

/* backed_path finds the user's path of a file on a kernel-internal mount
 * mapped with no fd to compare (the program interpreter exec mapped): it is
 * a backing file's if what user_path read is a mount in a real namespace
 * and a dentry of that mount's filesystem. */
static __always_inline int backed_path(struct file *f, struct path *up, const int typed)
{
	if (!user_path(f, up, typed) || !up->mnt || !up->dentry)
		return 0;
	struct mount *m = real_mount(up->mnt, typed);
	struct mnt_namespace *ns = RD(typed, m, mnt_ns);
	return ns && ns != MNT_NS_INTERNAL && (u64)RD(typed, up->dentry, d_sb) == (u64)RD(typed, up->mnt, mnt_sb);
}

/* describe fills the file fields of ev from f, path first in data. For a
 * backing file the path and inode are those of the file its user opened
 * (pathf, when the caller knows it), as maps shows them. */
static __always_inline void describe(struct file *f, struct file *pathf, struct scratch *s, struct walkbuf *w, const int typed)
{
	struct event *ev = &s->ev;
	if (!f) {
		ev->ev_flags |= EV_NO_FILE;
		return;
	}
	HEAD(typed, w->head, f);
	struct inode *inode = FIELD(typed, w->head, f, struct inode *, struct file, f_inode);
	struct dentry *dentry = FILE_DENTRY(typed, w->head, f);
	struct vfsmount *vfsmnt = FILE_MNT(typed, w->head, f);
	int internal = 0;
	if (pathf && (u64)pathf != (u64)f) {
		dentry = RD(typed, pathf, f_path.dentry);
		vfsmnt = RD(typed, pathf, f_path.mnt);
		inode = RD(typed, pathf, f_inode);
	} else if (RD(typed, real_mount(vfsmnt, typed), mnt_ns) == MNT_NS_INTERNAL) {
		struct path up = {};
		internal = !backed_path(f, &up, typed);
		if (!internal) {
			dentry = PTR(typed, struct dentry, up.dentry);
			vfsmnt = PTR(typed, struct vfsmount, up.mnt);
			inode = RD(typed, dentry, d_inode);
		}
	}

	HEAD(typed, w->head, inode);
	struct super_block *sb = FIELD(typed, w->head, inode, struct super_block *, struct inode, i_sb);
	ev->ino = FIELD(typed, w->head, inode, unsigned long, struct inode, i_ino);
	ev->nlink = FIELD(typed, w->head, inode, unsigned int, struct inode, __i_nlink);
	ev->mode = FIELD(typed, w->head, inode, umode_t, struct inode, i_mode);

	HEAD(typed, w->head, sb);
	ev->dev = FIELD(typed, w->head, sb, dev_t, struct super_block, s_dev);
	ev->fs_magic = FIELD(typed, w->head, sb, unsigned long, struct super_block, s_magic);

	/* d_unlinked: unhashed and not a root (a pseudo dentry is its own root) */
	HEAD(typed, w->dhead, dentry);
	const unsigned char *dname = FIELD(typed, w->dhead, dentry, const unsigned char *, struct dentry, d_name.name);
	if (!FIELD(typed, w->dhead, dentry, void *, struct dentry, d_hash.pprev) &&
	    FIELD(typed, w->dhead, dentry, struct dentry *, struct dentry, d_parent) != dentry)
		ev->ev_flags |= EV_UNLINKED;

	ev->path_len = copy_path(dentry, vfsmnt, s, w, 0, typed);
	ev->mnt_ns = w->mnt_ns;
	ev->ev_flags |= w->flags;
	if (w->cached)
		ev->ev_flags |= EV_PATH_CACHED;

	/* Where the file lives decides memfd, not its name alone: a tmpfs file
	 * anyone can create may be called "memfd:x", but only memfd_create puts
	 * one on the kernel's internal shmem (or hugetlbfs) mount. */
	if (internal) {
		ev->ev_flags |= EV_INTERNAL;
		if (ev->fs_magic == TMPFS_MAGIC || ev->fs_magic == HUGETLBFS_MAGIC) {
			char prefix[6] = {};
			bpf_probe_read_kernel(prefix, sizeof(prefix), dname);
			if (prefix[0] == 'm' && prefix[1] == 'e' && prefix[2] == 'm' && prefix[3] == 'f' &&
			    prefix[4] == 'd' && prefix[5] == ':')
				ev->ev_flags |= EV_MEMFD;
		}
	}
}

/* process fills the process context of task, the current one. The typed build
 * reads the task's ids and comm with loads (what the helpers read), the
 * other build with the helpers. */
static __always_inline void process(struct event *ev, u8 kind, struct task_struct *task, const int typed)
{
	ev->kind = kind;
	ev->boot_ns = tick_time();
	if (typed) {
		ev->pid = task->tgid;
		ev->tid = task->pid;
		__builtin_memcpy(ev->comm, task->comm, sizeof(ev->comm));
	} else {
		u64 id = bpf_get_current_pid_tgid();
		ev->pid = id >> 32;
		ev->tid = (u32)id;
		bpf_get_current_comm(ev->comm, sizeof(ev->comm));
	}
	ev->ppid = typed ? task->real_parent->tgid : BPF_CORE_READ(task, real_parent, tgid);
	const struct cred *cred = RD(typed, task, real_cred);
	struct {
		u64 q[4];
	} ch;
	HEAD(typed, ch, cred);
	ev->uid = FIELD(typed, ch, cred, u32, struct cred, uid.val);
	ev->euid = FIELD(typed, ch, cred, u32, struct cred, euid.val);
}

static __always_inline struct scratch *fresh(void)
{
	u32 zero = 0;
	struct scratch *s = bpf_map_lookup_elem(&scratch_map, &zero);
	if (!s)
		return 0;
	__builtin_memset(&s->ev, 0, sizeof(s->ev));
	return s;
}

static __always_inline struct walkbuf *walkbuf(void)
{
	u32 zero = 0;
	return bpf_map_lookup_elem(&walk_map, &zero);
}

/* aux_exe appends the process's executable path after the module's path,
 * unless an earlier event of this process (same mm and exe_file) carried it. */
static __always_inline void aux_exe(struct task_struct *task, struct scratch *s, struct walkbuf *w, const int typed)
{
	struct mm_struct *mm = RD(typed, task, mm);
	struct file *exe = RD(typed, mm, exe_file);
	if (!exe)
		return;
	if (exe_once) {
		struct exe_seen *seen = exe_slot(s->ev.pid);
		if (!seen)
			return;
		if (seen->tgid == s->ev.pid && seen->mm == (u64)mm && seen->exe_file == (u64)exe) {
			s->ev.ev_flags |= EV_EXE_SENT;
			return;
		}
		exe_sent(seen, s->ev.pid, mm, exe);
	}
	HEAD(typed, w->head, exe);
	s->ev.aux_len = copy_path(FILE_DENTRY(typed, w->head, exe), FILE_MNT(typed, w->head, exe), s, w, s->ev.path_len, typed);
	if (w->flags & EV_PATH_TRUNCATED)
		s->ev.ev_flags |= EV_AUX_TRUNCATED;
}

static __always_inline void submit(struct scratch *s)
{
	u64 size = sizeof(struct event) + (u64)s->ev.path_len + (u64)s->ev.aux_len;
	barrier_var(size);
	if (size > sizeof(struct scratch))
		size = sizeof(struct scratch);
	struct cpu_state *c = cpu_state();
	if (!c)
		return;
	s->ev.seq = (u64)bpf_get_smp_processor_id() << 48 | (c->seq++ & ((1ULL << 48) - 1));
	u64 flags = BPF_RB_NO_WAKEUP;
	c->unchecked += size;
	if (c->unchecked >= wake_check_bytes) {
		c->unchecked = 0;
		if (bpf_ringbuf_query(&events, BPF_RB_AVAIL_DATA) >= wakeup_bytes)
			flags = BPF_RB_FORCE_WAKEUP;
	}
	if (bpf_ringbuf_output(&events, s, size, flags) < 0)
		c->ring_full++;
}

/* emit sends the load p describes, made by task: the current task (a
 * BTF pointer in the typed build), which the caller already holds, as
 * asking again is a helper call (~20 ns on a CPU with return thunks). */
static __always_inline void emit(const struct pending *p, s64 addr, struct task_struct *task, const int typed)
{
	struct scratch *s = fresh();
	struct walkbuf *w = walkbuf();
	if (!s || !w)
		return;
	process(&s->ev, p->kind, task, typed);
	s->ev.prot = p->prot;
	s->ev.flags = p->flags;
	s->ev.offset = p->offset;
	s->ev.len = p->len;
	s->ev.addr = addr;
	s->ev.fd = p->fd;
	s->ev.ev_flags |= p->ev_flags;
	describe(PTR(typed, struct file, p->file), PTR(typed, struct file, p->path_file), s, w, typed);
	aux_exe(task, s, w, typed);
	submit(s);
}

static __always_inline int failed(s64 ret)
{
	return ret < 0 && ret >= -MAX_ERRNO;
}

/* What system call the current task is in, for vma_stored. */
enum call_kind {
	CALL_OTHER = 0,
	CALL_MMAP = 1,	/* any mmap: addr, len, prot, flags and fd are its arguments */
	CALL_EXEC = 2,	/* execve or execveat */
};

struct call {
	u32 kind;
	s32 fd;
	u64 addr, len, prot, flags;
};

/*
 * ia32 system calls: those of a 32-bit program on x86_64, or of a 64-bit one
 * through int $0x80. They have their own numbers and pass their arguments in
 * ebx, ecx, edx, esi and edi; x86 marks the task TS_COMPAT while one runs.
 * Without them a 32-bit loader's every load would go unseen. User space sets
 * the numbers where the kernel runs such calls; the defaults match no call.
 * The old mmap (nr_ia32_mmap) takes one argument, a pointer to the six.
 */
const volatile u32 nr_ia32_mmap = ~0U;
const volatile u32 nr_ia32_mmap2 = ~0U;
const volatile u32 nr_ia32_execve = ~0U;
const volatile u32 nr_ia32_execveat = ~0U;
#define TS_COMPAT 0x0002 /* arch/x86/include/asm/thread_info.h */

static __always_inline void ia32_call(struct call *c, long nr, struct pt_regs *regs, int typed)
{
	if (nr == nr_ia32_mmap2) {
		c->kind = CALL_MMAP;
		c->addr = (u32)RD(typed, regs, bx);
		c->len = (u32)RD(typed, regs, cx);
		c->prot = (u32)RD(typed, regs, dx);
		c->flags = (u32)RD(typed, regs, si);
		c->fd = (s32)RD(typed, regs, di);
	} else if (nr == nr_ia32_mmap) {
		/* struct mmap_arg_struct: addr, len, prot, flags, fd, offset */
		u32 a[6] = {};
		if (bpf_probe_read_user(a, sizeof(a), (const void *)(u64)(u32)RD(typed, regs, bx)))
			return; /* unreadable now: the kernel read it a moment ago */
		c->kind = CALL_MMAP;
		c->addr = a[0];
		c->len = a[1];
		c->prot = a[2];
		c->flags = a[3];
		c->fd = (s32)a[4];
	} else if (nr == nr_ia32_execve || nr == nr_ia32_execveat) {
		c->kind = CALL_EXEC;
	}
}

/*
 * A task's saved user registers sit at a fixed offset from the base of its
 * kernel stack, the same for every task of a kernel (THREAD_SIZE less the
 * padding above them: task_pt_regs). The typed build learns it from
 * bpf_task_pt_regs once and adds it to task->stack after, a load where the
 * helper is a call with a return thunk on every executable store.
 * bpf_task_pt_regs wants a BTF pointer, which only the typed build's task is.
 */
u64 regs_offset;

static __always_inline struct pt_regs *task_regs(struct task_struct *task, int typed)
{
	if (!typed)
		return (struct pt_regs *)bpf_task_pt_regs(bpf_get_current_task_btf());
	u64 stack = (u64)task->stack;
	u64 off = regs_offset;
	if (off)
		return PTR(typed, struct pt_regs, stack + off);
	struct pt_regs *regs = (struct pt_regs *)bpf_task_pt_regs(task);
	if (regs && (u64)regs > stack && (u64)regs - stack < (1 << 20))
		regs_offset = (u64)regs - stack;
	return regs;
}

static __always_inline void current_call(struct call *c, struct task_struct *task, int typed)
{
	c->kind = CALL_OTHER;
	struct pt_regs *regs = task_regs(task, typed);
	if (!regs)
		return;
	long nr = -1;
	if (bpf_core_field_exists(regs->orig_ax)) {
		nr = RD(typed, regs, orig_ax);
		if (bpf_core_field_exists(task->thread_info.status) && (RD(typed, task, thread_info.status) & TS_COMPAT)) {
			ia32_call(c, nr, regs, typed);
			return;
		}
		if (nr == nr_mmap) {
			c->kind = CALL_MMAP;
			c->addr = RD(typed, regs, di);
			c->len = RD(typed, regs, si);
			c->prot = RD(typed, regs, dx);
			c->flags = RD(typed, regs, r10);
			c->fd = (s32)RD(typed, regs, r8);
		}
	} else if (bpf_core_field_exists(regs->syscallno)) {
		nr = RD(typed, regs, syscallno);
		if (nr == nr_mmap) {
			c->kind = CALL_MMAP;
			c->addr = RD(typed, regs, orig_x0); /* x0 is the return value by now */
			c->len = RD(typed, regs, regs[1]);
			c->prot = RD(typed, regs, regs[2]);
			c->flags = RD(typed, regs, regs[3]);
			c->fd = (s32)RD(typed, regs, regs[4]);
		}
	}
	if (nr == nr_execve || nr == nr_execveat)
		c->kind = CALL_EXEC;
}

#define MAP_FIXED 0x10
#define MAP_FIXED_NOREPLACE 0x100000

/*
 * The program interpreter exec mapped, held until the exec event is out:
 * the kernel maps it before sched_process_exec fires, and its event should
 * follow the exec's (whose argv user space gives the process's later
 * events). Keyed by tgid; the first mapping of a new mm only (a split of it
 * during the same exec stores it again).
 */
struct interp {
	u64 mm;
	u64 addr;
	struct pending p;
};

struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, 16384);
	__type(key, u32);
	__type(value, struct interp);
} interp_map SEC(".maps");

/*
 * Each executable store traces twice, from the tree's entry point and again
 * from an inner function (mas_wr_*, mas_is_span_wr) with the same entry:
 * once is enough to look at. The trace's fn is the storing function's
 * __func__, a string at a fixed kernel address, so each address is read and
 * classified once and remembered: a read per store would be a helper call
 * each time. A slot is one 64-bit word, written whole, so a CPU never sees
 * an address with another's class: the address itself for an inner
 * function, with its top bit (set in every kernel address) cleared for an
 * entry point. Two CPUs filling one slot at once leave one answer; the
 * other function is read again next time. With every slot taken, or an
 * address without the top bit, the name is read each time.
 */
#define FN_SLOTS 8
#define FN_ENTRY_MASK (~(1ULL << 63))
u64 fn_seen[FN_SLOTS];

static __always_inline int inner_store(const void *fn_name)
{
	u64 addr = (u64)fn_name;
	u32 free = FN_SLOTS;
	for (u32 i = 0; i < FN_SLOTS; i++) {
		u64 v = fn_seen[i];
		if (!v) {
			if (free == FN_SLOTS)
				free = i;
			continue;
		}
		if (v == addr)
			return 1;
		if (v == (addr & FN_ENTRY_MASK))
			return 0;
	}
	char fn[8] = {};
	bpf_probe_read_kernel(fn, sizeof(fn), fn_name);
	int inner = fn[0] == 'm' && fn[1] == 'a' && fn[2] == 's' && fn[3] == '_' &&
		    ((fn[4] == 'w' && fn[5] == 'r' && fn[6] == '_') || (fn[4] == 'i' && fn[5] == 's' && fn[6] == '_'));
	if (free < FN_SLOTS && (addr & ~FN_ENTRY_MASK))
		fn_seen[free] = inner ? addr : addr & FN_ENTRY_MASK;
	return inner;
}

/*
 * Every new mapping goes into its address space's maple tree, and the tree
 * traces each write (maple_tree:ma_write, args: the writing function's name,
 * the ma_state, the pivot, the entry). Hooking the write instead of the
 * system call sees each mapping with its final file, range and flags, and
 * costs nothing to system calls that map nothing: a syscall tracepoint puts
 * every system call of every process on the slow path while it is attached.
 * The entry is a vm_area_struct only when the tree is the current task's own
 * mm_mt (fork fills the child's tree from the parent's task: not ours).
 *
 * Which stores are loads:
 *  - one store traces from its entry point and again from inner functions
 *    (mas_wr_*, mas_is_span_wr) with the same entry: only the entry counts;
 *  - splits, merges and moves (munmap, mprotect, mremap, madvise) store
 *    executable file mappings without loading anything: a store counts only
 *    inside mmap or exec;
 *  - inside mmap, only the mapping asked for: of the fd's own file, over the
 *    range asked for when it was fixed (the pieces of an older mapping split
 *    around a MAP_FIXED one lie outside it), executable by its own VM_EXEC;
 *  - inside exec, the program interpreter, once (the main image is the exec
 *    event), sent after the exec event.
 */
static __always_inline int vma_stored(const void *fn_name, struct ma_state *mas, struct vm_area_struct *vma, vm_flags_t vm_flags, int typed)
{
	if (inner_store(fn_name))
		return 0;
	struct task_struct *task = typed ? bpf_get_current_task_btf() : (struct task_struct *)bpf_get_current_task();
	struct mm_struct *mm = RD(typed, task, mm);
	if (!mm)
		return 0;
	if ((u64)RD(typed, mas, tree) != (u64)mm + bpf_core_field_offset(struct mm_struct, mm_mt))
		return 0;
	struct file *file = RD(typed, vma, vm_file);
	if (!file)
		return 0; /* anonymous code: not a file load */

	struct call c = {};
	current_call(&c, task, typed);
	struct file *ff = 0;
	unsigned long start = RD(typed, vma, vm_start);
	unsigned long end = RD(typed, vma, vm_end);
	if (c.kind == CALL_MMAP) {
		/* The mapping's own VM_EXEC decides, not PROT_EXEC: with the
		 * READ_IMPLIES_EXEC personality mmap(PROT_READ) maps code. */
		if (c.flags & MAP_ANONYMOUS)
			return 0;
		/* The fd's own file, or the backing file of it that a stacked
		 * filesystem mapped instead (named by the fd's path). */
		ff = PTR(typed, struct file, fd_file(task, c.fd, typed));
		if ((u64)ff != (u64)file && !backs(file, ff, typed))
			return 0;
		if ((c.flags & (MAP_FIXED | MAP_FIXED_NOREPLACE)) && (end <= c.addr || start >= c.addr + c.len))
			return 0;
	} else if (c.kind != CALL_EXEC) {
		return 0;
	} else {
		/* The main image (or, from a stacked filesystem, its backing
		 * file) is the exec event. */
		struct file *exe = RD(typed, mm, exe_file);
		if ((u64)file == (u64)exe || backs(file, exe, typed))
			return 0;
	}

	struct pending p = {
		.file = (u64)file,
		.path_file = (u64)ff,
		.prot = vm_flags & 0x7, /* VM_READ|VM_WRITE|VM_EXEC are PROT_READ|WRITE|EXEC */
		.flags = (vm_flags & VM_SHARED) ? MAP_SHARED : MAP_PRIVATE,
		.offset = (u64)RD(typed, vma, vm_pgoff) << page_shift,
		.len = end - start,
		.fd = c.kind == CALL_MMAP ? c.fd : -1,
		.kind = KIND_MMAP,
	};
	if (c.kind == CALL_MMAP) {
		emit(&p, start, task, typed);
		return 0;
	}
	u32 tgid = bpf_get_current_pid_tgid() >> 32;
	struct interp *held = bpf_map_lookup_elem(&interp_map, &tgid);
	if (held && held->mm == (u64)mm)
		return 0;
	p.ev_flags = EV_INTERP;
	struct interp in = {.mm = (u64)mm, .addr = start, .p = p};
	bpf_map_update_elem(&interp_map, &tgid, &in, BPF_ANY);
	return 0;
}

/*
 * Most stores are of data, stack or heap (18 of a dlopen's 20): the entry's
 * flags tell, before it is known to be a mapping at all (a read of anything
 * else yields flags that the tree check then refuses). Where the kernel
 * allows it (BTF-typed tracepoints and bpf_rdonly_cast, Linux 6.2+) that read,
 * the checks after it and the event are plain loads, which the JIT guards
 * like a probe; vma_store_raw, for older kernels, makes each read with a
 * helper call, the flags' on every store of every address space
 * (BenchmarkProgramCost measures both).
 */
SEC("tp_btf/ma_write")
int vma_store(u64 *ctx)
{
	void *entry = (void *)ctx[3];
	if (!entry)
		return 0; /* an erase */
	struct vm_area_struct *v = bpf_rdonly_cast(entry, bpf_core_type_id_kernel(struct vm_area_struct));
	vm_flags_t vm_flags = v->vm_flags;
	if (!(vm_flags & VM_EXEC))
		return 0;
	return vma_stored((const void *)ctx[0], (struct ma_state *)ctx[1], v, vm_flags, 1);
}

SEC("raw_tracepoint/ma_write")
int vma_store_raw(struct bpf_raw_tracepoint_args *ctx)
{
	struct vm_area_struct *vma = (struct vm_area_struct *)ctx->args[3];
	if (!vma)
		return 0; /* an erase */
	vm_flags_t vm_flags = BPF_CORE_READ(vma, vm_flags);
	if (!(vm_flags & VM_EXEC))
		return 0;
	return vma_stored((const void *)ctx->args[0], (struct ma_state *)ctx->args[1], vma, vm_flags, 0);
}

/* path_noexec: a file whose mount forbids running it. */
static __always_inline int path_noexec(struct file *file)
{
	struct vfsmount *mnt = BPF_CORE_READ(file, f_path.mnt);
	return (BPF_CORE_READ(mnt, mnt_flags) & MNT_NOEXEC) || (BPF_CORE_READ(mnt, mnt_sb, s_iflags) & SB_I_NOEXEC);
}

/* An mmap maps code when asked for PROT_EXEC, or, as do_mmap decides, for
 * PROT_READ by a task with the READ_IMPLIES_EXEC personality, unless the
 * file's mount is noexec. */
SEC("tracepoint/syscalls/sys_enter_mmap")
int enter_mmap(struct syscall_enter_ctx *ctx)
{
	u64 prot = ctx->args[2], flags = ctx->args[3];
	if (flags & MAP_ANONYMOUS)
		return 0;
	struct task_struct *task = (struct task_struct *)bpf_get_current_task();
	int rier = !(prot & PROT_EXEC) && (prot & PROT_READ) && (BPF_CORE_READ(task, personality) & READ_IMPLIES_EXEC);
	if (!(prot & PROT_EXEC) && !rier)
		return 0; /* the common case, decided before the fd is looked up */
	s32 fd = (s32)ctx->args[4];
	struct file *file = fd_file(task, fd, 0);
	if (!file)
		return 0; /* a bad fd: mmap fails with EBADF */
	if (rier) {
		if (path_noexec(file))
			return 0;
		prot |= PROT_EXEC;
	}
	struct pending p = {
		.file = (u64)file,
		.prot = prot,
		.flags = flags,
		.offset = ctx->args[5],
		.len = ctx->args[1],
		.fd = fd,
		.kind = KIND_MMAP,
	};
	u64 id = bpf_get_current_pid_tgid();
	bpf_map_update_elem(&pending_map, &id, &p, BPF_ANY);
	return 0;
}

SEC("tracepoint/syscalls/sys_exit_mmap")
int exit_mmap(struct syscall_exit_ctx *ctx)
{
	u64 id = bpf_get_current_pid_tgid();
	struct pending *p = bpf_map_lookup_elem(&pending_map, &id);
	if (!p)
		return 0;
	/* mmap returns an address; only -1..-4095 are errors */
	if (p->kind == KIND_MMAP && !failed(ctx->ret))
		emit(p, ctx->ret, (struct task_struct *)bpf_get_current_task(), 0);
	bpf_map_delete_elem(&pending_map, &id);
	return 0;
}

struct vma_ctx {
	u64 file;
	u64 vm_flags;
};

static long vma_cb(struct task_struct *task, struct vm_area_struct *vma, struct vma_ctx *c)
{
	c->file = (u64)BPF_CORE_READ(vma, vm_file);
	c->vm_flags = BPF_CORE_READ(vma, vm_flags);
	return 0;
}

/* mprotect adding PROT_EXEC to a file mapping that had none: the file becomes
 * code without any mmap(PROT_EXEC). Only the mapping at start is checked. */
SEC("tracepoint/syscalls/sys_enter_mprotect")
int enter_mprotect(struct syscall_enter_ctx *ctx)
{
	u64 start = ctx->args[0], prot = ctx->args[2];
	struct task_struct *task = bpf_get_current_task_btf();
	/* With READ_IMPLIES_EXEC, PROT_READ adds exec to a mapping that may
	 * have it (VM_MAYEXEC: not from a noexec mount), as do_mprotect_pkey does. */
	int rier = (prot & PROT_READ) && (task->personality & READ_IMPLIES_EXEC);
	if (!(prot & PROT_EXEC) && !rier)
		return 0;
	struct vma_ctx c = {};
	long err = bpf_find_vma(task, start, vma_cb, &c, 0);
	if (err == -16 /* EBUSY */) {
		struct cpu_state *cs = cpu_state();
		if (cs)
			cs->vma_busy++;
		return 0;
	}
	if (err || !c.file || (c.vm_flags & VM_EXEC))
		return 0;
	if (!(prot & PROT_EXEC)) {
		if (!(c.vm_flags & VM_MAYEXEC))
			return 0;
		prot |= PROT_EXEC;
	}
	struct pending p = {
		.file = c.file,
		.prot = prot,
		.len = ctx->args[1],
		.addr = start,
		.fd = -1,
		.kind = KIND_MPROTECT,
	};
	u64 id = bpf_get_current_pid_tgid();
	bpf_map_update_elem(&pending_map, &id, &p, BPF_ANY);
	return 0;
}

SEC("tracepoint/syscalls/sys_exit_mprotect")
int exit_mprotect(struct syscall_exit_ctx *ctx)
{
	u64 id = bpf_get_current_pid_tgid();
	struct pending *p = bpf_map_lookup_elem(&pending_map, &id);
	if (!p)
		return 0;
	if (p->kind == KIND_MPROTECT && ctx->ret == 0)
		emit(p, p->addr, (struct task_struct *)bpf_get_current_task(), 0);
	bpf_map_delete_elem(&pending_map, &id);
	return 0;
}

SEC("tracepoint/syscalls/sys_enter_memfd_create")
int enter_memfd_create(struct syscall_enter_ctx *ctx)
{
	struct pending p = {
		.flags = ctx->args[1],
		.fd = -1,
		.kind = KIND_MEMFD_CREATE,
	};
	u64 id = bpf_get_current_pid_tgid();
	bpf_map_update_elem(&pending_map, &id, &p, BPF_ANY);
	return 0;
}

SEC("tracepoint/syscalls/sys_exit_memfd_create")
int exit_memfd_create(struct syscall_exit_ctx *ctx)
{
	u64 id = bpf_get_current_pid_tgid();
	struct pending *p = bpf_map_lookup_elem(&pending_map, &id);
	if (!p)
		return 0;
	if (p->kind == KIND_MEMFD_CREATE && ctx->ret >= 0) {
		s32 fd = (s32)ctx->ret;
		p->fd = fd;
		struct task_struct *task = (struct task_struct *)bpf_get_current_task();
		p->file = (u64)fd_file(task, fd, 0);
		emit(p, 0, task, 0);
	}
	bpf_map_delete_elem(&pending_map, &id);
	return 0;
}

/* user_area copies the process's memory [start, end), at most bound bytes
 * (a power of two), into s->data at offset at (masked by at_mask for the
 * verifier) and returns how many bytes it copied; a longer area sets flag. */
static __always_inline u16 user_area(struct scratch *s, u32 at, u32 at_mask, unsigned long start, unsigned long end,
				     u64 bound, u32 flag)
{
	u64 n = end > start ? end - start : 0;
	if (n > bound) {
		n = bound;
		s->ev.ev_flags |= flag;
	}
	barrier_var(at);
	at &= at_mask;
	barrier_var(n);
	n &= 2 * bound - 1;
	if (!n || bpf_probe_read_user(&s->data[at], n, (void *)start) != 0)
		return 0;
	return n;
}

/* The main image: after a successful exec the task's mm is the new one, and
 * mm->exe_file is the file the kernel mapped. aux carries argv. */
SEC("tracepoint/sched/sched_process_exec")
int sched_exec(struct sched_process_exec_ctx *ctx)
{
	struct scratch *s = fresh();
	struct walkbuf *w = walkbuf();
	if (!s || !w)
		return 0;
	struct task_struct *task = (struct task_struct *)bpf_get_current_task();
	process(&s->ev, KIND_EXEC, task, 0);
	s->ev.fd = -1;
	struct mm_struct *mm = BPF_CORE_READ(task, mm);
	struct file *exe = BPF_CORE_READ(mm, exe_file);
	describe(exe, 0, s, w, 0);
	if (exe && !(s->ev.ev_flags & EV_PATH_TRUNCATED)) {
		/* This event's path is the exe path of the process's loads. */
		struct exe_seen *seen = exe_slot(s->ev.pid);
		if (seen)
			exe_sent(seen, s->ev.pid, mm, exe);
	}

	u32 at = s->ev.path_len;
	s->ev.aux_len = user_area(s, at, PATH_BYTES - 1, BPF_CORE_READ(task, mm, arg_start),
				  BPF_CORE_READ(task, mm, arg_end), ARGS_BYTES, EV_AUX_TRUNCATED);
	/* The environment, for the loader's variables: LD_PRELOAD named at exec
	 * makes every later load of it "preloaded", after the process is gone. */
	at += s->ev.aux_len;
	s->ev.env_len = user_area(s, at, 2 * PATH_BYTES - 1, BPF_CORE_READ(task, mm, env_start),
				  BPF_CORE_READ(task, mm, env_end), ENV_BYTES, EV_ENV_TRUNCATED);
	s->ev.aux_len += s->ev.env_len;
	submit(s);

	u32 tgid = s->ev.pid;
	struct interp *in = bpf_map_lookup_elem(&interp_map, &tgid);
	if (in && in->mm == (u64)mm) {
		struct pending p = in->p;
		u64 addr = in->addr;
		bpf_map_delete_elem(&interp_map, &tgid);
		emit(&p, addr, task, 0);
	}
	return 0;
}
