// SPDX-License-Identifier: MIT
/*
 * Unit tests of cluster key files and keyrings (connector/keyring.c): one
 * to four keys, the first preferred, lookup by key id, reload with the old
 * keys kept when the file turns bad, and exactly one log line for every
 * way a key file can be wrong.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include "catch-output.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "cmp/auth.h"
#include "cmp/util.h"

static char tmpdir[] = "/tmp/test-keyring-XXXXXX";

static const struct auth_key key_a = {{1, 2, 3, 4, 5, 6, 7, 8}};

/* ---- key files and keyrings ---- */

static const char *tmp_path(const char *name)
{
	static char path[256];

	snprintf(path, sizeof(path), "%s/%s", tmpdir, name);
	unlink(path);
	return path;
}

static void write_file(const char *path, const char *text, mode_t mode)
{
	int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, mode);

	assert_true(fd >= 0);
	assert_int_equal(write(fd, text, strlen(text)), (ssize_t)strlen(text));
	assert_int_equal(fchmod(fd, mode), 0);
	close(fd);
}

/* Loads path; returns -errno or the number of keys. */
static int load(const char *path, struct auth_keyring **out)
{
	struct auth_keyring *kr = auth_keyring_load(path);
	int n;

	if (out)
		*out = NULL;
	if (!kr)
		return -errno;
	n = (int)auth_keyring_count(kr);
	if (out)
		*out = kr;
	else
		auth_keyring_destroy(kr);
	return n;
}

static void keygen_writes_0600_and_refuses_to_overwrite(void **state)
{
	const char *path = tmp_path("key");
	struct auth_keyring *k1 = NULL, *k2 = NULL;
	struct auth_key a, b;
	uint64_t ida, idb;
	struct stat st;

	assert_int_equal(auth_key_generate(path), 0);
	assert_int_equal(stat(path, &st), 0);
	assert_int_equal(st.st_mode & 07777, 0600);
	assert_int_equal(st.st_size, 65);
	assert_int_equal(load(path, &k1), 1);
	assert_int_equal(auth_key_generate(path), -EEXIST);
	assert_int_equal(load(path, &k2), 1);
	auth_keyring_preferred(k1, &a, &ida);
	auth_keyring_preferred(k2, &b, &idb);
	assert_memory_equal(&a, &b, sizeof(a));
	assert_int_equal(ida, idb);
	assert_int_equal(ida, auth_key_id(&a));
	auth_keyring_destroy(k2);
	/* A second key is a different key, with another id. */
	path = tmp_path("key2");
	assert_int_equal(auth_key_generate(path), 0);
	assert_int_equal(load(path, &k2), 1);
	auth_keyring_preferred(k2, &b, &idb);
	assert_memory_not_equal(&a, &b, sizeof(a));
	assert_int_not_equal(ida, idb);
	auth_keyring_destroy(k1);
	auth_keyring_destroy(k2);
}

static void key_file_accessible_by_group_or_others_is_refused(void **state)
{
	static const mode_t bad[] = {0644, 0640, 0620, 0604, 0602};
	const char *path = tmp_path("key");
	int lines, all;
	size_t i;

	assert_int_equal(auth_key_generate(path), 0);
	for (i = 0; i < ARRAY_SIZE(bad); i++) {
		assert_int_equal(chmod(path, bad[i]), 0);
		catch_stderr();
		assert_int_equal(load(path, NULL), -EPERM);
		lines = caught_lines("group or others", &all);
		assert_int_equal(lines, 1);
		assert_int_equal(all, 1);
	}
	assert_int_equal(chmod(path, 0400), 0);
	assert_int_equal(load(path, NULL), 1);
}

static const char hex64[] = "00112233445566778899aabbccddeeff0011223344"
			    "5566778899aabbccddeeff";

static void malformed_key_files_are_einval_in_one_line(void **state)
{
	char bad[8][512] = {"", "\n"};
	const char *path = tmp_path("key");
	int all;

	snprintf(bad[2], sizeof(bad[2]), "%.63s\n", hex64);
	snprintf(bad[3], sizeof(bad[3]), "%s0\n", hex64);
	snprintf(bad[4], sizeof(bad[4]), "%s\n\n", hex64);
	snprintf(bad[5], sizeof(bad[5]), "%.62sxy\n", hex64);
	for (int i = 0; i < 5; i++) /* five keys: one too many */
		snprintf(bad[6] + i * 65, 66, "%s\n", hex64);
	snprintf(bad[7], sizeof(bad[7]), "%s %s\n", hex64, hex64);
	for (size_t i = 0; i < ARRAY_SIZE(bad); i++) {
		write_file(path, bad[i], 0600);
		catch_stderr();
		assert_int_equal(load(path, NULL), -EINVAL);
		assert_int_equal(caught_lines("hex characters", &all), 1);
		assert_int_equal(all, 1);
	}
}

