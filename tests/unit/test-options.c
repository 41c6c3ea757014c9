// SPDX-License-Identifier: MIT
/*
 * cmpfs's command line: its table (the parser itself is tested in
 * test-opts.c), what it leaves to libfuse, and libfuse's refusals told as
 * one line in the same format as cmpfs's own.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <errno.h>
#include <string.h>

#include <cmocka.h>

#include "catch-output.h"
#include "cmp/opts.h"
#include "fs.h"

static int parse(struct fs_options *o, struct fuse_args *args, int argc,
		 const char **argv)
{
	int ret;

	*args = (struct fuse_args)FUSE_ARGS_INIT(0, NULL);
	for (int i = 0; i < argc; i++)
		fuse_opt_add_arg(args, argv[i]);
	catch_stderr();
	ret = fs_options_parse(args, o);
	caught();
	return ret;
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
	assert_int_equal(o.local_bytes, 1ull << 30);
	assert_int_equal(o.block_size, 1u << 20);
	assert_int_equal(o.readahead, 128u << 10);
	assert_true(o.tune_bdi);
	assert_true(o.lock_memory);
	assert_int_equal(o.replicas, 1);
	assert_int_equal(o.rebuild_after_ms, 5000);
	assert_int_equal(o.rebuild_rate, 256u << 20);
	assert_true(o.exchange);
	assert_true(o.prefetch);
	assert_int_equal(o.wpolicy, POOL_WP_NONE);
	assert_int_equal(o.writeback_delay_ms, 100);
	assert_string_equal(o.mountpoint, "/mnt");
	assert_null(o.source);
	fs_options_free(&o);
	fuse_opt_free_args(&a);
}

static void source_and_own_keys_are_consumed(void **state)
{
	const char *argv[] = {"cmpfs", "none", "/cmp", "-o",
			      ("local=2G,block=64K,notune_bdi,noexchange,"
			       "noprefetch,allow_other,dev")};
	struct fuse_args a;
	struct fs_options o;

	assert_int_equal(parse(&o, &a, 5, argv), 0);
	assert_string_equal(o.source, "none");
	assert_string_equal(o.mountpoint, "/cmp");
	assert_int_equal(o.local_bytes, 2ull << 30);
	assert_int_equal(o.block_size, 64 << 10);
	assert_false(o.tune_bdi);
	assert_false(o.exchange);
	assert_false(o.prefetch);
	/* libfuse's options stay for libfuse; ours and the paths are gone */
	assert_true(args_contain(&a, "allow_other"));
	assert_true(args_contain(&a, "dev"));
	assert_false(args_contain(&a, "local="));
	assert_false(args_contain(&a, "none"));
	assert_false(args_contain(&a, "/cmp"));
	fs_options_free(&o);
	fuse_opt_free_args(&a);
}

static void malformed_values_are_refused_with_one_line(void **state)
{
	static const struct {
		const char *opt, *line;
	} bad[] = {
		{"local=abc", "option local: 'abc' is not a size"},
		{"local=0", "option local: '0' is less than 4K"},
		{"local=12Q", "option local: '12Q' is not a size"},
		{"block=3000", "option block: '3000' is not a power of two"},
		{"block=8M", "option block: '8M' is more than 4M"},
		{"block=1K", "option block: '1K' is less than 4K"},
		{"node=0", "option node: '0' is less than 1"},
		{"node=x", "option node: 'x' is not a whole number"},
		{"tune_bdi=1", "option tune_bdi: takes no value (got '1')"},
		{"log=", "option log: needs a value (FILE)"},
		{"readahead=2M", "option readahead: '2M' is more than 1M"},
		{"readahead=x", "option readahead: 'x' is not a size"},
		{"manager=h:1", "option manager: 'h:1' is not an address"},
	};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		const char *argv[] = {"cmpfs", "/mnt", "-o", bad[i].opt};
		struct fuse_args a;
		struct fs_options o;

		assert_int_equal(parse(&o, &a, 4, argv), -EINVAL);
		assert_ptr_equal(strstr(said, "cmpfs: "), said);
		assert_non_null(strstr(said, bad[i].line));
		assert_ptr_equal(strchr(said, '\n'), said + strlen(said) - 1);
		fuse_opt_free_args(&a);
	}
}

