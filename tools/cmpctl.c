// SPDX-License-Identifier: MIT
/*
 * cmpctl: the operator's tool. `stats` reads a mount's counters (the
 * user.cmpfs.stats attribute of its root) and shows a summary
 * (cmpctl-stats.c); the cluster commands talk to the manager. One table
 * row per command. Every message it and the libraries it calls print is
 * one line starting "cmpctl: "; exit status 0 ok, 1 failure, 2 usage.
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
#include "cmp/log.h"
#include "cmp/util.h"

#define STATS_XATTR "user.cmpfs.stats"

static int read_stats(const char *mnt, char *buf, size_t cap)
{
	ssize_t n = getxattr(mnt, STATS_XATTR, buf, cap - 1);

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

/* stats MOUNTPOINT [--all | --json] */
static int cmd_stats(int argc, char **argv)
{
	char buf[16384];
	bool json = false, all = false;
	const char *mnt = NULL;

	for (int i = 1; i < argc; i++) {
		if (!strcmp(argv[i], "--json"))
			json = true;
		else if (!strcmp(argv[i], "--all"))
			all = true;
		else if (!mnt && argv[i][0] != '-')
			mnt = argv[i];
		else
			return -EINVAL;
	}
	if (!mnt)
		return -EINVAL;
	if (read_stats(mnt, buf, sizeof(buf)))
		return 1;
	if (json)
		cmpctl_stats_json(stdout, buf);
	else if (all)
		fputs(buf, stdout);
	else
		cmpctl_stats_summary(stdout, mnt, buf);
	return 0;
}

static int cmd_keygen(int argc, char **argv)
{
	if (argc != 2)
		return -EINVAL;
	return cmpctl_keygen(argv[1]);
}

/* status --manager ADDR (--key FILE | --insecure) [--json] */
static int cmd_status(int argc, char **argv)
{
	const char *manager = NULL, *key = NULL;
	bool json = false, insecure = false;

	for (int i = 1; i < argc; i++) {
		if (!strcmp(argv[i], "--json"))
			json = true;
		else if (!strcmp(argv[i], "--insecure"))
			insecure = true;
		else if (!strcmp(argv[i], "--manager") && i + 1 < argc)
			manager = argv[++i];
		else if (!strcmp(argv[i], "--key") && i + 1 < argc)
			key = argv[++i];
		else
			return -EINVAL;
	}
	if (!manager || (!key && !insecure))
		return -EINVAL;
	return cmpctl_cluster_status(manager, key, insecure, json, stdout);
}

/*
 * drain NODE --manager ADDR (--key FILE | --insecure) [--wait[=SECONDS]]
 * [--undo]
 */
static int cmd_drain(int argc, char **argv)
{
	const char *manager = NULL, *key = NULL, *node = NULL;
	bool insecure = false, on = true;
	unsigned long id;
	long wait_s = 0;
	char *end;

	for (int i = 1; i < argc; i++) {
		if (!strcmp(argv[i], "--insecure")) {
			insecure = true;
		} else if (!strcmp(argv[i], "--undo")) {
			on = false;
		} else if (!strcmp(argv[i], "--wait")) {
			wait_s = 600;
		} else if (!strncmp(argv[i], "--wait=", 7)) {
			wait_s = strtol(argv[i] + 7, &end, 10);
			if (*end || wait_s <= 0 || wait_s > 86400)
				return -EINVAL;
		} else if (!strcmp(argv[i], "--manager") && i + 1 < argc) {
			manager = argv[++i];
		} else if (!strcmp(argv[i], "--key") && i + 1 < argc) {
			key = argv[++i];
		} else if (!node && argv[i][0] != '-') {
			node = argv[i];
		} else {
			return -EINVAL;
		}
	}
	if (!node || !manager || (!key && !insecure))
		return -EINVAL;
	id = strtoul(node, &end, 0);
	if (*end || !id || id > UINT32_MAX)
		return -EINVAL;
	return cmpctl_drain(manager, key, insecure, (uint32_t)id, on,
			    (int)wait_s, stdout);
}

struct command {
	const char *name;
	int (*run)(int argc, char **argv);
	const char *usage;
	const char *help;
};

static const struct command commands[] = {
	{"stats", cmd_stats, "stats MOUNTPOINT [--all | --json]",
	 "a cmpfs mount's counters: a summary of the non-zero ones (pool,\n"
	 "blocks per list, bytes moved, requests); --all lists every\n"
	 "counter, --json prints them all as one JSON object"},
	{"status", cmd_status,
	 "status --manager ADDR (--key FILE|--insecure) [--json]",
	 "the cluster: nodes, kind, capacity, free, and per node the\n"
	 "free/LLL/LRL/RLL/RRL counts"},
	{"drain", cmd_drain,
	 "drain NODE --manager ADDR (--key FILE|--insecure) [--wait[=S]] "
	 "[--undo]",
	 "node NODE (its id in cmpctl status) moves every block it holds\n"
	 "for other nodes elsewhere while it keeps running, and lends\n"
	 "nothing more; --wait: until it holds none (at most S seconds,\n"
	 "default 600); --undo: it lends again"},
	{"keygen", cmd_keygen, "keygen FILE",
	 "write a new cluster key (mode 0600) for --key / -o key="},
};

/* The help texts' lines are indented under their command. */
static void usage(FILE *f)
{
	fprintf(f, "usage: cmpctl COMMAND [ARGS]\n\ncommands:\n");
	for (size_t i = 0; i < ARRAY_SIZE(commands); i++) {
		const char *h = commands[i].help;

		fprintf(f, "  cmpctl %s\n", commands[i].usage);
		while (*h) {
			int n = (int)strcspn(h, "\n");

			fprintf(f, "      %.*s\n", n, h);
			h += n + (h[n] == '\n');
		}
	}
	fprintf(f, "\nExit status: 0 success, 1 failure (one line on stderr "
		   "says why),\n2 usage error.\n");
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
		return 2;
	}
	if (!strcmp(argv[1], "--help") || !strcmp(argv[1], "-h")) {
		usage(stdout);
		return 0;
	}
	if (!strcmp(argv[1], "--version")) {
		printf("cmpctl %s\n", CMP_VERSION_STRING);
		return 0;
	}
	for (size_t i = 0; i < ARRAY_SIZE(commands); i++) {
		int ret;

		if (strcmp(argv[1], commands[i].name))
			continue;
		ret = commands[i].run(argc - 1, argv + 1);
		if (ret == -EINVAL) {
			fprintf(stderr, "usage: cmpctl %s\n",
				commands[i].usage);
			return 2;
		}
		return ret ? 1 : 0;
	}
	fprintf(stderr, "cmpctl: unknown command '%s' (see cmpctl --help)\n",
		argv[1]);
	return 2;
}
