// SPDX-License-Identifier: MIT
/*
 * The shared option parser (connector/opts.c) against a table with every
 * type: both syntaxes, -o lists and their escapes, what is handed back for
 * libfuse, each refusal with its one line, --help and --version.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "catch-output.h"

#include "cmp-config.h"
#include "cmp/opts.h"
#include "cmp/util.h"

struct t_opts {
	uint64_t size;
	uint32_t block;
	uint32_t count;
	uint64_t big;
	uint32_t wait_ms;
	char *path;
	char *addr;
	char *local;
	char *list;
	bool flag;
	bool lock;
	bool tune;
};

/* clang-format off */
#define F(m) OPT_FIELD(struct t_opts, m)
static const struct opt_def t_defs[] = {
	{.name = "size", .short_name = 's', .type = OPT_SIZE, F(size),
	 .metavar = "SIZE", .def = "1G", .help = "a size"},
	{.name = "block", .short_name = 'b', .type = OPT_SIZE, F(block),
	 .min = 4096, .max = 4u << 20, .flags = OPT_POW2, .metavar = "SIZE",
	 .def = "1M", .help = "a block size"},
	{.name = "count", .short_name = 'c', .type = OPT_UINT, F(count),
	 .min = 1, .max = 100, .metavar = "N", .def = "3", .help = "a count"},
	{.name = "big", .type = OPT_UINT, F(big), .metavar = "N",
	 .help = "any number"},
	{.name = "wait-ms", .type = OPT_MS, F(wait_ms), .min = 10,
	 .max = 60000, .metavar = "MS", .def = "1000", .help = "a wait"},
	{.name = "path", .short_name = 'p', .type = OPT_STR, F(path),
	 .metavar = "FILE", .help = "a file"},
	{.name = "addr", .type = OPT_ADDR, F(addr), .metavar = "ADDR",
	 .help = "an address"},
	{.name = "local", .type = OPT_ADDR, F(local), .metavar = "ADDR",
	 .flags = OPT_TCP_LOCAL, .help = "a TCP address, loopback by default"},
	{.name = "list", .type = OPT_ADDR_LIST, F(list), .max = 3,
	 .metavar = "ADDR[,ADDR...]", .help = "addresses"},
	{.name = "flag", .short_name = 'f', .type = OPT_FLAG, F(flag),
	 .help = "a flag"},
	{.name = "nolock", .type = OPT_NOFLAG, F(lock), .help = "no locking"},
	{.name = "tune", .short_name = 't', .type = OPT_FLAG, F(tune),
	 .help = "tune"},
	{.name = "notune", .type = OPT_NOFLAG, F(tune), .help = "do not tune"},
};
#undef F
/* clang-format on */

static const struct opts_spec spec = {
	.prog = "prog",
	.usage = "prog [OPTIONS]\nprog --other-form",
	.about = "Tests the parser.",
	.opts = t_defs,
	.nopts = ARRAY_SIZE(t_defs),
};

static int parse_argv(struct t_opts *o, struct opts_rest *rest, int argc,
		      const char **argv)
{
	int ret;

	memset(o, 0, sizeof(*o));
	assert_int_equal(opts_init(&spec, o), 0);
	catch_stderr();
	ret = opts_parse_argv(&spec, o, argc, (char *const *)argv, rest);
	caught();
	return ret;
}

#define PARSE(o, rest, ...)                                                  \
	parse_argv(o, rest,                                                  \
		   (int)ARRAY_SIZE(((const char *[]){"prog", __VA_ARGS__})), \
		   (const char *[]){"prog", __VA_ARGS__})

/* The one line a refused command line printed, checked. */
#define REFUSED(line, ...)                                                \
	do {                                                              \
		struct t_opts o_;                                         \
		assert_int_equal(PARSE(&o_, NULL, __VA_ARGS__), -EINVAL); \
		assert_string_equal(said, line "\n");                     \
		opts_finish(&spec, &o_);                                  \
	} while (0)

/* ---- values ---- */

