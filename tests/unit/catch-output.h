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

#endif
