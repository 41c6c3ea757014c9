// SPDX-License-Identifier: MIT
/*
 * Scrubbing our copies elsewhere (pool_scrub()): a copy is verified by its
 * provider whenever it is read (peer-csum.c), but a read goes to the
 * cheapest copy, so a bad copy of a block read from another one, or not
 * read at all (swap), would wait to be found until the good one is gone.
 * A scrub reads every copy of every block elsewhere, whole, one block at
 * a time; a copy answered CORRUPT while another copy of the block reads
 * is dropped and made again by the rebuilder (pool_copy_repair()).
 */
#include <errno.h>
#include <stdlib.h>

#include "cmp/log.h"
#include "cmp/util.h"
#include "pool-internal.h"

/* The copies of h now, if it lives elsewhere (lock); how many. */
static uint32_t copies_locked(struct pool *p, uint32_t h,
			      struct pool_copy_pick *c)
{
	const struct handle_loc *loc = &p->handles[h];
	uint32_t n = 0;

	if (!(loc->flags & HF_ON_LRL) || loc->state != HANDLE_REMOTE)
		return 0;
	for (uint32_t k = 0; k < p->slots; k++) {
		const struct pool_ref *s = pool_slot(p, h, k);

		if (s->node)
			c[n++] = (struct pool_copy_pick){k, *s, 0};
	}
	return n;
}

/* Every copy of h read whole; the bad ones repaired if one was good. */
static void scrub_one(struct pool *p, uint32_t h, void *buf, uint64_t *checked,
		      uint64_t *corrupt)
{
	struct pool_copy_pick c[POOL_MAX_SLOTS];
	bool bad[POOL_MAX_SLOTS], good = false;
	uint32_t n;

	pthread_mutex_lock(&p->lock);
	n = copies_locked(p, h, c);
	pthread_mutex_unlock(&p->lock);
	for (uint32_t i = 0; i < n; i++) {
		struct pool_ref ref = c[i].ref;
		int ret = pool_remote_io(p, h, c[i].k, &ref, 0, buf,
					 p->block_size, false);

		bad[i] = ret == -EUCLEAN;
		good |= !ret;
		*corrupt += bad[i];
	}
	*checked += n;
	for (uint32_t i = 0; good && i < n; i++)
		if (bad[i])
			pool_copy_repair(p, h, &c[i]);
	if (!good && n)
		for (uint32_t i = 0; i < n; i++)
			if (bad[i])
				log_error_rl("pool: scrub: block %u on node %u "
					     "is corrupt and no other copy "
					     "reads: kept as it is",
					     c[i].ref.block, c[i].ref.node);
}

int pool_scrub(struct pool *p, uint64_t *checked, uint64_t *corrupt)
{
	uint64_t t0 = cmp_now_ns();
	uint32_t end;
	void *buf;

	*checked = *corrupt = 0;
	if (p->slots == 1)
		return -EINVAL;
	buf = malloc(p->block_size);
	if (!buf)
		return -ENOMEM;
	pthread_mutex_lock(&p->lock);
	end = p->next_new_handle;
	pthread_mutex_unlock(&p->lock);
	for (uint32_t h = 1; h < end; h++)
		scrub_one(p, h, buf, checked, corrupt);
	free(buf);
	pthread_mutex_lock(&p->lock);
	p->rc.scrubbed += *checked;
	pthread_mutex_unlock(&p->lock);
	log_info("pool: scrub: %llu copies read in %llu ms, %llu corrupt",
		 (unsigned long long)*checked,
		 (unsigned long long)((cmp_now_ns() - t0) / 1000000),
		 (unsigned long long)*corrupt);
	return 0;
}