static void defaults_come_from_the_table(void **state)
{
	struct t_opts o;

	memset(&o, 0xff, sizeof(o));
	o.path = NULL;
	o.addr = NULL;
	assert_int_equal(opts_init(&spec, &o), 0);
	assert_int_equal(o.size, 1ull << 30);
	assert_int_equal(o.block, 1u << 20);
	assert_int_equal(o.count, 3);
	assert_int_equal(o.big, 0);
	assert_int_equal(o.wait_ms, 1000);
	assert_null(o.path);
	assert_null(o.addr);
	assert_false(o.flag);
	/* a "no" flag's field is on; so is a flag that has a "no" twin */
	assert_true(o.lock);
	assert_true(o.tune);
}

static void
long_options_take_a_value_after_a_space_or_an_equals_sign(void **state)
{
	struct t_opts o;

	assert_int_equal(PARSE(&o, NULL, "--size", "2G", "--count=7", "--path",
			       "/a b", "--flag"),
			 0);
	assert_int_equal(o.size, 2ull << 30);
	assert_int_equal(o.count, 7);
	assert_string_equal(o.path, "/a b");
	assert_true(o.flag);
	assert_string_equal(said, "");
	opts_finish(&spec, &o);
	assert_null(o.path);
}

static void
short_options_take_a_value_attached_or_in_the_next_argument(void **state)
{
	struct t_opts o;

	assert_int_equal(PARSE(&o, NULL, "-s", "64K", "-b8K", "-ft", "-c9"), 0);
	assert_int_equal(o.size, 64 << 10);
	assert_int_equal(o.block, 8 << 10);
	assert_int_equal(o.count, 9);
	assert_true(o.flag);
	assert_true(o.tune);
	/* flags together, the last one taking a value */
	assert_int_equal(PARSE(&o, NULL, "-fp/x"), 0);
	assert_true(o.flag);
	assert_string_equal(o.path, "/x");
	opts_finish(&spec, &o);
}

static void o_lists_set_the_same_fields_as_long_options(void **state)
{
	struct t_opts o;

	assert_int_equal(PARSE(&o, NULL, "-o", "size=3M,nolock,count=2",
			       "-opath=/p,notune"),
			 0);
	assert_int_equal(o.size, 3 << 20);
	assert_int_equal(o.count, 2);
	assert_false(o.lock);
	assert_false(o.tune);
	assert_string_equal(o.path, "/p");
	opts_finish(&spec, &o);
}

static void dashes_and_underscores_in_names_are_alike(void **state)
{
	struct t_opts o;

	assert_int_equal(PARSE(&o, NULL, "--wait_ms=2s", "-o", "wait-ms=50"),
			 0);
	assert_int_equal(o.wait_ms, 50);
	assert_int_equal(PARSE(&o, NULL, "-o", "wait_ms=7s"), 0);
	assert_int_equal(o.wait_ms, 7000);
	/* a refusal names the row as the table spells it */
	REFUSED("prog: option wait-ms: '1' is less than 10 ms", "--wait_ms=1");
	REFUSED("prog: option --wait: unknown (see --help)", "--wait=1");
}

static void sizes_numbers_and_durations_take_their_units(void **state)
{
	struct t_opts o;

	assert_int_equal(
		PARSE(&o, NULL, "--size=512", "--big=0x10", "--wait-ms=2s"), 0);
	assert_int_equal(o.size, 512);
	assert_int_equal(o.big, 16);
	assert_int_equal(o.wait_ms, 2000);
	assert_int_equal(
		PARSE(&o, NULL, "--size=1T", "--big=010", "--wait-ms=250ms"),
		0);
	assert_int_equal(o.size, 1ull << 40);
	assert_int_equal(o.big, 10); /* decimal, not octal */
	assert_int_equal(o.wait_ms, 250);
	assert_int_equal(PARSE(&o, NULL, "--big=18446744073709551615"), 0);
	assert_int_equal(o.big, UINT64_MAX);
}

static void the_last_value_of_an_option_wins(void **state)
{
	struct t_opts o;

	assert_int_equal(PARSE(&o, NULL, "--path=/1", "-o", "path=/2", "-p",
			       "/3", "--count=4", "-c5"),
			 0);
	assert_string_equal(o.path, "/3");
	assert_int_equal(o.count, 5);
	opts_finish(&spec, &o);
}

