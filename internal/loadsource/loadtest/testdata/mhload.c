// mhload: the loads the live tests and benchmarks make, one mode per run.
// Each mode prints what the test compares the event with (inode, device,
// addresses) on stdout before loading, then exits at once with _exit, so
// the process is gone before anyone could read its /proc entry.
#define _GNU_SOURCE
#include <dlfcn.h>
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/mount.h>
#include <sys/personality.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/sysmacros.h>
#include <time.h>
#include <unistd.h>

static void die(const char *what) {
	fprintf(stderr, "mhload: %s: %s\n", what, strerror(errno));
	_exit(2);
}

// report prints the identity of fd as the test reads it: inode major minor.
static void report(int fd) {
	struct stat st;
	if (fstat(fd, &st) != 0)
		die("fstat");
	printf("ino=%llu major=%u minor=%u fd=%d\n", (unsigned long long)st.st_ino, major(st.st_dev), minor(st.st_dev), fd);
	fflush(stdout);
}

// open_reported opens path read-only and reports what it opened.
static int open_reported(const char *path, int flags) {
	int fd = open(path, O_RDONLY | flags);
	if (fd < 0)
		die("open");
	report(fd);
	return fd;
}

static void copy(int from, int to) {
	char buf[65536];
	ssize_t n;
	while ((n = read(from, buf, sizeof buf)) > 0)
		if (write(to, buf, n) != n)
			die("write");
	if (n < 0)
		die("read");
}

// copy_into copies the file at from to dir/name, mode 0755, and returns
// the copy's open fd.
static int copy_into(const char *from, const char *dir, const char *name) {
	char dst[8192];
	snprintf(dst, sizeof dst, "%s/%s", dir, name);
	int src = open(from, O_RDONLY | O_CLOEXEC);
	int fd = open(dst, O_RDWR | O_CREAT | O_CLOEXEC, 0755);
	if (src < 0 || fd < 0)
		die(from);
	copy(src, fd);
	close(src);
	return fd;
}

static void *load(const char *path) {
	void *h = dlopen(path, RTLD_NOW | RTLD_LOCAL);
	if (!h) {
		fprintf(stderr, "mhload: dlopen %s: %s\n", path, dlerror());
		_exit(3);
	}
	int (*probe)(void) = (int (*)(void))dlsym(h, "mh_probe");
	if (!probe || probe() != 42) {
		fprintf(stderr, "mhload: mh_probe missing or wrong\n");
		_exit(4);
	}
	return h;
}

static void load_fd(int fd) {
	char proc[64];
	snprintf(proc, sizeof proc, "/proc/self/fd/%d", fd);
	load(proc);
}

// private_tmpfs mounts a tmpfs at dir in a mount namespace of this process's
// own, so the host's mounts never change and the mount goes with the process.
// load_close loads path and closes it, so that the next dlopen of the
// same file maps it again.
static void load_close(const char *path) {
	if (dlclose(load(path)) != 0)
		die("dlclose");
}

// pathf formats a path into a static buffer.
static const char *pathf(const char *fmt, const char *dir, const char *rest) {
	static char p[8192];
	snprintf(p, sizeof p, fmt, dir, rest);
	return p;
}

static void private_tmpfs(const char *dir) {
	if (unshare(CLONE_NEWNS) != 0)
		die("unshare");
	if (mount("", "/", NULL, MS_REC | MS_PRIVATE, NULL) != 0)
		die("mount private");
	if (mount("tmpfs", dir, "tmpfs", 0, "size=16m") != 0)
		die("mount tmpfs");
}

// A thread of its own name loads the library, so an event can be checked
// against the thread that made it, not only the process.
static void *thread_load(void *path) {
	prctl(PR_SET_NAME, "mh-worker");
	printf("tid=%ld\n", (long)syscall(SYS_gettid));
	fflush(stdout);
	load(path);
	return NULL;
}

static double now(void) {
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec + ts.tv_nsec / 1e9;
}