static void key_files_hold_one_to_four_keys_first_preferred(void **state)
{
	const char *path = tmp_path("key");
	struct auth_keyring *kr = NULL;
	struct auth_key k, got;
	char text[512];
	uint64_t id;

	/* with and without the last newline, upper case too */
	write_file(path,
		   "00112233445566778899AABBCCDDEEFF"
		   "00112233445566778899AABBCCDDEEFF",
		   0600);
	assert_int_equal(load(path, &kr), 1);
	auth_keyring_preferred(kr, &k, &id);
	assert_int_equal(k.bytes[0], 0x00);
	assert_int_equal(k.bytes[5], 0x55);
	assert_int_equal(k.bytes[31], 0xff);
	auth_keyring_destroy(kr);
	snprintf(text, sizeof(text), "%.62s01\n%s\n%.62s02\n%.62s03", hex64,
		 hex64, hex64, hex64);
	write_file(path, text, 0600);
	assert_int_equal(load(path, &kr), 4);
	auth_keyring_preferred(kr, &k, &id);
	assert_int_equal(k.bytes[31], 0x01);
	/* every key is found by its id, none by another */
	got = k;
	got.bytes[31] = 0x03;
	assert_int_equal(auth_keyring_lookup(kr, auth_key_id(&got), &k), 0);
	assert_int_equal(k.bytes[31], 0x03);
	assert_int_equal(auth_keyring_lookup(kr, id + 1, &k), -ENOENT);
	auth_keyring_destroy(kr);
}

static void reload_swaps_keys_and_keeps_them_on_a_bad_file(void **state)
{
	const char *path = tmp_path("key");
	struct auth_keyring *kr = NULL, *mem;
	struct auth_key k;
	char text[256];
	uint64_t id, id2;

	snprintf(text, sizeof(text), "%s\n", hex64);
	write_file(path, text, 0600);
	assert_int_equal(load(path, &kr), 1);
	auth_keyring_preferred(kr, &k, &id);
	/* the new key first, the old one second */
	snprintf(text, sizeof(text), "%.62s99\n%s\n", hex64, hex64);
	write_file(path, text, 0600);
	catch_stderr();
	assert_int_equal(auth_keyring_reload(kr), 2);
	assert_int_equal(caught_lines("key file reloaded: 2 keys", NULL), 1);
	auth_keyring_preferred(kr, &k, &id2);
	assert_int_not_equal(id, id2);
	assert_int_equal(auth_keyring_lookup(kr, id, &k), 0);
	/* a broken file: one line, the keys stay */
	write_file(path, "nonsense\n", 0600);
	catch_stderr();
	assert_int_equal(auth_keyring_reload(kr), -EINVAL);
	assert_int_equal(caught_lines("keeping the 2 keys", NULL), 1);
	assert_int_equal(auth_keyring_count(kr), 2);
	auth_keyring_destroy(kr);
	/* a keyring made in memory has no file to reload */
	mem = auth_keyring_create(&key_a, 1);
	assert_non_null(mem);
	assert_int_equal(auth_keyring_reload(mem), -EINVAL);
	auth_keyring_destroy(mem);
	assert_null(auth_keyring_create(&key_a, 0));
	assert_null(auth_keyring_create(&key_a, AUTH_KEYRING_MAX + 1));
}

static void missing_key_file_is_enoent(void **state)
{
	assert_int_equal(load(tmp_path("absent"), NULL), -ENOENT);
}

static int tmpdir_setup(void **state)
{
	umask(022);
	return mkdtemp(tmpdir) ? 0 : -1;
}

static int tmpdir_teardown(void **state)
{
	static const char *const names[] = {"key", "key2", "log"};
	size_t i;

	for (i = 0; i < ARRAY_SIZE(names); i++)
		unlink(tmp_path(names[i]));
	return rmdir(tmpdir);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(keygen_writes_0600_and_refuses_to_overwrite),
		cmocka_unit_test(
			key_file_accessible_by_group_or_others_is_refused),
		cmocka_unit_test(malformed_key_files_are_einval_in_one_line),
		cmocka_unit_test(
			key_files_hold_one_to_four_keys_first_preferred),
		cmocka_unit_test(
			reload_swaps_keys_and_keeps_them_on_a_bad_file),
		cmocka_unit_test(missing_key_file_is_enoent),
	};

	return cmocka_run_group_tests(tests, tmpdir_setup, tmpdir_teardown);
}