static void addresses_of_every_scheme_are_taken(void **state)
{
	const char *good[] = {"tcp://10.0.0.1:7000",
			      "tcp://:7000",
			      "tcp://[::1]:7000",
			      "tcp://host.example:0",
			      "rdma://10.0.0.2:7300",
			      "mem://",
			      "mem://a"};
	struct t_opts o;

	for (size_t i = 0; i < ARRAY_SIZE(good); i++) {
		assert_int_equal(PARSE(&o, NULL, "--addr", good[i]), 0);
		assert_string_equal(o.addr, good[i]);
		opts_finish(&spec, &o);
	}
}

/* metrics=9464 is loopback: a bare port never opens every address */
static void a_tcp_local_address_may_be_a_bare_port(void **state)
{
	const char *given[][2] = {
		{"9464", "tcp://127.0.0.1:9464"},
		{"0", "tcp://127.0.0.1:0"},
		{"10.0.0.5:9464", "tcp://10.0.0.5:9464"},
		{"[::1]:9464", "tcp://[::1]:9464"},
		{":9464", "tcp://:9464"},
		{"tcp://host.example:9", "tcp://host.example:9"},
	};
	struct t_opts o;

	for (size_t i = 0; i < ARRAY_SIZE(given); i++) {
		assert_int_equal(PARSE(&o, NULL, "--local", given[i][0]), 0);
		assert_string_equal(o.local, given[i][1]);
		opts_finish(&spec, &o);
	}
	REFUSED("prog: option local: 'rdma://10.0.0.1:9' is not a TCP "
		"address (PORT for 127.0.0.1, HOST:PORT or tcp://HOST:PORT)",
		"--local=rdma://10.0.0.1:9");
	REFUSED("prog: option local: 'mem://x' is not a TCP address (PORT for "
		"127.0.0.1, HOST:PORT or tcp://HOST:PORT)",
		"--local", "mem://x");
	REFUSED("prog: option local: 'localhost' is not a TCP address (PORT "
		"for 127.0.0.1, HOST:PORT or tcp://HOST:PORT)",
		"-o", "local=localhost");
	REFUSED("prog: option local: '99999999' is not a TCP address (PORT "
		"for 127.0.0.1, HOST:PORT or tcp://HOST:PORT)",
		"--local=99999999");
}

static void an_address_list_takes_commas_in_every_syntax(void **state)
{
	struct t_opts o;

	assert_int_equal(PARSE(&o, NULL, "--list", "tcp://a:1"), 0);
	assert_string_equal(o.list, "tcp://a:1");
	opts_finish(&spec, &o);
	assert_int_equal(PARSE(&o, NULL, "--list=tcp://a:1,mem://b"), 0);
	assert_string_equal(o.list, "tcp://a:1,mem://b");
	opts_finish(&spec, &o);
	/* in a -o list, an item with "://" and no '=' continues the list */
	assert_int_equal(PARSE(&o, NULL, "-o",
			       "list=tcp://a:1,rdma://b:2,tcp://c:3,count=4"),
			 0);
	assert_string_equal(o.list, "tcp://a:1,rdma://b:2,tcp://c:3");
	assert_int_equal(o.count, 4);
	opts_finish(&spec, &o);
	/* an escaped comma is one item, as libfuse reads it */
	assert_int_equal(PARSE(&o, NULL, "-o", "list=tcp://a:1\\,mem://b"), 0);
	assert_string_equal(o.list, "tcp://a:1,mem://b");
	opts_finish(&spec, &o);
	/* given again, it replaces the list */
	assert_int_equal(
		PARSE(&o, NULL, "--list=mem://x,mem://y", "-o", "list=mem://z"),
		0);
	assert_string_equal(o.list, "mem://z");
	opts_finish(&spec, &o);
	assert_null(o.list);
	/* only right after the list: elsewhere it is an unknown option */
	REFUSED("prog: option tcp://b:1: unknown (see --help)", "-o",
		"count=2,tcp://b:1");
}

