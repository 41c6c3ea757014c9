// SPDX-License-Identifier: MIT
/*
 * Principle 5, forwarding, through the real pools, clusters and manager
 * of the three-node fixture (cmp3-fixture.h) over mem://: A lends all its
 * memory to B, C has idle memory again, and A needs a block of its own,
 * so it moves one of B's blocks on to C (principle 3). B must find its
 * block however it learns of the move: from A's notice, or, when the
 * notice is lost or races B's request, from A's MOVED answer; also when
 * the block moved twice; also when B freed the block before it heard.
 * A's forwarding record (RRL) must go once B confirmed or freed it, and
 * no byte B wrote may be lost, whatever raced what; also when A leaves
 * while B writes the blocks it moves.
 *
 * Notices are lost on purpose by wrapping remote_notice() (the mover's
 * only way to send one): while drop_notices is set it fails as if the
 * owner were unreachable. remote_handover() is wrapped to hold a move
 * between its copy and its handover until a request of B's met the
 * moving block (BUSY, seen by wrapping remote_read() and remote_write()),
 * so that race happens every run.
 */
#include <errno.h>
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "cmp/log.h"
#include "cmp/pool.h"
#include "cmp/util.h"
#include "cmp3-fixture.h"
#include "remote.h"

static atomic_bool drop_notices, hold_handover;
static atomic_uint notices_dropped, busy_seen;

int __real_remote_notice(struct remote *r, uint32_t node,
			 const struct proto_block_moved *mv);
int __wrap_remote_notice(struct remote *r, uint32_t node,
			 const struct proto_block_moved *mv);
int __real_remote_handover(struct remote *r, uint32_t node,
			   struct proto_block_ref ref, uint32_t owner,
			   uint32_t *epoch);
int __wrap_remote_handover(struct remote *r, uint32_t node,
			   struct proto_block_ref ref, uint32_t owner,
			   uint32_t *epoch);
int __real_remote_read(struct remote *r, uint32_t node,
		       struct proto_block_ref ref, uint32_t off, void *dst,
		       uint32_t len, struct proto_block_moved *moved);
int __wrap_remote_read(struct remote *r, uint32_t node,
		       struct proto_block_ref ref, uint32_t off, void *dst,
		       uint32_t len, struct proto_block_moved *moved);
int __real_remote_write(struct remote *r, uint32_t node,
			struct proto_block_ref ref, uint32_t off,
			const void *src, uint32_t len,
			struct proto_block_moved *moved);
int __wrap_remote_write(struct remote *r, uint32_t node,
			struct proto_block_ref ref, uint32_t off,
			const void *src, uint32_t len,
			struct proto_block_moved *moved);

int __wrap_remote_notice(struct remote *r, uint32_t node,
			 const struct proto_block_moved *mv)
{
	if (atomic_load(&drop_notices)) {
		atomic_fetch_add(&notices_dropped, 1);
		return -EIO;
	}
	return __real_remote_notice(r, node, mv);
}

int __wrap_remote_handover(struct remote *r, uint32_t node,
			   struct proto_block_ref ref, uint32_t owner,
			   uint32_t *epoch)
{
	uint64_t end = deadline();

	/* the block is MOVING now: wait until the owner ran into it */
	while (atomic_load(&hold_handover) && !atomic_load(&busy_seen) &&
	       cmp_now_ns() < end)
		pause_a_bit();
	return __real_remote_handover(r, node, ref, owner, epoch);
}

int __wrap_remote_write(struct remote *r, uint32_t node,
			struct proto_block_ref ref, uint32_t off,
			const void *src, uint32_t len,
			struct proto_block_moved *moved)
{
	int ret = __real_remote_write(r, node, ref, off, src, len, moved);

	if (ret == -EBUSY)
		atomic_fetch_add(&busy_seen, 1);
	return ret;
}

int __wrap_remote_read(struct remote *r, uint32_t node,
		       struct proto_block_ref ref, uint32_t off, void *dst,
		       uint32_t len, struct proto_block_moved *moved)
{
	int ret = __real_remote_read(r, node, ref, off, dst, len, moved);

	if (ret == -EBUSY)
		atomic_fetch_add(&busy_seen, 1);
	return ret;
}

static int reset(void **state)
{
	atomic_store(&drop_notices, false);
	atomic_store(&hold_handover, false);
	atomic_store(&notices_dropped, 0);
	atomic_store(&busy_seen, 0);
	return setup(state);
}

static uint64_t count_of(struct cmp3 *t, int n, enum pool_list l)
{
	struct pool_counts pc;

	pool_get_counts(t->pool[n], &pc);
	return pc.blocks[l];
}

