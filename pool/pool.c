// SPDX-License-Identifier: MIT
/*
 * This node's share of the pool: the region, the free list and LLL in LRU
 * order, and the handle table that lets a block of our data move without
 * the file system noticing. The cluster lists (LRL, RLL, RRL) are counted
 * here; moving data between nodes is done by the cluster code through the
 * same structures.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>

#include "cmp/log.h"
#include "cmp/util.h"
#include "pool-internal.h"

static const char *const list_names[POOL_NLISTS] = {"free", "LLL", "LRL", "RLL",
						    "RRL"};

const char *pool_list_name(enum pool_list l)
{
	return l < POOL_NLISTS ? list_names[l] : "?";
}

static void list_init(struct plist *l)
{
	l->head = l->tail = NIL;
	l->count = 0;
}

static void list_push_head(struct pool *p, enum pool_list which, uint32_t b)
{
	struct plist *l = &p->lists[which];
	struct lblock *e = &p->lb[b];

	e->list = which;
	e->prev = NIL;
	e->next = l->head;
	if (l->head != NIL)
		p->lb[l->head].prev = b;
	else
		l->tail = b;
	l->head = b;
	l->count++;
}

static void list_remove(struct pool *p, uint32_t b)
{
	struct lblock *e = &p->lb[b];
	struct plist *l = &p->lists[e->list];

	if (e->prev != NIL)
		p->lb[e->prev].next = e->next;
	else
		l->head = e->next;
	if (e->next != NIL)
		p->lb[e->next].prev = e->prev;
	else
		l->tail = e->prev;
	e->prev = e->next = NIL;
	l->count--;
}

static void *block_addr(const struct pool *p, uint32_t b)
{
	return p->region + ((size_t)b << p->block_shift);
}

static int map_region(struct pool *p, bool lock_memory)
{
	void *r;

	if (!p->region_bytes)
		return 0;
	r = mmap(NULL, p->region_bytes, PROT_READ | PROT_WRITE,
		 MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
	if (r == MAP_FAILED)
		return -errno;
	/* Huge pages make the pre-fault and later TLB misses cheaper. */
	madvise(r, p->region_bytes, MADV_HUGEPAGE);
	if (lock_memory) {
		/* mlock faults every page in: no first-touch cost later. */
		if (mlock(r, p->region_bytes) < 0) {
			int err = -errno;

			log_error("cannot lock %zu bytes of pool memory: %s "
				  "(raise RLIMIT_MEMLOCK or run as root)",
				  p->region_bytes, strerror(-err));
			munmap(r, p->region_bytes);
			return err;
		}
	}
	p->region = r;
	return 0;
}

static int check_config(const struct pool_config *cfg, uint64_t *blocks)
{
	uint64_t n;

	if (!cmp_is_pow2(cfg->block_size) || cfg->block_size < POOL_MIN_BLOCK ||
	    cfg->block_size > POOL_MAX_BLOCK)
		return -EINVAL;
	n = cfg->local_bytes / cfg->block_size;
	if (n >= NIL)
		return -EINVAL;
	*blocks = n;
	return 0;
}

struct pool *pool_create(const struct pool_config *cfg)
{
	struct pool *p;
	uint64_t nblocks, maxh;
	int err;

	err = check_config(cfg, &nblocks);
	if (err)
		goto err_out;
	err = -ENOMEM;
	p = calloc(1, sizeof(*p));
	if (!p)
		goto err_out;
	pthread_mutex_init(&p->lock, NULL);
	p->block_size = cfg->block_size;
	p->block_shift = (uint32_t)__builtin_ctz(cfg->block_size);
	p->local_blocks = (uint32_t)nblocks;
	p->region_bytes = (size_t)nblocks << p->block_shift;