static void a_bad_address_list_is_refused_with_one_line(void **state)
{
	REFUSED("prog: option list: 'foo' is not an address (tcp://HOST:PORT, "
		"rdma://HOST:PORT or mem://NAME)",
		"--list=tcp://a:1,foo");
	REFUSED("prog: option list: '' is not an address (tcp://HOST:PORT, "
		"rdma://HOST:PORT or mem://NAME)",
		"--list=tcp://a:1,,tcp://b:1");
	REFUSED("prog: option list: 'tcp://a:1,' ends with a comma",
		"--list=tcp://a:1,");
	REFUSED("prog: option list: 'mem://a,mem://b,mem://c,mem://d' lists "
		"4 addresses, at most 3",
		"-o", "list=mem://a,mem://b,mem://c,mem://d");
	REFUSED("prog: option list: needs a value (ADDR[,ADDR...])", "--list=");
}

/* ---- refusals: one line each, naming the option and the value ---- */

static void malformed_values_are_refused_with_one_line(void **state)
{
	REFUSED("prog: option size: 'abc' is not a size (like 4096, 64K, "
		"512M, 2G)",
		"--size=abc");
	REFUSED("prog: option size: '12Q' is not a size (like 4096, 64K, "
		"512M, 2G)",
		"-o", "size=12Q");
	REFUSED("prog: option size: '99999999999T' is too large", "-s",
		"99999999999T");
	REFUSED("prog: option count: 'x' is not a whole number", "--count",
		"x");
	REFUSED("prog: option count: '-1' is not a whole number", "-c-1");
	REFUSED("prog: option count: '3x' is not a whole number", "-c3x");
	REFUSED("prog: option big: '99999999999999999999' is too large",
		"--big=99999999999999999999");
	REFUSED("prog: option wait-ms: '2h' is not a duration (like 250, "
		"250ms, 2s)",
		"--wait-ms=2h");
	REFUSED("prog: option addr: 'foo' is not an address (tcp://HOST:PORT, "
		"rdma://HOST:PORT or mem://NAME)",
		"--addr=foo");
	REFUSED("prog: option addr: 'tcp://host' is not an address "
		"(tcp://HOST:PORT, rdma://HOST:PORT or mem://NAME)",
		"--addr=tcp://host");
	REFUSED("prog: option addr: 'udp://h:1' is not an address "
		"(tcp://HOST:PORT, rdma://HOST:PORT or mem://NAME)",
		"--addr=udp://h:1");
}

static void out_of_range_values_are_refused_with_one_line(void **state)
{
	REFUSED("prog: option block: '3000' is not a power of two",
		"--block=3000");
	REFUSED("prog: option block: '1K' is less than 4K", "-o", "block=1K");
	REFUSED("prog: option block: '8M' is more than 4M", "-b", "8M");
	REFUSED("prog: option count: '0' is less than 1", "--count=0");
	REFUSED("prog: option count: '101' is more than 100", "-c", "101");
	REFUSED("prog: option wait-ms: '5' is less than 10 ms", "--wait-ms=5");
	REFUSED("prog: option wait-ms: '61s' is more than 60000 ms",
		"--wait-ms=61s");
}

static void a_32_bit_field_refuses_what_it_cannot_hold(void **state)
{
	static const struct opt_def d[] = {
		{.name = "n",
		 .type = OPT_UINT,
		 OPT_FIELD(struct t_opts, count),
		 .help = "n"},
	};
	static const struct opts_spec s = {.prog = "p", .opts = d, .nopts = 1};
	const char *argv[] = {"p", "--n=4294967296"};
	struct t_opts o = {0};

	assert_int_equal(opts_init(&s, &o), 0);
	catch_stderr();
	assert_int_equal(opts_parse_argv(&s, &o, 2, (char **)argv, NULL),
			 -EINVAL);
	assert_string_equal(caught(), "p: option n: '4294967296' is more "
				      "than 4294967295\n");
}

static void missing_and_empty_values_are_refused(void **state)
{
	REFUSED("prog: option size: needs a value (SIZE)", "--size");
	REFUSED("prog: option size: needs a value (SIZE)", "-s");
	REFUSED("prog: option size: needs a value (SIZE)", "-o", "size");
	REFUSED("prog: option path: needs a value (FILE)", "--path=");
	REFUSED("prog: option path: needs a value (FILE)", "-o", "path=");
	REFUSED("prog: option size: '' is not a size (like 4096, 64K, 512M, "
		"2G)",
		"--size=");
	REFUSED("prog: option -o: needs a value (NAME=VALUE,...)", "-o");
}

