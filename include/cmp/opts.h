/* SPDX-License-Identifier: MIT */
/*
 * One command-line parser for every cmpfs daemon, driven by a table. Each
 * program describes its options once (struct opts_spec: one struct opt_def
 * row per option); the same row serves `--name VALUE`, `--name=VALUE`,
 * `-c VALUE` and `-o name=VALUE,...`, fills a field of the program's own
 * options struct, and prints its --help line with the default the parser
 * applied, so the help text and the parser cannot drift apart.
 *
 * Every refused option prints exactly one line to stderr,
 *
 *   PROG: option NAME: REASON
 *
 * naming the option and the bad value, and the caller exits with
 * OPTS_EXIT_USAGE. NAME is the row's long name; for an option that no row
 * knows it is the text as given ("--bogus", "-x", or "bogus" in a -o list).
 *
 * cmpfs mixes its options with libfuse's: opts_parse_argv() with a struct
 * opts_rest hands back what is not in the table (operands, other options, -o
 * keys) instead of refusing it.
 *
 * Memory: string fields are the program's, set with strdup(); opts_finish()
 * frees them. Nothing here keeps a pointer into argv. Not thread-safe (it is
 * for main() before threads start); no dependency on libfuse.
 */
#ifndef CMP_OPTS_H
#define CMP_OPTS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "cmp/server.h" /* the defaults of OPTS_ROWS_LIMITS */

/* The exit status of every usage error (bad option or value, no operand). */
#define OPTS_EXIT_USAGE 2

/* What opts_parse_argv() returns besides 0 and -errno. */
#define OPTS_HELP 1    /* -h or --help: print opts_help(), exit 0 */
#define OPTS_VERSION 2 /* -V or --version: print opts_version(), exit 0 */

enum opt_type {
	OPT_FLAG,   /* bool set to true; takes no value */
	OPT_NOFLAG, /* bool set to false ("nolock"); its field defaults true */
	OPT_SIZE,   /* bytes: 4096, 64K, 512M, 2G (cmp_parse_size()) */
	OPT_UINT,   /* whole number, decimal or 0x hex */
	OPT_MS,	    /* milliseconds: 250, 250ms, 2s */
	OPT_STR,    /* non-empty string (a path, a name), strdup()ed */
	OPT_ADDR,   /* tcp://HOST:PORT, rdma://HOST:PORT or mem://NAME */
	/*
	 * One or more OPT_ADDR addresses separated by commas, at most max
	 * (0: any number), kept as given. In a -o list the commas separate
	 * options too, so an item without '=' that holds "://" right after
	 * such an option continues its list: -o manager=tcp://a:1,tcp://b:1.
	 * Given again, the option replaces its list, as every option does.
	 */
	OPT_ADDR_LIST,
};

/* opt_def.flags */
#define OPT_POW2 0x1 /* OPT_SIZE: a power of two */
/*
 * OPT_ADDR: a TCP address that may be written short: PORT alone means
 * tcp://127.0.0.1:PORT (loopback), HOST:PORT means tcp://HOST:PORT; the
 * field holds the full form. Other schemes are refused.
 */
#define OPT_TCP_LOCAL 0x2

/*
 * One option. min and max bound OPT_SIZE, OPT_UINT and OPT_MS (both 0: any
 * value the field holds). def is text parsed like a given value by
 * opts_init() and shown as "default DEF" by --help; NULL means zero, false
 * or NULL (flags: see OPT_NOFLAG). OPT_FIELD() fills offset and width.
 */
struct opt_def {
	const char *name;
	char short_name; /* -c, or 0 */
	enum opt_type type;
	size_t offset;
	size_t width; /* sizeof the field: 4 or 8 for numbers */
	uint64_t min, max;
	unsigned int flags;
	const char *metavar; /* SIZE, N, FILE, ADDR; NULL for flags */
	const char *def;
	const char *help;
};

#define OPT_FIELD(type, member) \
	.offset = offsetof(type, member), .width = sizeof(((type *)0)->member)

