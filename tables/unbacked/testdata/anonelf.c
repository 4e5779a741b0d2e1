/* A minimal reflective-loader stand-in: copies an ELF image (argv[2]) into
 * argv[3] anonymous private RWX regions, writes their addresses to argv[1]
 * (one per line), says "ready" and waits to be killed. */
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

int main(int argc, char **argv) {
	if (argc != 4) return 2;
	int fd = open(argv[2], O_RDONLY);
	struct stat st;
	if (fd < 0 || fstat(fd, &st) != 0) return 3;
	char *img = malloc(st.st_size);
	if (!img || read(fd, img, st.st_size) != st.st_size) return 4;
	FILE *out = fopen(argv[1], "w");
	if (!out) return 5;
	int n = atoi(argv[3]);
	for (int i = 0; i < n; i++) {
		/* A guard page between regions keeps the kernel from merging them. */
		char *p = mmap(NULL, st.st_size + 8192, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
		if (p == MAP_FAILED) return 6;
		if (mprotect(p, st.st_size, PROT_READ | PROT_WRITE | PROT_EXEC) != 0) return 7;
		memcpy(p, img, st.st_size);
		fprintf(out, "%p %ld\n", (void *)p, (long)((st.st_size + 4095) & ~4095L));
	}
	fclose(out);
	printf("ready\n");
	fflush(stdout);
	for (;;) pause();
}
