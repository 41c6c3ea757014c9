/* SPDX-License-Identifier: MIT */
/*
 * Helpers shared by the RDMA transport's unit tests (test-rdma.c,
 * test-rdma-mw.c): a client/server pair over the fake fabric, before or
 * after authentication, stream shorthands, stderr capture, and regions
 * registered for the test and unregistered when its pair is destroyed.
 */
#ifndef CMP_RDMA_PAIR_H
#define CMP_RDMA_PAIR_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "rdma-internal.h"

struct pair {
	struct conn_listener *l;
	struct conn *cli, *srv;
	int accept_ret;
};

/* cmocka setup: a fresh fake fabric with one device. */
int pair_setup(void **state);
void start_listener(struct pair *p);
/* Accepts on the listener p->l into *out (in a thread); returns 0/-errno. */
void accept_one(struct pair *p, struct conn **cli, struct conn **srv);
/* Connected, not authenticated: both ends on their small buffers. */
void connect_pair_small(struct pair *p);
/*
 * Both ends authenticated, and each end's SENDs past the other's small
 * receives (so every later SEND may be big); the fake's counters reset.
 */
void grow_pair(struct pair *p);
/* connect_pair_small() + grow_pair(). */
void connect_pair(struct pair *p);
/* Destroys what exists, unregisters the test's regions, checks leaks. */
void destroy_pair(struct pair *p);

/* conn_rma_register() through the transport, undone by destroy_pair(). */
void reg_region(void *base, size_t len);

int wr(struct conn *c, const void *buf, size_t len);
int rd(struct conn *c, void *buf, size_t len);
uint8_t pat(size_t i);
struct rdma_conn *rc(struct conn *c);
/* Polls for a thread to sleep in c's poll(), with a deadline. */
bool eventually_polling(struct conn *c);

char *capture_stderr_begin(int *saved);
void capture_stderr_end(int saved, char *path, char *out, size_t len);
int count_lines(const char *s);

#endif