/*
 * Rows the cluster daemons share, so that an option means and says the same
 * in each: --key FILE and --insecure (fields key_path, insecure), -f and
 * -d (fields foreground, debug), and the connection limits of the server
 * each daemon runs (a struct server_limits field m: --handshake-timeout,
 * --frame-timeout, --max-unauth, --max-unauth-per-addr, --max-conns,
 * --max-conns-per-node; -o max_conns=N works too, as every name takes '_'
 * for '-'). Tables are laid out by hand, between clang-format off and on:
 * clang-format gives each field a line of its own.
 */
/* clang-format off */
#define OPTS_ROWS_KEY(st)                                                    \
	{.name = "key", .short_name = 'k', .type = OPT_STR,                  \
	 OPT_FIELD(st, key_path), .metavar = "FILE",                         \
	 .help = "cluster key file (cmpctl keygen; mode 0600), required "    \
		 "unless --insecure"},                                       \
	{.name = "insecure", .type = OPT_FLAG, OPT_FIELD(st, insecure),      \
	 .help = "run without a key (trusted networks only; talks only to "  \
		 "insecure peers)"}
#define OPTS_ROWS_DAEMON(st)                                                 \
	{.name = "foreground", .short_name = 'f', .type = OPT_FLAG,          \
	 OPT_FIELD(st, foreground),                                          \
	 .help = "stay in the foreground and log to stderr (default: "       \
		 "daemonize, log to syslog)"},                               \
	{.name = "debug", .short_name = 'd', .type = OPT_FLAG,               \
	 OPT_FIELD(st, debug), .help = "log debug messages"}
#define OPTS_ROWS_LIMITS(st, m)                                              \
	{.name = "handshake-timeout", .type = OPT_MS,                        \
	 OPT_FIELD(st, m.handshake_ms), .min = 1, .max = 3600000,            \
	 .metavar = "MS",                                                    \
	 .def = OPTS_STRINGIFY(SERVER_DEFAULT_HANDSHAKE_MS),                 \
	 .help = "time a new connection has, from its accept, to prove it "  \
		 "holds the key"},                                           \
	{.name = "frame-timeout", .type = OPT_MS, OPT_FIELD(st, m.frame_ms), \
	 .min = 1, .max = 3600000, .metavar = "MS",                          \
	 .def = OPTS_STRINGIFY(SERVER_DEFAULT_FRAME_MS),                     \
	 .help = "time the rest of a request may take once its header "      \
		 "came, and each write of its reply; an idle connection "    \
		 "waits for its next request without a limit"},              \
	{.name = "max-unauth", .type = OPT_UINT,                             \
	 OPT_FIELD(st, m.max_unauth), .min = 1, .max = 65536,                \
	 .metavar = "N", .def = OPTS_STRINGIFY(SERVER_DEFAULT_MAX_UNAUTH),   \
	 .help = "connections in the handshake at once, in all"},            \
	{.name = "max-unauth-per-addr", .type = OPT_UINT,                    \
	 OPT_FIELD(st, m.max_unauth_per_addr), .min = 1, .max = 65536,       \
	 .metavar = "N",                                                     \
	 .def = OPTS_STRINGIFY(SERVER_DEFAULT_MAX_UNAUTH_PER_ADDR),          \
	 .help = "connections in the handshake at once from one source "     \
		 "address"},                                                 \
	{.name = "max-conns", .type = OPT_UINT, OPT_FIELD(st, m.max_conns),  \
	 .min = 1, .max = 65536, .metavar = "N",                             \
	 .def = OPTS_STRINGIFY(SERVER_DEFAULT_MAX_CONNS),                    \
	 .help = "authenticated connections, in all"},                       \
	{.name = "max-conns-per-node", .type = OPT_UINT,                     \
	 OPT_FIELD(st, m.max_conns_per_node), .min = 1, .max = 65536,        \
	 .metavar = "N",                                                     \
	 .def = OPTS_STRINGIFY(SERVER_DEFAULT_MAX_CONNS_PER_NODE),           \
	 .help = "authenticated connections from one node (tools such as "   \
		 "cmpctl count as one node)"}
