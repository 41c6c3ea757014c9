// SPDX-License-Identifier: MIT
/*
 * cmpctl: the operator's tool. `stats` reads a mount's counters (the
 * user.cmpfs.stats attribute of its root) and shows a summary
 * (cmpctl-stats.c); the cluster commands talk to the manager
 * (cmpctl-cluster.c). One table row per command, and each command's
 * options in a table of the daemons' parser (include/cmp/opts.h), so that
 * a bad option is refused as the daemons refuse one: one line, exit
 * status 2. Every message it and the libraries it calls print is one line
 * starting "cmpctl: "; exit status 0 ok, 1 failure, 2 usage.
 */
#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/xattr.h>

#include "cmp-config.h"
#include "cmpctl-cluster.h"
#include "cmpctl-drain.h"
#include "cmpctl-stats.h"
#include "cmpctl-top.h"
#include "cmp/log.h"
#include "cmp/mgr.h"
#include "cmp/opts.h"
#include "cmp/util.h"

#define STATS_XATTR "user.cmpfs.stats"
#define LOST_XATTR "user.cmpfs.lost"
#define LOCAL_XATTR "user.cmpfs.local"
#define EXIT_FAILURE_SAID 1

/* Every command's options, in one struct: each table names its own. */
struct cmd_options {
	bool all;
	bool json;
	bool once;
	char *manager;
	char *key_path;
	bool insecure;
	uint32_t interval_ms;
	uint32_t count;
	bool wait;
	bool undo;
	uint32_t timeout_ms;
};

/* clang-format off */
#define F(m) OPT_FIELD(struct cmd_options, m)
#define ROW_MANAGER                                                         \
	{.name = "manager", .short_name = 'm', .type = OPT_ADDR_LIST,        \
	 F(manager), .max = MGR_MAX_MANAGERS, .metavar = "ADDR[,ADDR...]",   \
	 .help = "the cmp-manager (tcp://HOST:PORT), required; several, "    \
	 "comma-separated: the active one answers"}
#define ROW_KEY                                                             \
	{.name = "key", .short_name = 'k', .type = OPT_STR, F(key_path),     \
	 .metavar = "FILE", .help = "the cluster key file, required unless " \
	 "--insecure"},                                                      \
	{.name = "insecure", .type = OPT_FLAG, F(insecure),                  \
	 .help = "talk to a manager that runs without a key"}
#define ROW_JSON                                                            \
	{.name = "json", .type = OPT_FLAG, F(json),                          \
	 .help = "print JSON instead of a table"}

static const struct opt_def stats_opt_defs[] = {
	{.name = "all", .short_name = 'a', .type = OPT_FLAG, F(all),
	 .help = "every counter, one \"NAME VALUE\" line each (the raw "
		 "user.cmpfs.stats attribute)"},
	ROW_JSON,
};

static const struct opt_def status_opt_defs[] = {
	ROW_MANAGER, ROW_KEY, ROW_JSON,
};

static const struct opt_def top_opt_defs[] = {
	ROW_MANAGER, ROW_KEY,
	{.name = "interval", .short_name = 'i', .type = OPT_MS,
	 F(interval_ms), .min = 100, .max = 3600000, .metavar = "TIME",
	 .def = "1s", .help = "time between refreshes"},
	{.name = "once", .type = OPT_FLAG, F(once),
	 .help = "print one table (rates over one interval) and exit, for "
		 "scripts"},
};

static const struct opt_def drain_opt_defs[] = {
	ROW_MANAGER, ROW_KEY,
	{.name = "wait", .short_name = 'w', .type = OPT_FLAG, F(wait),
	 .help = "until the node holds nothing for others and every owner "
		 "knows where its blocks went"},
	{.name = "timeout", .short_name = 't', .type = OPT_MS, F(timeout_ms),
	 .min = 1000, .max = 86400000, .metavar = "TIME",
	 .help = "how long --wait waits at most (default 600s)"},
	{.name = "undo", .short_name = 'u', .type = OPT_FLAG, F(undo),
	 .help = "the node lends again (a drain under way stops)"},
};

#undef F
/* clang-format on */

/* A command: its options, and what runs it once they are parsed. */
struct command {
	const char *name;
	struct opts_spec spec;
	int nargs; /* operands it takes */
	const char *args_missing;
	int (*run)(struct cmd_options *o, char **args);
};

static int read_attr(const char *mnt, const char *name, char *buf, size_t cap)
{
	ssize_t n = getxattr(mnt, name, buf, cap - 1);

	if (n < 0) {
		int err = errno;

		fprintf(stderr, "cmpctl: %s: %s%s\n", mnt, strerror(err),
			err == ENODATA || err == ENOTSUP
				? " (not a cmpfs mount?)"
				: "");
		return -err;
	}
	buf[n] = '\0';
	return 0;
}

