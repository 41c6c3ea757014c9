// SPDX-License-Identifier: MIT
/*
 * This node's share of the pool: the region, the free list and LLL in LRU
 * order, and the handle table that lets a block of our data move without
 * the file system noticing. The CMP principles that move data between
 * nodes (evicting to LRL, pulling home, lending as RLL) are in cmp.c and
 * work on the same structures.
 */
#include <assert.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>

#include "cmp/log.h"
#include "cmp/util.h"
#include "pool-internal.h"

/*
 * The first copy elsewhere is the handle's loan, the others are in a side
 * table: copies cost a handle one byte (ncopies), 44 bytes with the
 * exchange's heat where it was 40.
 */
_Static_assert(sizeof(struct handle_loc) == 44, "a handle is 44 bytes");

static const char *const list_names[POOL_NLISTS] = {"free", "LLL", "LRL", "RLL",
						    "RRL"};

const char *pool_list_name(enum pool_list l)
{
	return l < POOL_NLISTS ? list_names[l] : "?";
}

static void list_init(struct block_list *l)
{
	l->head = l->tail = NIL;
	l->count = 0;
}

void pool_list_push_head_locked(struct pool *p, enum pool_list which,
				uint32_t b)
{
	struct block_list *l;
	struct local_block *e = &p->blocks[b];

	/* a shrink under way gives these back (resize.c) */
	if (which == POOL_FREE && b >= p->limit_blocks)
		which = POOL_RETIRED;
	l = &p->lists[which];

	e->list = which;
	e->prev = NIL;
	e->next = l->head;
	if (l->head != NIL)
		p->blocks[l->head].prev = b;
	else
		l->tail = b;
	l->head = b;
	l->count++;
}

void pool_list_push_tail_locked(struct pool *p, enum pool_list which,
				uint32_t b)
{
	struct block_list *l = &p->lists[which];
	struct local_block *e = &p->blocks[b];

	if (l->tail == NIL) {
		pool_list_push_head_locked(p, which, b);
		return;
	}
	e->list = which;
	e->next = NIL;
	e->prev = l->tail;
	p->blocks[l->tail].next = b;
	l->tail = b;
	l->count++;
}

void pool_list_remove_locked(struct pool *p, uint32_t b)
{
	struct local_block *e = &p->blocks[b];
	struct block_list *l;

	assert(e->list != POOL_OFF);
	l = &p->lists[e->list];

	if (e->prev != NIL)
		p->blocks[e->prev].next = e->next;
	else
		l->head = e->next;
	if (e->next != NIL)
		p->blocks[e->next].prev = e->prev;
	else
		l->tail = e->prev;
	e->prev = e->next = NIL;
	e->list = POOL_OFF;
	l->count--;
}

void pool_lrl_push_locked(struct pool *p, uint32_t h, bool head)
{
	struct handle_loc *loc = &p->handles[h];

	loc->flags |= HF_ON_LRL;
	if (head) {
		loc->prev = NIL;
		loc->next = p->lrl_head;
		if (p->lrl_head != NIL)
			p->handles[p->lrl_head].prev = h;
		else
			p->lrl_tail = h;
		p->lrl_head = h;
	} else {
		loc->next = NIL;
		loc->prev = p->lrl_tail;
		if (p->lrl_tail != NIL)
			p->handles[p->lrl_tail].next = h;
		else
			p->lrl_head = h;
		p->lrl_tail = h;
	}
	p->lists[POOL_LRL].count++;
}

void pool_lrl_remove_locked(struct pool *p, uint32_t h)
{
	struct handle_loc *loc = &p->handles[h];

	if (loc->prev != NIL)
		p->handles[loc->prev].next = loc->next;
	else
		p->lrl_head = loc->next;
	if (loc->next != NIL)
		p->handles[loc->next].prev = loc->prev;
	else
		p->lrl_tail = loc->prev;
	loc->prev = loc->next = NIL;
	loc->flags &= ~HF_ON_LRL;
	p->lists[POOL_LRL].count--;
}

