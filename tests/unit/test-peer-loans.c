// SPDX-License-Identifier: MIT
/*
 * Loans on the block server (wire version 2, issue 9) end to end over
 * mem://: the owner of every request is the node id its connection
 * authenticated, so another owner, or a tool without a node id, can never
 * reach a loan; an epoch goes stale when its loan ends and stays stale when
 * the block is lent again, cleared; RECONCILE frees what the owner no
 * longer claims and names what the provider lacks; GOODBYE ends all of one
 * owner's loans and no one else's; a lease ends only after silence, and any
 * request or PING renews it. A closed connection ends nothing. A fenced
 * RECONCILE ends the owner's older connections first, so a write the owner
 * gave up on cannot land on newer data.
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "cmp/log.h"
#include "cmp/util.h"
#include "cmp/wire.h"
#include "peer-fixture.h"
#include "wait-for.h"

#define NBLOCKS 16u
/* Short enough to wait out, long against one request on a loaded host. */
#define LEASE_MS 1000u
#define DEADLINE_MS 10000

static int setup(void **state)
{
	*state = fixture_create(&(struct fixture_config){.nblocks = NBLOCKS});
	return 0;
}

static int setup_short_lease(void **state)
{
	*state = fixture_create(&(struct fixture_config){.nblocks = NBLOCKS,
							 .lease_ms = LEASE_MS});
	return 0;
}

static int teardown(void **state)
{
	fixture_destroy(*state);
	return 0;
}

static void write_pattern(struct remote *r, struct proto_block_ref ref,
			  unsigned int seed)
{
	static uint8_t in[BS];

	fill(in, BS, seed);
	assert_int_equal(remote_write(r, PROVIDER, ref, 0, in, BS, NULL), 0);
}

/* The loan still holds what write_pattern(seed) put there. */
static void check_pattern(struct remote *r, struct proto_block_ref ref,
			  unsigned int seed)
{
	static uint8_t want[BS], out[BS];

	fill(want, BS, seed);
	assert_int_equal(remote_read(r, PROVIDER, ref, 0, out, BS, NULL), 0);
	assert_memory_equal(out, want, BS);
}

static void expect_stale(struct remote *r, struct proto_block_ref ref)
{
	uint8_t buf[8] = "intruder";

	assert_int_equal(remote_read(r, PROVIDER, ref, 0, buf, 8, NULL),
			 -ESTALE);
	assert_int_equal(remote_write(r, PROVIDER, ref, 0, buf, 8, NULL),
			 -ESTALE);
}

/* ---- whose loan ---- */

static void another_owner_cannot_reach_my_loans(void **state)
{
	struct fixture *f = *state;
	struct proto_block_ref mine = borrow_one(f->r), missing;
	struct remote *thief = owner_create(f, OTHER);
	struct proto_block_extent ext = {mine.block, mine.epoch, 0, 8};
	uint8_t buf[8];
	struct iovec iov = {buf, 8};
	uint32_t n;

	write_pattern(f->r, mine, 1);
	/* the very (block, epoch) I was given, from another node: STALE */
	expect_stale(thief, mine);
	assert_int_equal(
		remote_read_batch(thief, PROVIDER, &ext, 1, &iov, 1, NULL),
		-ESTALE);
	assert_int_equal(
		remote_write_batch(thief, PROVIDER, &ext, 1, &iov, 1, NULL),
		-ESTALE);
	/* its FREE and its reconciliation skip my loan */
	assert_int_equal(remote_free(thief, PROVIDER, &mine, 1), 0);
	assert_int_equal(remote_reconcile(thief, PROVIDER,
					  PROTO_BLOCK_RECONCILE_FIRST |
						  PROTO_BLOCK_RECONCILE_LAST,
					  &mine, 1, &missing, &n),
			 0);
	assert_int_equal(n, 1);
	assert_memory_equal(&missing, &mine, sizeof(mine));
	assert_int_equal(peer_lent_to(f->peer, OWNER), 1);
	assert_int_equal(peer_lent_to(f->peer, OTHER), 0);
	check_pattern(f->r, mine, 1);
	remote_destroy(thief);
}

