// SPDX-License-Identifier: MIT
/*
 * Moving loans on in the loan table (pool/loans-move.c): a move lets the
 * accesses in flight finish and no new one in, leaves a forwarding record
 * that answers the owner with where the loan went, keeps that record
 * through reconciliations and FREEs until the owner confirmed, and the
 * node the loan moved to hands it to its owner under a new epoch that a
 * reconciliation keeps until the owner knows it. No block ever goes back
 * to the store while an access holds it, and a moved one never does (it
 * is the mover's).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <cmocka.h>

#include "cmp/util.h"
#include "loans.h"

#define NB 16
#define SEC 1000000000ull
#define LEASE (10 * SEC)
#define OWNER 7u
#define OTHER 8u
#define MOVER 9u

struct store {
	atomic_bool out[NB];
	atomic_uint released;
	atomic_uint violations; /* a block released that was not out */
};

static void release(void *ctx, const uint32_t *idx, uint32_t n)
{
	struct store *s = ctx;

	for (uint32_t i = 0; i < n; i++) {
		if (idx[i] >= NB || !atomic_exchange(&s->out[idx[i]], false))
			atomic_fetch_add(&s->violations, 1);
		atomic_fetch_add(&s->released, 1);
	}
}

static struct loans *make(struct store *s, uint32_t max_fwd)
{
	struct loans_config cfg = {
		.nblocks = NB,
		.max_owners = 8,
		.lease_ns = LEASE,
		.first_epoch = 100,
		.max_forwarding = max_fwd,
		.release = release,
		.ctx = s,
	};
	struct loans *l;

	memset(s, 0, sizeof(*s));
	l = loans_create(&cfg);
	assert_non_null(l);
	return l;
}

static void finish(struct loans *l, struct store *s)
{
	assert_int_equal(atomic_load(&s->violations), 0);
	loans_destroy(l);
}

static struct proto_block_ref lend1(struct loans *l, struct store *s,
				    uint32_t owner, uint32_t idx, uint64_t now)
{
	uint32_t ep;

	atomic_store(&s->out[idx], true);
	assert_int_equal(loans_lend(l, owner, &idx, 1, &ep, now), 0);
	return (struct proto_block_ref){idx, ep};
}

static const struct peer_loan there = {.node = 3, .block = 40, .epoch = 77};

/* Moves r (no access in flight) to `there`; the block is the test's. */
static void move(struct loans *l, struct store *s, struct proto_block_ref r)
{
	uint32_t owner, epoch;

	assert_int_equal(loans_move_begin(l, r.block, 100, &owner, &epoch), 0);
	assert_int_equal(epoch, r.epoch);
	assert_true(loans_move_wanted(l, r.block));
	assert_int_equal(loans_move_end(l, r.block, &there), 0);
	/* the mover owns the block now: the store never gets it back */
	atomic_store(&s->out[r.block], false);
}

static void a_moved_loan_answers_where_it_went(void **state)
{
	struct store s;
	struct loans *l = make(&s, 0);
	struct proto_block_ref r = lend1(l, &s, OWNER, 3, 0);
	struct peer_loan to = {0};
	uint32_t owner, epoch;

	assert_int_equal(loans_move_begin(l, 3, 100, &owner, &epoch), 0);
	assert_int_equal(owner, OWNER);
	/* while it moves: ask again shortly */
	assert_int_equal(loans_pin(l, OWNER, r, 1, &to), -EBUSY);
	assert_int_equal(loans_lent(l), 1);
	assert_int_equal(loans_move_end(l, 3, &there), 0);
	assert_int_equal(loans_lent(l), 0);
	assert_int_equal(loans_forwarding(l), 1);
	assert_int_equal(loans_forwarding_to(l, OWNER), 1);
	assert_int_equal(loans_pin(l, OWNER, r, 2, &to), -EREMCHG);
	assert_memory_equal(&to, &there, sizeof(to));
	/* another epoch of the block, or another owner: stale, told nothing */
	assert_int_equal(loans_pin(l, OWNER,
				   (struct proto_block_ref){3, r.epoch + 1}, 2,
				   NULL),
			 -ESTALE);
	assert_int_equal(loans_pin(l, OTHER, r, 2, NULL), -ESTALE);
	/* the block itself can be lent again, under a new epoch */
	atomic_store(&s.out[3], false);
	r = lend1(l, &s, OTHER, 3, 3);
	assert_int_equal(loans_pin(l, OTHER, r, 3, NULL), 0);
	assert_int_equal(loans_unpin(l, 3), 0);
	assert_int_equal(atomic_load(&s.released), 0);
	finish(l, &s);
}

