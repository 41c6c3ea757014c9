/* SPDX-License-Identifier: MIT */
/*
 * The index of a kept store (cmp-memserver --store): FILE.idx beside the
 * store FILE says whose each block is, so a memserver that restarts on the
 * same store lends every block to its owner again and owners that
 * reconnect find their blocks (issue 11).
 *
 * Layout (little-endian), ms_index_file_size(nblocks) bytes:
 *
 *   0      header (MS_INDEX_HDR_SIZE bytes)
 *            magic "CMPSIDX\n", version u32, entries_off u32,
 *            block_size u32, nblocks u32, node_id u32, state u32,
 *            incarnation u64, seed u64, store_ino u64, boot u64,
 *            zero padding, check u64 = XXH3-64 of everything before it
 *   4096   one entry per block (MS_INDEX_ENTRY_SIZE bytes each)
 *            owner u32, epoch u32, flags u32 (enum peer_kept_flags),
 *            check u32 = the low half of XXH3-64(block, owner, epoch,
 *            flags) seeded with the header's seed
 *            all zero: the block is not lent
 *
 * The header is written with pwrite() (a process killed in the middle of
 * it cannot tear it) and fdatasync()ed whenever it changes: at creation,
 * at each start (state RUNNING, and the boot it runs in) and at a clean
 * stop (state CLEAN, after the blocks and the entries are on disk). The
 * entries live in a shared mapping and change with every loan: a kill -9
 * can tear at most the one being written (the loan table's lock
 * serializes them), and that loan's request was not answered yet.
 *
 * The decoders (ms_index_hdr_decode, ms_index_entry_decode, ms_index_scan)
 * are pure: they read bytes from disk, validate every field, and are the
 * fuzz target (tests/fuzz/fuzz-ms-index.c). Threads: an index is used by
 * one thread at a time except ms_index_set_entry(), whose callers
 * serialize (the loan table's lock).
 */
#ifndef CMP_MEMSERVER_INDEX_H
#define CMP_MEMSERVER_INDEX_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "cmp/peer.h"

#define MS_INDEX_MAGIC "CMPSIDX\n"
#define MS_INDEX_VERSION 1u
#define MS_INDEX_HDR_SIZE 128u
#define MS_INDEX_ENTRIES_OFF 4096u
#define MS_INDEX_ENTRY_SIZE 16u
/*
 * Entries that fail their check and are dropped as torn (a kill in the
 * middle of writing one); more than this is a damaged index.
 */
#define MS_INDEX_TORN_MAX 1u

enum ms_index_state {
	MS_INDEX_RUNNING = 1, /* in use; on disk only what the kernel wrote */
	MS_INDEX_CLEAN = 2,   /* stopped cleanly: blocks and entries synced */
};

struct ms_index_hdr {
	uint32_t block_size;
	uint32_t nblocks;
	uint32_t node_id;     /* the memserver's, nonzero */
	uint32_t state;	      /* enum ms_index_state */
	uint64_t incarnation; /* the peer's, kept across restarts; nonzero */
	uint64_t seed;	      /* of the entries' checks */
	uint64_t store_ino;   /* the store file's inode number */
	uint64_t boot;	      /* the machine boot it last ran in (0: unknown) */
};

/* Bytes of the index of a store of nblocks blocks. */
uint64_t ms_index_file_size(uint32_t nblocks);

/* MS_INDEX_HDR_SIZE bytes into buf. */
void ms_index_hdr_encode(const struct ms_index_hdr *h, uint8_t *buf);
/*
 * Checks and decodes a header from len bytes. 0, or -EBADMSG with *why
 * saying what is wrong (a static string for one log line).
 */
int ms_index_hdr_decode(const uint8_t *buf, size_t len,
			struct ms_index_hdr *out, const char **why);

/* MS_INDEX_ENTRY_SIZE bytes: ln lent (owner != 0), or zeros. */
void ms_index_entry_encode(uint8_t *e, uint64_t seed,
			   const struct peer_kept_loan *ln);
/*
 * Decodes block's entry: 0 (not lent: *out zeroed), 1 (lent: *out), or
 * -EBADMSG (torn or garbage).
 */
int ms_index_entry_decode(const uint8_t *e, uint64_t seed, uint32_t block,
			  struct peer_kept_loan *out);

struct ms_index_scan {
	uint32_t loans; /* lent entries */
	uint32_t torn;	/* entries that failed their check (dropped) */
};
/*
 * Checks a whole index image: its header (into *hdr), its length, and
 * every entry; calls loan() for each lent one, in block order (loan may be
 * NULL). 0, or -EBADMSG with *why: a bad header, a wrong length, or more
 * than MS_INDEX_TORN_MAX torn entries.
 */
int ms_index_scan(const uint8_t *img, size_t len, struct ms_index_hdr *hdr,
		  void (*loan)(void *ctx, const struct peer_kept_loan *ln),
		  void *ctx, struct ms_index_scan *out, const char **why);

/* ---- the file ---- */

struct ms_index;

/*
 * Makes a new index at path for *h (every block not lent), replacing any
 * file there only once the new one is on disk. 0, or -errno (logged).
 */
int ms_index_create(const char *path, const struct ms_index_hdr *h,
		    struct ms_index **out);
/*
 * Opens the index at path and maps it: -ENOENT when there is none
 * (nothing logged), else 0 with *out; the caller checks it with
 * ms_index_image() and ms_index_scan(). Other errors -errno (logged).
 */
int ms_index_open(const char *path, struct ms_index **out);
/* The mapped file (for ms_index_scan()). */
const uint8_t *ms_index_image(const struct ms_index *ix, size_t *len);
/*
 * Writes header *h (after a scan: the one read, with a new state and
 * boot) and adopts its seed and block count for the entries; on disk
 * (fdatasync) before it returns. 0 or -errno (logged).
 */
int ms_index_write_hdr(struct ms_index *ix, const struct ms_index_hdr *h);
/* Writes block's entry (ln->owner 0: not lent). Callers serialize. */
void ms_index_set_entry(struct ms_index *ix, const struct peer_kept_loan *ln);
/* The entries on disk (msync). 0 or -errno (logged). */
int ms_index_sync(struct ms_index *ix);
void ms_index_close(struct ms_index *ix);

#endif