static void an_epoch_goes_stale_when_the_block_is_lent_again(void **state)
{
	struct fixture *f = *state;
	struct proto_block_ref old = borrow_one(f->r), mine, theirs;
	struct remote *other = owner_create(f, OTHER);
	static uint8_t out[BS];

	write_pattern(f->r, old, 2);
	assert_int_equal(remote_free(f->r, PROVIDER, &old, 1), 0);
	expect_stale(f->r, old);
	/* the store hands the freed block out first: to someone else */
	theirs = borrow_one(other);
	assert_int_equal(theirs.block, old.block);
	assert_int_not_equal(theirs.epoch, old.epoch);
	/* re-lent cleared: nothing of the previous owner's is left */
	assert_int_equal(remote_read(other, PROVIDER, theirs, 0, out, BS, NULL),
			 0);
	assert_true(all_zero(out, BS));
	write_pattern(other, theirs, 3);
	/* my old epoch reaches nothing; theirs is not mine either */
	expect_stale(f->r, old);
	expect_stale(f->r, theirs);
	check_pattern(other, theirs, 3);
	/* and when it comes back to me, under yet another epoch */
	assert_int_equal(remote_free(other, PROVIDER, &theirs, 1), 0);
	mine = borrow_one(f->r);
	assert_int_equal(mine.block, old.block);
	assert_int_not_equal(mine.epoch, old.epoch);
	assert_int_not_equal(mine.epoch, theirs.epoch);
	expect_stale(f->r, old);
	assert_int_equal(remote_read(f->r, PROVIDER, mine, 0, out, BS, NULL),
			 0);
	assert_true(all_zero(out, BS));
	remote_destroy(other);
}

static void a_tool_connection_cannot_use_loans(void **state)
{
	struct fixture *f = *state;
	struct proto_block_ref mine = borrow_one(f->r);
	struct conn *tool = raw_connect(f, TOOL);
	uint8_t pl[PROTO_BLOCK_RW_SIZE + 64] = {0}, rep[64];
	struct proto_block_rw rw = {mine.block, mine.epoch, 0, 64};
	struct proto_block_extent ext = {mine.block, mine.epoch, 0, 64};
	uint8_t batch[PROTO_BLOCK_BATCH_SIZE + PROTO_BLOCK_EXTENT_SIZE + 64] = {
		0};
	struct proto_block_status st;
	size_t got;
	int n;

	write_pattern(f->r, mine, 4);
	/* what a tool may do */
	assert_int_equal(
		raw_call(tool, WIRE_OP_STATUS, NULL, 0, rep, sizeof(rep), &got),
		WIRE_S_OK);
	assert_int_equal(proto_block_status_decode(rep, got, &st), 0);
	assert_int_equal(st.total, NBLOCKS);
	assert_int_equal(raw_call(tool, WIRE_OP_PING, NULL, 0, NULL, 0, NULL),
			 WIRE_S_OK);
	/* everything that makes, uses or ends a loan: PERM, conn kept */
	proto_block_alloc_req_encode(1, 0, pl, sizeof(pl));
	assert_int_equal(raw_call(tool, WIRE_OP_ALLOC, pl,
				  PROTO_BLOCK_ALLOC_REQ_SIZE, NULL, 0, NULL),
			 WIRE_S_PERM);
	proto_block_rw_encode(&rw, pl, sizeof(pl));
	assert_int_equal(raw_call(tool, WIRE_OP_READ, pl, PROTO_BLOCK_RW_SIZE,
				  NULL, 0, NULL),
			 WIRE_S_PERM);
	assert_int_equal(
		raw_call(tool, WIRE_OP_WRITE, pl, sizeof(pl), NULL, 0, NULL),
		WIRE_S_PERM);
	n = proto_block_batch_encode(&ext, 1, batch, sizeof(batch));
	assert_int_equal(
		raw_call(tool, WIRE_OP_READ_BATCH, batch, n, NULL, 0, NULL),
		WIRE_S_PERM);
	assert_int_equal(raw_call(tool, WIRE_OP_WRITE_BATCH, batch, n + 64,
				  NULL, 0, NULL),
			 WIRE_S_PERM);
	n = proto_block_list_encode(0, &mine, 1, pl, sizeof(pl));
	assert_int_equal(raw_call(tool, WIRE_OP_FREE, pl, n, NULL, 0, NULL),
			 WIRE_S_PERM);
	n = proto_block_list_encode(PROTO_BLOCK_RECONCILE_FIRST |
					    PROTO_BLOCK_RECONCILE_LAST,
				    &mine, 1, pl, sizeof(pl));
	assert_int_equal(
		raw_call(tool, WIRE_OP_RECONCILE, pl, n, NULL, 0, NULL),
		WIRE_S_PERM);
	assert_int_equal(
		raw_call(tool, WIRE_OP_GOODBYE, NULL, 0, NULL, 0, NULL),
		WIRE_S_PERM);
	assert_int_equal(
		raw_call(tool, WIRE_OP_STATUS, NULL, 0, rep, sizeof(rep), NULL),
		WIRE_S_OK);
	conn_destroy(tool);
	/* nothing was lent to the tool, nothing of mine changed */
	assert_int_equal(peer_lent(f->peer), 1);
	check_pattern(f->r, mine, 4);
}

