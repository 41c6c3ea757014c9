// SPDX-License-Identifier: MIT
/*
 * Runs a libFuzzer target's LLVMFuzzerTestOneInput() over saved inputs, so
 * every compiler and every CI run exercises the decoders on the corpus and
 * on past crashes without libFuzzer. Arguments are files or directories
 * (read one level deep, in name order, skipping dot files). Each input is
 * copied to a buffer of exactly its size so sanitizers catch over-reads.
 * Fails when no input was run: an empty or misplaced corpus is a bug.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerInitialize(int *argc, char ***argv) __attribute__((weak));

static int run_file(const char *path, off_t size, unsigned long *count)
{
	uint8_t *buf = malloc(size ? (size_t)size : 1);
	size_t done = 0;
	ssize_t n;
	int fd;

	if (!buf) {
		fprintf(stderr, "%s: out of memory\n", path);
		return -1;
	}
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0) {
		fprintf(stderr, "%s: %s\n", path, strerror(errno));
		free(buf);
		return -1;
	}
	while (done < (size_t)size) {
		n = read(fd, buf + done, (size_t)size - done);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			break;
		done += (size_t)n;
	}
	close(fd);
	LLVMFuzzerTestOneInput(buf, done);
	free(buf);
	(*count)++;
	return 0;
}

static int run_path(const char *path, bool top, unsigned long *count);

static int run_dir(const char *path, unsigned long *count)
{
	struct dirent **names;
	char sub[4096];
	int ret = 0;
	int n;
	int i;

	n = scandir(path, &names, NULL, alphasort);
	if (n < 0) {
		fprintf(stderr, "%s: %s\n", path, strerror(errno));
		return -1;
	}
	for (i = 0; i < n; i++) {
		if (names[i]->d_name[0] != '.' && !ret) {
			snprintf(sub, sizeof(sub), "%s/%s", path,
				 names[i]->d_name);
			ret = run_path(sub, false, count);
		}
		free(names[i]);
	}
	free(names);
	return ret;
}

static int run_path(const char *path, bool top, unsigned long *count)
{
	struct stat st;

	if (stat(path, &st)) {
		fprintf(stderr, "%s: %s\n", path, strerror(errno));
		return -1;
	}
	if (S_ISREG(st.st_mode))
		return run_file(path, st.st_size, count);
	if (S_ISDIR(st.st_mode) && top)
		return run_dir(path, count);
	return 0; /* nested directories and special files are not inputs */
}

int main(int argc, char **argv)
{
	unsigned long count = 0;
	int i;

	if (LLVMFuzzerInitialize)
		LLVMFuzzerInitialize(&argc, &argv);
	for (i = 1; i < argc; i++)
		if (run_path(argv[i], true, &count))
			return 1;
	printf("%s: ran %lu inputs\n", argv[0], count);
	if (!count) {
		fprintf(stderr, "%s: no inputs (corpus missing?)\n", argv[0]);
		return 1;
	}
	return 0;
}