struct writer {
	struct loans *l;
	struct proto_block_ref r;
	atomic_bool pinned, done;
	int unpin_ret;
};

/* An access that holds the block for a while, then lets go. */
static void *slow_access(void *arg)
{
	struct writer *w = arg;
	struct timespec ts = {0, 50000000};

	assert_int_equal(loans_pin(w->l, OWNER, w->r, 1, NULL), 0);
	atomic_store(&w->pinned, true);
	nanosleep(&ts, NULL);
	atomic_store(&w->done, true);
	w->unpin_ret = loans_unpin(w->l, w->r.block);
	return NULL;
}

static void a_move_waits_for_the_access_in_flight(void **state)
{
	struct store s;
	struct loans *l = make(&s, 0);
	struct writer w = {.l = l};
	uint32_t owner, epoch;
	pthread_t t;

	w.r = lend1(l, &s, OWNER, 5, 0);
	assert_int_equal(pthread_create(&t, NULL, slow_access, &w), 0);
	while (!atomic_load(&w.pinned))
		sched_yield();
	assert_int_equal(loans_move_begin(l, 5, 5000, &owner, &epoch), 0);
	/* the write that was in flight landed before the copy may start */
	assert_true(atomic_load(&w.done));
	pthread_join(t, NULL);
	/* and its owner was told it landed in a block it still holds */
	assert_int_equal(w.unpin_ret, 0);
	assert_int_equal(loans_move_end(l, 5, &there), 0);
	atomic_store(&s.out[5], false);
	finish(l, &s);
}

static void a_move_gives_up_on_a_block_held_too_long(void **state)
{
	struct store s;
	struct loans *l = make(&s, 0);
	struct proto_block_ref r = lend1(l, &s, OWNER, 5, 0);
	uint32_t owner, epoch;

	assert_int_equal(loans_pin(l, OWNER, r, 1, NULL), 0);
	assert_int_equal(loans_move_begin(l, 5, 20, &owner, &epoch), -EBUSY);
	/* still lent, still held, and usable as before */
	assert_int_equal(loans_pin(l, OWNER, r, 1, NULL), 0);
	assert_int_equal(loans_unpin(l, 5), 0);
	assert_int_equal(loans_unpin(l, 5), 0);
	/* a move that failed later leaves the loan as it was too */
	assert_int_equal(loans_move_begin(l, 5, 20, &owner, &epoch), 0);
	assert_int_equal(loans_move_end(l, 5, NULL), 0);
	assert_int_equal(loans_pin(l, OWNER, r, 1, NULL), 0);
	assert_int_equal(loans_unpin(l, 5), 0);
	/* only lent blocks move */
	assert_int_equal(loans_move_begin(l, 6, 20, &owner, &epoch), -ESTALE);
	assert_int_equal(loans_move_begin(l, NB, 20, &owner, &epoch), -ESTALE);
	finish(l, &s);
}

static void a_loan_freed_while_it_moves_becomes_a_freed_record(void **state)
{
	struct store s;
	struct loans *l = make(&s, 0);
	struct proto_block_ref r = lend1(l, &s, OWNER, 2, 0);
	struct proto_block_ref q = lend1(l, &s, OWNER, 4, 0);
	struct loans_notice n[4];
	uint32_t owner, epoch;

	/* freed mid-move, the move failing: the block goes back */
	assert_int_equal(loans_move_begin(l, 4, 100, &owner, &epoch), 0);
	assert_int_equal(loans_free(l, OWNER, &q, 1, 1), 1);
	assert_false(loans_move_wanted(l, 4));
	assert_int_equal(loans_move_end(l, 4, NULL), 0);
	assert_int_equal(atomic_load(&s.released), 1);
	/* freed mid-move, the copy done: the owner must free the new place */
	assert_int_equal(loans_move_begin(l, 2, 100, &owner, &epoch), 0);
	assert_int_equal(loans_free(l, OWNER, &r, 1, 1), 1);
	assert_int_equal(loans_move_end(l, 2, &there), 0);
	atomic_store(&s.out[2], false);
	assert_int_equal(loans_fwd_due(l, 2, n, 4), 1);
	assert_true(n[0].freed);
	assert_int_equal(n[0].owner, OWNER);
	assert_int_equal(n[0].block, 2);
	assert_int_equal(n[0].epoch, r.epoch);
	assert_memory_equal(&n[0].to, &there, sizeof(there));
	loans_fwd_noticed(l, &n[0], 0, 0);
	assert_int_equal(loans_forwarding(l), 0);
	finish(l, &s);
}