static void flags_take_no_value(void **state)
{
	REFUSED("prog: option flag: takes no value (got '1')", "--flag=1");
	REFUSED("prog: option nolock: takes no value (got 'yes')", "-o",
		"nolock=yes");
}

static void unknown_options_are_refused_by_their_given_name(void **state)
{
	REFUSED("prog: option --bogus: unknown (see --help)", "--bogus");
	REFUSED("prog: option --bogus: unknown (see --help)", "--bogus=1");
	REFUSED("prog: option -x: unknown (see --help)", "-x");
	REFUSED("prog: option bogus: unknown (see --help)", "-o",
		"size=1M,bogus=2");
	REFUSED("prog: option -x: unknown (in '-fx')", "-fx");
	/* no abbreviations: what --help shows is what is taken */
	REFUSED("prog: option --siz: unknown (see --help)", "--siz=1M");
}

static void operands_are_refused_without_a_rest(void **state)
{
	struct t_opts o;

	assert_int_equal(PARSE(&o, NULL, "--flag", "extra"), -EINVAL);
	assert_string_equal(said,
			    "prog: unexpected argument 'extra' (see --help)\n");
}

static void the_first_refusal_stops_the_parse(void **state)
{
	struct t_opts o;

	assert_int_equal(PARSE(&o, NULL, "--count=0", "--bogus", "--flag"),
			 -EINVAL);
	assert_string_equal(said, "prog: option count: '0' is less than 1\n");
	assert_false(o.flag);
}

/* ---- what is not ours, handed back (cmpfs gives it to libfuse) ---- */

static void rest_collects_operands_other_options_and_foreign_keys(void **state)
{
	struct opts_rest rest;
	struct t_opts o;

	assert_int_equal(PARSE(&o, &rest, "none", "-f", "-d", "/mnt", "-o",
			       "allow_other,size=2M,fsname=a\\,b", "--x=1",
			       "-o", "dev"),
			 0);
	assert_true(o.flag);
	assert_int_equal(o.size, 2 << 20);
	assert_int_equal(rest.nargs, 2);
	assert_string_equal(rest.args[0], "none");
	assert_string_equal(rest.args[1], "/mnt");
	assert_int_equal(rest.nopts, 2);
	assert_string_equal(rest.opts[0], "-d");
	assert_string_equal(rest.opts[1], "--x=1");
	/* escaped again, as libfuse will split it */
	assert_string_equal(rest.olist, "allow_other,fsname=a\\,b,dev");
	assert_string_equal(said, "");
	opts_rest_finish(&rest);
	assert_null(rest.olist);
	assert_int_equal(rest.nargs, 0);
}

static void a_double_dash_makes_the_rest_operands(void **state)
{
	struct opts_rest rest;
	struct t_opts o;

	assert_int_equal(PARSE(&o, &rest, "--flag", "--", "--size=1", "-"), 0);
	assert_true(o.flag);
	assert_int_equal(o.size, 1ull << 30);
	assert_int_equal(rest.nargs, 2);
	assert_string_equal(rest.args[0], "--size=1");
	assert_string_equal(rest.args[1], "-");
	opts_rest_finish(&rest);
}

static void list_escapes_are_read_as_libfuse_reads_them(void **state)
{
	struct t_opts o = {0};
	char *rest = NULL;

	assert_int_equal(opts_init(&spec, &o), 0);
	catch_stderr();
	assert_int_equal(opts_parse_list(&spec, &o,
					 "path=/a\\,b\\\\c\\040d,,x=\\101,",
					 &rest),
			 0);
	caught();
	assert_string_equal(o.path, "/a,b\\c d");
	assert_string_equal(rest, "x=A");
	/* a second list extends the first one's rest */
	assert_int_equal(opts_parse_list(&spec, &o, "y,size=1K", &rest), 0);
	assert_string_equal(rest, "x=A,y");
	assert_int_equal(o.size, 1024);
	free(rest);
	opts_finish(&spec, &o);
}

