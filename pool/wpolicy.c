// SPDX-License-Identifier: MIT
/*
 * Memserver write policies (wpolicy.h): the memserver copy of each block
 * elsewhere, how writes treat it, and the flusher thread that makes it
 * when it is missing and brings it up to date when it is behind. Kept out
 * of replica.c and rebuild.c, which only ask here whether a slot is the
 * memserver's and whether its copy is current.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>

#include "cmp/log.h"
#include "cmp/util.h"
#include "pool-internal.h"

#define BATCH 64u	       /* handles taken per lock hold */
#define RETRY_NS 1000000000ull /* nothing could be done: again after */
#define LOG_NS 10000000000ull  /* a line on failures at most this often */
#define WORD_BITS 64u

static const char *const names[] = {
	[POOL_WP_NONE] = "none",
	[POOL_WP_THROUGH] = "through",
	[POOL_WP_BACK] = "back",
};

const char *pool_wpolicy_name(enum pool_wpolicy w)
{
	return (unsigned)w < ARRAY_SIZE(names) ? names[w] : "?";
}

int pool_wpolicy_parse(const char *s, enum pool_wpolicy *out)
{
	for (size_t i = 0; i < ARRAY_SIZE(names); i++) {
		if (!strcmp(s, names[i])) {
			*out = (enum pool_wpolicy)i;
			return 0;
		}
	}
	return -EINVAL;
}

enum pool_wpolicy pool_get_wpolicy(const struct pool *p)
{
	return p->wp.policy;
}

/* ---- the behind set ---- */

bool pool_wp_behind_locked(const struct pool *p, uint32_t h)
{
	return p->wp.behind &&
	       (p->wp.behind[h / WORD_BITS] >> (h % WORD_BITS)) & 1;
}

void pool_wp_mark_locked(struct pool *p, uint32_t h)
{
	struct pool_wp *wp = &p->wp;

	if (!wp->behind || pool_wp_behind_locked(p, h))
		return;
	wp->behind[h / WORD_BITS] |= 1ull << (h % WORD_BITS);
	/* the first one wakes the flusher, which waits delay_ns for more */
	if (!wp->c.pending++)
		pthread_cond_signal(&wp->wake);
}

void pool_wp_forget_locked(struct pool *p, uint32_t h)
{
	if (!pool_wp_behind_locked(p, h))
		return;
	p->wp.behind[h / WORD_BITS] &= ~(1ull << (h % WORD_BITS));
	p->wp.c.pending--;
}

bool pool_wp_current_locked(struct pool *p, uint32_t h, uint32_t k)
{
	return !pool_wp_is_slot(p, k) || !pool_wp_behind_locked(p, h);
}

static bool has_ms_copy_locked(struct pool *p, uint32_t h)
{
	return p->wp.policy != POOL_WP_NONE &&
	       pool_slot(p, h, p->wp.slot)->node;
}

uint32_t pool_wp_live_copies_locked(struct pool *p, uint32_t h)
{
	return p->handles[h].ncopies -
	       (has_ms_copy_locked(p, h) && pool_wp_behind_locked(p, h));
}

uint32_t pool_wp_compute_copies_locked(struct pool *p, uint32_t h)
{
	return p->handles[h].ncopies - has_ms_copy_locked(p, h);
}

bool pool_wp_skip_write_locked(struct pool *p, uint32_t h, uint32_t k)
{
	if (!pool_wp_is_slot(p, k))
		return false;
	/* a copy behind stays behind: only the flusher writes it whole */
	return pool_wp_behind_locked(p, h) ||
	       (p->wp.policy == POOL_WP_BACK &&
		p->handles[h].state == HANDLE_REMOTE);
}

void pool_wp_wrote_locked(struct pool *p, uint32_t h,
			  const struct pool_copy_set *set, const int *rets,
			  uint32_t len)
{
	if (p->wp.policy == POOL_WP_NONE)
		return;
	for (uint32_t i = 0; i < set->n; i++) {
		if (!pool_wp_is_slot(p, set->c[i].k) || rets[i])
			continue;
		p->wp.c.ms_writes++;
		p->wp.c.ms_write_bytes += len;
	}
	/* a write to a block elsewhere, not its move out: flushed later */
	if (p->wp.policy == POOL_WP_BACK &&
	    p->handles[h].state == HANDLE_REMOTE)
		pool_wp_mark_locked(p, h);
}

void pool_wp_wrote(struct pool *p, uint32_t h, const struct pool_copy_set *set,
		   const int *rets, uint32_t len)
{
	if (p->wp.policy == POOL_WP_NONE)
		return;
	pthread_mutex_lock(&p->lock);
	pool_wp_wrote_locked(p, h, set, rets, len);
	pthread_mutex_unlock(&p->lock);
}

