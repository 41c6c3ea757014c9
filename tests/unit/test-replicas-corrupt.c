// SPDX-License-Identifier: MIT
/*
 * Corrupt copies (issue 11), through a real pool on the fake cluster of
 * test-replicas.c (replica-fixture.h): a copy whose provider answers
 * CORRUPT is dropped and made again from a good one, a scrub finds a bad
 * copy no read picked, and with one copy a corrupt block reads EIO, never
 * other bytes. Every wait polls a condition with a deadline.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "replica-fixture.h"

static void set_bad(struct t *t, const struct pool_ref *r, bool bad)
{
	pthread_mutex_lock(&t->f.lock);
	fake_prov(&t->f, r->node)->bad[r->block] = bad;
	pthread_mutex_unlock(&t->f.lock);
}

static bool holds(struct t *t, size_t i, const struct pool_ref *r)
{
	struct pool_ref c[POOL_MAX_SLOTS];
	uint32_t n = copies_of(t, i, c);

	for (uint32_t k = 0; k < n; k++)
		if (pool_ref_equal(&c[k], r))
			return true;
	return false;
}

static void a_corrupt_copy_is_dropped_and_made_again(void **state)
{
	struct t *t = make(1, 2, 60000);
	struct pool_ref c[POOL_MAX_SLOTS];
	size_t i;

	add_blocks(t, 2);
	i = first_remote(t);
	assert_int_equal(copies_of(t, i, c), 2);
	/* each copy in turn, the other read first: never other data */
	for (int round = 0; round < 2; round++) {
		const struct pool_ref bad = c[round ? 1 : 0];

		set_bad(t, &bad, true);
		for (int r = 0; r < 200 && holds(t, i, &bad); r++)
			check_read(t, i);
		assert_false(holds(t, i, &bad));
		assert_int_equal(counts(t).rc.repaired, (uint64_t)round + 1);
		assert_true(wait_for(all_whole, t, DEADLINE_MS));
		check_read(t, i);
		if (!round) {
			/* the copy made again and the one that stayed */
			assert_int_equal(copies_of(t, i, c), 2);
			if (pool_ref_equal(&c[1], &bad) ||
			    !holds(t, i, &c[0]) || !holds(t, i, &c[1]))
				fail_msg("the corrupt copy is still held");
		}
	}
	assert_int_equal(counts(t).lost, 0);
	destroy(t);
	(void)state;
}

static void a_scrub_finds_a_corrupt_copy_no_read_picked(void **state)
{
	struct t *t = make(1, 2, 60000);
	struct pool_ref c[POOL_MAX_SLOTS];
	uint64_t checked, corrupt;
	size_t i;

	add_blocks(t, 3);
	i = first_remote(t);
	assert_int_equal(copies_of(t, i, c), 2);
	set_bad(t, &c[1], true);
	assert_int_equal(pool_scrub(t->p, &checked, &corrupt), 0);
	assert_true(checked >= 2);
	assert_int_equal(corrupt, 1);
	assert_int_equal(counts(t).rc.repaired, 1);
	assert_false(holds(t, i, &c[1]));
	assert_true(wait_for(all_whole, t, DEADLINE_MS));
	/* the copy made again is good: a second scrub finds nothing */
	assert_int_equal(pool_scrub(t->p, &checked, &corrupt), 0);
	assert_int_equal(corrupt, 0);
	assert_int_equal(counts(t).rc.scrubbed, 2 * checked);
	/* both bad: kept, reads fail, nothing dropped */
	assert_int_equal(copies_of(t, i, c), 2);
	set_bad(t, &c[0], true);
	set_bad(t, &c[1], true);
	assert_int_equal(pool_scrub(t->p, &checked, &corrupt), 0);
	assert_int_equal(corrupt, 2);
	assert_int_equal(copies_of(t, i, c), 2);
	assert_int_equal(counts(t).rc.repaired, 1);
	destroy(t);
	(void)state;
}

static void with_one_copy_a_corrupt_block_reads_eio(void **state)
{
	struct t *t = make(1, 1, 60000);
	struct pool_ref c[POOL_MAX_SLOTS];
	uint8_t buf[FBS];
	size_t i;

	add_blocks(t, 2);
	i = first_remote(t);
	assert_int_equal(copies_of(t, i, c), 1);
	set_bad(t, &c[0], true);
	assert_int_equal(pool_read(t->p, t->h[i], 0, buf, FBS), -EIO);
	/* kept: the only copy; good again once rewritten whole */
	assert_true(holds(t, i, &c[0]));
	assert_int_equal(counts(t).rc.repaired, 0);
	write_seed(t, i, 77);
	check_read(t, i);
	destroy(t);
	(void)state;
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(a_corrupt_copy_is_dropped_and_made_again),
		cmocka_unit_test(with_one_copy_a_corrupt_block_reads_eio),
		cmocka_unit_test(a_scrub_finds_a_corrupt_copy_no_read_picked),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