static int run_stats(struct cmd_options *o, char **args)
{
	char buf[16384];

	if (read_attr(args[0], STATS_XATTR, buf, sizeof(buf)))
		return EXIT_FAILURE_SAID;
	if (o->json)
		cmpctl_stats_json(stdout, buf);
	else if (o->all)
		fputs(buf, stdout);
	else
		cmpctl_stats_summary(stdout, args[0], buf);
	return 0;
}

/* "INODE LOST UNREACHABLE BLOCKS PATH" lines (fs/lost.c) as a table. */
static int run_lost(struct cmd_options *o, char **args)
{
	static char buf[65536];
	unsigned long long ino, lost, away, blocks;
	const char *p = buf;
	int used;

	(void)o;
	if (read_attr(args[0], LOST_XATTR, buf, sizeof(buf)))
		return EXIT_FAILURE_SAID;
	if (!buf[0]) {
		printf("%s: no file has lost or unreachable blocks\n", args[0]);
		return 0;
	}
	printf("%-10s %10s %12s %10s  %s\n", "INODE", "LOST", "UNREACHABLE",
	       "BLOCKS", "PATH");
	while (*p) {
		if (sscanf(p, "%llu %llu %llu %llu %n", &ino, &lost, &away,
			   &blocks, &used) == 4) {
			printf("%-10llu %10llu %12llu %10llu  ", ino, lost,
			       away, blocks);
			p += used;
		}
		used = (int)strcspn(p, "\n");
		printf("%.*s\n", used, p);
		p += used + (p[used] == '\n');
	}
	return 0;
}

/* The pool's size from the mount's counters, 0 when unknown. */
static uint64_t local_bytes(const char *mnt)
{
	unsigned long long blocks = 0, bs = 0;
	char buf[16384];
	const char *s;

	if (read_attr(mnt, STATS_XATTR, buf, sizeof(buf)))
		return 0;
	s = strstr(buf, "\nlocal_blocks ");
	if (s)
		sscanf(s, "\nlocal_blocks %llu", &blocks);
	s = strstr(buf, "\nblock_size ");
	if (s)
		sscanf(s, "\nblock_size %llu", &bs);
	return (uint64_t)blocks * bs;
}

static const char *resize_failure(int err)
{
	switch (err) {
	case ENOSPC:
		return "no other node or memserver has room for what has to "
		       "move; the node keeps its size and serves on";
	case EINVAL:
		return "not between one block and the mount's local_max";
	case ENOMEM:
		return "more than this machine can back (see cmpfs's log)";
	case EBUSY:
		return "another resize is under way";
	case ETIMEDOUT:
		return "blocks stayed in use; nothing was given back";
	case ENOTSUP:
		return "not a cmpfs mount, or one without resizing";
	default:
		return strerror(err);
	}
}

static int run_resize(struct cmd_options *o, char **args)
{
	uint64_t bytes, before, after;
	char want[32], a[32], b[32];

	(void)o;
	if (cmp_parse_size(args[1], &bytes) || !bytes) {
		fprintf(stderr,
			"cmpctl: resize: size '%s': not a size (512M, "
			"2G, ...)\n",
			args[1]);
		return OPTS_EXIT_USAGE;
	}
	before = local_bytes(args[0]);
	if (!before)
		return EXIT_FAILURE_SAID;
	snprintf(want, sizeof(want), "%llu", (unsigned long long)bytes);
	if (setxattr(args[0], LOCAL_XATTR, want, strlen(want), 0) < 0) {
		int err = errno;

		after = local_bytes(args[0]);
		fprintf(stderr, "cmpctl: resize %s to %s: %s (it gives %s)\n",
			args[0], cmp_format_size(bytes, a, sizeof(a)),
			resize_failure(err),
			cmp_format_size(after, b, sizeof(b)));
		return EXIT_FAILURE_SAID;
	}
	after = local_bytes(args[0]);
	printf("%s: %s -> %s\n", args[0], cmp_format_size(before, a, sizeof(a)),
	       cmp_format_size(after, b, sizeof(b)));
	return 0;
}

static int run_status(struct cmd_options *o, char **args)
{
	(void)args;
	return cmpctl_cluster_status(o->manager, o->key_path, o->json, stdout)
		       ? EXIT_FAILURE_SAID
		       : 0;
}

static int run_top(struct cmd_options *o, char **args)
{
	(void)args;
	return cmpctl_top(o->manager, o->key_path, o->interval_ms, o->once,
			  stdout)
		       ? EXIT_FAILURE_SAID
		       : 0;
}

#define DRAIN_WAIT_DEFAULT_MS 600000u

