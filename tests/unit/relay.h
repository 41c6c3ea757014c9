/* SPDX-License-Identifier: MIT */
/*
 * A relay for the liveness tests (test-owner-liveness.c): owners connect
 * to it on a mem:// address and it forwards byte for byte to a provider,
 * so that the test can cut every relayed connection (relay_reset), refuse
 * new ones (relay_refuse, relay_listen again), or stop forwarding (hold)
 * while the provider itself keeps running, or delay what goes to it.
 * Include after <cmocka.h>.
 */
#ifndef CMP_TEST_RELAY_H
#define CMP_TEST_RELAY_H

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>

#include "cmp/conn.h"

#define RELAY_PAIRS 64

struct pair {
	struct conn *a, *b; /* the owner's side, the provider's */
	pthread_t t[2];
	atomic_int running;
	atomic_bool cut; /* reset: the pumps stop, held or not */
	bool used;
};

struct relay {
	char addr[64]; /* owners connect here */
	const char *to;
	struct conn_listener *l;
	pthread_t acceptor;
	pthread_mutex_t lock; /* pairs, l */
	struct pair pairs[RELAY_PAIRS];
	atomic_bool
		hold; /* forward nothing (a provider that does not answer) */
	atomic_bool stop;
	/* bytes towards the provider wait this long (a far provider) */
	atomic_uint delay_ms;
};

/*
 * Of every relay: bytes towards a provider held in a delay now, and the
 * most that ever were at once (requests out on several at the same time).
 */
extern atomic_uint relay_delayed, relay_delayed_max;

/* Listens on a fresh mem:// address (r->addr) and forwards to `to`. */
void relay_start(struct relay *r, const char *to);
void relay_stop(struct relay *r);
/* Accepts connections again on the same address. */
void relay_listen(struct relay *r);
/* New connections are refused from now on. */
void relay_refuse(struct relay *r);
/* Every relayed connection is cut; bytes held in the relay are dropped. */
void relay_reset(struct relay *r);

#endif
