/* What a JIT does: writes machine code into anonymous memory, makes it
 * executable (W^X: RW, then R-X), and runs it. Writes the region's address
 * to argv[1]. */
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

int main(int argc, char **argv) {
	if (argc != 2) return 2;
#if defined(__x86_64__) || defined(__i386__)
	static const unsigned char code[] = {0xb8, 0x2a, 0x00, 0x00, 0x00, 0xc3}; /* mov eax, 42; ret */
#elif defined(__aarch64__)
	static const unsigned char code[] = {0x40, 0x05, 0x80, 0x52, 0xc0, 0x03, 0x5f, 0xd6}; /* mov w0, #42; ret */
#else
	static const unsigned char code[] = {0};
#endif
	unsigned char *p = mmap(NULL, 4096, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (p == MAP_FAILED) return 3;
	memcpy(p, code, sizeof code);
	if (mprotect(p, 4096, PROT_READ | PROT_EXEC) != 0) return 4;
#if defined(__x86_64__) || defined(__i386__) || defined(__aarch64__)
	__builtin___clear_cache((char *)p, (char *)p + sizeof code);
	if (((int (*)(void))p)() != 42) return 5;
#endif
	FILE *out = fopen(argv[1], "w");
	if (!out) return 6;
	fprintf(out, "%p\n", (void *)p);
	fclose(out);
	printf("ready\n");
	fflush(stdout);
	for (;;) pause();
}
