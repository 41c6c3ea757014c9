// SPDX-License-Identifier: MIT
/*
 * The loan table (pool/loans.c): epochs, pins that defer a free, leases,
 * goodbye, reconciliation, and a threaded check that no block is ever
 * given back to the store while an access holds it.
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

#include "loans.h"

#define NB 64
#define SEC 1000000000ull
#define LEASE (10 * SEC)

/* The store: which blocks are out, and every release checked. */
struct store {
	bool out[NB];	     /* __atomic: released from any thread */
	atomic_int held[NB]; /* accesses in progress (threaded test) */
	atomic_uint released;
	atomic_uint violations; /* released while held, or twice */
};

/* Runs on whichever thread ended the loan: counts, never asserts there. */
static void release(void *ctx, const uint32_t *idx, uint32_t n)
{
	struct store *s = ctx;

	if (n < 1 || n > LOANS_RELEASE_CHUNK)
		atomic_fetch_add(&s->violations, 1);
	for (uint32_t i = 0; i < n; i++) {
		if (idx[i] >= NB) {
			atomic_fetch_add(&s->violations, 1);
			continue;
		}
		if (!__atomic_load_n(&s->out[idx[i]], __ATOMIC_ACQUIRE) ||
		    atomic_load(&s->held[idx[i]]) != 0)
			atomic_fetch_add(&s->violations, 1);
		__atomic_store_n(&s->out[idx[i]], false, __ATOMIC_RELEASE);
		atomic_fetch_add(&s->released, 1);
	}
}

static struct loans *make(struct store *s)
{
	struct loans_config cfg = {
		.nblocks = NB,
		.max_owners = 4,
		.lease_ns = LEASE,
		.first_epoch = 100,
		.release = release,
		.ctx = s,
	};
	struct loans *l = loans_create(&cfg);

	memset(s, 0, sizeof(*s));
	assert_non_null(l);
	return l;
}

static void finish(struct loans *l, struct store *s)
{
	assert_int_equal(atomic_load(&s->violations), 0);
	loans_destroy(l);
}

/* Takes blocks first..first+n-1 from the store and lends them. */
static void lend(struct loans *l, struct store *s, uint32_t owner,
		 uint32_t first, uint32_t n, struct proto_block_ref *refs,
		 uint64_t now)
{
	uint32_t idx[NB], ep[NB];

	for (uint32_t i = 0; i < n; i++) {
		idx[i] = first + i;
		s->out[first + i] = true;
	}
	assert_int_equal(loans_lend(l, owner, idx, n, ep, now), 0);
	for (uint32_t i = 0; i < n; i++)
		refs[i] = (struct proto_block_ref){idx[i], ep[i]};
}

static void epochs_are_distinct_and_never_zero(void **state)
{
	struct loans_config cfg = {.nblocks = NB,
				   .first_epoch = UINT32_MAX - 1};
	struct store s;
	struct proto_block_ref r[4];
	struct loans *l;

	cfg.release = release;
	cfg.ctx = &s;
	memset(&s, 0, sizeof(s));
	l = loans_create(&cfg);
	assert_non_null(l);
	lend(l, &s, 7, 0, 4, r, 0);
	for (int i = 0; i < 4; i++) {
		assert_int_not_equal(r[i].epoch, 0);
		for (int j = 0; j < i; j++)
			assert_int_not_equal(r[i].epoch, r[j].epoch);
	}
	finish(l, &s);
}

static void only_the_owner_with_the_epoch_can_pin(void **state)
{
	struct store s;
	struct loans *l = make(&s);
	struct proto_block_ref r;

	lend(l, &s, 7, 3, 1, &r, 0);
	assert_int_equal(loans_pin(l, 7, r, 0, NULL), 0);
	assert_int_equal(loans_unpin(l, r.block), 0);
	assert_int_equal(loans_pin(l, 8, r, 0, NULL), -ESTALE);
	assert_int_equal(loans_pin(l, 7,
				   (struct proto_block_ref){3, r.epoch + 1}, 0,
				   NULL),
			 -ESTALE);
	assert_int_equal(
		loans_pin(l, 7, (struct proto_block_ref){4, r.epoch}, 0, NULL),
		-ESTALE);
	assert_int_equal(
		loans_pin(l, 7, (struct proto_block_ref){NB, r.epoch}, 0, NULL),
		-ENOENT);
	finish(l, &s);
}