static int run_drain(struct cmd_options *o, char **args)
{
	uint32_t wait_ms = 0;
	unsigned long id;
	char *end;

	errno = 0;
	id = strtoul(args[0], &end, 0);
	if (errno || end == args[0] || *end || !id || id > UINT32_MAX) {
		fprintf(stderr,
			"cmpctl: drain: node '%s': not a node id (see "
			"cmpctl status)\n",
			args[0]);
		return OPTS_EXIT_USAGE;
	}
	if (o->wait)
		wait_ms = o->timeout_ms ? o->timeout_ms : DRAIN_WAIT_DEFAULT_MS;
	return cmpctl_drain(o->manager, o->key_path, (uint32_t)id, !o->undo,
			    wait_ms, stdout)
		       ? EXIT_FAILURE_SAID
		       : 0;
}

static int run_keygen(struct cmd_options *o, char **args)
{
	(void)o;
	return cmpctl_keygen(args[0]) ? EXIT_FAILURE_SAID : 0;
}

#define SPEC(defs, use, text)                                                \
	{                                                                    \
		.prog = "cmpctl", .usage = use, .about = text, .opts = defs, \
		.nopts = ARRAY_SIZE(defs)                                    \
	}

static const struct command commands[] = {
	{"stats",
	 SPEC(stats_opt_defs, "cmpctl stats MOUNTPOINT [--all | --json]",
	      "A cmpfs mount's counters: a summary of the non-zero ones (this "
	      "node's pool, blocks per list, bytes moved, requests); --all "
	      "lists every counter, --json prints them all as one JSON "
	      "object."),
	 1, "no mount point given", run_stats},
	{"lost",
	 {.prog = "cmpctl",
	  .usage = "cmpctl lost MOUNTPOINT",
	  .about = "The files of a cmpfs mount with blocks lost (their "
		   "providers lost every copy: reads there give EIO) or "
		   "unreachable now (every copy on a provider it cannot "
		   "reach: EIO until one comes back): inode, blocks lost, "
		   "unreachable, blocks, path (the root's user.cmpfs.lost "
		   "attribute; 64 files at most, then how many more)."},
	 1,
	 "no mount point given",
	 run_lost},
	{"resize",
	 {.prog = "cmpctl",
	  .usage = "cmpctl resize MOUNTPOINT SIZE",
	  .about = "The cmpfs node mounted at MOUNTPOINT gives SIZE of its "
		   "memory to the pool from now on (at most its -o "
		   "local_max), while it serves. Shrinking first moves the "
		   "blocks it lends at the end of its memory to other nodes, "
		   "then its own data there into its free blocks or, without "
		   "any, its least recently used data to other nodes, and "
		   "gives the memory back. Waits until done; status 1 when it "
		   "cannot (with nowhere to put its blocks the node keeps its "
		   "size and serves on). Root only."},
	 2,
	 "needs a mount point and a size",
	 run_resize},
	{"status",
	 SPEC(status_opt_defs,
	      "cmpctl status --manager ADDR[,ADDR...] (--key FILE | "
	      "--insecure)\n"
	      "              [--json]",
	      "The cluster as the active manager sees it, from one snapshot: "
	      "every node that answered reports its lists at once, so owners' "
	      "LRL and providers' RLL add up. Per node: kind, state, address, "
	      "capacity and the free/LLL/LRL/RLL/RRL lists in units, and the "
	      "age of its numbers; suspect and left nodes show no lists. Then "
	      "every manager of the list: active, standby (and its copy of "
	      "the active one's list) or why it does not answer."),
	 0, NULL, run_status},
	{"top",
	 SPEC(top_opt_defs,
	      "cmpctl top --manager ADDR[,ADDR...] (--key FILE | --insecure)\n"
	      "           [--once] [--interval TIME]",
	      "Live rates per node, refreshed every second: file bytes read "
	      "and written through its mount, block protocol bytes in and "
	      "out, and its lists (free, LLL, LRL, RLL, RRL). Each refresh is "
	      "a snapshot (see cmpctl status); rates are over the time "
	      "between a node's two samples; '-' when there is none yet. "
	      "Ctrl-C ends it."),
	 0, NULL, run_top},
	{"drain",
	 SPEC(drain_opt_defs,
	      "cmpctl drain NODE --manager ADDR (--key FILE | --insecure) "
	      "[--wait [--timeout TIME] | --undo]",
	      "Node NODE (its id in cmpctl status) moves every block it holds "
	      "for other nodes on to other nodes or memservers while it keeps "
	      "running, and lends nothing more until --undo. Prints how far "
	      "it is; --wait asks again twice a second until it holds none "
	      "and every owner knows where its blocks went (status 1 when "
	      "--timeout passes first; the drain goes on)."),
	 1, "no node given", run_drain},
	{"keygen",
	 {.prog = "cmpctl",
	  .usage = "cmpctl keygen FILE",
	  .about = "Writes a new cluster key (mode 0600) for --key / -o "
		   "key=; refuses to overwrite a file."},
	 1,
	 "no key file given",
	 run_keygen},
};