	maxh = cfg->max_handles ? cfg->max_handles : nblocks + (1u << 20);
	if (maxh >= NIL)
		maxh = NIL - 1;
	p->max_handles = (uint32_t)maxh;
	/* Reserved, faulted in as handles are first used. */
	p->vb = mmap(NULL, (maxh + 1) * sizeof(*p->vb), PROT_READ | PROT_WRITE,
		     MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
	if (p->vb == MAP_FAILED)
		goto err_free_pool;
	p->vb_next = 1;

	p->lb = calloc(nblocks ? nblocks : 1, sizeof(*p->lb));
	if (!p->lb)
		goto err_unmap_vb;
	for (int i = 0; i < POOL_NLISTS; i++)
		list_init(&p->lists[i]);
	/* Free list in address order: first allocations are contiguous. */
	for (uint64_t b = nblocks; b-- > 0;)
		list_push_head(p, POOL_FREE, (uint32_t)b);

	err = map_region(p, cfg->lock_memory);
	if (err)
		goto err_free_lb;
	return p;

err_free_lb:
	free(p->lb);
err_unmap_vb:
	munmap(p->vb, (maxh + 1) * sizeof(*p->vb));
err_free_pool:
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
	if (p->region)
		munmap(p->region, p->region_bytes);
	munmap(p->vb, ((size_t)p->max_handles + 1) * sizeof(*p->vb));
	free(p->lb);
	pthread_mutex_destroy(&p->lock);
	free(p);
}

uint32_t pool_block_size(const struct pool *p)
{
	return p->block_size;
}

void pool_get_counts(struct pool *p, struct pool_counts *out)
{
	pthread_mutex_lock(&p->lock);
	for (int i = 0; i < POOL_NLISTS; i++)
		out->blocks[i] = p->lists[i].count + p->remote_count[i];
	out->local_blocks = p->local_blocks;
	out->handles = p->handles;
	pthread_mutex_unlock(&p->lock);
}

uint64_t pool_avail_blocks(struct pool *p)
{
	uint64_t n;

	pthread_mutex_lock(&p->lock);
	n = p->lists[POOL_FREE].count;
	pthread_mutex_unlock(&p->lock);
	return n;
}

uint64_t pool_capacity_blocks(struct pool *p)
{
	return p->local_blocks;
}

static uint32_t handle_get_locked(struct pool *p)
{
	uint32_t h = p->vb_free;

	if (h) {
		p->vb_free = p->vb[h].index;
	} else {
		if (p->vb_next > p->max_handles)
			return 0;
		h = p->vb_next++;
	}
	p->handles++;
	return h;
}

static void handle_put_locked(struct pool *p, uint32_t h)
{
	p->vb[h].state = VB_UNUSED;
	p->vb[h].index = p->vb_free;
	p->vb_free = h;
	p->handles--;
}

static struct vblock *vb_lookup_locked(struct pool *p, uint32_t h)
{
	if (!h || h >= p->vb_next || p->vb[h].state == VB_UNUSED)
		return NULL;
	return &p->vb[h];
}

int pool_alloc(struct pool *p, bool zero, uint32_t *handle)
{
	uint32_t b, h;

	pthread_mutex_lock(&p->lock);
	b = p->lists[POOL_FREE].head;
	if (b == NIL) {
		pthread_mutex_unlock(&p->lock);
		return -ENOSPC;
	}
	h = handle_get_locked(p);
	if (!h) {
		pthread_mutex_unlock(&p->lock);
		log_warn("pool: all %u handles in use", p->max_handles);
		return -ENOSPC;
	}
	list_remove(p, b);
	p->lb[b].owner = h;
	list_push_head(p, POOL_LLL, b);
	p->vb[h] = (struct vblock){.index = b, .state = VB_LOCAL, .pins = 1};
	pthread_mutex_unlock(&p->lock);

	/* Pinned while zeroed so it cannot move under the memset. */
	if (zero)
		memset(block_addr(p, b), 0, p->block_size);
	pool_unpin(p, h);
	*handle = h;
	return 0;
}

void pool_free(struct pool *p, uint32_t h)
{
	struct vblock *v;

	pthread_mutex_lock(&p->lock);
	v = vb_lookup_locked(p, h);
	if (!v) {
		pthread_mutex_unlock(&p->lock);
		log_error("pool: free of unknown handle %u", h);
		return;
	}
	if (v->state == VB_LOCAL) {
		list_remove(p, v->index);
		list_push_head(p, POOL_FREE, v->index);
	} else if (v->state == VB_REMOTE) {
		p->remote_count[POOL_LRL]--;
	}
	handle_put_locked(p, h);
	pthread_mutex_unlock(&p->lock);
}

int pool_pin(struct pool *p, uint32_t h, void **ptr)
{
	struct vblock *v;
	int ret = 0;

	pthread_mutex_lock(&p->lock);
	v = vb_lookup_locked(p, h);
	if (!v) {
		ret = -EINVAL;
	} else if (v->state != VB_LOCAL) {
		ret = v->state == VB_LOST ? -EIO : -EREMOTE;
	} else {
		v->pins++;
		/* Touch: move to the MRU end of LLL. */
		if (p->lists[POOL_LLL].head != v->index) {
			list_remove(p, v->index);
			list_push_head(p, POOL_LLL, v->index);
		}
		*ptr = block_addr(p, v->index);
	}
	pthread_mutex_unlock(&p->lock);
	return ret;
}

void pool_unpin(struct pool *p, uint32_t h)
{
	pthread_mutex_lock(&p->lock);
	if (h && h < p->vb_next && p->vb[h].pins)
		p->vb[h].pins--;
	pthread_mutex_unlock(&p->lock);
}

static int check_range(const struct pool *p, uint32_t off, uint32_t len)
{
	if (off > p->block_size || len > p->block_size - off)
		return -EINVAL;
	return 0;
}

int pool_read(struct pool *p, uint32_t h, uint32_t off, void *dst, uint32_t len)
{
	void *base;
	int ret = check_range(p, off, len);

	if (ret)
		return ret;
	ret = pool_pin(p, h, &base);
	if (ret)
		return ret;
	memcpy(dst, (uint8_t *)base + off, len);
	pool_unpin(p, h);
	return 0;
}

int pool_write(struct pool *p, uint32_t h, uint32_t off, const void *src,
	       uint32_t len)
{
	void *base;
	int ret = check_range(p, off, len);

	if (ret)
		return ret;
	ret = pool_pin(p, h, &base);
	if (ret)
		return ret;
	memcpy((uint8_t *)base + off, src, len);
	pool_unpin(p, h);
	return 0;
}

int pool_zero(struct pool *p, uint32_t h, uint32_t off, uint32_t len)
{
	void *base;
	int ret = check_range(p, off, len);

	if (ret)
		return ret;
	ret = pool_pin(p, h, &base);
	if (ret)
		return ret;
	memset((uint8_t *)base + off, 0, len);
	pool_unpin(p, h);
	return 0;
}