static void free_of_a_pinned_block_waits_for_the_last_unpin(void **state)
{
	struct store s;
	struct loans *l = make(&s);
	struct proto_block_ref r;

	lend(l, &s, 7, 5, 1, &r, 0);
	assert_int_equal(loans_pin(l, 7, r, 0, NULL), 0);
	assert_int_equal(loans_pin(l, 7, r, 0, NULL), 0);
	assert_int_equal(loans_free(l, 7, &r, 1, 0), 1);
	assert_true(s.out[5]);
	/* ended: no new access gets in */
	assert_int_equal(loans_pin(l, 7, r, 0, NULL), -ESTALE);
	assert_int_equal(loans_lent_to(l, 7), 0);
	/* each access that held it learns its loan ended meanwhile */
	assert_int_equal(loans_unpin(l, 5), -ESTALE);
	assert_true(s.out[5]);
	assert_int_equal(loans_unpin(l, 5), -ESTALE);
	assert_false(s.out[5]);
	assert_int_equal(s.released, 1);
	assert_int_equal(loans_lent(l), 0);
	finish(l, &s);
}

static void a_relent_block_has_a_new_epoch_and_the_old_is_stale(void **state)
{
	struct store s;
	struct loans *l = make(&s);
	struct proto_block_ref a, b;

	lend(l, &s, 7, 2, 1, &a, 0);
	assert_int_equal(loans_free(l, 7, &a, 1, 0), 1);
	lend(l, &s, 9, 2, 1, &b, 0);
	assert_int_not_equal(a.epoch, b.epoch);
	/* the old owner, even with the new owner's epoch, gets nothing */
	assert_int_equal(loans_pin(l, 7, a, 0, NULL), -ESTALE);
	assert_int_equal(loans_pin(l, 7, b, 0, NULL), -ESTALE);
	/* a retried FREE of the old loan does not end the new one */
	assert_int_equal(loans_free(l, 7, &a, 1, 0), 0);
	assert_int_equal(loans_pin(l, 9, b, 0, NULL), 0);
	loans_unpin(l, 2);
	finish(l, &s);
}

static void lending_a_block_already_lent_is_refused(void **state)
{
	struct store s;
	struct loans *l = make(&s);
	struct proto_block_ref r;
	uint32_t idx = 1, ep;

	lend(l, &s, 7, 1, 1, &r, 0);
	assert_int_equal(loans_lend(l, 8, &idx, 1, &ep, 0), -EINVAL);
	idx = NB;
	assert_int_equal(loans_lend(l, 8, &idx, 1, &ep, 0), -EINVAL);
	idx = 2;
	assert_int_equal(loans_lend(l, 0, &idx, 1, &ep, 0), -EINVAL);
	finish(l, &s);
}

static void goodbye_ends_only_that_owners_loans(void **state)
{
	struct store s;
	struct loans *l = make(&s);
	struct proto_block_ref a[3], b[2];

	lend(l, &s, 7, 0, 3, a, 0);
	lend(l, &s, 8, 10, 2, b, 0);
	assert_int_equal(loans_pin(l, 7, a[1], 0, NULL), 0);
	assert_int_equal(loans_free_owner(l, 7), 3);
	assert_int_equal(s.released, 2);
	assert_true(s.out[1]); /* pinned: released at the unpin */
	loans_unpin(l, 1);
	assert_int_equal(s.released, 3);
	assert_int_equal(loans_lent_to(l, 8), 2);
	assert_int_equal(loans_pin(l, 8, b[0], 0, NULL), 0);
	loans_unpin(l, b[0].block);
	finish(l, &s);
}

