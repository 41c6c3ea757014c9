// SPDX-License-Identifier: MIT
/*
 * A store that keeps its loans (memserver/store-kept.c) and its index
 * (memserver/index.c), without a peer: the test plays the peer, taking
 * blocks with the store's alloc op and telling the journal op who holds
 * them, and "kills" the memserver by destroying the store without a clean
 * stop. A store made again on the same file finds the loans and their
 * bytes, under the same node id and incarnation; a block freed but not
 * yet cleared reads as zeros; a clean stop survives a new boot, a running
 * store does not; a damaged or foreign index is refused with one line
 * and left as it was, and --fresh starts over; at most one torn entry is
 * dropped. Then the decoders on their own.
 */
#include <errno.h>
#include <fcntl.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>

#include "catch-output.h"
#include "cmp/log.h"
#include "index.h"
#include "store.h"

#define BS 4096u
#define NB 16u

struct fix {
	char dir[64];
	char path[96];
	char ixpath[96];
};

static int setup(void **state)
{
	struct fix *f = calloc(1, sizeof(*f));

	assert_non_null(f);
	snprintf(f->dir, sizeof(f->dir), "/tmp/cmp-test-ms-index-XXXXXX");
	assert_non_null(mkdtemp(f->dir));
	snprintf(f->path, sizeof(f->path), "%s/store", f->dir);
	snprintf(f->ixpath, sizeof(f->ixpath), "%s/store.idx", f->dir);
	*state = f;
	return 0;
}

static int teardown(void **state)
{
	struct fix *f = *state;
	char p[128];

	unlink(f->path);
	unlink(f->ixpath);
	snprintf(p, sizeof(p), "%s.new", f->ixpath);
	unlink(p);
	rmdir(f->dir);
	free(f);
	return 0;
}

static int open_store(struct fix *f, uint32_t nblocks, uint32_t bs,
		      uint32_t node, bool fresh, struct ms_store **s)
{
	return ms_store_create_kept(
		&(struct ms_store_kept_config){
			.path = f->path,
			.size = (uint64_t)nblocks * bs,
			.block_size = bs,
			.node_id = node,
			.fresh = fresh,
		},
		s);
}

static struct ms_store *open_ok(struct fix *f)
{
	struct ms_store *s = NULL;

	assert_int_equal(open_store(f, NB, BS, 0, false, &s), 0);
	return s;
}

/* As the peer does: a block taken, then journaled as owner's. */
static uint32_t lend(struct ms_store *s, uint32_t owner, uint32_t epoch,
		     uint32_t flags)
{
	uint32_t idx;

	assert_int_equal(ms_store_ops.alloc(s, owner, 1, &idx), 1);
	ms_store_ops.journal(
		s, &(struct peer_kept_loan){owner, idx, epoch, flags});
	return idx;
}

/* ... and a loan that ended: journaled, then the block given back. */
static void end(struct ms_store *s, uint32_t idx)
{
	ms_store_ops.journal(s, &(struct peer_kept_loan){.block = idx});
	ms_store_ops.free(s, &idx, 1);
}

static void fill(struct ms_store *s, uint32_t idx, uint8_t seed)
{
	uint8_t *p = ms_store_ops.ptr(s, idx);

	for (uint32_t i = 0; i < BS; i++)
		p[i] = (uint8_t)(seed + i * 7);
}

static bool filled(struct ms_store *s, uint32_t idx, uint8_t seed)
{
	const uint8_t *p = ms_store_ops.ptr(s, idx);

	for (uint32_t i = 0; i < BS; i++)
		if (p[i] != (uint8_t)(seed + i * 7))
			return false;
	return true;
}

static bool zeros(struct ms_store *s, uint32_t idx)
{
	const uint8_t *p = ms_store_ops.ptr(s, idx);

	for (uint32_t i = 0; i < BS; i++)
		if (p[i])
			return false;
	return true;
}

