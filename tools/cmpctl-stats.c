// SPDX-License-Identifier: MIT
/*
 * cmpctl stats (cmpctl-stats.h): the raw counter list is 46 lines, most of
 * them zero on a quiet mount; people want to see how big the pool is, where
 * its blocks are and what happened, so the summary shows the non-zero
 * counters only, grouped, with sizes in units.
 */
#include <stdbool.h>
#include <string.h>

#include "cmp/util.h"
#include "cmpctl-stats.h"

#define MAX_COUNTERS 256
#define WIDTH 80
#define INDENT 12

struct counter {
	char name[64];
	unsigned long long v;
};

enum group {
	G_BLOCKS,
	G_POOL,
	G_DATA,
	G_REQUESTS,
	G_COPIES,
	G_MEMSERVER,
	G_OTHER,
	G_NONE
};

static const char *const group_title[] = {
	[G_BLOCKS] = "blocks", [G_POOL] = "pool",
	[G_DATA] = "data",     [G_REQUESTS] = "requests",
	[G_COPIES] = "copies", [G_MEMSERVER] = "memserver",
	[G_OTHER] = "other",
};

/* wp_policy's values (include/cmp/pool.h's enum pool_wpolicy) */
static const char *const wpolicy_names[] = {"none", "through", "back"};

static size_t parse(const char *text, struct counter *c, size_t cap)
{
	size_t n = 0;
	int used;

	while (n < cap &&
	       sscanf(text, "%63s %llu%n", c[n].name, &c[n].v, &used) == 2) {
		text += used;
		n++;
	}
	return n;
}

static bool starts(const char *s, const char *prefix)
{
	return !strncmp(s, prefix, strlen(prefix));
}

static bool ends(const char *s, const char *suffix)
{
	size_t n = strlen(s), m = strlen(suffix);

	return n > m && !strcmp(s + n - m, suffix);
}

static bool is_size(const char *name)
{
	return ends(name, "_bytes") || ends(name, "_size");
}

/* The group a counter is shown in; the header's are in none. */
static enum group classify(const char *name)
{
	if (!strcmp(name, "block_size") || !strcmp(name, "local_blocks") ||
	    !strcmp(name, "node_id"))
		return G_NONE;
	if (starts(name, "blocks_"))
		return G_BLOCKS;
	if (starts(name, "replica"))
		return G_COPIES;
	if (starts(name, "wp_"))
		return G_MEMSERVER;
	if (starts(name, "pool_"))
		return G_POOL;
	if (is_size(name))
		return G_DATA;
	if (starts(name, "req_"))
		return G_REQUESTS;
	return G_OTHER;
}

/*
 * Counters whose name alone misleads: the mount's pool_free_bytes is this
 * node's free memory, not the cluster's (cmpctl status shows that).
 */
static const struct {
	const char *name, *label;
} labels[] = {
	{"pool_free_bytes", "free on this node"},
	{"read_remote_bytes", "read from other nodes"},
	{"write_remote_bytes", "written to other nodes"},
};

/* The counter's name without what its group line already says. */
static void label(const char *name, enum group g, char *buf, size_t len)
{
	static const char *const prefix[] = {[G_BLOCKS] = "blocks_",
					     [G_POOL] = "pool_",
					     [G_REQUESTS] = "req_",
					     [G_COPIES] = "replica_",
					     [G_MEMSERVER] = "wp_"};
	size_t n;

	for (size_t i = 0; i < ARRAY_SIZE(labels); i++) {
		if (!strcmp(name, labels[i].name)) {
			snprintf(buf, len, "%s", labels[i].label);
			return;
		}
	}
	if (g < ARRAY_SIZE(prefix) && prefix[g] && starts(name, prefix[g]))
		name += strlen(prefix[g]);
	snprintf(buf, len, "%s", name);
	n = strlen(buf);
	if (g != G_OTHER && ends(buf, "_bytes"))
		buf[n - strlen("_bytes")] = '\0';
}

static unsigned long long find(const struct counter *c, size_t n,
			       const char *name, bool *found)
{
	for (size_t i = 0; i < n; i++) {
		if (!strcmp(c[i].name, name)) {
			*found = true;
			return c[i].v;
		}
	}
	*found = false;
	return 0;
}

/* One "label value" item, formatted for its group. */
static void item(const struct counter *c, enum group g,
		 unsigned long long block, char *buf, size_t len)
{
	char name[64], a[32];

	label(c->name, g, name, sizeof(name));
	if (!strcmp(c->name, "wp_policy") && c->v < ARRAY_SIZE(wpolicy_names))
		snprintf(buf, len, "writepolicy=%s", wpolicy_names[c->v]);
	else if (is_size(c->name))
		snprintf(buf, len, "%s %s", name,
			 cmp_format_size(c->v, a, sizeof(a)));
	else if (g == G_BLOCKS && block)
		snprintf(buf, len, "%s %llu (%s)", name, c->v,
			 cmp_format_size(c->v * block, a, sizeof(a)));
	else
		snprintf(buf, len, "%s %llu", name, c->v);
}

/*
 * The line of group g: its non-zero counters (and free blocks, always),
 * wrapped so that every line, its trailing comma included, fits WIDTH.
 */
static void print_group(FILE *out, const struct counter *c, size_t n,
			enum group g, unsigned long long block)
{
	char buf[128];
	int col = 0;

	for (size_t i = 0; i < n; i++) {
		bool always = !strcmp(c[i].name, "blocks_free");

		if (classify(c[i].name) != g || (!c[i].v && !always))
			continue;
		item(&c[i], g, block, buf, sizeof(buf));
		if (!col) {
			col = fprintf(out, "  %-*s%s", INDENT - 2,
				      group_title[g], buf);
		} else if (col + 2 + (int)strlen(buf) >= WIDTH) {
			col = fprintf(out, ",\n%*s%s", INDENT, "", buf) - 2;
		} else {
			col += fprintf(out, ", %s", buf);
		}
	}
	if (col)
		fputc('\n', out);
}

void cmpctl_stats_summary(FILE *out, const char *mnt, const char *text)
{
	struct counter c[MAX_COUNTERS];
	unsigned long long block, local, node;
	bool have_block, have_local, have_node;
	char a[32], b[32];
	size_t n = parse(text, c, ARRAY_SIZE(c));

	block = find(c, n, "block_size", &have_block);
	local = find(c, n, "local_blocks", &have_local);
	node = find(c, n, "node_id", &have_node);
	fprintf(out, "%s:", mnt);
	if (have_node && node)
		fprintf(out, " node %llu,", node);
	if (have_block && have_local)
		fprintf(out, " %llu blocks of %s here (%s)", local,
			cmp_format_size(block, a, sizeof(a)),
			cmp_format_size(local * block, b, sizeof(b)));
	fputc('\n', out);
	for (enum group g = G_BLOCKS; g < G_NONE; g++)
		print_group(out, c, n, g, have_block ? block : 0);
	fprintf(out, "(non-zero counters only; --all shows every counter)\n");
}

void cmpctl_stats_json(FILE *out, const char *text)
{
	struct counter c[MAX_COUNTERS];
	size_t n = parse(text, c, ARRAY_SIZE(c));

	fprintf(out, "{");
	for (size_t i = 0; i < n; i++)
		fprintf(out, "%s\"%s\": %llu", i ? ", " : "", c[i].name,
			c[i].v);
	fprintf(out, "}\n");
}