static void a_record_stays_until_the_owner_answers_a_notice(void **state)
{
	struct store s;
	struct loans *l = make(&s, 0);
	struct proto_block_ref r = lend1(l, &s, OWNER, 1, 0);
	struct proto_block_ref missing[1];
	struct loans_notice n[4];

	move(l, &s, r);
	/* due at once, and not twice while one is on its way */
	assert_int_equal(loans_fwd_due(l, 10, n, 4), 1);
	assert_false(n[0].freed);
	assert_int_equal(loans_fwd_due(l, 10, n + 1, 3), 0);
	/* the owner knows nothing of it yet: later */
	loans_fwd_noticed(l, &n[0], -ENOENT, 20);
	assert_int_equal(loans_fwd_due(l, 19, n, 4), 0);
	/* a reconciliation claiming it does not make it missing */
	loans_reconcile_begin(l, OWNER, 15);
	assert_int_equal(loans_reconcile_mark(l, OWNER, &r, 1, missing, 15), 0);
	assert_int_equal(loans_reconcile_end(l, OWNER), 0);
	assert_int_equal(loans_forwarding(l), 1);
	/* nor does one that does not (only the owner's answer drops it) */
	loans_reconcile_begin(l, OWNER, 16);
	assert_int_equal(loans_reconcile_end(l, OWNER), 0);
	assert_int_equal(loans_forwarding(l), 1);
	/* a FREE of the old loan asks for a notice at once, flagged freed */
	assert_int_equal(loans_free(l, OWNER, &r, 1, 17), 0);
	assert_int_equal(loans_fwd_due(l, 17, n, 4), 1);
	assert_true(n[0].freed);
	loans_fwd_noticed(l, &n[0], -EIO, 30);
	assert_int_equal(loans_fwd_due(l, 30, n, 4), 1);
	assert_true(n[0].freed);
	loans_fwd_noticed(l, &n[0], 0, 0);
	assert_int_equal(loans_forwarding(l), 0);
	assert_int_equal(loans_pin(l, OWNER, r, 31, NULL), -ESTALE);
	finish(l, &s);
}

static void goodbye_and_expiry_drop_the_owners_records(void **state)
{
	struct store s;
	struct loans *l = make(&s, 0);
	struct loans_expired e[2];

	move(l, &s, lend1(l, &s, OWNER, 1, 0));
	move(l, &s, lend1(l, &s, OWNER, 2, 0));
	move(l, &s, lend1(l, &s, OTHER, 3, 0));
	lend1(l, &s, OTHER, 4, 0);
	assert_int_equal(loans_forwarding(l), 3);
	assert_int_equal(loans_free_owner(l, OWNER), 0);
	assert_int_equal(loans_forwarding(l), 1);
	assert_int_equal(loans_forwarding_to(l, OTHER), 1);
	/* OTHER goes silent: its loan and its record end with its lease */
	assert_int_equal(loans_expire(l, LEASE + 1, e, 2), 1);
	assert_int_equal(e[0].owner, OTHER);
	assert_int_equal(loans_forwarding(l), 0);
	assert_int_equal(loans_lent(l), 0);
	finish(l, &s);
}

static void a_full_forwarding_table_refuses_the_move(void **state)
{
	struct store s;
	struct loans *l = make(&s, 2);
	uint32_t owner, epoch;

	move(l, &s, lend1(l, &s, OWNER, 1, 0));
	assert_int_equal(loans_move_begin(l, 1 + 1, 100, &owner, &epoch),
			 -ESTALE);
	lend1(l, &s, OWNER, 2, 0);
	lend1(l, &s, OWNER, 3, 0);
	/* one record and one move under way fill a table of two */
	assert_int_equal(loans_move_begin(l, 2, 100, &owner, &epoch), 0);
	assert_int_equal(loans_move_begin(l, 3, 100, &owner, &epoch), -ENOSPC);
	assert_int_equal(loans_move_end(l, 2, NULL), 0);
	assert_int_equal(loans_move_begin(l, 3, 100, &owner, &epoch), 0);
	assert_int_equal(loans_move_end(l, 3, &there), 0);
	atomic_store(&s.out[3], false);
	assert_int_equal(loans_forwarding(l), 2);
	assert_int_equal(loans_free_owner(l, OWNER), 1);
	finish(l, &s);
}