static void read_hdr(struct fix *f, struct ms_index_hdr *h)
{
	uint8_t buf[MS_INDEX_HDR_SIZE];
	const char *why;
	int fd = open(f->ixpath, O_RDONLY);

	assert_true(fd >= 0);
	assert_int_equal(pread(fd, buf, sizeof(buf), 0), sizeof(buf));
	close(fd);
	assert_int_equal(ms_index_hdr_decode(buf, sizeof(buf), h, &why), 0);
}

static void write_hdr(struct fix *f, const struct ms_index_hdr *h)
{
	uint8_t buf[MS_INDEX_HDR_SIZE];
	int fd = open(f->ixpath, O_WRONLY);

	assert_true(fd >= 0);
	ms_index_hdr_encode(h, buf);
	assert_int_equal(pwrite(fd, buf, sizeof(buf), 0), sizeof(buf));
	close(fd);
}

/* Overwrites len bytes of the index at off with pattern byte b. */
static void scribble(struct fix *f, off_t off, size_t len, uint8_t b)
{
	uint8_t buf[64];
	int fd = open(f->ixpath, O_WRONLY);

	assert_true(fd >= 0 && len <= sizeof(buf));
	memset(buf, b, len);
	assert_int_equal(pwrite(fd, buf, len, off), (ssize_t)len);
	close(fd);
}

static off_t entry_at(uint32_t block)
{
	return MS_INDEX_ENTRIES_OFF + (off_t)block * MS_INDEX_ENTRY_SIZE;
}

static void a_new_store_has_an_index_and_no_loans(void **state)
{
	struct fix *f = *state;
	struct ms_index_hdr h;
	struct ms_store *s = NULL;
	uint32_t loans, owners;
	struct stat st;

	assert_int_equal(open_store(f, NB, BS, 42, false, &s), 0);
	assert_int_equal(stat(f->ixpath, &st), 0);
	assert_int_equal(st.st_size, ms_index_file_size(NB));
	assert_int_equal(st.st_mode & 0777, 0600);
	assert_int_equal(ms_store_node_id(s), 42);
	assert_int_not_equal(ms_store_incarnation(s), 0);
	assert_false(ms_store_kept_counts(s, &loans, &owners));
	assert_int_equal(ms_store_free_count(s), NB);
	read_hdr(f, &h);
	assert_int_equal(h.state, MS_INDEX_RUNNING);
	assert_int_equal(h.nblocks, NB);
	assert_int_equal(h.block_size, BS);
	assert_int_equal(h.node_id, 42);
	ms_store_destroy(s);
	/* a node id of its own when none is given, kept from then on */
	assert_int_equal(open_store(f, NB, BS, 0, true, &s), 0);
	assert_int_not_equal(ms_store_node_id(s), 0);
	assert_int_not_equal(ms_store_node_id(s), 42);
	ms_store_destroy(s);
}

