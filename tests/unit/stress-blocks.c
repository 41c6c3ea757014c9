// SPDX-License-Identifier: MIT
/*
 * The data model of stress-blocks.h: per-word patterns that say whose and
 * which write they are, and the first failure seen by any thread.
 */
#include <pthread.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <string.h>

#include "stress-blocks.h"

#define HASH_MASK ((1ull << (64 - STRESS_GEN_BITS)) - 1)

static uint64_t mix64(uint64_t x)
{
	x += 0x9e3779b97f4a7c15ull;
	x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ull;
	x = (x ^ (x >> 27)) * 0x94d049bb133111ebull;
	return x ^ (x >> 31);
}

uint64_t rng_next(struct rng *g)
{
	g->s += 0x9e3779b97f4a7c15ull;
	return mix64(g->s);
}

uint32_t rng_below(struct rng *g, uint32_t n)
{
	return (uint32_t)(((rng_next(g) >> 32) * n) >> 32);
}

uint64_t stress_key(uint32_t a, uint32_t b, uint32_t c, uint32_t d)
{
	return mix64(mix64(((uint64_t)a << 32) | b) ^
		     (((uint64_t)c << 32) | d));
}

static uint64_t word_of(uint64_t key, uint32_t gen, uint32_t w)
{
	return ((uint64_t)gen << (64 - STRESS_GEN_BITS)) |
	       (mix64(key ^ ((uint64_t)w << 20) ^ gen) & HASH_MASK);
}

void stress_fill(uint64_t key, const uint32_t *gen, uint32_t w0, uint32_t nw,
		 uint64_t *buf)
{
	for (uint32_t i = 0; i < nw; i++) {
		uint32_t w = w0 + i;

		buf[i] = word_of(key, gen[w / STRESS_CHUNK_WORDS], w);
	}
}

static bool word_ok(uint64_t key, uint32_t lo, uint32_t hi, uint32_t w,
		    uint64_t v)
{
	uint32_t g = (uint32_t)(v >> (64 - STRESS_GEN_BITS));

	if (v == 0)
		return lo == 0;
	return g >= (lo ? lo : 1) && g <= hi && v == word_of(key, g, w);
}

long stress_check(uint64_t key, const uint32_t *lo, const uint32_t *hi,
		  uint32_t w0, uint32_t nw, const uint64_t *buf)
{
	for (uint32_t i = 0; i < nw; i++) {
		uint32_t w = w0 + i, c = w / STRESS_CHUNK_WORDS;

		if (!word_ok(key, lo[c], hi[c], w, buf[i]))
			return (long)i;
	}
	return -1;
}

#define CLAIM_TRIES 8

/* A chunk range to write, a word range to read (now and then a block). */
static void pick_range(struct rng *g, bool write, struct xfer *x)
{
	uint32_t c0, c1;

	if (write) {
		c0 = rng_below(g, STRESS_NCHUNK);
		c1 = c0 + 1 + rng_below(g, STRESS_NCHUNK - c0);
		x->w0 = c0 * STRESS_CHUNK_WORDS;
		x->nw = (c1 - c0) * STRESS_CHUNK_WORDS;
	} else if (!rng_below(g, 8)) {
		x->w0 = 0;
		x->nw = STRESS_WORDS;
	} else {
		x->w0 = rng_below(g, STRESS_WORDS);
		x->nw = 1 + rng_below(g, STRESS_WORDS - x->w0);
	}
}

bool slot_claim(struct slot *slots, uint32_t n, struct rng *g, bool write,
		struct xfer *x)
{
	struct slot *s = NULL;
	uint32_t i = 0;

	for (int t = 0; t < CLAIM_TRIES && !s; t++) {
		i = rng_below(g, n);
		if (slots[i].state == SLOT_LIVE && !slots[i].busy)
			s = &slots[i];
	}
	if (!s)
		return false;
	s->busy = true;
	x->si = i;
	pick_range(g, write, x);
	memcpy(x->lo, s->lo, sizeof(x->lo));
	memcpy(x->hi, s->hi, sizeof(x->hi));
	if (write)
		for (uint32_t c = x->w0 / STRESS_CHUNK_WORDS;
		     c < (x->w0 + x->nw) / STRESS_CHUNK_WORDS; c++)
			x->gen[c] = s->hi[c] = s->hi[c] + 1;
	return true;
}

void slot_settle(struct slot *slots, const struct xfer *x, bool write, int ret)
{
	struct slot *s = &slots[x->si];

	if (write && ret == 0)
		for (uint32_t c = x->w0 / STRESS_CHUNK_WORDS;
		     c < (x->w0 + x->nw) / STRESS_CHUNK_WORDS; c++)
			s->lo[c] = x->gen[c];
	s->busy = false;
}

void slot_renew(struct slot *s, uint32_t pgen)
{
	s->state = SLOT_LIVE;
	s->life++;
	s->pgen = pgen;
	memset(s->lo, 0, sizeof(s->lo));
	memset(s->hi, 0, sizeof(s->hi));
}

static pthread_mutex_t fail_lock = PTHREAD_MUTEX_INITIALIZER;
static char first_failure[512];
static unsigned int more_failures;
static atomic_bool failed;

void stress_fail(const char *fmt, ...)
{
	va_list ap;

	pthread_mutex_lock(&fail_lock);
	if (!atomic_load(&failed)) {
		va_start(ap, fmt);
		vsnprintf(first_failure, sizeof(first_failure), fmt, ap);
		va_end(ap);
		atomic_store(&failed, true);
	} else {
		more_failures++;
	}
	pthread_mutex_unlock(&fail_lock);
}

bool stress_failed(void)
{
	return atomic_load(&failed);
}

const char *stress_failure(unsigned int *more)
{
	pthread_mutex_lock(&fail_lock);
	*more = more_failures;
	pthread_mutex_unlock(&fail_lock);
	return first_failure;
}