static void a_lease_ends_only_after_silence(void **state)
{
	struct store s;
	struct loans *l = make(&s);
	struct loans_expired e[4];
	struct proto_block_ref a[2], b;

	lend(l, &s, 7, 0, 2, a, 0);
	lend(l, &s, 8, 5, 1, &b, 0);
	assert_int_equal(loans_expire(l, LEASE, e, 4), 0);
	/* 7 is heard from (an access) and 8 keeps alive (a ping) */
	assert_int_equal(loans_pin(l, 7, a[0], LEASE - SEC, NULL), 0);
	loans_unpin(l, 0);
	loans_touch(l, 8, LEASE);
	assert_int_equal(loans_expire(l, LEASE + 2 * SEC, e, 4), 0);
	/* then 7 falls silent; 8 keeps talking */
	loans_touch(l, 8, 2 * LEASE);
	assert_int_equal(loans_expire(l, 2 * LEASE, e, 4), 1);
	assert_int_equal(e[0].owner, 7);
	assert_int_equal(e[0].blocks, 2);
	assert_true(e[0].silent_ns > LEASE);
	assert_false(s.out[0]);
	assert_false(s.out[1]);
	assert_true(s.out[5]);
	assert_int_equal(loans_pin(l, 7, a[1], 2 * LEASE, NULL), -ESTALE);
	finish(l, &s);
}

static void silent_owners_without_loans_are_forgotten(void **state)
{
	struct store s;
	struct loans *l = make(&s);
	struct loans_expired e[4];
	struct proto_block_ref r[4];
	uint32_t idx = 20, ep;

	/* four owners fill the table (max_owners = 4) */
	for (uint32_t o = 1; o <= 4; o++)
		lend(l, &s, o, o, 1, &r[o - 1], 0);
	s.out[20] = true;
	assert_int_equal(loans_lend(l, 5, &idx, 1, &ep, 0), -ENOSPC);
	for (uint32_t o = 1; o <= 4; o++)
		assert_int_equal(loans_free(l, o, &r[o - 1], 1, 0), 1);
	/* owners with nothing lent are forgotten once silent a lease */
	assert_int_equal(loans_expire(l, 2 * LEASE, e, 4), 0);
	assert_int_equal(loans_lend(l, 5, &idx, 1, &ep, 2 * LEASE), 0);
	finish(l, &s);
}

static void reconcile_frees_unclaimed_loans_and_names_missing_ones(void **state)
{
	struct store s;
	struct loans *l = make(&s);
	struct proto_block_ref r[4], claim[3], missing[3], late;

	lend(l, &s, 7, 0, 4, r, 0);
	claim[0] = r[0];
	claim[1] = r[2];
	claim[2] = (struct proto_block_ref){9, 12345}; /* the owner thinks so */
	loans_reconcile_begin(l, 7, SEC);
	assert_int_equal(loans_reconcile_mark(l, 7, claim, 3, missing, SEC), 1);
	assert_int_equal(missing[0].block, 9);
	/* a loan made during the reconciliation is not an orphan */
	lend(l, &s, 7, 30, 1, &late, SEC);
	assert_int_equal(loans_reconcile_end(l, 7), 2);
	assert_false(s.out[1]);
	assert_false(s.out[3]);
	assert_int_equal(loans_pin(l, 7, r[0], SEC, NULL), 0);
	loans_unpin(l, 0);
	assert_int_equal(loans_pin(l, 7, late, SEC, NULL), 0);
	loans_unpin(l, 30);
	/* an end without a begin frees nothing */
	assert_int_equal(loans_reconcile_end(l, 7), 0);
	assert_int_equal(loans_lent_to(l, 7), 3);
	finish(l, &s);
}

static void pin_many_is_all_or_nothing(void **state)
{
	struct store s;
	struct loans *l = make(&s);
	struct proto_block_ref r[3];
	uint32_t bad = 99;

	lend(l, &s, 7, 0, 3, r, 0);
	r[2].epoch++;
	assert_int_equal(loans_pin_many(l, 7, r, 3, 0, &bad, NULL), -ESTALE);
	assert_int_equal(bad, 2);
	/* nothing stayed pinned: a free ends them at once */
	r[2].epoch--;
	assert_int_equal(loans_free(l, 7, r, 3, 0), 3);
	assert_int_equal(s.released, 3);
	finish(l, &s);
}

/* ---- threads: accesses race frees, expiries and re-lending ---- */

struct race {
	struct loans *l;
	struct store *s;
	pthread_mutex_t lock; /* the shadow of who holds which block */
	struct proto_block_ref cur[NB];
	uint32_t owner[NB];
	atomic_bool stop;
	atomic_uint pins;
};

