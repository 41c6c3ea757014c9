// SPDX-License-Identifier: MIT
/*
 * The loan table's journal and kept loans (pool/loans.c, loans.h): the
 * journal a store that keeps its loans writes down (cmp-memserver
 * --store) must say who holds every block after every change (lend, free,
 * a pinned free, goodbye, lease expiry, reconciliation, a move on, a
 * handover and its first use) before the call that made the change
 * returns; and loans_restore() puts a kept loan back as it was: same
 * owner and epoch, a lease that starts now, judged by a reconciliation
 * like any other.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <errno.h>
#include <stdbool.h>
#include <string.h>

#include <cmocka.h>

#include "loans.h"

#define NB 32
#define SEC 1000000000ull
#define LEASE (10 * SEC)

/* What the journal says, per block; and the blocks the store has out. */
struct journal {
	uint32_t owner[NB], epoch[NB];
	bool handed[NB];
	bool out[NB];
	unsigned int calls;
};

static void release(void *ctx, const uint32_t *idx, uint32_t n)
{
	struct journal *j = ctx;

	for (uint32_t i = 0; i < n; i++)
		j->out[idx[i]] = false;
}

static void journal(void *ctx, uint32_t idx, uint32_t owner, uint32_t epoch,
		    bool handed)
{
	struct journal *j = ctx;

	assert_true(idx < NB);
	j->owner[idx] = owner;
	j->epoch[idx] = owner ? epoch : 0;
	j->handed[idx] = handed;
	j->calls++;
}

static struct loans *make(struct journal *j)
{
	struct loans *l;

	memset(j, 0, sizeof(*j));
	l = loans_create(&(struct loans_config){
		.nblocks = NB,
		.max_owners = 4,
		.lease_ns = LEASE,
		.release = release,
		.journal = journal,
		.ctx = j,
	});
	assert_non_null(l);
	return l;
}

/* The journal says exactly what the table holds (no move under way). */
static void journal_matches(struct loans *l, struct journal *j)
{
	for (uint32_t i = 0; i < NB; i++) {
		uint32_t owner = 0, epoch = 0;

		if (!loans_holder(l, i, &owner, &epoch))
			owner = epoch = 0;
		if (j->owner[i] != owner || j->epoch[i] != epoch)
			fail_msg("block %u: journal says owner %u epoch %u, "
				 "the table %u/%u",
				 i, j->owner[i], j->epoch[i], owner, epoch);
	}
}

static void lend(struct loans *l, struct journal *j, uint32_t owner,
		 uint32_t first, uint32_t n, struct proto_block_ref *refs,
		 uint64_t now)
{
	uint32_t idx[NB], ep[NB];

	for (uint32_t i = 0; i < n; i++) {
		idx[i] = first + i;
		j->out[first + i] = true;
	}
	assert_int_equal(loans_lend(l, owner, idx, n, ep, now), 0);
	for (uint32_t i = 0; i < n; i++)
		refs[i] = (struct proto_block_ref){idx[i], ep[i]};
}

static void every_loan_and_its_end_is_journaled(void **state)
{
	struct journal j;
	struct loans *l = make(&j);
	struct proto_block_ref a[4], b[2], c;
	struct loans_expired e[4];

	lend(l, &j, 7, 0, 4, a, 0);
	lend(l, &j, 8, 10, 2, b, 0);
	journal_matches(l, &j);
	assert_int_equal(j.owner[2], 7);
	assert_int_equal(j.epoch[11], b[1].epoch);
	/* a FREE */
	assert_int_equal(loans_free(l, 7, &a[0], 1, SEC), 1);
	journal_matches(l, &j);
	/* a FREE of a pinned block: not the owner's from the FREE on */
	assert_int_equal(loans_pin(l, 7, a[1], SEC, NULL), 0);
	assert_int_equal(loans_free(l, 7, &a[1], 1, SEC), 1);
	assert_int_equal(j.owner[1], 0);
	assert_true(j.out[1]);
	assert_int_equal(loans_unpin(l, 1), -ESTALE);
	journal_matches(l, &j);
	/* a reconciliation that does not claim a[3] */
	loans_reconcile_begin(l, 7, SEC);
	loans_reconcile_mark(l, 7, &a[2], 1, &c, SEC);
	assert_int_equal(loans_reconcile_end(l, 7), 1);
	assert_int_equal(j.owner[3], 0);
	assert_int_equal(j.owner[2], 7);
	journal_matches(l, &j);
	/* goodbye */
	assert_int_equal(loans_free_owner(l, 7), 1);
	journal_matches(l, &j);
	/* a lease */
	lend(l, &j, 9, 20, 1, &c, 0);
	loans_touch(l, 8, 2 * LEASE);
	assert_int_equal(loans_expire(l, 2 * LEASE, e, 4), 1);
	assert_int_equal(e[0].owner, 9);
	assert_int_equal(j.owner[20], 0);
	assert_int_equal(j.owner[10], 8);
	journal_matches(l, &j);
	loans_destroy(l);
}

