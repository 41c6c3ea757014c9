/* SPDX-License-Identifier: MIT */
/*
 * The block server under test, for the test-peer*.c files: the peer
 * service serving a RAM store (memserver/store.c) over mem:// (or another
 * address: rdma:// on the fake fabric), an owner
 * (pool/remote.c) that knows it, more owners on demand, and raw
 * authenticated connections as any node id (0: a tool) for hand-made
 * frames. Everything asserts (cmocka) instead of returning errors.
 */
#ifndef CMP_TEST_PEER_FIXTURE_H
#define CMP_TEST_PEER_FIXTURE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "cmp/auth.h"
#include "cmp/conn.h"
#include "cmp/peer.h"
#include "proto_block.h"
#include "remote.h"
#include "store.h"

#define BS (64u << 10)
#define PROVIDER 7u
#define OWNER 100u
#define OTHER 101u /* a second owner */
#define TOOL 0u	   /* a connection without a node id (cmpctl) */

struct fixture_config {
	const char *listen_addr;	  /* NULL: mem:// */
	const struct peer_store_ops *ops; /* NULL: ms_store_ops */
	struct auth_keyring *peer_key;	  /* NULL: insecure */
	struct auth_keyring *owner_key;
	uint32_t nblocks;
	uint32_t lease_ms; /* 0: the default */
};

struct fixture {
	struct ms_store *store;
	struct peer *peer;
	struct remote *r; /* as OWNER */
	struct auth_keyring *owner_key;
};

struct fixture *fixture_create(const struct fixture_config *cfg);
void fixture_destroy(struct fixture *f);

/* Another owner node that knows the provider. remote_destroy() it. */
struct remote *owner_create(struct fixture *f, uint32_t node);

/* One loan for r (asserts it got one). */
struct proto_block_ref borrow_one(struct remote *r);

/* A deterministic pattern; seed picks it. */
void fill(uint8_t *p, size_t len, unsigned int seed);
bool all_zero(const void *p, size_t len);

/* An authenticated raw connection as node, 2 s timeout. */
struct conn *raw_connect(struct fixture *f, uint32_t node);
/* Sends one request frame; payload checksum good unless bad_csum. */
void send_raw(struct conn *c, uint8_t op, const void *pl, size_t len,
	      bool bad_csum);
/*
 * One request on a raw connection: returns the reply's status; its
 * payload (at most cap bytes, else the test fails) goes to rep and its
 * length to *got (either may be NULL when none is expected).
 */
uint32_t raw_call(struct conn *c, uint8_t op, const void *pl, size_t len,
		  void *rep, size_t cap, size_t *got);
/* Reads until the peer closes; true when it did within the deadline. */
bool closed_by_peer(struct conn *c);

#endif