/*
 * --metrics ADDR (field m, a char *): where the daemon serves its counters
 * for Prometheus (include/cmp/metrics.h); off unless given.
 */
#define OPTS_ROW_METRICS(st, m)                                              \
	{.name = "metrics", .type = OPT_ADDR, .flags = OPT_TCP_LOCAL,        \
	 OPT_FIELD(st, m), .metavar = "ADDR",                                \
	 .help = "serve counters for Prometheus at http://ADDR/metrics "     \
		 "(PORT alone: 127.0.0.1:PORT); the connection limits apply; " \
		 "off by default"}
/* clang-format on */

/* A number macro as default text: .def = OPTS_STRINGIFY(FOO_DEFAULT). */
#define OPTS_STRINGIFY(x) OPTS_STRINGIFY_(x)
#define OPTS_STRINGIFY_(x) #x

/*
 * One program's options. usage is one or more lines ("PROG ARGS...\n...");
 * about is a paragraph under it; mount_style shows the rows as
 * `-o name=VALUE` in --help (cmpfs) rather than `--name VALUE`.
 */
struct opts_spec {
	const char *prog;
	const char *usage;
	const char *about;
	const struct opt_def *opts;
	size_t nopts;
	bool mount_style;
};

/*
 * What opts_parse_argv() did not take, when the caller wants it: operands,
 * options not in the table (as given, in order), and the -o keys not in
 * the table as one escaped list ("a,b=c", backslash before ',' and '\\'),
 * NULL when there were none. All malloc()ed; opts_rest_finish() frees.
 */
struct opts_rest {
	int nargs;
	char **args;
	int nopts;
	char **opts;
	char *olist;
};

/*
 * Sets every field the table names to its default; other fields of obj are
 * left alone. Returns 0, or -EINVAL after printing one line when a row is
 * wrong (a programming error: a default that does not parse, a width that
 * does not fit the type).
 */
int opts_init(const struct opts_spec *spec, void *obj);
/* Frees the string fields the table names and sets them to NULL. */
void opts_finish(const struct opts_spec *spec, void *obj);

/*
 * Parses argv[1..argc): long and short options, -o lists, operands, and
 * "--" (everything after it is an operand). With rest NULL anything not in
 * the table is refused; with rest, it is handed back there. Stops at -h,
 * --help, -V or --version and returns OPTS_HELP or OPTS_VERSION. Returns 0,
 * or -EINVAL or -ENOMEM after printing one line.
 */
int opts_parse_argv(const struct opts_spec *spec, void *obj, int argc,
		    char *const *argv, struct opts_rest *rest);
void opts_rest_finish(struct opts_rest *rest);

/*
 * Parses one -o list ("a=b,c"; a backslash escapes the next character, as
 * in libfuse). Keys not in the table are appended to *rest (an escaped list
 * as in struct opts_rest; *rest may hold one already) or, with rest NULL,
 * refused. Returns 0, or -EINVAL or -ENOMEM after printing one line.
 */
int opts_parse_list(const struct opts_spec *spec, void *obj, const char *list,
		    char **rest);

/*
 * Prints one line to stderr, "PROG: option NAME: " and the message, for a
 * rule that spans options ("option store: needs --size"). Returns -EINVAL.
 */
int opts_error(const struct opts_spec *spec, const char *name, const char *fmt,
	       ...) __attribute__((format(printf, 3, 4)));

/* --help from the table: usage, about, one entry per row, exit statuses. */
void opts_help(const struct opts_spec *spec, FILE *out);
/* --version: "PROG VERSION". */
void opts_version(const struct opts_spec *spec, FILE *out);

/*
 * For main(): after opts_parse_argv() returned ret != 0, prints --help or
 * --version as asked and returns the exit status (0, or OPTS_EXIT_USAGE).
 */
int opts_exit_status(const struct opts_spec *spec, int ret);

#endif