static void a_handover_and_a_move_on_are_journaled(void **state)
{
	struct journal j;
	struct loans *l = make(&j);
	struct proto_block_ref r, m;
	struct peer_loan to = {.node = 50, .block = 3, .epoch = 4};
	uint32_t ep, owner, epoch;

	/* mover 7 borrowed block 5 and hands it over to owner 8 */
	lend(l, &j, 7, 5, 1, &r, 0);
	assert_int_equal(loans_handover(l, 7, r, 8, SEC, &ep), 0);
	assert_int_equal(j.owner[5], 8);
	assert_int_equal(j.epoch[5], ep);
	assert_true(j.handed[5]);
	/* the owner's first use: a reconciliation may judge it from now on */
	assert_int_equal(
		loans_pin(l, 8, (struct proto_block_ref){5, ep}, SEC, NULL), 0);
	assert_false(j.handed[5]);
	loans_unpin(l, 5);
	journal_matches(l, &j);
	/* block 6 moves on: lent while it moves, then nobody's here */
	lend(l, &j, 9, 6, 1, &m, 0);
	assert_int_equal(loans_move_begin(l, 6, 100, &owner, &epoch), 0);
	assert_int_equal(j.owner[6], 9);
	assert_int_equal(loans_move_end(l, 6, &to), 0);
	assert_int_equal(j.owner[6], 0);
	journal_matches(l, &j);
	loans_destroy(l);
}

static void a_restored_loan_is_the_loan_it_was(void **state)
{
	struct journal j;
	struct loans *l = make(&j);
	struct proto_block_ref kept = {4, 777}, gone = {9, 778}, miss;
	struct loans_expired e[4];
	unsigned int calls;

	assert_int_equal(loans_restore(l, 7, 4, 777, false, 5 * SEC), 0);
	assert_int_equal(loans_restore(l, 7, 9, 778, true, 5 * SEC), 0);
	assert_int_equal(loans_restore(l, 8, 12, 779, false, 5 * SEC), 0);
	/* it came from the journal: not written there again */
	assert_int_equal(j.calls, 0);
	assert_int_equal(loans_lent(l), 3);
	assert_int_equal(loans_lent_to(l, 7), 2);
	/* the owner's old ref works; another epoch or owner does not */
	assert_int_equal(loans_pin(l, 7, kept, 5 * SEC, NULL), 0);
	loans_unpin(l, 4);
	assert_int_equal(loans_pin(l, 7, (struct proto_block_ref){4, 776},
				   5 * SEC, NULL),
			 -ESTALE);
	assert_int_equal(loans_pin(l, 8, kept, 5 * SEC, NULL), -ESTALE);
	/* refused: lent already, out of range, owner or epoch 0 */
	assert_int_equal(loans_restore(l, 9, 4, 1, false, 0), -EINVAL);
	assert_int_equal(loans_restore(l, 9, NB, 1, false, 0), -EINVAL);
	assert_int_equal(loans_restore(l, 0, 5, 1, false, 0), -EINVAL);
	assert_int_equal(loans_restore(l, 9, 5, 0, false, 0), -EINVAL);
	/* handed: kept by a reconciliation that does not list it */
	calls = j.calls;
	loans_reconcile_begin(l, 7, 6 * SEC);
	assert_int_equal(loans_reconcile_mark(l, 7, &kept, 1, &miss, 6 * SEC),
			 0);
	assert_int_equal(loans_reconcile_end(l, 7), 0);
	assert_int_equal(loans_pin(l, 7, gone, 6 * SEC, NULL), 0);
	loans_unpin(l, 9);
	assert_true(j.calls > calls); /* its first use: no longer handed */
	/* the lease counts from the restore: owner 8 silent since 5 s */
	loans_touch(l, 7, 5 * SEC + LEASE);
	assert_int_equal(loans_expire(l, 5 * SEC + LEASE, e, 4), 0);
	assert_int_equal(loans_expire(l, 6 * SEC + LEASE, e, 4), 1);
	assert_int_equal(e[0].owner, 8);
	assert_int_equal(j.owner[12], 0);
	loans_destroy(l);
}

static void a_full_owner_table_refuses_a_restore(void **state)
{
	struct journal j;
	struct loans *l = make(&j);

	for (uint32_t o = 1; o <= 4; o++)
		assert_int_equal(loans_restore(l, o, o, 100 + o, false, 0), 0);
	assert_int_equal(loans_restore(l, 5, 5, 105, false, 0), -ENOSPC);
	assert_int_equal(loans_lent(l), 4);
	loans_destroy(l);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(every_loan_and_its_end_is_journaled),
		cmocka_unit_test(a_handover_and_a_move_on_are_journaled),
		cmocka_unit_test(a_restored_loan_is_the_loan_it_was),
		cmocka_unit_test(a_full_owner_table_refuses_a_restore),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
