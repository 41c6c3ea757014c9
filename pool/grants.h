/* SPDX-License-Identifier: MIT */
/*
 * The block server's memory windows: which lent blocks an owner may reach
 * one-sided (RDMA READ/WRITE, no CPU of ours on the data path), and
 * through which connection. Used by peer.c; the loan table (loans.h)
 * stays the authority on who holds a block, this only mirrors its loans
 * into the NIC's access checks.
 *
 * One window per loan, bound (conn_rma_grant()) to the connection whose
 * ALLOC asked for windows, over exactly that block. Not one per
 * connection of the owner: a window is tied to one queue pair, so
 * granting on every connection would cost a bind per loan per connection,
 * and every new connection of the owner would have to bind all its loans
 * again. The owner designates one connection per provider for this (its
 * ALLOCs with windows go there) and uses messages on the others.
 *
 * A window ends before its block can be lent again, however the loan
 * ended (FREE, GOODBYE, lease expiry, reconciliation): the loan table's
 * release path calls grants_revoke() before it gives blocks back to the
 * store. A loan that leaves without its block coming back to the store
 * (moved on to another node, handed over to another owner) has its
 * window ended by grants_end() first. A connection that closes revokes
 * every window bound to it (its queue pair is already in the error state:
 * the server shuts a connection down before on_close), waiting for
 * revokes other threads run on it.
 * Loans outlive connections, windows do not: after a reconnect the owner
 * reaches older loans with messages.
 *
 * The store's memory is registered for windows once, at grants_create()
 * (conn_rma_register(): local access only, no remote rights), and
 * unregistered at grants_destroy(), after every connection closed.
 *
 * Threads: every function is thread-safe; grants_grant() and
 * grants_conn_close() run on the connection's own thread. Memory: one
 * entry per store block, allocated at creation; one small struct per RDMA
 * connection, at connection start; nothing on a request path.
 */
#ifndef CMP_POOL_GRANTS_H
#define CMP_POOL_GRANTS_H

#include <stddef.h>
#include <stdint.h>

struct conn;
struct grants;
struct grants_conn;

/*
 * Windows over the store at base (nblocks blocks of block_size bytes,
 * block i at base + i * block_size, len bytes in all). Registers the
 * store. NULL with errno when it cannot (ENOMEM, or the registration's
 * error): the caller serves with messages only.
 */
struct grants *grants_create(void *base, size_t len, uint32_t nblocks,
			     uint32_t block_size);
/* After every grants_conn_close(). Unregisters the store. NULL is ok. */
void grants_destroy(struct grants *g);

/*
 * Per-connection state, when c can do one-sided access at all; NULL when
 * g is NULL, c has no RMA, or memory is short (that connection then gets
 * no windows).
 */
struct grants_conn *grants_conn_open(struct grants *g, struct conn *c);
/* Revokes every window bound to gc's connection, then frees gc. NULL ok. */
void grants_conn_close(struct grants *g, struct grants_conn *gc);

/*
 * Binds a window per block idx[0..n) (just taken from the store, not yet
 * recorded as lent) to gc's connection: rkeys[i] is its rkey, or 0 when
 * that block got none (the device has no memory windows, the connection
 * failed). Returns how many got one.
 */
uint32_t grants_grant(struct grants *g, struct grants_conn *gc,
		      const uint32_t *idx, uint32_t n, uint32_t *rkeys);
/*
 * Ends the windows of blocks idx[0..n) (those that have one) and writes to
 * keep[] (room for n) the blocks that may go back to the store: all of
 * them, except one whose window could not be shown dead, which is
 * withheld for good (logged). Returns how many are in keep[].
 */
uint32_t grants_revoke(struct grants *g, const uint32_t *idx, uint32_t n,
		       uint32_t *keep);

/*
 * Ends the window of block idx, if it has one, for a block that stays
 * lent (its loan moves on or changes owner): 0 when none is left, or
 * -errno when the revoke failed (logged; its connection is shut down, so
 * its queue pair serves no access any more).
 */
int grants_end(struct grants *g, uint32_t idx);

/* The store as an ALLOC reply names it: window of block i at base + i*bs. */
void grants_store(const struct grants *g, uint64_t *base, uint64_t *len);
/* Windows bound now (for tests and stats). */
uint32_t grants_live(struct grants *g);

#endif