static void a_handed_over_loan_is_the_owners_under_a_new_epoch(void **state)
{
	struct store s;
	struct loans *l = make(&s, 0);
	struct proto_block_ref r = lend1(l, &s, MOVER, 6, 0), mine;
	struct proto_block_ref missing[1];
	uint32_t epoch;

	assert_int_equal(loans_handover(l, MOVER, r, MOVER, 1, &epoch),
			 -EINVAL);
	assert_int_equal(loans_handover(l, OTHER, r, OWNER, 1, &epoch),
			 -ESTALE);
	assert_int_equal(loans_pin(l, MOVER, r, 1, NULL), 0);
	assert_int_equal(loans_handover(l, MOVER, r, OWNER, 1, &epoch), -EBUSY);
	assert_int_equal(loans_unpin(l, 6), 0);
	assert_int_equal(loans_handover(l, MOVER, r, OWNER, 2, &epoch), 0);
	assert_int_not_equal(epoch, r.epoch);
	mine = (struct proto_block_ref){6, epoch};
	assert_int_equal(loans_lent_to(l, MOVER), 0);
	assert_int_equal(loans_lent_to(l, OWNER), 1);
	/* the mover's old name of it is stale now */
	assert_int_equal(loans_pin(l, MOVER, r, 3, NULL), -ESTALE);
	/* a reconciliation by an owner that has not heard yet keeps it */
	loans_reconcile_begin(l, OWNER, 4);
	assert_int_equal(loans_reconcile_end(l, OWNER), 0);
	assert_int_equal(loans_lent_to(l, OWNER), 1);
	/* once the owner used it, one that does not claim it frees it */
	assert_int_equal(loans_pin(l, OWNER, mine, 5, NULL), 0);
	assert_int_equal(loans_unpin(l, 6), 0);
	loans_reconcile_begin(l, OWNER, 6);
	assert_int_equal(loans_reconcile_mark(l, OWNER, &mine, 1, missing, 6),
			 0);
	assert_int_equal(loans_reconcile_end(l, OWNER), 0);
	loans_reconcile_begin(l, OWNER, 7);
	assert_int_equal(loans_reconcile_end(l, OWNER), 1);
	assert_int_equal(atomic_load(&s.released), 1);
	finish(l, &s);
}

static void a_handed_over_loan_has_a_fresh_lease(void **state)
{
	struct store s;
	struct loans *l = make(&s, 0);
	struct proto_block_ref r = lend1(l, &s, MOVER, 6, 0);
	struct proto_block_ref old = lend1(l, &s, OWNER, 7, 0);
	struct loans_expired e[2];
	uint32_t epoch;

	/* the owner was last heard at 0; the handover comes at LEASE / 2 */
	assert_int_equal(loans_free(l, OWNER, &old, 1, 0), 1);
	assert_int_equal(loans_handover(l, MOVER, r, OWNER, LEASE / 2, &epoch),
			 0);
	assert_int_equal(loans_expire(l, LEASE + 1, e, 2), 0);
	assert_int_equal(loans_lent_to(l, OWNER), 1);
	/* a lease after the handover, it ends like any other */
	assert_int_equal(loans_expire(l, LEASE / 2 + LEASE + 1, e, 2), 1);
	assert_int_equal(e[0].owner, OWNER);
	assert_int_equal(e[0].blocks, 1);
	assert_int_equal(loans_lent(l), 0);
	finish(l, &s);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(a_moved_loan_answers_where_it_went),
		cmocka_unit_test(a_move_waits_for_the_access_in_flight),
		cmocka_unit_test(a_move_gives_up_on_a_block_held_too_long),
		cmocka_unit_test(
			a_loan_freed_while_it_moves_becomes_a_freed_record),
		cmocka_unit_test(
			a_record_stays_until_the_owner_answers_a_notice),
		cmocka_unit_test(goodbye_and_expiry_drop_the_owners_records),
		cmocka_unit_test(a_full_forwarding_table_refuses_the_move),
		cmocka_unit_test(
			a_handed_over_loan_is_the_owners_under_a_new_epoch),
		cmocka_unit_test(a_handed_over_loan_has_a_fresh_lease),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
