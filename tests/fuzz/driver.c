/*
 * driver.c: runs a libFuzzer target over files named on the command line,
 * so the checked-in corpus is replayed by make check with any compiler.
 */
#include "lib/compat.h"

#include <stdint.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int main(int argc, char **argv);

int main(int argc, char **argv)
{
	int n = 0;
	for (int i = 1; i < argc; i++) {
		FILE *f = fopen(argv[i], "rb");
		char *data = NULL;
		size_t len = 0, cap = 0, r;
		if (!f) {
			fprintf(stderr, "cannot open '%s'\n", argv[i]);
			return 1;
		}
		do {
			ALLOC_GROW(data, len + 4096, cap);
			r = fread(data + len, 1, 4096, f);
			len += r;
		} while (r > 0);
		fclose(f);
		LLVMFuzzerTestOneInput((const uint8_t *)data, len);
		free(data);
		n++;
	}
	printf("replayed %d inputs\n", n);
	return 0;
}