static uint64_t followed(struct cmp3 *t, int n)
{
	struct pool_counts pc;

	pool_get_counts(t->pool[n], &pc);
	return pc.followed;
}

/*
 * A lends all four blocks to B (B's blocks 0..3 live on A), C is full,
 * then C frees two: A's next allocation moves B's block 0 on to C.
 */
static void a_lends_everything_to_b(struct cmp3 *t)
{
	for (int i = 0; i < 4; i++)
		assert_int_equal(alloc_on(t, C), 0);
	for (int i = 0; i < 8; i++)
		assert_int_equal(alloc_on(t, B), 0);
	free_on(t, C, 3);
	free_on(t, C, 2);
	expect(t, "A lends all it has to B", L(0, 0, 0, 4), L(0, 4, 4, 0),
	       L(2, 2, 0, 0));
	sync_manager(t);
}

/* A takes a block of its own: B's block 0 moves on to C. */
static void a_moves_one_of_bs_blocks_to_c(struct cmp3 *t)
{
	struct pool_counts pc;

	assert_int_equal(alloc_on(t, A), 0);
	pool_get_counts(t->pool[A], &pc);
	assert_int_equal(pc.lent_moved, 1);
	assert_int_equal(pc.blocks[POOL_RLL], 3);
	assert_int_equal(count_of(t, C, POOL_RLL), 1);
}

static void wait_dropped(unsigned int n)
{
	uint64_t end = deadline();

	while (atomic_load(&notices_dropped) < n) {
		if (cmp_now_ns() > end)
			fail_msg("only %u notices were sent, want %u",
				 atomic_load(&notices_dropped), n);
		pause_a_bit();
	}
}

static void wait_followed(struct cmp3 *t, int n, uint64_t want)
{
	uint64_t end = deadline();

	while (followed(t, n) != want) {
		if (cmp_now_ns() > end)
			fail_msg("node %c followed %lu moves, want %lu",
				 node_name[n], (unsigned long)followed(t, n),
				 (unsigned long)want);
		pause_a_bit();
	}
}

static void a_lost_notice_is_no_loss_the_owner_asks_and_follows(void **state)
{
	struct cmp3 *t = *state;

	a_lends_everything_to_b(t);
	atomic_store(&drop_notices, true);
	a_moves_one_of_bs_blocks_to_c(t);
	wait_dropped(1);
	assert_int_equal(count_of(t, A, POOL_RRL), 1);
	assert_int_equal(followed(t, B), 0);

	/* B reads: A answers MOVED, B finds its block on C, byte for byte */
	check_all(t, B);
	assert_int_equal(followed(t, B), 1);
	/* its confirmation cannot reach B yet: the record stays meanwhile */
	wait_dropped(2);
	assert_int_equal(count_of(t, A, POOL_RRL), 1);
	check_all(t, B);
	assert_int_equal(followed(t, B), 1); /* straight to C now */

	/* the notices get through again: the record goes */
	atomic_store(&drop_notices, false);
	wait_rrl(t, A, 0);
	assert_int_equal(followed(t, B), 1);
	expect(t, "B's block lives on C", L(0, 1, 0, 3), L(0, 4, 4, 0),
	       L(1, 2, 0, 1));
	for (int n = 0; n < NNODES; n++)
		check_all(t, n);
}

static void a_lost_notice_is_sent_again_until_the_owner_takes_it(void **state)
{
	struct cmp3 *t = *state;

	a_lends_everything_to_b(t);
	atomic_store(&drop_notices, true);
	a_moves_one_of_bs_blocks_to_c(t);
	/* lost, and lost again when A tries once more */
	wait_dropped(2);
	assert_int_equal(count_of(t, A, POOL_RRL), 1);
	atomic_store(&drop_notices, false);
	/* B never asked: the next notice alone tells it */
	wait_followed(t, B, 1);
	wait_rrl(t, A, 0);
	check_all(t, B);
	assert_int_equal(followed(t, B), 1);
	expect(t, "B's block lives on C", L(0, 1, 0, 3), L(0, 4, 4, 0),
	       L(1, 2, 0, 1));
}

struct writer {
	struct cmp3 *t;
	uint32_t h;
	atomic_bool stop;
	atomic_uint acked; /* seed of the last acknowledged write */
	atomic_uint writes;
	atomic_int failed; /* the error of a write or read that failed */
	int mismatch;	   /* reads that did not see the last write */
};

/* Writes whole-block patterns into h and reads each back, until told. */
static void *write_loop(void *arg)
{
	static uint8_t want[BS], got[BS];
	struct writer *w = arg;
	uint32_t seed = 1000;
	int ret;

	while (!atomic_load(&w->stop)) {
		fill(want, ++seed);
		ret = pool_write(w->t->pool[B], w->h, 0, want, BS);
		if (!ret) {
			atomic_store(&w->acked, seed);
			atomic_fetch_add(&w->writes, 1);
			ret = pool_read(w->t->pool[B], w->h, 0, got, BS);
		}
		if (ret) {
			atomic_store(&w->failed, ret);
			break;
		}
		if (memcmp(want, got, BS))
			w->mismatch++;
	}
	return NULL;
}

