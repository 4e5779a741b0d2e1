/* Fileless execution: copies the ELF argv[1] into a memfd named "payload"
 * and fexecve()s it with the remaining arguments. */
#define _GNU_SOURCE
#include <fcntl.h>
#include <stdlib.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

extern char **environ;

int main(int argc, char **argv) {
	if (argc < 2) return 2;
	int in = open(argv[1], O_RDONLY);
	struct stat st;
	if (in < 0 || fstat(in, &st) != 0) return 3;
	int fd = memfd_create("payload", 0);
	if (fd < 0) return 4;
	char buf[65536];
	ssize_t n;
	while ((n = read(in, buf, sizeof buf)) > 0)
		if (write(fd, buf, n) != n) return 5;
	close(in);
	fexecve(fd, argv + 1, environ);
	return 6;
}