/* ---- help, version, exit status ---- */

static void help_and_version_stop_the_parse(void **state)
{
	struct t_opts o;

	assert_int_equal(PARSE(&o, NULL, "--help", "--bogus"), OPTS_HELP);
	assert_int_equal(PARSE(&o, NULL, "-h"), OPTS_HELP);
	assert_int_equal(PARSE(&o, NULL, "--flag", "--version"), OPTS_VERSION);
	assert_int_equal(PARSE(&o, NULL, "-V"), OPTS_VERSION);
	assert_string_equal(said, "");
}

static char *help_text(const struct opts_spec *s)
{
	char *text = NULL;
	size_t len = 0;
	FILE *f = open_memstream(&text, &len);

	assert_non_null(f);
	opts_help(s, f);
	fclose(f);
	return text;
}

static void help_shows_every_row_with_its_range_and_default(void **state)
{
	char *h = help_text(&spec);

	assert_non_null(strstr(h, "Usage: prog [OPTIONS]\n"
				  "       prog --other-form\n\n"
				  "Tests the parser.\n"));
	assert_non_null(strstr(h, "Options (--NAME VALUE, --NAME=VALUE or "
				  "-o NAME=VALUE,...):\n"));
	assert_non_null(strstr(h, "\n  -s, --size SIZE         a size "
				  "(default 1G)\n"));
	assert_non_null(strstr(h, "\n  -b, --block SIZE        a block size (a "
				  "power of two, 4K..4M; default 1M)\n"));
	assert_non_null(strstr(h, "\n  -c, --count N           a count "
				  "(1..100; default 3)\n"));
	assert_non_null(strstr(h, "\n      --big N             any number\n"));
	assert_non_null(strstr(h, "\n      --wait-ms MS        a wait "
				  "(10..60000 ms; default 1000 ms)\n"));
	assert_non_null(strstr(h, "\n  -t, --tune              tune (the "
				  "default)\n"));
	assert_non_null(strstr(h, "\n      --nolock            no locking\n"));
	assert_non_null(strstr(h,
			       "\n      --list ADDR[,ADDR...]\n"
			       "                          addresses (at most "
			       "3)\n"));
	assert_non_null(strstr(h, "\n  -h, --help              show this help "
				  "and exit\n"));
	assert_non_null(strstr(h, "\n  -V, --version           show the "
				  "version and exit\n"));
	assert_non_null(strstr(h, "2 usage error"));
	for (size_t i = 0; i < spec.nopts; i++)
		assert_non_null(strstr(h, t_defs[i].help));
	free(h);
}

static void mount_style_help_shows_o_keys(void **state)
{
	struct opts_spec s = spec;
	char *h;

	s.mount_style = true;
	h = help_text(&s);
	assert_non_null(strstr(h, "\n  -o size=SIZE            a size "
				  "(default 1G)\n"));
	assert_non_null(strstr(h, "\n  -o nolock               no locking\n"));
	assert_null(strstr(h, "--size"));
	free(h);
}

static void help_lines_fit_in_80_columns(void **state)
{
	static const struct opt_def d[] = {
		{.name = "a-rather-long-option-name",
		 .type = OPT_STR,
		 OPT_FIELD(struct t_opts, path),
		 .metavar = "FILE",
		 .help = "a help text long enough to need wrapping more than "
			 "once, with words like supercalifragilistic and "
			 "antidisestablishmentarianism to make it hard"},
	};
	struct opts_spec s = {
		.prog = "p",
		.usage = "p",
		.about = "An about paragraph long enough to be wrapped at the "
			 "80th column like the rest of the help text is.\nA "
			 "second paragraph.",
		.opts = d,
		.nopts = 1,
	};
	char *h = help_text(&s);

	for (char *line = strtok(h, "\n"); line; line = strtok(NULL, "\n"))
		assert_in_range(strlen(line), 1, 79);
	free(h);
}