void pool_wp_read_from(struct pool *p, uint32_t k)
{
	if (!pool_wp_is_slot(p, k))
		return;
	pthread_mutex_lock(&p->lock);
	p->wp.c.ms_reads++;
	pthread_mutex_unlock(&p->lock);
}

void pool_wp_get_counts_locked(const struct pool *p, struct pool_wp_counts *out)
{
	*out = p->wp.c;
}

/* ---- the memserver copy's loan ---- */

/* The nodes of h's compute copies, to avoid (lock). */
static uint32_t compute_nodes_locked(struct pool *p, uint32_t h,
				     uint32_t *avoid)
{
	uint32_t n = 0;

	for (uint32_t k = 0; k < p->slots; k++)
		if (!pool_wp_is_slot(p, k) && pool_slot(p, h, k)->node)
			avoid[n++] = pool_slot(p, h, k)->node;
	return n;
}

/* One block on a memserver, on none of avoid[] (no lock held). */
static int borrow_ms(struct pool *p, const uint32_t *avoid, uint32_t navoid,
		     struct pool_ref *ref)
{
	int ret;

	if (!p->cops->borrow_memserver)
		return -EOPNOTSUPP;
	pthread_mutex_lock(&p->lock);
	p->borrowing++;
	pthread_mutex_unlock(&p->lock);
	ret = p->cops->borrow_memserver(p->cctx, avoid, navoid, ref);
	pthread_mutex_lock(&p->lock);
	p->borrowing--;
	pthread_mutex_unlock(&p->lock);
	return ret;
}

/* Records loan ref as h's memserver copy, or gives it back (lock). */
static bool add_ms_locked(struct pool *p, uint32_t h,
			  const struct pool_ref *ref)
{
	struct pool_ref *s = pool_slot(p, h, p->wp.slot);

	if (s->node || !(p->handles[h].flags & HF_ON_LRL)) {
		pool_release_locked(p, ref);
		return false;
	}
	*s = *ref;
	p->handles[h].ncopies++;
	p->rc.copies++;
	p->wp.c.ms_copies++;
	return true;
}

void pool_wp_borrow(struct pool *p, uint32_t h)
{
	uint32_t avoid[POOL_MAX_SLOTS], navoid;
	struct pool_ref ref;
	int ret;

	if (p->wp.policy == POOL_WP_NONE)
		return;
	pthread_mutex_lock(&p->lock);
	navoid = compute_nodes_locked(p, h, avoid);
	pthread_mutex_unlock(&p->lock);
	ret = borrow_ms(p, avoid, navoid, &ref);
	pthread_mutex_lock(&p->lock);
	if (ret || !add_ms_locked(p, h, &ref))
		pool_wp_mark_locked(p, h);
	pthread_mutex_unlock(&p->lock);
	if (ret)
		log_warn_rl("pool: no memserver copy for a block moving out "
			    "(%s): made later",
			    strerror(-ret));
	else if (p->cops->borrowed)
		p->cops->borrowed(p->cctx, &ref);
}

/* ---- the flusher ---- */

/*
 * Takes h to bring its memserver copy up to date (lock): MOVING, its
 * compute copies' nodes in avoid[], its memserver loan in *ref (node 0:
 * none yet). -ENOENT: nothing to do; -EBUSY: in use (soon again);
 * -EAGAIN: no compute copy can be read now.
 */
static int take_locked(struct pool *p, uint32_t h, uint32_t *avoid,
		       uint32_t *navoid, struct pool_ref *ref)
{
	struct handle_loc *loc = pool_handle_locked(p, h);
	bool source = false;

	if (!pool_wp_behind_locked(p, h))
		return -ENOENT;
	if (!loc || !(loc->flags & HF_ON_LRL) || loc->state == HANDLE_LOST ||
	    loc->state == HANDLE_LOCAL) {
		pool_wp_forget_locked(p, h);
		return -ENOENT;
	}
	if (loc->state != HANDLE_REMOTE || loc->pins)
		return -EBUSY;
	for (uint32_t k = 0; k < p->slots; k++)
		if (!pool_wp_is_slot(p, k) &&
		    pool_copy_readable_locked(p, pool_slot(p, h, k)))
			source = true;
	if (!source)
		return -EAGAIN;
	*navoid = compute_nodes_locked(p, h, avoid);
	*ref = *pool_slot(p, h, p->wp.slot);
	loc->state = HANDLE_MOVING;
	return 0;
}