static void libfuse_options_are_passed_on(void **state)
{
	const char *argv[] = {
		"cmpfs",
		"/m",
		"-f",
		"-s",
		"-d",
		"-o",
		("allow_other,fsname=a\\,b,max_threads=4,clone_fd,"
		 "dev,suid,rw,default_permissions,auto_unmount")};
	struct fuse_args a;
	struct fs_options o;

	assert_int_equal(parse(&o, &a, 7, argv), 0);
	assert_string_equal(said, "");
	assert_true(args_contain(&a, "-f"));
	assert_true(args_contain(&a, "-d"));
	assert_true(args_contain(&a, "fsname=a\\,b"));
	assert_true(args_contain(&a, "auto_unmount"));
	fs_options_free(&o);
	fuse_opt_free_args(&a);
}

static void options_libfuse_refuses_are_told_in_one_line(void **state)
{
	static const struct {
		const char *arg, *line;
	} bad[] = {
		{"--bogus", "cmpfs: option --bogus: unknown (see --help)\n"},
		{"-x", "cmpfs: option -x: unknown (see --help)\n"},
		{"-obogus", "cmpfs: option bogus: unknown (see --help)\n"},
		{"-odev,bogus=1,suid",
		 "cmpfs: option bogus: unknown (see --help)\n"},
		{"-omax_threads=abc", "cmpfs: option max_threads: libfuse: "
				      "invalid parameter in option "
				      "`max_threads=abc'\n"},
	};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		const char *argv[] = {"cmpfs", "/mnt", bad[i].arg};
		struct fuse_args a;
		struct fs_options o;

		assert_int_equal(parse(&o, &a, 3, argv), -EINVAL);
		assert_string_equal(said, bad[i].line);
		fuse_opt_free_args(&a);
	}
}

static void long_options_work_as_for_the_other_daemons(void **state)
{
	const char *argv[] = {"cmpfs",	     "--local",	 "2G",
			      "--block=64K", "--nolock", "/mnt"};
	struct fuse_args a;
	struct fs_options o;

	assert_int_equal(parse(&o, &a, 6, argv), 0);
	assert_int_equal(o.local_bytes, 2ull << 30);
	assert_int_equal(o.block_size, 64 << 10);
	assert_false(o.lock_memory);
	assert_string_equal(o.mountpoint, "/mnt");
	assert_int_equal(a.argc, 1);
	fs_options_free(&o);
	fuse_opt_free_args(&a);
}

