/* SPDX-License-Identifier: MIT */
/*
 * For unit tests that check what a function printed: catch_fd() sends
 * stdout or stderr to a temporary file, caught() puts it back and returns
 * what was written (up to 16 KiB, in a static buffer). One catch at a time;
 * include after <cmocka.h>.
 */
#ifndef CMP_TEST_CATCH_OUTPUT_H
#define CMP_TEST_CATCH_OUTPUT_H

#include <stdio.h>
#include <string.h>
#include <unistd.h>

static char said[16384];
static int saved_fd = -1;
static int caught_fd;
static FILE *catch_file;

static inline void catch_fd(int fd)
{
	fflush(stdout);
	fflush(stderr);
	catch_file = tmpfile();
	assert_non_null(catch_file);
	caught_fd = fd;
	saved_fd = dup(fd);
	assert_true(saved_fd >= 0);
	assert_int_equal(dup2(fileno(catch_file), fd), fd);
}

static inline void catch_stderr(void)
{
	catch_fd(STDERR_FILENO);
}

static inline const char *caught(void)
{
	size_t n;

	fflush(stdout);
	fflush(stderr);
	dup2(saved_fd, caught_fd);
	close(saved_fd);
	rewind(catch_file);
	n = fread(said, 1, sizeof(said) - 1, catch_file);
	said[n] = '\0';
	fclose(catch_file);
	return said;
}

/* Lines of text that contain needle; *total (unless NULL): all lines. */
static inline int count_lines(const char *text, const char *needle, int *total)
{
	int n = 0, all = 0;

	for (const char *l = text; *l;) {
		const char *end = strchr(l, '\n');
		size_t len = end ? (size_t)(end - l) : strlen(l);

		all++;
		if (memmem(l, len, needle, strlen(needle)))
			n++;
		l += len + (end != NULL);
	}
	if (total)
		*total = all;
	return n;
}

/* Stops catching stderr; count_lines() of what it caught. */
static inline int caught_lines(const char *needle, int *total)
{
	return count_lines(caught(), needle, total);
}

#endif