/* The end of a flush of h to loan ref with result ret (lock). */
static void finish_locked(struct pool *p, uint32_t h,
			  const struct pool_ref *ref, int ret)
{
	struct handle_loc *loc = &p->handles[h];
	bool named = ref->node && pool_slot_names_locked(p, h, p->wp.slot, ref);

	if (loc->flags & HF_FREE_PENDING) {
		pool_copies_give_back_locked(p, h);
		pool_handle_put_locked(p, h);
		return;
	}
	if (!ret && named) {
		pool_wp_forget_locked(p, h);
		p->wp.c.flushes++;
		p->wp.c.ms_writes++;
		p->wp.c.ms_write_bytes += p->block_size;
	} else {
		p->wp.c.flush_failures++;
		/* its memserver no longer holds it: gone, made again */
		if (ret == -ESTALE && named)
			pool_copy_drop_locked(p, h, p->wp.slot, false);
	}
	if (pool_wp_live_copies_locked(p, h))
		loc->state = HANDLE_REMOTE;
	else
		pool_lose_locked(p, h);
}

/* Brings h's memserver copy up to date: 0 or -errno (see take_locked). */
static int flush_one(struct pool *p, uint32_t h)
{
	uint32_t avoid[POOL_MAX_SLOTS], navoid = 0;
	struct pool_ref ref = {0};
	int ret;

	pthread_mutex_lock(&p->lock);
	ret = take_locked(p, h, avoid, &navoid, &ref);
	pthread_mutex_unlock(&p->lock);
	if (ret)
		return ret;
	/* held: nobody writes it while it is copied */
	if (!ref.node) {
		ret = borrow_ms(p, avoid, navoid, &ref);
		if (!ret) {
			pthread_mutex_lock(&p->lock);
			if (!add_ms_locked(p, h, &ref))
				ret = -EAGAIN;
			pthread_mutex_unlock(&p->lock);
			if (p->cops->borrowed)
				p->cops->borrowed(p->cctx, &ref);
		}
	}
	/* (behind: the read comes from a compute copy) */
	if (!ret)
		ret = pool_copies_read(p, h, 0, p->wp.buf, p->block_size);
	if (!ret)
		ret = pool_remote_io(p, h, p->wp.slot, &ref, 0, p->wp.buf,
				     p->block_size, true);
	pthread_mutex_lock(&p->lock);
	finish_locked(p, h, &ref, ret);
	pthread_cond_broadcast(&p->moved);
	pthread_mutex_unlock(&p->lock);
	return ret;
}

/* Up to BATCH handles behind, from handle *cursor on (lock). */
static uint32_t collect_locked(struct pool *p, uint32_t *cursor, uint32_t *out)
{
	uint32_t n = 0, h = *cursor;
	uint32_t end = p->next_new_handle;

	while (h < end && n < BATCH) {
		uint64_t w = p->wp.behind[h / WORD_BITS] >> (h % WORD_BITS);

		if (!w) {
			h = (h / WORD_BITS + 1) * WORD_BITS;
			continue;
		}
		h += (uint32_t)__builtin_ctzll(w);
		if (h < end)
			out[n++] = h;
		h++;
	}
	*cursor = h;
	return n;
}

/* One pass over the behind set: 0 all done, else the retry delay (ns). */
static uint64_t pass(struct pool *p)
{
	uint32_t cursor = 1, batch[BATCH], n;
	uint64_t retry = 0;
	int ret, err = 0;

	do {
		pthread_mutex_lock(&p->lock);
		n = p->wp.stop ? 0 : collect_locked(p, &cursor, batch);
		pthread_mutex_unlock(&p->lock);
		for (uint32_t i = 0; i < n; i++) {
			ret = flush_one(p, batch[i]);
			if (ret == -EBUSY)
				retry = retry ? retry : p->wp.delay_ns;
			else if (ret && ret != -ENOENT) {
				retry = RETRY_NS;
				err = ret;
			}
		}
	} while (n);
	if (err) {
		static _Atomic uint64_t logged;
		uint64_t now = cmp_now_ns();

		if (now - logged > LOG_NS) {
			logged = now;
			log_warn(
				"pool: memserver copies not brought up to date "
				"(%s); trying again",
				strerror(-err));
		}
	}
	/* the loans given back on the way go now */
	pool_drain_releases(p);
	return retry;
}

static void wait_ns_locked(struct pool *p, uint64_t ns)
{
	struct timespec dl;

	cmp_deadline_ms(&dl, ns / 1000000 + 1);
	pthread_cond_timedwait(&p->wp.wake, &p->lock, &dl);
}

