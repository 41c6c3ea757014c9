// SPDX-License-Identifier: MIT
/*
 * The fake nodes of the manager tests (mgr-nodes.h).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "cmp/util.h"
#include "mgr-nodes.h"

char mgr_addr[64];
static unsigned int seq;

void next_addr(void)
{
	snprintf(mgr_addr, sizeof(mgr_addr), "mem://mgr-%d-%u", getpid(),
		 ++seq);
}

static void counts_cb(void *ctx, struct proto_mgr_counts *out)
{
	struct node *n = ctx;

	pthread_mutex_lock(&n->lock);
	while (n->hold)
		pthread_cond_wait(&n->cond, &n->lock);
	*out = n->counts;
	pthread_mutex_unlock(&n->lock);
}

static void traffic_cb(void *ctx, struct proto_mgr_traffic *out)
{
	struct node *n = ctx;

	pthread_mutex_lock(&n->lock);
	*out = n->traffic;
	pthread_mutex_unlock(&n->lock);
}

static void state_cb(void *ctx, uint32_t id, enum mgr_node_state state,
		     const char *addr)
{
	struct node *n = ctx;
	struct heard *h;

	pthread_mutex_lock(&n->lock);
	if (n->nheard < ARRAY_SIZE(n->heard)) {
		h = &n->heard[n->nheard++];
		h->node = id;
		h->state = (uint8_t)state;
		snprintf(h->addr, sizeof(h->addr), "%s", addr);
	}
	pthread_mutex_unlock(&n->lock);
}

struct mgr_client *start_client(struct node *n, uint32_t id, unsigned int kind,
				uint64_t free, struct auth_keyring *kr)
{
	struct mgr_client_config cfg = {
		.manager_addr = mgr_addr,
		.keyring = kr,
		.node = id,
		.kind = kind,
		.block_size = BS,
		.capacity = 100000,
		.timeout_ms = 1000,
		.counts = counts_cb,
		.traffic = traffic_cb,
		.node_state = state_cb,
		.ctx = n,
	};

	memset(n, 0, sizeof(*n));
	n->id = id;
	pthread_mutex_init(&n->lock, NULL);
	pthread_cond_init(&n->cond, NULL);
	n->counts.free = free;
	snprintf(n->listen, sizeof(n->listen), "mem://node-%u", id);
	cfg.listen_addr = n->listen;
	n->c = mgr_client_create(&cfg);
	assert_non_null(n->c);
	return n->c;
}

void stop_client(struct node *n)
{
	mgr_client_destroy(n->c);
	n->c = NULL;
	pthread_cond_destroy(&n->cond);
	pthread_mutex_destroy(&n->lock);
}

int leave_client(struct node *n)
{
	int ret = mgr_client_leave(n->c);

	stop_client(n);
	return ret;
}

void set_counts(struct node *n, const struct proto_mgr_counts *counts)
{
	pthread_mutex_lock(&n->lock);
	n->counts = *counts;
	pthread_mutex_unlock(&n->lock);
}

void set_traffic(struct node *n, const struct proto_mgr_traffic *traffic)
{
	pthread_mutex_lock(&n->lock);
	n->traffic = *traffic;
	pthread_mutex_unlock(&n->lock);
}

void hold_node(struct node *n, bool hold)
{
	pthread_mutex_lock(&n->lock);
	n->hold = hold;
	pthread_cond_broadcast(&n->cond);
	pthread_mutex_unlock(&n->lock);
}

static struct manager *start(struct auth_keyring *kr, uint32_t suspect_after,
			     uint32_t heartbeat_ms)
{
	struct manager_config cfg = {.listen_addr = mgr_addr,
				     .keyring = kr,
				     .heartbeat_ms = heartbeat_ms,
				     .suspect_after = suspect_after};
	struct manager *m = manager_create(&cfg);

	assert_non_null(m);
	return m;
}

struct manager *start_manager(struct auth_keyring *kr)
{
	return start(kr, SUSPECT_AFTER, HB_MS);
}

struct manager *start_manager_quick(void)
{
	return start(NULL, SUSPECT_AFTER_QUICK, HB_MS);
}

struct manager *start_manager_slow(void)
{
	return start(NULL, SUSPECT_AFTER, 60000);
}

bool lookup(struct mgr_client *c, uint32_t id, struct mgr_node_info *o)
{
	struct mgr_node_info all[16];
	size_t n, i;

	/*
	 * Callers read *o after assert_true(lookup()): gcc 12 -O3 cannot
	 * tell that a failed assert does not return (maybe-uninitialized).
	 */
	memset(o, 0, sizeof(*o));
	if (mgr_client_nodes(c, all, ARRAY_SIZE(all), &n) < 0)
		return false;
	for (i = 0; i < n; i++) {
		if (all[i].node == id) {
			*o = all[i];
			return true;
		}
	}
	return false;
}

bool node_is(void *arg)
{
	struct expect *e = arg;
	struct mgr_node_info o;

	return lookup(e->via, e->id, &o) && o.state == e->state &&
	       o.counts.lll == e->lll;
}

bool registered(void *arg)
{
	return mgr_client_registered(arg);
}

size_t heard_count(struct node *n, uint32_t id, uint8_t state)
{
	size_t i, k = 0;

	pthread_mutex_lock(&n->lock);
	for (i = 0; i < n->nheard; i++)
		k += n->heard[i].node == id &&
		     (!state || n->heard[i].state == state);
	pthread_mutex_unlock(&n->lock);
	return k;
}

bool has_heard(void *arg)
{
	struct hear *h = arg;

	return heard_count(h->n, h->id, h->state) > 0;
}