/* ---- FREE, RECONCILE, GOODBYE ---- */

static void free_answers_how_many_loans_it_ended(void **state)
{
	struct fixture *f = *state;
	struct proto_block_ref refs[3], theirs;
	struct remote *other = owner_create(f, OTHER);
	struct conn *c = raw_connect(f, OWNER);
	uint8_t pl[PROTO_BLOCK_LIST_SIZE + 5 * PROTO_BLOCK_REF_SIZE];
	uint8_t rep[PROTO_BLOCK_COUNT_SIZE];
	struct proto_block_ref list[5];
	uint32_t got, count;
	size_t len;
	int n;

	assert_int_equal(remote_alloc(f->r, PROVIDER, 3, refs, &got), 0);
	theirs = borrow_one(other);
	/* two of mine, one stale, one never lent, one someone else's */
	list[0] = refs[0];
	list[1] = refs[2];
	list[2] = (struct proto_block_ref){refs[1].block, refs[1].epoch + 1};
	list[3] = (struct proto_block_ref){NBLOCKS + 1, 1};
	list[4] = theirs;
	n = proto_block_list_encode(0, list, 5, pl, sizeof(pl));
	assert_int_equal(
		raw_call(c, WIRE_OP_FREE, pl, n, rep, sizeof(rep), &len),
		WIRE_S_OK);
	assert_int_equal(proto_block_count_decode(rep, len, &count), 0);
	assert_int_equal(count, 2);
	/* the same FREE again: idempotent */
	assert_int_equal(
		raw_call(c, WIRE_OP_FREE, pl, n, rep, sizeof(rep), &len),
		WIRE_S_OK);
	assert_int_equal(proto_block_count_decode(rep, len, &count), 0);
	assert_int_equal(count, 0);
	assert_int_equal(peer_lent_to(f->peer, OWNER), 1);
	assert_int_equal(peer_lent_to(f->peer, OTHER), 1);
	assert_int_equal(ms_store_free_count(f->store), NBLOCKS - 2);
	conn_destroy(c);
	remote_destroy(other);
}

static void reconcile_frees_the_unclaimed_and_names_the_missing(void **state)
{
	struct fixture *f = *state;
	struct remote *other = owner_create(f, OTHER);
	struct proto_block_ref r[4], late, theirs, claim[3], missing[3];
	uint32_t got, n;

	assert_int_equal(remote_alloc(f->r, PROVIDER, 4, r, &got), 0);
	theirs = borrow_one(other);
	write_pattern(f->r, r[0], 5);
	write_pattern(other, theirs, 6);
	/* an end without a begin frees nothing */
	assert_int_equal(remote_reconcile(f->r, PROVIDER,
					  PROTO_BLOCK_RECONCILE_LAST, NULL, 0,
					  missing, &n),
			 0);
	assert_int_equal(peer_lent_to(f->peer, OWNER), 4);
	/* step 1: r0, r1 under a wrong epoch, a block beyond the store */
	claim[0] = r[0];
	claim[1] = (struct proto_block_ref){r[1].block, r[1].epoch + 9};
	claim[2] = (struct proto_block_ref){NBLOCKS + 3, 5};
	assert_int_equal(remote_reconcile(f->r, PROVIDER,
					  PROTO_BLOCK_RECONCILE_FIRST, claim, 3,
					  missing, &n),
			 0);
	assert_int_equal(n, 2);
	assert_memory_equal(&missing[0], &claim[1], sizeof(claim[1]));
	assert_memory_equal(&missing[1], &claim[2], sizeof(claim[2]));
	/* step 2: r2; then a loan made during the reconciliation */
	assert_int_equal(
		remote_reconcile(f->r, PROVIDER, 0, &r[2], 1, missing, &n), 0);
	assert_int_equal(n, 0);
	late = borrow_one(f->r);
	/* the end: r1 and r3 were not claimed */
	assert_int_equal(remote_reconcile(f->r, PROVIDER,
					  PROTO_BLOCK_RECONCILE_LAST, NULL, 0,
					  missing, &n),
			 0);
	assert_int_equal(n, 0);
	assert_int_equal(peer_lent_to(f->peer, OWNER), 3);
	expect_stale(f->r, r[1]);
	expect_stale(f->r, r[3]);
	check_pattern(f->r, r[0], 5);
	assert_int_equal(remote_write(f->r, PROVIDER, r[2], 0, "ok", 2, NULL),
			 0);
	assert_int_equal(remote_write(f->r, PROVIDER, late, 0, "ok", 2, NULL),
			 0);
	/* the other owner's loan was never part of it */
	assert_int_equal(peer_lent_to(f->peer, OTHER), 1);
	check_pattern(other, theirs, 6);
	assert_int_equal(ms_store_free_count(f->store), NBLOCKS - 4);
	remote_destroy(other);
}

