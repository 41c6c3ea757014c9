// SPDX-License-Identifier: MIT
/*
 * cmpctl top (cmpctl-top.h): snapshots from the manager, one table of
 * rates per refresh. On a terminal each refresh replaces the last; into a
 * pipe or with --once, tables follow each other.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "cmp/auth.h"
#include "cmp/mgr.h"
#include "cmp/util.h"
#include "cmpctl-cluster.h"
#include "cmpctl-top.h"

#define TOP_TIMEOUT_MS 3000
#define MIN_SAMPLE_GAP_NS 10000000ull /* closer: the same heartbeat */

/* When the node took its sample, by our clock. */
static uint64_t sampled_ns(const struct top_sample *s,
			   const struct mgr_node_info *n)
{
	return s->at_ns - MIN(s->at_ns, n->age_ms * 1000000ull);
}

static const struct mgr_node_info *find(const struct top_sample *s,
					uint32_t node)
{
	for (size_t i = 0; s && i < s->count; i++)
		if (s->nodes[i].node == node)
			return &s->nodes[i];
	return NULL;
}

/* "1.5 MiB/s", or "-" when there is no rate to tell. */
static const char *rate(uint64_t now, uint64_t then, uint64_t dt_ns, char *buf,
			size_t len)
{
	char sz[32];

	if (!dt_ns || now < then)
		return "-";
	snprintf(buf, len, "%s/s",
		 cmp_format_size(
			 (uint64_t)((double)(now - then) * 1e9 / (double)dt_ns),
			 sz, sizeof(sz)));
	return buf;
}

static void print_node(FILE *out, const struct top_sample *prev,
		       const struct top_sample *cur,
		       const struct mgr_node_info *n)
{
	const struct mgr_node_info *p = find(prev, n->node);
	const struct proto_mgr_traffic *t = &n->traffic, *o;
	const uint64_t lists[] = {n->counts.free, n->counts.lll, n->counts.lrl,
				  n->counts.rll, n->counts.rrl};
	uint64_t dt = 0, t1, t0;
	char r[4][32], sz[32];

	if (p && n->state == MGR_NODE_ALIVE) {
		t1 = sampled_ns(cur, n);
		t0 = sampled_ns(prev, p);
		dt = t1 > t0 + MIN_SAMPLE_GAP_NS ? t1 - t0 : 0;
	}
	o = p ? &p->traffic : t;
	fprintf(out, "%-10u %-9s %-7s %11s %11s %11s %11s", n->node,
		mgr_kind_name(n->kind), mgr_node_state_name(n->state),
		rate(t->read_bytes, o->read_bytes, dt, r[0], sizeof(r[0])),
		rate(t->write_bytes, o->write_bytes, dt, r[1], sizeof(r[1])),
		rate(t->net_rx_bytes, o->net_rx_bytes, dt, r[2], sizeof(r[2])),
		rate(t->net_tx_bytes, o->net_tx_bytes, dt, r[3], sizeof(r[3])));
	for (size_t k = 0; k < ARRAY_SIZE(lists); k++)
		fprintf(out, " %10s",
			n->state != MGR_NODE_ALIVE
				? "-"
				: cmp_format_size(lists[k] * n->block_size, sz,
						  sizeof(sz)));
	fputc('\n', out);
}

void cmpctl_top_print(FILE *out, const char *manager_addr,
		      const struct top_sample *prev,
		      const struct top_sample *cur)
{
	size_t alive = 0;

	for (size_t i = 0; i < cur->count; i++)
		alive += cur->nodes[i].state == MGR_NODE_ALIVE;
	fprintf(out, "manager %s: %zu nodes, %zu alive\n", manager_addr,
		cur->count, alive);
	fprintf(out,
		"%-10s %-9s %-7s %11s %11s %11s %11s %10s %10s %10s %10s "
		"%10s\n",
		"NODE", "KIND", "STATE", "READ", "WRITE", "NET IN", "NET OUT",
		"FREE", "LLL", "LRL", "RLL", "RRL");
	for (size_t i = 0; i < cur->count; i++)
		print_node(out, prev, cur, &cur->nodes[i]);
}

static int take(const char *addr, struct auth_keyring *kr, uint32_t wait_ms,
		struct top_sample *s)
{
	int ret = mgr_query_snapshot(addr, kr, TOP_TIMEOUT_MS, wait_ms,
				     s->nodes, PROTO_MGR_MAX_NODES, &s->count);

	s->at_ns = cmp_now_ns();
	if (ret < 0)
		fprintf(stderr, "cmpctl: manager %s: %s%s\n", addr,
			strerror(-ret), cmpctl_error_hint(ret));
	return ret;
}

static void pause_ms(uint32_t ms)
{
	struct timespec ts = {ms / 1000, (long)(ms % 1000) * 1000000l};

	while (nanosleep(&ts, &ts) < 0 && errno == EINTR)
		;
}

/* Snapshots and tables until an error (or one table, once). */
static int loop(const char *addr, struct auth_keyring *kr, uint32_t interval,
		bool once, FILE *out, struct top_sample s[2])
{
	bool tty = !once && isatty(fileno(out));
	uint32_t wait_ms = MAX(MIN(interval / 2, 1000u), 1u);
	int cur = 0, ret;

	ret = take(addr, kr, wait_ms, &s[cur]);
	while (ret == 0) {
		pause_ms(interval);
		ret = take(addr, kr, wait_ms, &s[!cur]);
		if (ret < 0)
			break;
		cur = !cur;
		if (tty)
			fputs("\033[H\033[2J", out);
		cmpctl_top_print(out, addr, &s[!cur], &s[cur]);
		if (!tty)
			fputc('\n', out);
		if (fflush(out))
			ret = -errno;
		if (once)
			break;
	}
	return ret;
}

int cmpctl_top(const char *manager_addr, const char *key_path,
	       uint32_t interval_ms, bool once, FILE *out)
{
	struct top_sample s[2] = {{0}, {0}};
	struct auth_keyring *kr = NULL;
	int ret = -ENOMEM;

	if (key_path) {
		/* auth_keyring_load() says what is wrong with the file */
		kr = auth_keyring_load(key_path);
		if (!kr)
			return -errno;
	}
	s[0].nodes = calloc(PROTO_MGR_MAX_NODES, sizeof(*s[0].nodes));
	s[1].nodes = calloc(PROTO_MGR_MAX_NODES, sizeof(*s[1].nodes));
	if (s[0].nodes && s[1].nodes)
		ret = loop(manager_addr, kr, interval_ms, once, out, s);
	else
		fprintf(stderr, "cmpctl: %s\n", strerror(ENOMEM));
	free(s[0].nodes);
	free(s[1].nodes);
	auth_keyring_destroy(kr);
	return ret;
}