static void loans_and_their_bytes_are_kept_across_a_kill(void **state)
{
	struct fix *f = *state;
	struct ms_store *s = open_ok(f);
	struct peer_kept_loan k[8];
	uint32_t a[3], b[2], node = ms_store_node_id(s), pos = 0, loans, owners,
			     idx;
	uint64_t inc = ms_store_incarnation(s);

	for (uint32_t i = 0; i < 3; i++) {
		a[i] = lend(s, 11, 101 + i, 0);
		fill(s, a[i], (uint8_t)(1 + i));
	}
	b[0] = lend(s, 12, 201, 0);
	b[1] = lend(s, 12, 202, PEER_KEPT_HANDED);
	fill(s, b[0], 9);
	fill(s, b[1], 10);
	end(s, a[1]);
	/* killed: no clean stop */
	ms_store_destroy(s);

	s = open_ok(f);
	assert_true(ms_store_kept_counts(s, &loans, &owners));
	assert_int_equal(loans, 4);
	assert_int_equal(owners, 2);
	assert_int_equal(ms_store_node_id(s), node);
	assert_int_equal(ms_store_incarnation(s), inc);
	assert_int_equal(ms_store_free_count(s), NB - 4);
	assert_int_equal(ms_store_ops.kept(s, &pos, k, 8), 4);
	assert_int_equal(ms_store_ops.kept(s, &pos, k + 4, 4), 0);
	/* in block order: a[0], a[2], b[0], b[1] */
	assert_int_equal(k[0].block, a[0]);
	assert_int_equal(k[0].owner, 11);
	assert_int_equal(k[0].epoch, 101);
	assert_int_equal(k[1].block, a[2]);
	assert_int_equal(k[1].epoch, 103);
	assert_int_equal(k[2].owner, 12);
	assert_int_equal(k[2].flags, 0);
	assert_int_equal(k[3].block, b[1]);
	assert_int_equal(k[3].flags, PEER_KEPT_HANDED);
	assert_true(filled(s, a[0], 1));
	assert_true(filled(s, a[2], 3));
	assert_true(filled(s, b[0], 9));
	assert_true(filled(s, b[1], 10));
	/* the freed one is lent again (cleared), never a kept one */
	for (uint32_t i = 0; i < NB - 4; i++) {
		assert_int_equal(ms_store_ops.alloc(s, 13, 1, &idx), 1);
		assert_true(idx != a[0] && idx != a[2] && idx != b[0] &&
			    idx != b[1]);
		assert_true(zeros(s, idx));
	}
	assert_int_equal(ms_store_ops.alloc(s, 13, 1, &idx), -ENOSPC);
	ms_store_destroy(s);
}

static void a_block_freed_but_not_cleared_reads_zeros_again(void **state)
{
	struct fix *f = *state;
	struct ms_store *s = open_ok(f);
	uint32_t keep = lend(s, 11, 5, 0), gone = lend(s, 11, 6, 0);
	uint32_t loans, owners;

	fill(s, keep, 1);
	fill(s, gone, 2);
	/* killed between the loan's end and its block's clearing */
	ms_store_ops.journal(s, &(struct peer_kept_loan){.block = gone});
	ms_store_destroy(s);

	s = open_ok(f);
	assert_true(ms_store_kept_counts(s, &loans, &owners));
	assert_int_equal(loans, 1);
	assert_true(filled(s, keep, 1));
	assert_true(zeros(s, gone));
	assert_int_equal(ms_store_free_count(s), NB - 1);
	ms_store_destroy(s);
}

static void a_clean_stop_survives_a_new_boot_a_running_store_not(void **state)
{
	struct fix *f = *state;
	struct ms_store *s = open_ok(f);
	uint32_t blk = lend(s, 11, 5, 0), loans, owners;
	uint64_t inc = ms_store_incarnation(s);
	struct ms_index_hdr h;

	fill(s, blk, 3);
	assert_int_equal(ms_store_stop_clean(s), 0);
	ms_store_destroy(s);
	read_hdr(f, &h);
	assert_int_equal(h.state, MS_INDEX_CLEAN);
	/* the machine rebooted after the clean stop: kept */
	h.boot ^= 0x5a5a;
	write_hdr(f, &h);
	s = open_ok(f);
	assert_true(ms_store_kept_counts(s, &loans, &owners));
	assert_int_equal(loans, 1);
	assert_int_equal(ms_store_incarnation(s), inc);
	assert_true(filled(s, blk, 3));
	ms_store_destroy(s);
	read_hdr(f, &h);
	assert_int_equal(h.state, MS_INDEX_RUNNING);

	/* it went down with the machine while running: dropped, warned */
	h.boot ^= 0x5a5a;
	write_hdr(f, &h);
	catch_stderr();
	assert_int_equal(open_store(f, NB, BS, 0, false, &s), 0);
	assert_int_equal(count_lines(caught(),
				     "the machine went down while "
				     "this store was in use",
				     NULL),
			 1);
	assert_false(ms_store_kept_counts(s, &loans, &owners));
	assert_int_not_equal(ms_store_incarnation(s), inc);
	assert_int_equal(ms_store_free_count(s), NB);
	assert_true(zeros(s, blk));
	ms_store_destroy(s);
}