static void *accessor(void *arg)
{
	struct race *r = arg;
	unsigned int seed = 1;

	while (!atomic_load(&r->stop)) {
		uint32_t b = (uint32_t)rand_r(&seed) % NB, owner;
		struct proto_block_ref ref;

		pthread_mutex_lock(&r->lock);
		ref = r->cur[b];
		owner = r->owner[b];
		pthread_mutex_unlock(&r->lock);
		if (!owner || loans_pin(r->l, owner, ref, 0, NULL))
			continue;
		atomic_fetch_add(&r->s->held[b], 1);
		atomic_fetch_add(&r->pins, 1);
		for (volatile int i = 0; i < 50; i++)
			;
		atomic_fetch_sub(&r->s->held[b], 1);
		loans_unpin(r->l, b);
	}
	return NULL;
}

/*
 * Frees and re-lends blocks as fast as it can, to owners 1 and 2, until
 * the accessors got in `want` times (bounded: 10 s).
 */
static void churn(struct race *r, unsigned int want)
{
	struct timespec t0, t;
	unsigned int seed = 7;

	clock_gettime(CLOCK_MONOTONIC, &t0);
	for (int i = 0;; i++) {
		uint32_t b = (uint32_t)rand_r(&seed) % NB, ep;
		uint32_t owner = 1 + (uint32_t)(i & 1);

		pthread_mutex_lock(&r->lock);
		if (r->owner[b]) {
			if (i % 7 == 0)
				loans_free_owner(r->l, r->owner[b]);
			else
				loans_free(r->l, r->owner[b], &r->cur[b], 1, 0);
			r->owner[b] = 0;
		}
		/* wait until the store has it back (last unpin) */
		pthread_mutex_unlock(&r->lock);
		while (__atomic_load_n(&r->s->out[b], __ATOMIC_ACQUIRE)) {
			clock_gettime(CLOCK_MONOTONIC, &t);
			assert_true(t.tv_sec - t0.tv_sec < 20);
		}
		pthread_mutex_lock(&r->lock);
		__atomic_store_n(&r->s->out[b], true, __ATOMIC_RELEASE);
		assert_int_equal(loans_lend(r->l, owner, &b, 1, &ep, 0), 0);
		r->cur[b] = (struct proto_block_ref){b, ep};
		r->owner[b] = owner;
		pthread_mutex_unlock(&r->lock);
		if (i % 1024)
			continue;
		clock_gettime(CLOCK_MONOTONIC, &t);
		if (atomic_load(&r->pins) >= want || t.tv_sec - t0.tv_sec > 10)
			return;
	}
}

static void no_block_is_released_while_an_access_holds_it(void **state)
{
	struct store s;
	struct race r = {.s = &s};
	pthread_t t[3];

	r.l = make(&s);
	pthread_mutex_init(&r.lock, NULL);
	for (int i = 0; i < 3; i++)
		assert_int_equal(pthread_create(&t[i], NULL, accessor, &r), 0);
	churn(&r, 100000);
	atomic_store(&r.stop, true);
	for (int i = 0; i < 3; i++)
		pthread_join(t[i], NULL);
	/* the accessors did get in, and release() checked every end */
	assert_true(atomic_load(&r.pins) >= 100000);
	assert_true(atomic_load(&s.released) > 0);
	assert_int_equal(atomic_load(&s.violations), 0);
	pthread_mutex_destroy(&r.lock);
	finish(r.l, &s);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(epochs_are_distinct_and_never_zero),
		cmocka_unit_test(only_the_owner_with_the_epoch_can_pin),
		cmocka_unit_test(
			free_of_a_pinned_block_waits_for_the_last_unpin),
		cmocka_unit_test(
			a_relent_block_has_a_new_epoch_and_the_old_is_stale),
		cmocka_unit_test(lending_a_block_already_lent_is_refused),
		cmocka_unit_test(goodbye_ends_only_that_owners_loans),
		cmocka_unit_test(a_lease_ends_only_after_silence),
		cmocka_unit_test(silent_owners_without_loans_are_forgotten),
		cmocka_unit_test(
			reconcile_frees_unclaimed_loans_and_names_missing_ones),
		cmocka_unit_test(pin_many_is_all_or_nothing),
		cmocka_unit_test(no_block_is_released_while_an_access_holds_it),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