static void help_and_version_are_answered_before_anything_else(void **state)
{
	const char *help[] = {"cmpfs", "--help", "-o", "bogus"};
	const char *version[] = {"cmpfs", "-V"};
	struct fuse_args a;
	struct fs_options o;

	assert_int_equal(parse(&o, &a, 4, help), OPTS_HELP);
	fuse_opt_free_args(&a);
	assert_int_equal(parse(&o, &a, 2, version), OPTS_VERSION);
	fuse_opt_free_args(&a);
	catch_fd(STDOUT_FILENO);
	assert_int_equal(fs_options_exit_status(OPTS_HELP), 0);
	caught();
	/* every key of the table, and libfuse's options after them */
	for (const char *k = "local=SIZE\0block=SIZE\0readahead=SIZE\0"
			     "notune_bdi\0nolock\0noexchange\0noprefetch\0"
			     "debug_cmpfs\0"
			     "log=FILE\0"
			     "manager=ADDR\0listen=ADDR\0key=FILE\0insecure\0"
			     "node=N\0max-unauth=N\0frame-timeout=MS\0"
			     "allow_other\0";
	     *k; k += strlen(k) + 1)
		assert_non_null(strstr(said, k));
	assert_non_null(strstr(said, "(at least 4K; default 1G)"));
	assert_int_equal(fs_options_exit_status(-EINVAL), OPTS_EXIT_USAGE);
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

/* Several managers, as mount(8) passes them in one -o list. */
static void a_list_of_managers_is_one_option(void **state)
{
	const char *argv[] = {"cmpfs", "/m", "-o",
			      ("manager=tcp://h:1,tcp://g:1,listen=tcp://a:2,"
			       "insecure,allow_other")};
	struct fuse_args a;
	struct fs_options o;

	assert_int_equal(parse(&o, &a, 4, argv), 0);
	assert_string_equal(o.manager, "tcp://h:1,tcp://g:1");
	assert_string_equal(o.listen, "tcp://a:2");
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

static void replicas_need_a_cluster_and_at_most_three(void **state)
{
	/* (parentheses: one string each, clang's -Wstring-concatenation) */
	const char *alone[] = {"cmpfs", "/m", "-o", "replicas=2"};
	const char *four[] = {"cmpfs", "/m", "-o",
			      ("manager=tcp://h:1,listen=tcp://a:2,insecure,"
			       "replicas=4")};
	const char *two[] = {"cmpfs", "/m", "-o",
			     ("manager=tcp://h:1,listen=tcp://a:2,insecure,"
			      "replicas=2,rebuild_after=2s,rebuild_rate=0")};
	struct fuse_args a;
	struct fs_options o;

	assert_int_equal(parse(&o, &a, 4, alone), -EINVAL);
	fuse_opt_free_args(&a);
	assert_int_equal(parse(&o, &a, 4, four), -EINVAL);
	fuse_opt_free_args(&a);
	assert_int_equal(parse(&o, &a, 4, two), 0);
	assert_int_equal(o.replicas, 2);
	assert_int_equal(o.rebuild_after_ms, 2000);
	assert_int_equal(o.rebuild_rate, 0);
	fs_options_free(&o);
	fuse_opt_free_args(&a);
}

static void writepolicy_names_one_of_three_and_needs_a_cluster(void **state)
{
	const char *alone[] = {"cmpfs", "/m", "-o", "writepolicy=through"};
	const char *bad[] = {"cmpfs", "/m", "-o",
			     ("manager=tcp://h:1,listen=tcp://a:2,insecure,"
			      "writepolicy=always")};
	const char *through[] = {"cmpfs", "/m", "-o",
				 ("manager=tcp://h:1,listen=tcp://a:2,insecure,"
				  "writepolicy=through")};
	const char *back[] = {"cmpfs", "/m", "-o",
			      ("manager=tcp://h:1,listen=tcp://a:2,insecure,"
			       "writepolicy=back,writeback_delay=2s")};
	const char *no_delay[] = {"cmpfs", "/m", "-o",
				  ("manager=tcp://h:1,listen=tcp://a:2,"
				   "insecure,writepolicy=back,"
				   "writeback_delay=0")};
	struct fuse_args a;
	struct fs_options o;

	assert_int_equal(parse(&o, &a, 4, alone), -EINVAL);
	fuse_opt_free_args(&a);
	assert_int_equal(parse(&o, &a, 4, bad), -EINVAL);
	fuse_opt_free_args(&a);
	assert_int_equal(parse(&o, &a, 4, no_delay), -EINVAL);
	fuse_opt_free_args(&a);
	assert_int_equal(parse(&o, &a, 4, through), 0);
	assert_int_equal(o.wpolicy, POOL_WP_THROUGH);
	fs_options_free(&o);
	fuse_opt_free_args(&a);
	assert_int_equal(parse(&o, &a, 4, back), 0);
	assert_int_equal(o.wpolicy, POOL_WP_BACK);
	assert_int_equal(o.writeback_delay_ms, 2000);
	fs_options_free(&o);
	fuse_opt_free_args(&a);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(defaults_apply_when_no_option_is_given),
		cmocka_unit_test(source_and_own_keys_are_consumed),
		cmocka_unit_test(malformed_values_are_refused_with_one_line),
		cmocka_unit_test(libfuse_options_are_passed_on),
		cmocka_unit_test(options_libfuse_refuses_are_told_in_one_line),
		cmocka_unit_test(long_options_work_as_for_the_other_daemons),
		cmocka_unit_test(
			help_and_version_are_answered_before_anything_else),
		cmocka_unit_test(pool_smaller_than_a_block_is_refused),
		cmocka_unit_test(three_positional_arguments_are_refused),
		cmocka_unit_test(
			manager_without_key_is_refused_unless_insecure),
		cmocka_unit_test(manager_and_listen_go_together),
		cmocka_unit_test(a_list_of_managers_is_one_option),
		cmocka_unit_test(replicas_need_a_cluster_and_at_most_three),
		cmocka_unit_test(
			writepolicy_names_one_of_three_and_needs_a_cluster),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