/* The store is refused with one line holding want; the index stays. */
static void refused(struct fix *f, uint32_t nblocks, uint32_t bs, uint32_t node,
		    const char *want)
{
	struct ms_store *s = NULL;
	struct stat before, after;
	int total, ret;

	assert_int_equal(stat(f->ixpath, &before), 0);
	catch_stderr();
	ret = open_store(f, nblocks, bs, node, false, &s);
	if (count_lines(caught(), want, &total) != 1 || total != 1)
		fail_msg("wanted one line with '%s', got: %s", want, said);
	assert_int_equal(ret, -EINVAL);
	assert_null(s);
	assert_non_null(strstr(said, "not starting (--fresh starts empty"));
	assert_int_equal(stat(f->ixpath, &after), 0);
	assert_int_equal(after.st_ino, before.st_ino);
	assert_int_equal(after.st_size, before.st_size);
}

/* A new store with one loan, killed; returns its block. */
static uint32_t one_loan(struct fix *f)
{
	struct ms_store *s = NULL;
	uint32_t blk;

	assert_int_equal(open_store(f, NB, BS, 0, true, &s), 0);
	blk = lend(s, 11, 5, 0);

	ms_store_destroy(s);
	return blk;
}

/* A new file of the same size where the store was (a new inode). */
static void replace_store_file(struct fix *f)
{
	char tmp[128];
	int fd;

	snprintf(tmp, sizeof(tmp), "%s.other", f->path);
	fd = open(tmp, O_RDWR | O_CREAT | O_EXCL, 0600);
	assert_true(fd >= 0);
	assert_int_equal(ftruncate(fd, NB * BS), 0);
	close(fd);
	assert_int_equal(rename(tmp, f->path), 0);
}

static void a_foreign_index_is_refused_and_fresh_starts_over(void **state)
{
	struct fix *f = *state;
	struct ms_store *s = NULL;
	uint32_t node, loans, owners;
	struct ms_index_hdr h;

	one_loan(f);
	read_hdr(f, &h);
	node = h.node_id;
	refused(f, NB / 2, BS, 0, "made for 16 blocks, not 8");
	refused(f, NB / 2, 2 * BS, 0,
		"made for blocks of 4.0 KiB, not 8.0 KiB");
	refused(f, NB, BS, node + 1, "(--node-id)");
	/* the store file gone, or another file of its size in its place */
	assert_int_equal(unlink(f->path), 0);
	refused(f, NB, BS, 0, "keeps 1 loans but");
	one_loan(f);
	replace_store_file(f);
	refused(f, NB, BS, 0, "is not the store file it was made with");
	/* --fresh: a new store, with the node id asked for */
	assert_int_equal(open_store(f, NB, BS, node + 1, true, &s), 0);
	assert_false(ms_store_kept_counts(s, &loans, &owners));
	assert_int_equal(ms_store_node_id(s), node + 1);
	assert_int_equal(ms_store_free_count(s), NB);
	ms_store_destroy(s);
}

