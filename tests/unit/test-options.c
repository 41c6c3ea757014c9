// SPDX-License-Identifier: MIT
/* cmpfs's own options: what it takes, what it leaves to libfuse, refusals. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <errno.h>
#include <string.h>

#include <cmocka.h>

#include "fs.h"

static int parse(struct fs_options *o, struct fuse_args *args, int argc,
		 const char **argv)
{
	*args = (struct fuse_args)FUSE_ARGS_INIT(0, NULL);
	for (int i = 0; i < argc; i++)
		fuse_opt_add_arg(args, argv[i]);
	return fs_options_parse(args, o);
}

static bool args_contain(const struct fuse_args *a, const char *s)
{
	for (int i = 0; i < a->argc; i++)
		if (strstr(a->argv[i], s))
			return true;
	return false;
}

static void defaults_apply_when_no_option_is_given(void **state)
{
	const char *argv[] = {"cmpfs", "/mnt"};
	struct fuse_args a;
	struct fs_options o;

	assert_int_equal(parse(&o, &a, 2, argv), 0);
	assert_int_equal(o.local_bytes, FS_DEFAULT_LOCAL);
	assert_int_equal(o.block_size, FS_DEFAULT_BLOCK);
	assert_true(o.tune_bdi);
	assert_true(o.lock_memory);
	assert_string_equal(o.mountpoint, "/mnt");
	assert_null(o.source);
	fs_options_free(&o);
	fuse_opt_free_args(&a);
}

static void source_and_own_keys_are_consumed(void **state)
{
	const char *argv[] = {"cmpfs", "none", "/cmp", "-o",
			      "local=2G,block=64K,notune_bdi,allow_other,dev"};
	struct fuse_args a;
	struct fs_options o;

	assert_int_equal(parse(&o, &a, 5, argv), 0);
	assert_string_equal(o.source, "none");
	assert_string_equal(o.mountpoint, "/cmp");
	assert_int_equal(o.local_bytes, 2ull << 30);
	assert_int_equal(o.block_size, 64 << 10);
	assert_false(o.tune_bdi);
	/* libfuse's options stay for libfuse; ours and the paths are gone */
	assert_true(args_contain(&a, "allow_other"));
	assert_true(args_contain(&a, "dev"));
	assert_false(args_contain(&a, "local="));
	assert_false(args_contain(&a, "none"));
	assert_false(args_contain(&a, "/cmp"));
	fs_options_free(&o);
	fuse_opt_free_args(&a);
}

static void malformed_values_are_refused(void **state)
{
	const char *bad[] = {"local=abc",  "local=0",	   "local=12Q",
			     "block=3000", "block=8M",	   "block=1K",
			     "node=0",	   "node=x",	   "tune_bdi=1",
			     "log=",	   "readahead=2M", "readahead=x"};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		const char *argv[] = {"cmpfs", "/mnt", "-o", bad[i]};
		struct fuse_args a;
		struct fs_options o;

		assert_int_equal(parse(&o, &a, 4, argv), -EINVAL);
		fuse_opt_free_args(&a);
	}
}

static void pool_smaller_than_a_block_is_refused(void **state)
{
	const char *argv[] = {"cmpfs", "/mnt", "-o", "local=64K,block=1M"};
	struct fuse_args a;
	struct fs_options o;

	assert_int_equal(parse(&o, &a, 4, argv), -EINVAL);
	fuse_opt_free_args(&a);
}

static void three_positional_arguments_are_refused(void **state)
{
	const char *argv[] = {"cmpfs", "a", "b", "c"};
	struct fuse_args a;
	struct fs_options o;

	assert_int_equal(parse(&o, &a, 4, argv), -EINVAL);
	fuse_opt_free_args(&a);
}

static void manager_without_key_is_refused_unless_insecure(void **state)
{
	const char *argv1[] = {"cmpfs", "/m", "-o",
			       "manager=tcp://h:1,listen=tcp://a:2"};
	const char *argv2[] = {"cmpfs", "/m", "-o",
			       "manager=tcp://h:1,listen=tcp://a:2,insecure"};
	struct fuse_args a;
	struct fs_options o;

	assert_int_equal(parse(&o, &a, 4, argv1), -EINVAL);
	fuse_opt_free_args(&a);
	assert_int_equal(parse(&o, &a, 4, argv2), 0);
	assert_string_equal(o.manager, "tcp://h:1");
	assert_true(o.insecure);
	fs_options_free(&o);
	fuse_opt_free_args(&a);
}

static void manager_and_listen_go_together(void **state)
{
	const char *argv[] = {"cmpfs", "/m", "-o",
			      "manager=tcp://h:1,insecure"};
	struct fuse_args a;
	struct fs_options o;

	assert_int_equal(parse(&o, &a, 4, argv), -EINVAL);
	fuse_opt_free_args(&a);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(defaults_apply_when_no_option_is_given),
		cmocka_unit_test(source_and_own_keys_are_consumed),
		cmocka_unit_test(malformed_values_are_refused),
		cmocka_unit_test(pool_smaller_than_a_block_is_refused),
		cmocka_unit_test(three_positional_arguments_are_refused),
		cmocka_unit_test(
			manager_without_key_is_refused_unless_insecure),
		cmocka_unit_test(manager_and_listen_go_together),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