static void *flusher_main(void *arg)
{
	struct pool *p = arg;
	struct pool_wp *wp = &p->wp;
	uint64_t retry = 0;

	pthread_mutex_lock(&p->lock);
	while (!wp->stop) {
		if (!wp->kick && (!wp->c.pending || retry)) {
			if (!wp->c.pending)
				pthread_cond_wait(&wp->wake, &p->lock);
			else
				wait_ns_locked(p, retry);
			retry = 0;
			continue;
		}
		/* writes that come together are flushed together */
		if (!wp->kick)
			wait_ns_locked(p, wp->delay_ns);
		wp->kick = false;
		pthread_mutex_unlock(&p->lock);
		retry = pass(p);
		pthread_mutex_lock(&p->lock);
		wp->passes++;
		pthread_cond_broadcast(&wp->pass_done);
	}
	pthread_mutex_unlock(&p->lock);
	return NULL;
}

int pool_wp_flush(struct pool *p, int timeout_ms)
{
	struct pool_wp *wp = &p->wp;
	struct timespec dl;
	int ret = 0;

	if (wp->policy == POOL_WP_NONE)
		return 0;
	cmp_deadline_ms(&dl, timeout_ms);
	pthread_mutex_lock(&p->lock);
	if (!wp->running)
		ret = wp->c.pending ? -ENOTCONN : 0;
	while (!ret && wp->c.pending) {
		uint64_t seen = wp->passes;

		wp->kick = true;
		pthread_cond_signal(&wp->wake);
		while (!ret && wp->passes == seen && wp->running)
			ret = -pthread_cond_timedwait(&wp->pass_done, &p->lock,
						      &dl);
		if (!ret && !wp->running)
			ret = -ENOTCONN;
	}
	pthread_mutex_unlock(&p->lock);
	return ret;
}

/* ---- setting up ---- */

int pool_wp_init(struct pool *p, const struct pool_config *cfg)
{
	struct pool_wp *wp = &p->wp;

	if ((unsigned)cfg->wpolicy > POOL_WP_BACK)
		return -EINVAL;
	wp->policy = cfg->wpolicy;
	wp->delay_ns = (uint64_t)(cfg->wb_delay_ms ? cfg->wb_delay_ms
						   : POOL_DEFAULT_WB_DELAY_MS) *
		       1000000ull;
	cmp_cond_init_monotonic(&wp->wake);
	cmp_cond_init_monotonic(&wp->pass_done);
	if (wp->policy == POOL_WP_NONE)
		return 0;
	wp->slot = p->slots - 1;
	wp->behind_bytes = ((size_t)p->max_handles / WORD_BITS + 1) * 8;
	wp->behind = mmap(NULL, wp->behind_bytes, PROT_READ | PROT_WRITE,
			  MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
	if (wp->behind == MAP_FAILED) {
		wp->behind = NULL;
		pthread_cond_destroy(&wp->wake);
		pthread_cond_destroy(&wp->pass_done);
		return -ENOMEM;
	}
	return 0;
}

void pool_wp_finish(struct pool *p)
{
	if (p->wp.behind)
		munmap(p->wp.behind, p->wp.behind_bytes);
	p->wp.behind = NULL;
	pthread_cond_destroy(&p->wp.wake);
	pthread_cond_destroy(&p->wp.pass_done);
}

int pool_wp_start(struct pool *p)
{
	struct pool_wp *wp = &p->wp;
	int ret;

	if (wp->policy == POOL_WP_NONE)
		return 0;
	wp->buf = malloc(p->block_size);
	if (!wp->buf)
		return -ENOMEM;
	wp->stop = false;
	ret = -pthread_create(&wp->thread, NULL, flusher_main, p);
	if (ret) {
		log_error("pool: cannot start the memserver flusher: %s",
			  strerror(-ret));
		free(wp->buf);
		wp->buf = NULL;
		return ret;
	}
	pthread_mutex_lock(&p->lock);
	wp->running = true;
	pthread_mutex_unlock(&p->lock);
	return 0;
}

void pool_wp_stop(struct pool *p)
{
	struct pool_wp *wp = &p->wp;

	pthread_mutex_lock(&p->lock);
	if (!wp->running) {
		pthread_mutex_unlock(&p->lock);
		return;
	}
	wp->stop = true;
	pthread_cond_signal(&wp->wake);
	pthread_mutex_unlock(&p->lock);
	pthread_join(wp->thread, NULL);
	pthread_mutex_lock(&p->lock);
	wp->running = false;
	pthread_cond_broadcast(&wp->pass_done);
	pthread_mutex_unlock(&p->lock);
	free(wp->buf);
	wp->buf = NULL;
}