/* The commands and their usage lines, for cmpctl --help. */
static void usage(FILE *f)
{
	fprintf(f, "Usage: cmpctl COMMAND [OPTIONS]\n\nCommands:\n");
	for (size_t i = 0; i < ARRAY_SIZE(commands); i++)
		fprintf(f, "  %s\n", commands[i].spec.usage);
	fprintf(f, "\n`cmpctl COMMAND --help` describes a command and its "
		   "options.\n\nExit status: 0 success, 1 failure (one line on "
		   "stderr says why),\n2 usage error (an unknown command or "
		   "option, a bad or missing value or\nargument).\n");
}

/* Rules between options; one line for the first one broken. */
static int check(const struct command *cmd, const struct cmd_options *o)
{
	const struct opts_spec *s = &cmd->spec;
	bool cluster = cmd->run == run_status || cmd->run == run_top ||
		       cmd->run == run_drain;

	if (cluster && !o->manager)
		return opts_error(s, "manager", "required (see --help)");
	if (cluster && !o->key_path && !o->insecure)
		return opts_error(s, "key",
				  "required unless --insecure (see --help)");
	if (cluster && o->key_path && o->insecure)
		return opts_error(s, "insecure", "excludes --key (see --help)");
	if (o->all && o->json)
		return opts_error(s, "all", "excludes --json (see --help)");
	if (o->timeout_ms && !o->wait)
		return opts_error(s, "timeout", "needs --wait (see --help)");
	if (o->undo && o->wait)
		return opts_error(s, "undo", "excludes --wait (see --help)");
	return 0;
}

/*
 * Parses cmd's arguments: 0 to run, OPTS_HELP or OPTS_VERSION (to print),
 * or -EINVAL (said, in one line).
 */
static int parse(const struct command *cmd, int argc, char **argv,
		 struct cmd_options *o, struct opts_rest *rest)
{
	const struct opts_spec *s = &cmd->spec;
	int ret = opts_init(s, o);

	if (!ret)
		ret = opts_parse_argv(s, o, argc, argv, rest);
	if (ret)
		return ret;
	if (rest->nopts) {
		int n = (int)strcspn(rest->opts[0], "=");

		fprintf(stderr, "cmpctl: option %.*s: unknown (see --help)\n",
			n, rest->opts[0]);
		return -EINVAL;
	}
	if (rest->olist)
		return opts_error(s, rest->olist, "unknown (see --help)");
	if (rest->nargs < cmd->nargs) {
		fprintf(stderr, "cmpctl: %s: %s (see --help)\n", cmd->name,
			cmd->args_missing);
		return -EINVAL;
	}
	if (rest->nargs > cmd->nargs) {
		fprintf(stderr,
			"cmpctl: unexpected argument '%s' (see --help)\n",
			rest->args[cmd->nargs]);
		return -EINVAL;
	}
	return check(cmd, o);
}

static int run_command(const struct command *cmd, int argc, char **argv)
{
	struct cmd_options o = {0};
	struct opts_rest rest = {0};
	int ret = parse(cmd, argc, argv, &o, &rest);

	if (ret)
		ret = opts_exit_status(&cmd->spec, ret);
	else
		ret = cmd->run(&o, rest.args);
	opts_rest_finish(&rest);
	opts_finish(&cmd->spec, &o);
	return ret;
}

int main(int argc, char **argv)
{
	/*
	 * The connector's warnings (a refused connection, ...) are followed
	 * by cmpctl's own line saying what failed: errors only.
	 */
	log_init_tool("cmpctl", LOG_LVL_ERROR);
	if (argc < 2) {
		usage(stderr);
		return OPTS_EXIT_USAGE;
	}
	if (!strcmp(argv[1], "--help") || !strcmp(argv[1], "-h")) {
		usage(stdout);
		return 0;
	}
	if (!strcmp(argv[1], "--version") || !strcmp(argv[1], "-V")) {
		printf("cmpctl %s\n", CMP_VERSION_STRING);
		return 0;
	}
	for (size_t i = 0; i < ARRAY_SIZE(commands); i++)
		if (!strcmp(argv[1], commands[i].name))
			return run_command(&commands[i], argc - 1, argv + 1);
	fprintf(stderr, "cmpctl: unknown command '%s' (see cmpctl --help)\n",
		argv[1]);
	return OPTS_EXIT_USAGE;
}