static void version_prints_the_program_and_its_version(void **state)
{
	char *text = NULL;
	size_t len = 0;
	FILE *f = open_memstream(&text, &len);

	opts_version(&spec, f);
	fclose(f);
	assert_string_equal(text, "prog " CMP_VERSION_STRING "\n");
	free(text);
}

static void every_usage_error_has_exit_status_2(void **state)
{
	assert_int_equal(OPTS_EXIT_USAGE, 2);
	assert_int_equal(opts_exit_status(&spec, -EINVAL), 2);
	assert_int_equal(opts_exit_status(&spec, -ENOMEM), 2);
	/* --help and --version print to stdout and exit 0 */
	catch_fd(STDOUT_FILENO);
	assert_int_equal(opts_exit_status(&spec, OPTS_VERSION), 0);
	assert_string_equal(caught(), "prog " CMP_VERSION_STRING "\n");
	catch_fd(STDOUT_FILENO);
	assert_int_equal(opts_exit_status(&spec, OPTS_HELP), 0);
	assert_non_null(strstr(caught(), "Usage: prog [OPTIONS]\n"));
}

static void a_rule_between_options_is_told_in_the_same_format(void **state)
{
	catch_stderr();
	assert_int_equal(opts_error(&spec, "store", "needs --size %s", "SIZE"),
			 -EINVAL);
	assert_string_equal(caught(),
			    "prog: option store: needs --size SIZE\n");
}

static void a_row_whose_field_does_not_fit_its_type_is_refused(void **state)
{
	static const struct opt_def d[] = {
		{.name = "f",
		 .type = OPT_FLAG,
		 OPT_FIELD(struct t_opts, count),
		 .help = "f"},
	};
	static const struct opts_spec s = {.prog = "p", .opts = d, .nopts = 1};
	struct t_opts o;

	catch_stderr();
	assert_int_equal(opts_init(&s, &o), -EINVAL);
	assert_string_equal(caught(), "p: option f: field width 4 does not "
				      "fit\n");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(defaults_come_from_the_table),
		cmocka_unit_test(
			long_options_take_a_value_after_a_space_or_an_equals_sign),
		cmocka_unit_test(
			short_options_take_a_value_attached_or_in_the_next_argument),
		cmocka_unit_test(o_lists_set_the_same_fields_as_long_options),
		cmocka_unit_test(dashes_and_underscores_in_names_are_alike),
		cmocka_unit_test(sizes_numbers_and_durations_take_their_units),
		cmocka_unit_test(the_last_value_of_an_option_wins),
		cmocka_unit_test(addresses_of_every_scheme_are_taken),
		cmocka_unit_test(a_tcp_local_address_may_be_a_bare_port),
		cmocka_unit_test(an_address_list_takes_commas_in_every_syntax),
		cmocka_unit_test(a_bad_address_list_is_refused_with_one_line),
		cmocka_unit_test(malformed_values_are_refused_with_one_line),
		cmocka_unit_test(out_of_range_values_are_refused_with_one_line),
		cmocka_unit_test(a_32_bit_field_refuses_what_it_cannot_hold),
		cmocka_unit_test(missing_and_empty_values_are_refused),
		cmocka_unit_test(flags_take_no_value),
		cmocka_unit_test(
			unknown_options_are_refused_by_their_given_name),
		cmocka_unit_test(operands_are_refused_without_a_rest),
		cmocka_unit_test(the_first_refusal_stops_the_parse),
		cmocka_unit_test(
			rest_collects_operands_other_options_and_foreign_keys),
		cmocka_unit_test(a_double_dash_makes_the_rest_operands),
		cmocka_unit_test(list_escapes_are_read_as_libfuse_reads_them),
		cmocka_unit_test(help_and_version_stop_the_parse),
		cmocka_unit_test(
			help_shows_every_row_with_its_range_and_default),
		cmocka_unit_test(mount_style_help_shows_o_keys),
		cmocka_unit_test(help_lines_fit_in_80_columns),
		cmocka_unit_test(version_prints_the_program_and_its_version),
		cmocka_unit_test(every_usage_error_has_exit_status_2),
		cmocka_unit_test(
			a_rule_between_options_is_told_in_the_same_format),
		cmocka_unit_test(
			a_row_whose_field_does_not_fit_its_type_is_refused),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