static void goodbye_ends_all_my_loans_and_nobody_elses(void **state)
{
	struct fixture *f = *state;
	struct remote *other = owner_create(f, OTHER);
	struct proto_block_ref mine[3], theirs[2], again;
	uint32_t got, freed = 99;

	assert_int_equal(remote_alloc(f->r, PROVIDER, 3, mine, &got), 0);
	assert_int_equal(remote_alloc(other, PROVIDER, 2, theirs, &got), 0);
	for (int i = 0; i < 2; i++)
		write_pattern(other, theirs[i], 10 + i);
	assert_int_equal(remote_goodbye(f->r, PROVIDER, &freed), 0);
	assert_int_equal(freed, 3);
	assert_int_equal(peer_lent_to(f->peer, OWNER), 0);
	assert_int_equal(peer_lent_to(f->peer, OTHER), 2);
	assert_int_equal(ms_store_free_count(f->store), NBLOCKS - 2);
	for (int i = 0; i < 3; i++)
		expect_stale(f->r, mine[i]);
	for (int i = 0; i < 2; i++)
		check_pattern(other, theirs[i], 10 + i);
	/* a second goodbye has nothing left to end */
	assert_int_equal(remote_goodbye(f->r, PROVIDER, &freed), 0);
	assert_int_equal(freed, 0);
	/* a node that left may come back and borrow again */
	again = borrow_one(f->r);
	for (int i = 0; i < 3; i++)
		assert_int_not_equal(again.epoch, mine[i].epoch);
	/* goodbye to every provider that lent to us: here, one */
	assert_int_equal(remote_goodbye_all(other), 1);
	assert_int_equal(peer_lent_to(f->peer, OTHER), 0);
	assert_int_equal(peer_lent(f->peer), 1);
	remote_destroy(other);
}

static void a_closed_connection_ends_no_loan(void **state)
{
	struct fixture *f = *state;
	struct proto_block_ref refs[3];
	uint32_t got;

	assert_int_equal(remote_alloc(f->r, PROVIDER, 3, refs, &got), 0);
	for (int i = 0; i < 3; i++)
		write_pattern(f->r, refs[i], 20 + i);
	/* every connection of the owner closes (it crashed, or the link) */
	remote_destroy(f->r);
	f->r = NULL;
	assert_int_equal(peer_expire_leases(f->peer), 0);
	assert_int_equal(peer_lent_to(f->peer, OWNER), 3);
	/* it reconnects: same node id, its loans are all there */
	f->r = owner_create(f, OWNER);
	for (int i = 0; i < 3; i++)
		check_pattern(f->r, refs[i], 20 + i);
	assert_int_equal(peer_lent_to(f->peer, OWNER), 3);
}

/* ---- leases ---- */

struct lease_watch {
	struct fixture *f;
	uint32_t owner;
};

/* Expires what is due now; true once owner has no loan left. */
static bool owner_expired(void *arg)
{
	struct lease_watch *w = arg;

	peer_expire_leases(w->f->peer);
	return peer_lent_to(w->f->peer, w->owner) == 0;
}

struct store_wait {
	struct fixture *f;
	uint32_t free;
};

/*
 * The store got the blocks back: whichever thread expired the lease (the
 * peer's lease thread, or this one) releases them just after the loans end.
 */
