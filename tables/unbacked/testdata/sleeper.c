/* The payload: says "ready" and waits to be killed. */
#include <stdio.h>
#include <unistd.h>

int main(void) {
	printf("ready\n");
	fflush(stdout);
	for (;;) pause();
}