static void wait_writes(struct writer *w, unsigned int n)
{
	uint64_t end = deadline();
	unsigned int from = atomic_load(&w->writes);

	while (atomic_load(&w->writes) < from + n && !atomic_load(&w->failed)) {
		if (cmp_now_ns() > end)
			fail_msg("the writer is stuck");
		pause_a_bit();
	}
}

static void writes_racing_the_move_land_at_the_new_place(void **state)
{
	struct cmp3 *t = *state;
	struct writer w = {.t = t};
	uint8_t want[BS], got[BS];
	pthread_t th;

	a_lends_everything_to_b(t);
	w.h = t->h[B][0]; /* on A, and the first A moves on */
	atomic_store(&hold_handover, true);
	assert_int_equal(pthread_create(&th, NULL, write_loop, &w), 0);
	wait_writes(&w, 10);
	/* B writes while A copies its block: BUSY, then MOVED, then C */
	a_moves_one_of_bs_blocks_to_c(t);
	assert_true(atomic_load(&busy_seen) > 0);
	wait_writes(&w, 10);
	atomic_store(&w.stop, true);
	pthread_join(th, NULL);
	assert_int_equal(atomic_load(&w.failed), 0);
	assert_int_equal(w.mismatch, 0);
	/* the last acknowledged write is what the block holds */
	fill(want, atomic_load(&w.acked));
	assert_int_equal(pool_read(t->pool[B], w.h, 0, got, BS), 0);
	assert_memory_equal(want, got, BS);
	assert_true(followed(t, B) >= 1);
	wait_rrl(t, A, 0);
	assert_int_equal(count_of(t, C, POOL_RLL), 1);
	for (size_t i = 1; i < t->nh[B]; i++)
		check_block(t, B, i);
}

/* B's writer over its blocks 0..3 (all on A), in turn. */
struct writers {
	struct cmp3 *t;
	atomic_bool stop;
	atomic_uint writes;
	atomic_int failed;
	uint32_t acked[4]; /* seed of each block's last acknowledged write */
	int mismatch;
};

static void *write_all_loop(void *arg)
{
	static uint8_t want[BS], got[BS];
	struct writers *w = arg;
	uint32_t seed = 5000;
	int ret = 0;

	for (size_t i = 0; !ret && !atomic_load(&w->stop); i = (i + 1) % 4) {
		uint32_t h = w->t->h[B][i];

		fill(want, ++seed);
		ret = pool_write(w->t->pool[B], h, 0, want, BS);
		if (ret)
			break;
		w->acked[i] = seed;
		atomic_fetch_add(&w->writes, 1);
		ret = pool_read(w->t->pool[B], h, 0, got, BS);
		if (!ret && memcmp(want, got, BS))
			w->mismatch++;
	}
	atomic_store(&w->failed, ret);
	return NULL;
}

static void wait_all_writes(struct writers *w, unsigned int n)
{
	uint64_t end = deadline();
	unsigned int from = atomic_load(&w->writes);

	while (atomic_load(&w->writes) < from + n && !atomic_load(&w->failed)) {
		if (cmp_now_ns() > end)
			fail_msg("the writer is stuck");
		pause_a_bit();
	}
}

/*
 * A leaves while B writes the very blocks A moves: every move's handover
 * waits until one of B's writes met a moving block (BUSY), so that race
 * happens every run; no write fails, and each block holds its last
 * acknowledged write, now on C.
 */
static void writes_racing_a_leave_land_at_the_new_place(void **state)
{
	struct cmp3 *t = *state;
	struct writers w = {.t = t};
	pthread_t th;

	a_lends_everything_to_b(t);
	while (t->nh[C])
		free_on(t, C, 0);
	sync_manager(t);
	atomic_store(&hold_handover, true);
	assert_int_equal(pthread_create(&th, NULL, write_all_loop, &w), 0);
	wait_all_writes(&w, 8);
	cluster_leave(t->cl[A]);
	assert_true(atomic_load(&busy_seen) > 0);
	assert_int_equal(count_of(t, A, POOL_RLL), 0);
	assert_int_equal(count_of(t, A, POOL_RRL), 0);
	wait_all_writes(&w, 8);
	atomic_store(&w.stop, true);
	pthread_join(th, NULL);
	assert_int_equal(atomic_load(&w.failed), 0);
	assert_int_equal(w.mismatch, 0);
	stop_node(t, A);
	assert_int_equal(count_of(t, C, POOL_RLL), 4);
	for (size_t i = 0; i < 4; i++) {
		if (w.acked[i])
			t->seed[B][i] = w.acked[i];
		check_block(t, B, i);
	}
	assert_int_equal(followed(t, B), 4);
	check_all(t, B);
}