static bool store_has_free(void *arg)
{
	struct store_wait *sw = arg;

	return ms_store_free_count(sw->f->store) == sw->free;
}

/*
 * An owner that goes silent (its process gone without a goodbye: its
 * client destroyed, so no keepalives) loses its loans at the end of the
 * lease, and not before; an owner that keeps talking keeps them.
 */
static void a_lease_ends_only_after_silence(void **state)
{
	struct fixture *f = *state;
	struct remote *silent = owner_create(f, OTHER);
	struct proto_block_ref refs[2], mine = borrow_one(f->r);
	struct lease_watch w = {.f = f, .owner = OTHER};
	struct store_wait sw = {f, NBLOCKS - 1};
	uint64_t last_sent, expired_at;
	uint32_t got;

	assert_int_equal(remote_alloc(silent, PROVIDER, 2, refs, &got), 0);
	write_pattern(f->r, mine, 30);
	/* the provider hears it at some time after this */
	last_sent = cmp_now_ns();
	write_pattern(silent, refs[0], 31);
	/* just heard from: nothing ends */
	assert_int_equal(peer_expire_leases(f->peer), 0);
	assert_int_equal(peer_lent_to(f->peer, OTHER), 2);
	/* OTHER goes silent; OWNER's keeper keeps OWNER's lease alive */
	remote_destroy(silent);
	assert_true(wait_for(owner_expired, &w, DEADLINE_MS));
	expired_at = cmp_now_ns();
	/* never before the lease: silence since the last request began */
	assert_true(expired_at - last_sent >= LEASE_MS * 1000000ull);
	assert_int_equal(peer_lent_to(f->peer, OWNER), 1);
	assert_true(wait_for(store_has_free, &sw, DEADLINE_MS));
	/* the same node back (a new process): those loans are gone */
	silent = owner_create(f, OTHER);
	expect_stale(silent, refs[0]);
	expect_stale(silent, refs[1]);
	remote_destroy(silent);
	check_pattern(f->r, mine, 30);
}

/*
 * An owner that borrowed and then says nothing for three leases keeps its
 * loans: its client's keeper pings the provider every quarter lease.
 */
static void an_idle_owners_keepalives_renew_the_lease(void **state)
{
	struct fixture *f = *state;
	struct proto_block_ref mine = borrow_one(f->r);
	struct timespec step = {0, LEASE_MS / 6 * 1000000L};
	uint64_t start = cmp_now_ns();

	write_pattern(f->r, mine, 40);
	while (cmp_now_ns() - start < 3ull * LEASE_MS * 1000000ull) {
		assert_int_equal(peer_expire_leases(f->peer), 0);
		assert_int_equal(peer_lent_to(f->peer, OWNER), 1);
		nanosleep(&step, NULL); /* time passing, not a wait */
	}
	check_pattern(f->r, mine, 40);
}

/* ---- fencing an owner's old connections ---- */

/* WRITE of the whole of ref from pattern seed on a raw connection. */
static void raw_write_block(struct conn *c, struct proto_block_ref ref,
			    unsigned int seed)
{
	static uint8_t pl[PROTO_BLOCK_RW_SIZE + BS];
	struct proto_block_rw rw = {ref.block, ref.epoch, 0, BS};

	proto_block_rw_encode(&rw, pl, PROTO_BLOCK_RW_SIZE);
	fill(pl + PROTO_BLOCK_RW_SIZE, BS, seed);
	assert_int_equal(
		raw_call(c, WIRE_OP_WRITE, pl, sizeof(pl), NULL, 0, NULL),
		WIRE_S_OK);
}

/* Whether ref reads back as pattern seed on a raw connection. */
static bool raw_block_is(struct conn *c, struct proto_block_ref ref,
			 unsigned int seed)
{
	static uint8_t want[BS], out[BS];
	struct proto_block_rw rw = {ref.block, ref.epoch, 0, BS};
	uint8_t pl[PROTO_BLOCK_RW_SIZE];
	size_t got;

	proto_block_rw_encode(&rw, pl, sizeof(pl));
	assert_int_equal(raw_call(c, WIRE_OP_READ, pl, sizeof(pl), out,
				  sizeof(out), &got),
			 WIRE_S_OK);
	assert_int_equal(got, BS);
	fill(want, BS, seed);
	return !memcmp(out, want, BS);
}