static void a_damaged_index_is_refused_one_torn_entry_dropped(void **state)
{
	struct fix *f = *state;
	struct ms_store *s = NULL;
	uint32_t blk, loans, owners;

	one_loan(f);
	scribble(f, 3, 1, 'X');
	refused(f, NB, BS, 0, "not a store index (no header)");
	one_loan(f);
	scribble(f, 40, 1, 0x77); /* the seed */
	refused(f, NB, BS, 0, "its header is damaged (checksum)");
	/* one torn entry: a kill in the middle of writing it; dropped */
	blk = one_loan(f);
	scribble(f, entry_at(blk) + 4, 2, 0x33);
	catch_stderr();
	assert_int_equal(open_store(f, NB, BS, 0, false, &s), 0);
	assert_int_equal(count_lines(caught(), "1 entry torn", NULL), 1);
	assert_true(ms_store_kept_counts(s, &loans, &owners));
	assert_int_equal(loans, 0);
	assert_int_equal(ms_store_free_count(s), NB);
	ms_store_destroy(s);
	/* two: damage, not a kill */
	scribble(f, entry_at(2), 16, 0x44);
	scribble(f, entry_at(7), 1, 0x01);
	refused(f, NB, BS, 0, "its entries are damaged (checksums)");
	/* cut short */
	assert_int_equal(truncate(f->ixpath, ms_index_file_size(NB) - 1), 0);
	refused(f, NB, BS, 0, "its length does not match its block count");
}

static void headers_and_entries_round_trip_and_bind(void **state)
{
	struct ms_index_hdr h =
				    {
					    .block_size = 1u << 20,
					    .nblocks = 1024,
					    .node_id = 9,
					    .state = MS_INDEX_CLEAN,
					    .incarnation =
						    0x0102030405060708ull,
					    .seed = 77,
					    .store_ino = 1234,
					    .boot = 99,
				    },
			    out;
	struct peer_kept_loan ln = {5, 3, 88, PEER_KEPT_HANDED}, got;
	uint8_t buf[MS_INDEX_HDR_SIZE], e[MS_INDEX_ENTRY_SIZE];
	const char *why;

	(void)state;
	ms_index_hdr_encode(&h, buf);
	assert_int_equal(ms_index_hdr_decode(buf, sizeof(buf), &out, &why), 0);
	assert_memory_equal(&out, &h, sizeof(h));
	assert_int_equal(ms_index_hdr_decode(buf, sizeof(buf) - 1, &out, &why),
			 -EBADMSG);
	/* valid bytes, invalid fields: caught after the checksum */
	h.state = 3;
	ms_index_hdr_encode(&h, buf);
	assert_int_equal(ms_index_hdr_decode(buf, sizeof(buf), &out, &why),
			 -EBADMSG);
	assert_string_equal(why, "its state is unknown");

	ms_index_entry_encode(e, 77, &ln);
	assert_int_equal(ms_index_entry_decode(e, 77, 3, &got), 1);
	assert_memory_equal(&got, &ln, sizeof(ln));
	/* bound to its block and to this index's seed */
	assert_int_equal(ms_index_entry_decode(e, 77, 4, &got), -EBADMSG);
	assert_int_equal(ms_index_entry_decode(e, 78, 3, &got), -EBADMSG);
	/* not lent: all zeros */
	ln.owner = 0;
	ms_index_entry_encode(e, 77, &ln);
	assert_int_equal(ms_index_entry_decode(e, 77, 3, &got), 0);
	assert_int_equal(got.owner, 0);
	e[15] = 1;
	assert_int_equal(ms_index_entry_decode(e, 77, 3, &got), -EBADMSG);
}

int main(void)
{
#define T(name) cmocka_unit_test_setup_teardown(name, setup, teardown)
	const struct CMUnitTest tests[] = {
		T(a_new_store_has_an_index_and_no_loans),
		T(loans_and_their_bytes_are_kept_across_a_kill),
		T(a_block_freed_but_not_cleared_reads_zeros_again),
		T(a_clean_stop_survives_a_new_boot_a_running_store_not),
		T(a_foreign_index_is_refused_and_fresh_starts_over),
		T(a_damaged_index_is_refused_one_torn_entry_dropped),
		cmocka_unit_test(headers_and_entries_round_trip_and_bind),
	};
#undef T

	log_init("test-ms-index", LOG_LVL_INFO);
	return cmocka_run_group_tests(tests, NULL, NULL);
}
