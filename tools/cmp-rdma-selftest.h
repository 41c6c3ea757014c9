/* SPDX-License-Identifier: MIT */
/*
 * cmp-rdma-selftest's own little protocol on the RDMA stream, shared by
 * its server (cmp-rdma-selftest.c) and client (cmp-rdma-selftest-client.c).
 * Little-endian on the wire; the region is cut into blocks as a provider's
 * store is, and one-sided access goes through a memory window the server
 * grants per block, exactly as the block server does for a loan:
 *
 *   client                               server
 *                <----------- st_hello {flags (ST_F_MW), block, nblocks}
 *   st_cmd GRANT {block} -------------> conn_rma_grant(block)
 *                <----------- st_reply {status, rkey, addr, len, ns}
 *   RMA READ/WRITE in the window -----> (no server CPU)
 *   st_cmd VERIFY {off, len, seed} ---> compares its region
 *                <----------- st_reply {status, first bad offset}
 *   st_cmd REVOKE {block} ------------> conn_rma_revoke(block)
 *                <----------- st_reply {status, ns}
 *   st_cmd PING + payload ------------> echoes the payload
 *   st_cmd STREAM {bytes} + bytes ----> checks the pattern, st_reply
 *   st_cmd DONE ----------------------> next connection
 *
 * With memory windows, a second connection checks that a revoked window
 * refuses access (which breaks that connection, as it should). Loopback
 * mode then runs the block server itself on the device
 * (cmp-rdma-selftest-loans.c): loans' windows, and their end.
 */
#ifndef CMP_RDMA_SELFTEST_H
#define CMP_RDMA_SELFTEST_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "cmp-config.h"
#include "conn-internal.h"

#define ST_MAGIC 0x54534d43u /* "CMST" */
#define ST_EXIT_SKIP 77
#define ST_F_MW 1u /* the server's device grants memory windows */

enum st_op { ST_PING = 1, ST_STREAM, ST_VERIFY, ST_DONE, ST_GRANT, ST_REVOKE };

struct st_hello {
	uint32_t magic;
	uint32_t flags;
	uint64_t block;
	uint64_t nblocks;
};
_Static_assert(sizeof(struct st_hello) == 24, "wire struct");

struct st_cmd {
	uint32_t op;
	uint32_t arg; /* seed, ping payload size, or block */
	uint64_t a;   /* offset, or stream bytes */
	uint64_t b;   /* length */
};
_Static_assert(sizeof(struct st_cmd) == 24, "wire struct");

struct st_reply {
	uint32_t status; /* 0 ok, 1 contents differ, else a positive errno */
	uint32_t rkey;	 /* GRANT */
	uint64_t value;	 /* first bad offset, or the server's ns */
	uint64_t addr;	 /* GRANT */
	uint64_t len;	 /* GRANT */
};
_Static_assert(sizeof(struct st_reply) == 32, "wire struct");

struct st_opts {
	const char *server, *client, *loopback;
	bool mode_loopback; /* loopback may be NULL: pick an address */
	bool require_mw;    /* fail without memory windows */
	uint64_t region;    /* bytes the server lends */
	uint64_t block;	    /* bytes per grant */
	uint64_t bulk;	    /* bytes per bandwidth run */
	unsigned int iters;
	unsigned int msg; /* ping / small RMA size */
};

extern struct st_opts opt;

uint8_t st_pattern(uint64_t off, uint32_t seed);
void st_fill(uint8_t *p, uint64_t off, size_t len, uint32_t seed);
/* Returns the index of the first mismatch, or len. */
size_t st_check(const uint8_t *p, uint64_t off, size_t len, uint32_t seed);
int st_write(struct conn *c, const void *buf, size_t len);
int st_read(struct conn *c, void *buf, size_t len);
/* Connects (or accepts) and trusts the peer: the tool has no handshake. */
int st_connect(const char *url, struct conn **out);
int st_accept(struct conn_listener *l, struct conn **out);

/* cmp-rdma-selftest-client.c */
int st_run_client(const char *url);

/*
 * cmp-rdma-selftest-loans.c: a block server (the peer service) on
 * listen_url and owners borrowing from it: windows per loan, refused to
 * another owner and after the loan ended. 0, -EIO after a failed check.
 */
int st_run_loans(const char *listen_url);

#endif