int main(int argc, char **argv) {
	if (argc < 3) {
		fprintf(stderr, "usage: mhload MODE PATH [ARGS]\n");
		return 2;
	}
	const char *mode = argv[1], *path = argv[2];

	if (!strcmp(mode, "load")) {
		// dlopen PATH and exit.
		int fd = open_reported(path, O_CLOEXEC);
		close(fd);
		load(path);
		_exit(0);
	}
	if (!strcmp(mode, "threadload")) {
		// dlopen PATH from a second thread named mh-worker, and exit.
		int fd = open_reported(path, O_CLOEXEC);
		close(fd);
		pthread_t th;
		if (pthread_create(&th, NULL, thread_load, (void *)path) != 0 || pthread_join(th, NULL) != 0)
			die("thread");
		_exit(0);
	}
	if (!strcmp(mode, "memfd")) {
		// Fileless: copy the library into a memfd and dlopen it by fd.
		int src = open(path, O_RDONLY | O_CLOEXEC);
		int fd = memfd_create(argc > 3 ? argv[3] : "mh_payload", 0);
		if (src < 0 || fd < 0)
			die("memfd");
		copy(src, fd);
		report(fd);
		load_fd(fd);
		_exit(0);
	}
	if (!strcmp(mode, "memfd-exec")) {
		// Fileless exec: copy an executable into a memfd and fexecve it.
		int src = open(path, O_RDONLY | O_CLOEXEC);
		int fd = memfd_create("mh_exec", MFD_CLOEXEC);
		if (src < 0 || fd < 0)
			die("memfd");
		copy(src, fd);
		report(fd);
		char *args[] = {"mh_fileless", NULL};
		char *env[] = {NULL};
		fexecve(fd, args, env);
		die("fexecve");
	}
	if (!strcmp(mode, "deleted")) {
		// Open the library, unlink it, then load it: deleted at load time.
		int fd = open_reported(path, 0);
		if (unlink(path) != 0)
			die("unlink");
		load_fd(fd);
		_exit(0);
	}
	if (!strcmp(mode, "fakememfd")) {
		// A tmpfs file called "memfd:x" whose kernel name is exactly
		// "/memfd:x" (its mount detached), loaded by fd: everything a
		// name-based check looks at says memfd, and it is not one. All in
		// a private mount namespace: the host's mounts never change.
		if (argc < 4)
			return 2;
		const char *dir = argv[3];
		private_tmpfs(dir);
		int fd = copy_into(path, dir, "memfd:x");
		report(fd);
		if (umount2(dir, MNT_DETACH) != 0)
			die("umount");
		load_fd(fd);
		_exit(0);
	}
	if (!strcmp(mode, "ovlload")) {
		// dlopen a library through an overlayfs (how container images are
		// mounted) at DIR/merged, its lower layer on a tmpfs at DIR, all
		// in a private mount namespace. overlayfs maps the layer's file,
		// not its own, so the mapping's file is not the fd's. Prints the
		// identity /proc/self/maps gives the mapping (the layer's inode)
		// after the load, then exits. Given INTERP and LOADER, puts both in
		// the layer, as ld-mh.so and mhload-ovl, and execs the overlay's
		// mhload-ovl (whose interpreter is DIR/merged/ld-mh.so) to load the
		// library instead: a container's program, interpreter and library.
		if (argc < 4)
			return 2;
		const char *interp = argc > 5 ? argv[4] : NULL, *loader = argc > 5 ? argv[5] : NULL;
		const char *dir = argv[3];
		private_tmpfs(dir);
		char lower[4096], upper[4096], work[4096], merged[4096], opts[16384], dst[4096];
		snprintf(lower, sizeof lower, "%s/lower", dir);
		snprintf(upper, sizeof upper, "%s/upper", dir);
		snprintf(work, sizeof work, "%s/work", dir);
		snprintf(merged, sizeof merged, "%s/merged", dir);
		if (mkdir(lower, 0755) || mkdir(upper, 0755) || mkdir(work, 0755) || mkdir(merged, 0755))
			die("mkdir");
		close(copy_into(path, lower, "libmh_ovl.so"));
		if (loader) {
			close(copy_into(interp, lower, "ld-mh.so"));
			close(copy_into(loader, lower, "mhload-ovl"));
		}
		snprintf(opts, sizeof opts, "lowerdir=%s,upperdir=%s,workdir=%s", lower, upper, work);
		if (mount("overlay", merged, "overlay", 0, opts) != 0)
			die("mount overlay");
		snprintf(dst, sizeof dst, "%s/libmh_ovl.so", merged);
		if (loader) {
			char prog[4096];
			snprintf(prog, sizeof prog, "%s/mhload-ovl", merged);
			char *args[] = {"mhload", "load", dst, NULL};
			execv(prog, args);
			die("exec");
		}
		load(dst);
		FILE *maps = fopen("/proc/self/maps", "r");
		char line[8192];
		while (maps && fgets(line, sizeof line, maps)) {
			unsigned maj, min;
			unsigned long long ino;
			char perms[8];
			if (strstr(line, "libmh_ovl.so") && sscanf(line, "%*x-%*x %7s %*x %x:%x %llu", perms, &maj, &min, &ino) == 4 && perms[2] == 'x') {
				printf("ino=%llu major=%u minor=%u fd=-1\n", ino, maj, min);
				fflush(stdout);
				_exit(0);
			}
		}
		die("the load is not in /proc/self/maps");
	}
	if (!strcmp(mode, "mountload")) {
		// dlopen a library that lives on a tmpfs mounted at DIR, in a
		// private mount namespace (the host's mounts never change): its
		// path crosses from the tmpfs's root to the mount point. Prints
		// the namespace's inode besides the file's identity.
		if (argc < 4)
			return 2;
		const char *dir = argv[3];
		private_tmpfs(dir);
		char sub[4096], dst[4096];
		snprintf(sub, sizeof sub, "%s/sub", dir);
		snprintf(dst, sizeof dst, "%s/libmh_mounted.so", sub);
		if (mkdir(sub, 0755) != 0)
			die("mkdir");
		int fd = copy_into(path, sub, "libmh_mounted.so");
		struct stat ns;
		if (stat("/proc/self/ns/mnt", &ns) != 0)
			die("stat ns");
		printf("mntns=%llu ", (unsigned long long)ns.st_ino);
		report(fd);
		close(fd);
		load(dst);
		_exit(0);
	}
	if (!strcmp(mode, "renames")) {
		// Load the library again and again while the names on its path
		// change, from one CPU (the kernel side's path cache is per
		// CPU), printing before each load the path it has then. The
		// tree is a tmpfs at DIR in a private mount namespace; a second
		// tmpfs mounted inside it is moved.
		if (argc < 4)
			return 2;
		const char *dir = argv[3];
		cpu_set_t one;
		CPU_ZERO(&one);
		CPU_SET(sched_getcpu(), &one);
		if (sched_setaffinity(0, sizeof one, &one) != 0)
			die("sched_setaffinity");
		private_tmpfs(dir);
		if (mkdir(pathf("%s/%s", dir, "a"), 0755) != 0 || mkdir(pathf("%s/%s", dir, "a/b"), 0755) != 0 ||
		    mkdir(pathf("%s/%s", dir, "y"), 0755) != 0 || mkdir(pathf("%s/%s", dir, "m"), 0755) != 0)
			die("mkdir");
		char sub[8192];
		snprintf(sub, sizeof sub, "%s/a/b", dir);
		close(copy_into(path, sub, "lib.so"));
		const char *steps[][3] = {
			// rename from, rename to (relative to DIR), then the path loaded
			{NULL, NULL, "a/b/lib.so"},
			{NULL, NULL, "a/b/lib.so"},                   // unchanged three times: from the cache
			{NULL, NULL, "a/b/lib.so"},
			{NULL, NULL, "a/b/lib.so"},
			{"a", "x", "x/b/lib.so"},                     // an ancestor renamed
			{"x/b/lib.so", "x/b/lib-2.so", "x/b/lib-2.so"}, // the file renamed
			{"x/b", "y/b", "y/b/lib-2.so"},               // moved to another parent
			{"y/b/lib-2.so", "y/b/lib-3.so", "y/b/lib-3.so"}, // a name of the same length
		};
		for (unsigned i = 0; i < sizeof steps / sizeof steps[0]; i++) {
			if (steps[i][0]) {
				char from[8192];
				snprintf(from, sizeof from, "%s/%s", dir, steps[i][0]);
				if (rename(from, pathf("%s/%s", dir, steps[i][1])) != 0)
					die("rename");
			}
			const char *p = pathf("%s/%s", dir, steps[i][2]);
			printf("load=%s\n", p);
			fflush(stdout);
			load_close(p);
		}
		// A mount moved: the same file under a new mount point.
		snprintf(sub, sizeof sub, "%s/m", dir);
		if (mount("tmpfs", sub, "tmpfs", 0, "size=16m") != 0)
			die("mount tmpfs");
		close(copy_into(path, sub, "lib.so"));
		const char *p = pathf("%s/%s", dir, "m/lib.so");
		printf("load=%s\n", p);
		fflush(stdout);
		load_close(p);
		if (mkdir(pathf("%s/%s", dir, "y/m2"), 0755) != 0 || mount(sub, pathf("%s/%s", dir, "y/m2"), NULL, MS_MOVE, NULL) != 0)
			die("move mount");
		p = pathf("%s/%s", dir, "y/m2/lib.so");
		printf("load=%s\n", p);
		fflush(stdout);
		load_close(p);
		_exit(0);
	}
	if (!strcmp(mode, "mprotect")) {
		// Map a file readable, then make it executable with mprotect; a
		// second mprotect of the now-executable mapping is no new load,
		// nor is executable anonymous memory.
		int fd = open_reported(path, 0);
		void *p = mmap(NULL, 4096, PROT_READ, MAP_PRIVATE, fd, 0);
		if (p == MAP_FAILED)
			die("mmap");
		printf("addr=%llu\n", (unsigned long long)(unsigned long)p);
		fflush(stdout);
		if (mprotect(p, 4096, PROT_READ | PROT_EXEC) != 0)
			die("mprotect");
		if (mprotect(p, 4096, PROT_READ | PROT_EXEC) != 0)
			die("mprotect again");
		void *anon = mmap(NULL, 4096, PROT_READ | PROT_EXEC, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
		if (anon == MAP_FAILED)
			die("mmap anon");
		_exit(0);
	}
	if (!strcmp(mode, "reshape")) {
		// Two loads, and every other way an executable file mapping is
		// stored again without loading anything: split by madvise and
		// mprotect, cut by munmap, moved by mremap, cut around a MAP_FIXED
		// mapping of another file, and the same file mapped over it again
		// without PROT_EXEC. Loads: PATH (6 pages at addr) and PATH2 (one
		// page at addr2).
		if (argc < 4)
			return 2;
		int fd = open(path, O_RDONLY), fd2 = open(argv[3], O_RDONLY);
		if (fd < 0 || fd2 < 0)
			die("open");
		report(fd);
		long pg = sysconf(_SC_PAGESIZE);
		char *r = mmap(NULL, 16 * pg, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
		if (r == MAP_FAILED)
			die("reserve");
		char *p = mmap(r, 6 * pg, PROT_READ | PROT_EXEC, MAP_PRIVATE | MAP_FIXED, fd, 0);
		if (p == MAP_FAILED)
			die("mmap");
		printf("addr=%llu addr2=%llu\n", (unsigned long long)(unsigned long)p,
		       (unsigned long long)(unsigned long)(p + 3 * pg));
		fflush(stdout);
		if (madvise(p + pg, pg, MADV_DONTFORK) != 0)
			die("madvise");
		if (mmap(p + 3 * pg, pg, PROT_READ | PROT_EXEC, MAP_PRIVATE | MAP_FIXED, fd2, 0) == MAP_FAILED)
			die("mmap fixed");
		if (mprotect(p + 5 * pg, pg, PROT_READ) != 0)
			die("mprotect");
		if (munmap(p + 5 * pg, pg) != 0)
			die("munmap");
		if (mremap(p, pg, pg, MREMAP_MAYMOVE | MREMAP_FIXED, r + 10 * pg) == MAP_FAILED)
			die("mremap");
		if (mmap(p + 4 * pg, pg, PROT_READ, MAP_PRIVATE | MAP_FIXED, fd, 4 * pg) == MAP_FAILED)
			die("mmap fixed, not executable");
		_exit(0);
	}
	if (!strcmp(mode, "storm")) {
		// RATE mmap(PROT_EXEC)/munmap pairs of PATH per second for SECONDS.
		if (argc < 5)
			return 2;
		double rate = atof(argv[3]), secs = atof(argv[4]);
		int fd = open_reported(path, 0);
		long total = (long)(rate * secs), done = 0;
		double start = now();
		while (done < total) {
			void *p = mmap(NULL, 4096, PROT_READ | PROT_EXEC, MAP_PRIVATE, fd, 0);
			if (p == MAP_FAILED)
				die("mmap");
			munmap(p, 4096);
			done++;
			// Pace in steps of 10: sleep until this many loads are due.
			if (done % 10 == 0) {
				double due = start + done / rate, t = now();
				if (due > t) {
					struct timespec ts = {(time_t)(due - t), (long)((due - t - (time_t)(due - t)) * 1e9)};
					nanosleep(&ts, NULL);
				}
			}
		}
		printf("loads=%ld seconds=%.3f\n", done, now() - start);
		fflush(stdout);
		_exit(0);
	}
	if (!strcmp(mode, "readexec")) {
		// Under the READ_IMPLIES_EXEC personality mmap(PROT_READ) of PATH
		// maps it executable, then mprotect(PROT_READ) of a second,
		// non-executable mapping of it makes that executable too: code
		// without PROT_EXEC anywhere. Prints both addresses.
		int fd = open_reported(path, 0);
		void *second = mmap(NULL, 4096, PROT_READ, MAP_PRIVATE, fd, 0);
		if (second == MAP_FAILED)
			die("mmap before the personality");
		if (personality(READ_IMPLIES_EXEC) < 0)
			die("personality");
		void *first = mmap(NULL, 4096, PROT_READ, MAP_PRIVATE, fd, 0);
		if (first == MAP_FAILED)
			die("mmap");
		if (mprotect(second, 4096, PROT_READ) != 0)
			die("mprotect");
		printf("addr=%lu addr2=%lu\n", (unsigned long)first, (unsigned long)second);
		fflush(stdout);
		_exit(0);
	}
	if (!strcmp(mode, "int80")) {
		// ia32 system calls from this 64-bit process, through int $0x80:
		// mmap2 (192) of PATH, then the old mmap (90), whose one argument
		// points to the six, both PROT_EXEC. Prints the two addresses.
#if defined(__x86_64__)
		int fd = open_reported(path, 0);
		long a1, a2;
		__asm__ volatile("push %%rbp\n\txor %%ebp, %%ebp\n\tint $0x80\n\tpop %%rbp"
				 : "=a"(a1)
				 : "0"(192L), "b"(0), "c"(4096), "d"(PROT_READ | PROT_EXEC), "S"(MAP_PRIVATE), "D"(fd)
				 : "memory");
		// The argument block must lie below 4 GiB: ia32 pointers are 32 bits.
		unsigned int *args = mmap(NULL, 4096, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_32BIT, -1, 0);
		if (args == MAP_FAILED)
			die("mmap MAP_32BIT");
		unsigned int six[6] = {0, 4096, PROT_READ | PROT_EXEC, MAP_PRIVATE, (unsigned int)fd, 0};
		memcpy(args, six, sizeof six);
		__asm__ volatile("int $0x80" : "=a"(a2) : "0"(90L), "b"(args) : "memory");
		if ((unsigned long)a1 >= -4095UL || (unsigned long)a2 >= -4095UL) {
			fprintf(stderr, "mhload: int80 mmap2=%ld mmap=%ld\n", a1, a2);
			_exit(3);
		}
		printf("addr=%lu addr2=%lu\n", (unsigned long)(unsigned int)a1, (unsigned long)(unsigned int)a2);
		fflush(stdout);
		_exit(0);
#else
		fprintf(stderr, "mhload: int80 is for x86_64\n");
		return 2;
#endif
	}
	if (!strcmp(mode, "dlloop")) {
		// N dlopen/dlclose pairs of PATH; prints the time they took.
		if (argc < 4)
			return 2;
		long n = atol(argv[3]);
		double start = now();
		for (long i = 0; i < n; i++) {
			void *h = dlopen(path, RTLD_NOW | RTLD_LOCAL);
			if (!h) {
				fprintf(stderr, "mhload: dlopen: %s\n", dlerror());
				_exit(3);
			}
			dlclose(h);
		}
		printf("ns_per_load=%.1f\n", (now() - start) * 1e9 / n);
		fflush(stdout);
		_exit(0);
	}
	fprintf(stderr, "mhload: unknown mode %s\n", mode);
	return 2;
}