/*
 * An owner's write hangs half sent on an old connection (a partition, a
 * paused provider) and the owner gives up on it; it reconnects, RECONCILEs
 * (fenced or not) and writes the block anew. Then the rest of the old
 * frame arrives. Returns whether the old write landed on the new data.
 */
static bool a_late_write_lands(struct fixture *f, bool fence)
{
	static uint8_t pl[PROTO_BLOCK_RW_SIZE + BS];
	struct proto_block_ref mine = borrow_one(f->r), missing[1];
	struct proto_block_rw rw = {mine.block, mine.epoch, 0, BS};
	struct conn *old = raw_connect(f, OWNER), *fresh;
	struct wire_hdr h = {.op = WIRE_OP_WRITE, .id = 5, .len = sizeof(pl)};
	uint8_t hdr[WIRE_HDR_SIZE], rep[PROTO_BLOCK_LIST_SIZE];
	struct iovec iov[2] = {{hdr, sizeof(hdr)}, {pl, sizeof(pl) / 2}};
	uint32_t flags = PROTO_BLOCK_RECONCILE_FIRST |
			 PROTO_BLOCK_RECONCILE_LAST |
			 (fence ? PROTO_BLOCK_RECONCILE_FENCE : 0);
	uint8_t list[PROTO_BLOCK_LIST_SIZE + PROTO_BLOCK_REF_SIZE];
	bool landed;
	size_t got;
	int n;

	proto_block_rw_encode(&rw, pl, PROTO_BLOCK_RW_SIZE);
	fill(pl + PROTO_BLOCK_RW_SIZE, BS, 50);
	iov[1].iov_base = pl;
	h.csum = wire_csum(&(struct iovec){pl, sizeof(pl)}, 1);
	wire_hdr_encode(&h, hdr);
	assert_int_equal(conn_writev(old, iov, 2), 0);

	fresh = raw_connect(f, OWNER);
	n = proto_block_list_encode(flags, &mine, 1, list, sizeof(list));
	assert_int_equal(raw_call(fresh, WIRE_OP_RECONCILE, list, n, rep,
				  sizeof(rep), &got),
			 WIRE_S_OK);
	assert_int_equal(proto_block_list_decode(rep, got, 0, &flags, missing,
						 1, (uint32_t *)&n),
			 0);
	assert_int_equal(n, 0);
	raw_write_block(fresh, mine, 51);

	/* the rest of the old frame, and its reply if it is still served */
	iov[0] = (struct iovec){pl + sizeof(pl) / 2,
				sizeof(pl) - sizeof(pl) / 2};
	if (fence) {
		assert_true(closed_by_peer(old));
		(void)conn_writev(old, iov, 1);
	} else {
		/* (its checksum, over what is in the block now, may fail) */
		assert_int_equal(conn_writev(old, iov, 1), 0);
		assert_int_equal(wire_recv_hdr(old, &h), 0);
	}
	landed = !raw_block_is(fresh, mine, 51);
	conn_destroy(old);
	conn_destroy(fresh);
	return landed;
}

static void a_fenced_reconcile_ends_a_write_the_owner_gave_up_on(void **state)
{
	struct fixture *f = *state;

	/* the danger is real: without the fence the old write lands */
	assert_true(a_late_write_lands(f, false));
	assert_false(a_late_write_lands(f, true));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
#define T(name) cmocka_unit_test_setup_teardown(name, setup, teardown)
		T(another_owner_cannot_reach_my_loans),
		T(an_epoch_goes_stale_when_the_block_is_lent_again),
		T(a_tool_connection_cannot_use_loans),
		T(free_answers_how_many_loans_it_ended),
		T(reconcile_frees_the_unclaimed_and_names_the_missing),
		T(goodbye_ends_all_my_loans_and_nobody_elses),
		T(a_closed_connection_ends_no_loan),
		T(a_fenced_reconcile_ends_a_write_the_owner_gave_up_on),
#undef T
#define T_LEASE(name) \
	cmocka_unit_test_setup_teardown(name, setup_short_lease, teardown)
		T_LEASE(a_lease_ends_only_after_silence),
		T_LEASE(an_idle_owners_keepalives_renew_the_lease),
#undef T_LEASE
	};

	log_init("test-peer-loans", LOG_LVL_ERROR);
	return cmocka_run_group_tests(tests, NULL, NULL);
}