/* The region, reserved for max_blocks; the first local_blocks locked. */
static int map_region(struct pool *p)
{
	size_t locked =
		MIN((size_t)p->local_blocks << p->block_shift, p->region_bytes);
	void *r;

	if (!p->region_bytes)
		return 0;
	r = mmap(NULL, p->region_bytes, PROT_READ | PROT_WRITE,
		 MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
	if (r == MAP_FAILED)
		return -errno;
	/* Huge pages make the pre-fault and later TLB misses cheaper. */
	madvise(r, p->region_bytes, MADV_HUGEPAGE);
	if (p->lock_memory && locked && mlock(r, locked) < 0) {
		/* mlock also faults every page in: no first-touch later. */
		int err = -errno;

		log_error("cannot lock %zu bytes of pool memory: %s "
			  "(raise RLIMIT_MEMLOCK or run as root)",
			  locked, strerror(-err));
		munmap(r, p->region_bytes);
		return err;
	}
	p->region = r;
	return 0;
}

static int check_config(const struct pool_config *cfg, uint64_t *blocks,
			uint64_t *max)
{
	uint64_t n, m;

	if (!cmp_is_pow2(cfg->block_size) || cfg->block_size < POOL_MIN_BLOCK ||
	    cfg->block_size > POOL_MAX_BLOCK)
		return -EINVAL;
	n = cfg->local_bytes / cfg->block_size;
	m = MAX(cfg->max_bytes / cfg->block_size, n);
	if (m >= NIL)
		return -EINVAL;
	*blocks = n;
	*max = m;
	return 0;
}

static size_t handles_bytes(uint64_t max_handles)
{
	return (size_t)(max_handles + 1) * sizeof(struct handle_loc);
}

void pool_set_watermarks_locked(struct pool *p)
{
	/* 1.5% and 3% of the pool: 15 and 31 blocks of a 1 GiB/1 MiB pool. */
	p->low_wm = p->local_blocks / 64;
	p->high_wm = p->local_blocks / 32;
	/*
	 * A streaming writer: a batch or two moving out while it fills the
	 * next block, even in a small pool (a half, three quarters of it at
	 * most; what it leaves free when it stops is also the room a
	 * sequential reader's prefetch starts in).
	 */
	p->stream_low = MIN(POOL_BATCH, p->local_blocks / 2);
	p->stream_high =
		MIN(2 * POOL_BATCH, p->local_blocks - p->local_blocks / 4);
}

/* Sizes, reserve watermarks and the handle limit of a checked config. */
static void set_sizes(struct pool *p, const struct pool_config *cfg,
		      uint64_t nblocks, uint64_t max_blocks)
{
	uint64_t maxh;

	p->block_size = cfg->block_size;
	p->block_shift = (uint32_t)__builtin_ctz(cfg->block_size);
	p->local_blocks = p->limit_blocks = (uint32_t)nblocks;
	p->max_blocks = (uint32_t)max_blocks;
	p->lock_memory = cfg->lock_memory;
	p->no_contents = cfg->no_contents;
	p->region_bytes =
		(size_t)(cfg->no_contents && max_blocks ? 1 : max_blocks)
		<< p->block_shift;
	pool_set_watermarks_locked(p);
	maxh = cfg->max_handles ? cfg->max_handles : max_blocks + (1u << 22);
	if (maxh >= NIL)
		maxh = NIL - 1;
	p->max_handles = (uint32_t)maxh;
}

/* Empty lists, then every block free, in address order (not yet shared). */
static void init_lists(struct pool *p)
{
	for (int i = 0; i <= POOL_RETIRED; i++)
		list_init(&p->lists[i]);
	p->lrl_head = p->lrl_tail = NIL;
	/* a fresh mapping: every block, up to the most, is zeros */
	for (uint32_t b = 0; b < p->max_blocks; b++)
		p->blocks[b].clean = 1;
	/* Address order: the first allocations are contiguous. */
	for (uint32_t b = p->local_blocks; b-- > 0;)
		pool_list_push_head_locked(p, POOL_FREE, b);
}

struct pool *pool_create(const struct pool_config *cfg)
{
	struct pool *p;
	uint64_t nblocks, max_blocks;
	int err;

	err = check_config(cfg, &nblocks, &max_blocks);
	if (err)
		goto err_out;
	err = -ENOMEM;
	p = calloc(1, sizeof(*p));
	if (!p)
		goto err_out;
	pthread_mutex_init(&p->lock, NULL);
	pthread_mutex_init(&p->resize_lock, NULL);
	pthread_cond_init(&p->moved, NULL);
	pthread_cond_init(&p->helper_wake, NULL);
	cmp_cond_init_monotonic(&p->rebuild_wake);
	cmp_cond_init_monotonic(&p->health_cond);
	set_sizes(p, cfg, nblocks, max_blocks);
	/* Reserved, faulted in as handles are first used. */
	p->handles = mmap(NULL, handles_bytes(p->max_handles),
			  PROT_READ | PROT_WRITE,
			  MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
	if (p->handles == MAP_FAILED)
		goto err_free_pool;
	p->next_new_handle = 1;
	err = pool_copies_init(p, cfg);
	if (err)
		goto err_unmap_handles;

	err = -ENOMEM;
	p->blocks = calloc(max_blocks ? max_blocks : 1, sizeof(*p->blocks));
	if (!p->blocks)
		goto err_finish_copies;
	init_lists(p);
	p->xchg.on = true;
	xchg_size_locked(p, p->local_blocks);
	err = pool_lrl_init(p);
	if (err)
		goto err_free_blocks;

	err = map_region(p);
	if (err)
		goto err_finish_lrl;
	return p;

err_finish_lrl:
	pool_lrl_finish(p);
err_free_blocks:
	free(p->blocks);
err_finish_copies:
	pool_copies_finish(p);
err_unmap_handles:
	munmap(p->handles, handles_bytes(p->max_handles));
err_free_pool:
	pthread_cond_destroy(&p->health_cond);
	pthread_cond_destroy(&p->rebuild_wake);
	pthread_cond_destroy(&p->helper_wake);
	pthread_cond_destroy(&p->moved);
	pthread_mutex_destroy(&p->resize_lock);
	pthread_mutex_destroy(&p->lock);
	free(p);
err_out:
	errno = -err;
	return NULL;
}

void pool_destroy(struct pool *p)
{
	if (!p)
		return;
	pool_stop_cluster(p);
	if (p->region)
		munmap(p->region, p->region_bytes);
	munmap(p->handles, handles_bytes(p->max_handles));
	pool_copies_finish(p);
	free(p->blocks);
	pool_lrl_finish(p);
	pthread_cond_destroy(&p->health_cond);
	pthread_cond_destroy(&p->rebuild_wake);
	pthread_cond_destroy(&p->helper_wake);
	pthread_cond_destroy(&p->moved);
	pthread_mutex_destroy(&p->resize_lock);
	pthread_mutex_destroy(&p->lock);
	free(p);
}

void pool_set_exchange(struct pool *p, bool on)
{
	pthread_mutex_lock(&p->lock);
	p->xchg.on = on;
	pthread_mutex_unlock(&p->lock);
}

uint32_t pool_block_size(const struct pool *p)
{
	return p->block_size;
}

uint32_t pool_local_blocks(struct pool *p)
{
	uint32_t n;

	pthread_mutex_lock(&p->lock);
	n = p->local_blocks;
	pthread_mutex_unlock(&p->lock);
	return n;
}

uint32_t pool_max_blocks(const struct pool *p)
{
	return p->max_blocks;
}

uint64_t pool_meta_bytes(struct pool *p)
{
	uint64_t n;

	pthread_mutex_lock(&p->lock);
	n = sizeof(*p) + (uint64_t)p->local_blocks * sizeof(*p->blocks) +
	    (uint64_t)p->next_new_handle * sizeof(*p->handles) +
	    (p->relq ? (uint64_t)POOL_RELEASE_QUEUE * sizeof(*p->relq) : 0) +
	    (uint64_t)POOL_RELEASE_BATCH * sizeof(*p->drain_buf) +
	    (uint64_t)p->next_new_handle * (p->slots - 1) *
		    sizeof(*p->more_copies);
	pthread_mutex_unlock(&p->lock);
	return n;
}

void pool_get_counts(struct pool *p, struct pool_counts *out)
{
	const struct pool_cluster_ops *ops;

	pthread_mutex_lock(&p->lock);
	for (int i = 0; i < POOL_NLISTS; i++)
		out->blocks[i] = p->lists[i].count;
	/* a clean copy is our block elsewhere, kept here too (prefetch.c) */
	out->blocks[POOL_LLL] -= p->nclean;
	out->blocks[POOL_LRL] += p->nclean;
	out->copies = p->nclean;
	out->prefetch_queued = p->pfq_count;
	out->local_blocks = p->local_blocks;
	out->handles = p->live_handles;
	out->remote_read_bytes = atomic_load(&p->remote_read_bytes);
	out->remote_write_bytes = atomic_load(&p->remote_write_bytes);
	out->lost = p->lost;
	out->evictions = p->evictions;
	out->homecomings = p->homecomings;
	out->lent_moved = p->lent_moved;
	out->followed = p->followed;
	out->replicas = p->replicas;
	out->rc = p->rc;
	out->wpolicy = p->wp.policy;
	pool_wp_get_counts_locked(p, &out->wp);
	out->exchanges = p->xchg.exchanges;
	out->exchange_skipped = p->xchg.skipped;
	out->borrow_capped = p->borrow_capped;
	out->prefetched = p->prefetched;
	out->prefetch_hits = p->prefetch_hits;
	out->prefetch_wasted = p->prefetch_wasted;
	out->evict_unchanged = p->evict_unchanged;
	out->evict_partial = p->evict_partial;
	out->evict_pages_sent = p->evict_pages_sent;
	out->evict_bytes_saved = p->evict_bytes_saved;
	ops = p->cops;
	pthread_mutex_unlock(&p->lock);
	/* the forwarding records are the peer service's (never under lock) */
	if (ops && ops->forwarding)
		out->blocks[POOL_RRL] = ops->forwarding(p->cctx);
}

static uint64_t cluster_free_hint(struct pool *p)
{
	return p->cops && p->cops->remote_free ? p->cops->remote_free(p->cctx)
					       : 0;
}

uint64_t pool_avail_blocks(struct pool *p)
{
	uint64_t n;

	pthread_mutex_lock(&p->lock);
	n = p->lists[POOL_FREE].count;
	pthread_mutex_unlock(&p->lock);
	return n + cluster_free_hint(p);
}

uint64_t pool_capacity_blocks(struct pool *p)
{
	uint64_t n;

	pthread_mutex_lock(&p->lock);
	n = p->local_blocks + p->lists[POOL_LRL].count;
	pthread_mutex_unlock(&p->lock);
	return n + cluster_free_hint(p);
}

static uint32_t handle_get_locked(struct pool *p)
{
	uint32_t h = p->free_handles;

	if (h) {
		p->free_handles = p->handles[h].next_free;
	} else {
		if (p->next_new_handle > p->max_handles)
			return 0;
		h = p->next_new_handle++;
	}
	p->live_handles++;
	return h;
}

void pool_handle_put_locked(struct pool *p, uint32_t h)
{
	/* a clean copy's loan goes back too */
	pool_clean_settle_locked(p, &p->handles[h]);
	pool_unread_gone_locked(p, &p->handles[h]);
	assert(!p->handles[h].ncopies);
	p->handles[h].state = HANDLE_UNUSED;
	p->handles[h].flags = 0;
	p->handles[h].next_free = p->free_handles;
	p->free_handles = h;
	p->live_handles--;
}

struct handle_loc *pool_handle_locked(struct pool *p, uint32_t h)
{
	if (!h || h >= p->next_new_handle ||
	    p->handles[h].state == HANDLE_UNUSED)
		return NULL;
	return &p->handles[h];
}

struct handle_loc *pool_handle_settled_locked(struct pool *p, uint32_t h)
{
	struct handle_loc *loc;

	while ((loc = pool_handle_locked(p, h)) && loc->state == HANDLE_MOVING)
		pthread_cond_wait(&p->moved, &p->lock);
	return loc;
}

/*
 * A free block for an allocation, NIL when none (lock). One that had to be
 * made, or that leaves the free reserve short, makes the evictor work
 * ahead: a streak of those is a streaming writer (pool_low_locked()).
 * A batch of the evictor in flight is waited for rather than made room
 * beside.
 */
static uint32_t take_free_locked(struct pool *p)
{
	uint32_t b = p->lists[POOL_FREE].head;

	if (!p->cops) {
		if (b != NIL)
			pool_list_remove_locked(p, b);
		return b;
	}
	if (b == NIL || p->lists[POOL_FREE].count <= pool_low_locked(p)) {
		if (p->streak < UINT32_MAX)
			p->streak++;
		p->streak_ns = cmp_now_ns();
		pool_kick_helper_locked(p);
	}
	while (b == NIL && p->evicting) {
		pthread_cond_wait(&p->moved, &p->lock);
		b = p->lists[POOL_FREE].head;
	}
	if (b != NIL)
		pool_list_remove_locked(p, b);
	return b;
}

int pool_alloc(struct pool *p, bool zero, uint32_t *handle)
{
	uint32_t b, h;
	int ret;

	pthread_mutex_lock(&p->lock);
	while ((b = take_free_locked(p)) == NIL) {
		if (!p->cops) {
			pthread_mutex_unlock(&p->lock);
			return -ENOSPC;
		}
		/* Principles 3 and 2: no free block; make room. */
		pthread_mutex_unlock(&p->lock);
		ret = pool_make_room(p, &b);
		pthread_mutex_lock(&p->lock);
		if (!ret)
			break;
		/*
		 * Unless the evictor took the last room for a free block, or
		 * a block coming home is about to give its loan back (what
		 * our borrow cap lacked): then again, once they are done.
		 */
		if (p->lists[POOL_FREE].head == NIL && !p->evicting &&
		    !p->pulling) {
			pthread_mutex_unlock(&p->lock);
			return ret;
		}
		while (p->lists[POOL_FREE].head == NIL &&
		       (p->evicting || p->pulling))
			pthread_cond_wait(&p->moved, &p->lock);
	}
	h = handle_get_locked(p);
	if (!h) {
		pool_list_push_head_locked(p, POOL_FREE, b);
		pthread_mutex_unlock(&p->lock);
		log_warn("pool: all %u handles in use", p->max_handles);
		return -ENOSPC;
	}
	p->blocks[b].handle = h;
	pool_list_push_head_locked(p, POOL_LLL, b);
	p->handles[h] = (struct handle_loc){
		.local_block = b, .state = HANDLE_LOCAL, .pins = 1};
	/* a block never used yet is zeros already: no memset */
	zero = zero && !p->blocks[b].clean;
	p->blocks[b].clean = 0;
	pthread_mutex_unlock(&p->lock);

	/* Pinned while zeroed so it cannot move under the memset. */
	if (zero)
		memset(pool_addr(p, b), 0, p->block_size);
	pool_unpin(p, h);
	*handle = h;
	return 0;
}

void pool_free(struct pool *p, uint32_t h)
{
	struct handle_loc *loc;

	pthread_mutex_lock(&p->lock);
	loc = pool_handle_locked(p, h);
	if (!loc) {
		pthread_mutex_unlock(&p->lock);
		log_error("pool: free of unknown handle %u", h);
		return;
	}
	/* memory given back: whoever allocates next is a new writer */
	p->streak = 0;
	switch (loc->state) {
	case HANDLE_MOVING:
		/* never wait on the network here: the mover frees it */
		loc->flags |= HF_FREE_PENDING;
		pthread_mutex_unlock(&p->lock);
		return;
	case HANDLE_LOCAL:
		pool_list_remove_locked(p, loc->local_block);
		pool_list_push_head_locked(p, POOL_FREE, loc->local_block);
		/* Principle 4: room at home for a borrowed block. */
		if (p->lists[POOL_LRL].count)
			pool_kick_helper_locked(p);
		break;
	case HANDLE_REMOTE:
		/* every copy */
		pool_copies_give_back_locked(p, h);
		break;
	case HANDLE_LOST:
		p->lost--;
		break;
	}
	pool_handle_put_locked(p, h);
	pthread_mutex_unlock(&p->lock);
}

/*
 * Pins a local block for an access of [off, off + len) and touches it
 * (MRU end of LLL; a prefetched copy read to its end, the cold end);
 * returns its memory.
 */
static void *pin_local_locked(struct pool *p, struct handle_loc *loc,
			      uint32_t off, uint32_t len, enum pool_access acc)
{
	uint32_t b = loc->local_block;

	loc->pins++;
	xchg_touch_locked(p, loc, len);
	if (pool_prefetch_access_locked(p, loc, off, len, acc)) {
		pool_list_remove_locked(p, b);
		pool_list_push_tail_locked(p, POOL_LLL, b);
	} else if (p->lists[POOL_LLL].head != b) {
		pool_list_remove_locked(p, b);
		pool_list_push_head_locked(p, POOL_LLL, b);
	}
	return pool_addr(p, b);
}

int pool_pin(struct pool *p, uint32_t h, void **ptr)
{
	return pool_pin_range(p, h, p->block_size, ptr);
}

/* A pin to read [off, off + len), or one that may write anywhere. */
static int pin(struct pool *p, uint32_t h, uint32_t off, uint32_t len,
	       enum pool_access acc, void **ptr)
{
	struct handle_loc *loc;
	int ret = 0;

	pthread_mutex_lock(&p->lock);
	loc = pool_handle_settled_locked(p, h);
	if (!loc) {
		ret = -EINVAL;
	} else if (loc->state != HANDLE_LOCAL) {
		ret = loc->state == HANDLE_LOST ? -EIO : -EREMOTE;
	} else {
		*ptr = pin_local_locked(p, loc, off, len, acc);
	}
	pthread_mutex_unlock(&p->lock);
	return ret;
}

int pool_pin_range(struct pool *p, uint32_t h, uint32_t len, void **ptr)
{
	return pin(p, h, 0, MIN(len, p->block_size), POOL_ACC_PIN, ptr);
}

int pool_pin_read(struct pool *p, uint32_t h, uint32_t off, uint32_t len,
		  void **ptr)
{
	if (off > p->block_size || len > p->block_size - off)
		return -EINVAL;
	return pin(p, h, off, len, POOL_ACC_READ, ptr);
}

void pool_unpin(struct pool *p, uint32_t h)
{
	struct handle_loc *loc;

	pthread_mutex_lock(&p->lock);
	loc = h && h < p->next_new_handle ? &p->handles[h] : NULL;
	/* a block elsewhere may be waited for to come home (cmp.c) */
	if (loc && loc->pins && !--loc->pins && loc->state == HANDLE_MOVING)
		pthread_cond_broadcast(&p->moved);
	/* a copy read: room for a prefetch waiting for some (prefetch.c) */
	else if (loc && !loc->pins && (loc->flags & HF_COPY) && p->pfq_count)
		pool_kick_helper_locked(p);
	pthread_mutex_unlock(&p->lock);
}

static int check_range(const struct pool *p, uint32_t off, uint32_t len)
{
	if (off > p->block_size || len > p->block_size - off)
		return -EINVAL;
	return 0;
}

enum copy_dir { COPY_TO_BLOCK, COPY_FROM_BLOCK, COPY_ZERO };

/*
 * Pins a block wherever it is: local -> *ptr set; remote -> *ptr NULL,
 * the copies to use in *set, and the block (its copies) cannot move
 * until pool_unpin(). Returns 0, -EIO (lost), -EINVAL.
 */
static int pin_any(struct pool *p, uint32_t h, uint32_t off, uint32_t len,
		   enum copy_dir dir, void **ptr, struct pool_copy_set *set)
{
	struct handle_loc *loc;
	int ret = 0;

	*ptr = NULL;
	pthread_mutex_lock(&p->lock);
	loc = pool_handle_settled_locked(p, h);
	if (!loc) {
		ret = -EINVAL;
	} else if (loc->state == HANDLE_LOST) {
		ret = -EIO;
	} else if (loc->state == HANDLE_LOCAL) {
		*ptr = pin_local_locked(p, loc, off, len,
					dir == COPY_FROM_BLOCK
						? POOL_ACC_READ
						: POOL_ACC_WRITE);
	} else {
		loc->pins++;
		/* read here and now: not worth fetching ahead any more */
		loc->flags &= (uint8_t)~HF_PF_QUEUED;
		xchg_touch_remote_locked(p, h, len);
		if (p->lrl_head != h) {
			pool_lrl_remove_locked(p, h);
			pool_lrl_push_locked(p, h, true);
		}
		pool_copies_pick_locked(p, h, dir != COPY_FROM_BLOCK, set);
	}
	pthread_mutex_unlock(&p->lock);
	return ret;
}

/* A byte range of remote h (pinned), through the copies of set. */
static int copy_remote(struct pool *p, uint32_t h, struct pool_copy_set *set,
		       uint32_t off, void *buf, uint32_t len, enum copy_dir dir)
{
	static const uint8_t zeros[64 << 10];
	int ret = 0;

	if (dir == COPY_FROM_BLOCK)
		return pool_copies_read_set(p, h, set, off, buf, len);
	if (dir == COPY_TO_BLOCK)
		return pool_copies_write_set(p, h, set, off, buf, len);
	/* (a copy may drop out between pieces: each picks them again) */
	for (uint32_t done = 0; !ret && done < len;) {
		uint32_t n = MIN(len - done, (uint32_t)sizeof(zeros));

		ret = pool_copies_write(p, h, off + done, zeros, n);
		done += n;
	}
	return ret;
}

static int copy(struct pool *p, uint32_t h, uint32_t off, void *buf,
		uint32_t len, enum copy_dir dir)
{
	struct pool_copy_set set;
	uint8_t *base;
	int ret = check_range(p, off, len);

	if (ret)
		return ret;
	ret = pin_any(p, h, off, len, dir, (void **)&base, &set);
	if (ret)
		return ret;
	if (!base) {
		ret = copy_remote(p, h, &set, off, buf, len, dir);
	} else if (dir == COPY_FROM_BLOCK) {
		memcpy(buf, base + off, len);
	} else if (dir == COPY_TO_BLOCK) {
		memcpy(base + off, buf, len);
	} else {
		memset(base + off, 0, len);
	}
	pool_unpin(p, h);
	if (!ret && !base)
		atomic_fetch_add_explicit(dir == COPY_FROM_BLOCK
						  ? &p->remote_read_bytes
						  : &p->remote_write_bytes,
					  len, memory_order_relaxed);
	return ret;
}

int pool_read(struct pool *p, uint32_t h, uint32_t off, void *dst, uint32_t len)
{
	return copy(p, h, off, dst, len, COPY_FROM_BLOCK);
}

int pool_write(struct pool *p, uint32_t h, uint32_t off, const void *src,
	       uint32_t len)
{
	return copy(p, h, off, (void *)src, len, COPY_TO_BLOCK);
}

int pool_zero(struct pool *p, uint32_t h, uint32_t off, uint32_t len)
{
	return copy(p, h, off, NULL, len, COPY_ZERO);
}
