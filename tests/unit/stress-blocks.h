/* SPDX-License-Identifier: MIT */
/*
 * The data model of the block lifecycle stress test (test-block-stress.c):
 * what a block should hold, and the first failure any thread saw.
 *
 * A block is BS bytes, STRESS_WORDS 64-bit words in STRESS_NCHUNK chunks.
 * Every word names what it belongs to: its top STRESS_GEN_BITS bits are the
 * generation of the write that put it there (per chunk, counted from 1 for
 * each loan), the rest a hash of (a key, the word's index). The key is made
 * of who wrote it and which loan it was (owner node, slot, the slot's life,
 * block, epoch), so a word of another block, another owner, another loan
 * of the same block or another place in the block fails the check; a
 * block never written since it was lent must be zeros (a cleared loan).
 *
 * A chunk's expected generation is a range: lo is the last write that was
 * acknowledged, hi the last one attempted (a write that failed may have
 * landed in part, as on a disk). Callers keep data operations on one
 * block exclusive, so nothing else moves lo or hi while one runs.
 *
 * Threads: stress_fail() and stress_failed() are thread-safe; the rest are
 * pure functions of their arguments.
 */
#ifndef CMP_TEST_STRESS_BLOCKS_H
#define CMP_TEST_STRESS_BLOCKS_H

#include <stdbool.h>
#include <stdint.h>

#define STRESS_BS (256u << 10)
#define STRESS_WORDS (STRESS_BS / 8)
#define STRESS_CHUNK_WORDS 4096u /* 32 KiB */
#define STRESS_NCHUNK (STRESS_WORDS / STRESS_CHUNK_WORDS)
#define STRESS_GEN_BITS 24
#define STRESS_GEN_MAX ((1u << STRESS_GEN_BITS) - 1)

/* A deterministic generator per thread (splitmix64). */
struct rng {
	uint64_t s;
};

uint64_t rng_next(struct rng *g);
/* Uniform in [0, n), n > 0. */
uint32_t rng_below(struct rng *g, uint32_t n);

/* The key of one loan's data: any four numbers that identify it. */
uint64_t stress_key(uint32_t a, uint32_t b, uint32_t c, uint32_t d);

/*
 * Words [w0, w0 + nw) of a block written with generation gen[chunk] (each
 * >= 1) under key, into buf[0 .. nw).
 */
void stress_fill(uint64_t key, const uint32_t *gen, uint32_t w0, uint32_t nw,
		 uint64_t *buf);

/*
 * Checks buf[0 .. nw), read from words [w0, w0 + nw): each word is zero
 * with lo[chunk] == 0, or key's word of a generation in
 * [max(lo, 1), hi] of its chunk. Returns -1 when all are, else the index
 * in buf of the first that is not.
 */
long stress_check(uint64_t key, const uint32_t *lo, const uint32_t *hi,
		  uint32_t w0, uint32_t nw, const uint64_t *buf);

/*
 * A block as its owner knows it. A slot's data operations are exclusive
 * (busy); what ends a loan may come in the middle of one.
 */
enum slot_state {
	SLOT_EMPTY,
	SLOT_LIVE,
	SLOT_FREEING, /* a remote owner's FREE is on its way */
	SLOT_LOST,    /* its provider no longer holds it (EIO from then on) */
};

struct slot {
	uint8_t state; /* enum slot_state */
	bool busy;     /* a data operation, a borrow or a free holds it */
	uint32_t life; /* +1 per loan or handle: part of the key */
	uint32_t pgen; /* the provider's generation when it was borrowed */
	uint32_t block, epoch; /* a remote owner's loan */
	uint32_t handle;       /* the pool owner's */
	uint32_t lo[STRESS_NCHUNK], hi[STRESS_NCHUNK];
};

/* One data operation on one slot (one extent of a batch). */
struct xfer {
	uint32_t si; /* the slot */
	uint64_t key;
	uint32_t w0, nw;	     /* words */
	uint32_t gen[STRESS_NCHUNK]; /* a write's, by chunk */
	uint32_t lo[STRESS_NCHUNK];  /* a read's expectation */
	uint32_t hi[STRESS_NCHUNK];
	uint64_t *buf;
};

/*
 * Takes a live slot of slots[0..n) nobody is using (busy) for one read or
 * write of a random range: a write gets the next generation of each chunk
 * it covers (hi moves now: a write may land even when it fails). False
 * when a few tries found none. The caller sets x->key.
 */
bool slot_claim(struct slot *slots, uint32_t n, struct rng *g, bool write,
		struct xfer *x);
/* The operation ended with ret: an acknowledged write moves lo. */
void slot_settle(struct slot *slots, const struct xfer *x, bool write, int ret);
/* A new loan or handle in s: live, a new life, never written. */
void slot_renew(struct slot *s, uint32_t pgen);

/*
 * The first failure any thread saw (printf format): kept, and
 * stress_failed() becomes true. Later ones are counted, not kept.
 */
void stress_fail(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
bool stress_failed(void);
/* The first failure's text, and how many more there were. */
const char *stress_failure(unsigned int *more);

#endif