static void a_block_moved_twice_is_found_at_its_last_place(void **state)
{
	struct cmp3 *t = *state;

	a_lends_everything_to_b(t);
	atomic_store(&drop_notices, true);
	a_moves_one_of_bs_blocks_to_c(t);
	/* A lets go of its block; C then needs two, and moves B's on to A */
	free_on(t, A, 0);
	sync_manager(t);
	assert_int_equal(alloc_on(t, C), 0);
	assert_int_equal(alloc_on(t, C), 0);
	assert_int_equal(count_of(t, C, POOL_RRL), 1);
	assert_int_equal(count_of(t, A, POOL_RRL), 1);
	assert_int_equal(count_of(t, A, POOL_RLL), 4);
	/* B heard of neither move: A, then C, answer MOVED; it follows */
	check_all(t, B);
	assert_int_equal(followed(t, B), 2);
	atomic_store(&drop_notices, false);
	wait_rrl(t, A, 0);
	wait_rrl(t, C, 0);
	expect(t, "B's block is back on A, elsewhere", L(0, 0, 0, 4),
	       L(0, 4, 4, 0), L(0, 4, 0, 0));
	for (int n = 0; n < NNODES; n++)
		check_all(t, n);
	assert_int_equal(followed(t, B), 2);
}

static void an_owner_that_freed_early_gives_the_new_place_back(void **state)
{
	struct cmp3 *t = *state;

	a_lends_everything_to_b(t);
	atomic_store(&drop_notices, true);
	a_moves_one_of_bs_blocks_to_c(t);
	/* B frees the block before it heard where it went */
	free_on(t, B, 0);
	atomic_store(&drop_notices, false);
	/* A's last notice tells it; B gives C's block back; A forgets */
	wait_rrl(t, A, 0);
	expect_soon(t, "the moved block is freed where it went", L(0, 1, 0, 3),
		    L(0, 4, 3, 0), L(2, 2, 0, 0));
	for (int n = 0; n < NNODES; n++)
		check_all(t, n);
}

static void the_owners_goodbye_ends_its_records_and_loans(void **state)
{
	struct cmp3 *t = *state;

	a_lends_everything_to_b(t);
	a_moves_one_of_bs_blocks_to_c(t);
	wait_followed(t, B, 1);
	wait_rrl(t, A, 0);
	/* B knows its block is on C: its goodbye reaches C too */
	stop_node(t, B);
	assert_int_equal(count_of(t, A, POOL_RLL), 0);
	assert_int_equal(count_of(t, C, POOL_RLL), 0);
	check_all(t, A);
	check_all(t, C);
}

static void a_goodbye_drops_records_the_owner_never_heard_of(void **state)
{
	struct cmp3 *t = *state;

	a_lends_everything_to_b(t);
	atomic_store(&drop_notices, true);
	a_moves_one_of_bs_blocks_to_c(t);
	assert_int_equal(count_of(t, A, POOL_RRL), 1);
	stop_node(t, B);
	assert_int_equal(count_of(t, A, POOL_RRL), 0);
	assert_int_equal(count_of(t, A, POOL_RLL), 0);
	/* (C frees the block it holds for B when its lease on B ends) */
	check_all(t, A);
	check_all(t, C);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(
			a_lost_notice_is_no_loss_the_owner_asks_and_follows,
			reset, teardown),
		cmocka_unit_test_setup_teardown(
			a_lost_notice_is_sent_again_until_the_owner_takes_it,
			reset, teardown),
		cmocka_unit_test_setup_teardown(
			writes_racing_the_move_land_at_the_new_place, reset,
			teardown),
		cmocka_unit_test_setup_teardown(
			writes_racing_a_leave_land_at_the_new_place, reset,
			teardown),
		cmocka_unit_test_setup_teardown(
			a_block_moved_twice_is_found_at_its_last_place, reset,
			teardown),
		cmocka_unit_test_setup_teardown(
			an_owner_that_freed_early_gives_the_new_place_back,
			reset, teardown),
		cmocka_unit_test_setup_teardown(
			the_owners_goodbye_ends_its_records_and_loans, reset,
			teardown),
		cmocka_unit_test_setup_teardown(
			a_goodbye_drops_records_the_owner_never_heard_of, reset,
			teardown),
	};

	log_init("test-collab", LOG_LVL_WARN);
	return cmocka_run_group_tests(tests, NULL, NULL);
}
