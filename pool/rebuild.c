// SPDX-License-Identifier: MIT
/*
 * Re-replication (pool_config.replicas > 1): one thread that makes the
 * missing copies of our blocks elsewhere again, from a copy that
 * survived, so that the next failure finds every block with all its
 * copies again.
 *
 * A copy stops counting when it is gone (its provider lost it, or it
 * missed a write and was dropped), when its provider has been
 * unreachable for longer than rebuild_after (a short delay: a provider
 * that is only slow, or restarts its network, keeps its copies), or when
 * it shares a node with another copy of the block (a provider moved it
 * there: principle 5). A pass scans the handles in chunks under the lock
 * and, for each block short of good copies that has one it can read,
 * holds it (HANDLE_MOVING: its readers and writers wait for one block's
 * copy), reads it from the cheapest good copy, borrows a block on a node
 * that holds none of its copies, writes it there, and drops the copy the
 * new one replaces (given back: a FREE, or the reconciliation when its
 * provider returns). At most rebuild_rate bytes a second. Progress is in
 * the counters (pool_replica_counts) and a log line every few seconds.
 * A block none of whose copies can be read waits for a provider to come
 * back: it is never lost for being unreachable. A write policy's memserver
 * copy (wpolicy.h) is not one of the replicas: it is a source to rebuild
 * from (when current) and never dropped as a surplus; wpolicy.c makes it.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "cmp/log.h"
#include "cmp/util.h"
#include "pool-internal.h"

#define SCAN_BUDGET 4096u	  /* handles looked at per lock hold */
#define BATCH 64u		  /* blocks taken per lock hold */
#define RETRY_NS 1000000000ull	  /* a pass that left work: again after */
#define PROGRESS_NS 5000000000ull /* a progress line at most this often */

enum need {
	NEED_NONE,
	NEED_COPY,   /* short of good copies, one can be read */
	NEED_SOURCE, /* short, and none can be read now */
};

/* The rebuilder thread's own state. */
struct rebuilder {
	uint8_t *buf;	    /* one block */
	uint64_t tokens;    /* bytes the rate lets go now */
	uint64_t filled_at; /* tokens counted up to (cmp_now_ns) */
	uint64_t last_pass; /* when the last pass began */
	uint64_t retry_at;  /* a pass left work: the next, 0: none */
	/* this pass */
	uint64_t t0, logged, found, rebuilt, waiting, failed;
	uint64_t last_found; /* the previous pass's, for its line */
};

/* Does slot k of h share its node with an earlier slot (lock)? */
static bool dup_locked(struct pool *p, uint32_t h, uint32_t k)
{
	uint32_t node = pool_slot(p, h, k)->node;

	for (uint32_t j = 0; j < k; j++)
		if (pool_slot(p, h, j)->node == node)
			return true;
	return false;
}

/* Does copy slot k of h count (lock)? */
static bool good_locked(struct pool *p, uint32_t h, uint32_t k, uint64_t now)
{
	const struct pool_ref *s = pool_slot(p, h, k);

	return s->node && !dup_locked(p, h, k) &&
	       !pool_node_written_off_locked(p, s->node, now);
}

static enum need need_locked(struct pool *p, uint32_t h, uint64_t now)
{
	uint32_t good = 0;
	bool readable = false;

	for (uint32_t k = 0; k < p->slots; k++) {
		/* a memserver copy: a source, never one of the replicas */
		if (pool_wp_is_slot(p, k)) {
			readable |= pool_wp_current_locked(p, h, k) &&
				    pool_copy_readable_locked(
					    p, pool_slot(p, h, k));
			continue;
		}
		if (!good_locked(p, h, k, now))
			continue;
		good++;
		readable |= pool_copy_readable_locked(p, pool_slot(p, h, k));
	}
	if (good >= p->replicas)
		return NEED_NONE;
	return readable ? NEED_COPY : NEED_SOURCE;
}

/*
 * The copy to drop when h has one too many after a rebuild (lock): one
 * that does not count, else one on an unreachable node, else the new one.
 */
static uint32_t surplus_locked(struct pool *p, uint32_t h, uint32_t fresh,
			       uint64_t now)
{
	for (uint32_t k = 0; k < p->slots; k++)
		if (k != fresh && !pool_wp_is_slot(p, k) &&
		    pool_slot(p, h, k)->node && !good_locked(p, h, k, now))
			return k;
	for (uint32_t k = 0; k < p->slots; k++)
		if (k != fresh && !pool_wp_is_slot(p, k) &&
		    pool_slot(p, h, k)->node &&
		    !pool_copy_readable_locked(p, pool_slot(p, h, k)))
			return k;
	return fresh;
}

/*
 * The end of a rebuild of h into slot k (loan ref; k < 0: none was
 * recorded) with the write's result ret (lock): a new copy that is still
 * h's counts and pushes out the one it replaces; otherwise it is given
 * back. A handle freed meanwhile goes, with every copy.
 */
static int finish_locked(struct pool *p, uint32_t h, int k,
			 const struct pool_ref *ref, int ret)
{
	struct handle_loc *loc = &p->handles[h];
	bool named = k >= 0 && pool_slot_names_locked(p, h, (uint32_t)k, ref);
	uint64_t now = cmp_now_ns();

	if (loc->flags & HF_FREE_PENDING) {
		pool_copies_give_back_locked(p, h);
		pool_handle_put_locked(p, h);
		return 0;
	}
	if (!ret && named) {
		p->rc.rebuilt++;
		p->rc.rebuild_bytes += p->block_size;
		while (pool_wp_compute_copies_locked(p, h) > p->replicas)
			pool_copy_drop_locked(
				p, h, surplus_locked(p, h, (uint32_t)k, now),
				true);
	} else {
		if (named)
			pool_copy_drop_locked(p, h, (uint32_t)k, true);
		p->rc.rebuild_failures++;
		ret = ret ? ret : -EIO;
	}
	if (pool_wp_live_copies_locked(p, h))
		loc->state = HANDLE_REMOTE;
	else
		pool_lose_locked(p, h);
	return ret;
}

/*
 * Takes h for a rebuild (lock): MOVING, and the nodes of all its copies
 * in avoid[] (the new one goes elsewhere). -EBUSY: in use now (later);
 * -EAGAIN: nothing to do, or nothing it can do now.
 */
static int take_locked(struct pool *p, uint32_t h, uint32_t *avoid,
		       uint32_t *navoid)
{
	struct handle_loc *loc = pool_handle_locked(p, h);

	if (!loc || loc->state != HANDLE_REMOTE ||
	    need_locked(p, h, cmp_now_ns()) != NEED_COPY)
		return -EAGAIN;
	if (loc->pins)
		return -EBUSY;
	*navoid = 0;
	for (uint32_t k = 0; k < p->slots; k++)
		if (pool_slot(p, h, k)->node)
			avoid[(*navoid)++] = pool_slot(p, h, k)->node;
	loc->state = HANDLE_MOVING;
	return 0;
}

/*
 * Makes one missing copy of h. 0, or -errno (-EAGAIN: nothing to do);
 * *no_room: no provider would lend a block for it.
 */
static int rebuild_one(struct pool *p, struct rebuilder *rb, uint32_t h,
		       bool *no_room)
{
	uint32_t avoid[POOL_MAX_SLOTS], navoid;
	struct pool_ref ref = {0};
	int k = -1, ret;

	*no_room = false;
	pthread_mutex_lock(&p->lock);
	ret = take_locked(p, h, avoid, &navoid);
	pthread_mutex_unlock(&p->lock);
	if (ret)
		return ret;
	/*
	 * Held: nobody writes it while it is copied. Room first (a full
	 * cluster costs no read), the read before the new copy is one of
	 * h's (it must not be read from), recorded before borrowed() (a
	 * reconciliation with its provider claims it).
	 */
	ret = pool_borrow_capped(p, avoid, navoid, &ref);
	*no_room = ret != 0;
	if (!ret)
		ret = pool_copies_read(p, h, 0, rb->buf, p->block_size);
	if (!*no_room) {
		pthread_mutex_lock(&p->lock);
		k = ret ? -1 : pool_copy_add_locked(p, h, &ref);
		if (k < 0)
			pool_release_locked(p, &ref);
		pthread_mutex_unlock(&p->lock);
		if (p->cops->borrowed)
			p->cops->borrowed(p->cctx, &ref);
		ret = ret ? ret : k < 0 ? k : 0;
	}
	if (!ret)
		ret = pool_remote_io(p, h, (uint32_t)k, &ref, 0, rb->buf,
				     p->block_size, true);
	pthread_mutex_lock(&p->lock);
	ret = finish_locked(p, h, k, &ref, ret);
	pthread_cond_broadcast(&p->moved);
	pthread_mutex_unlock(&p->lock);
	return ret;
}

/* Waits until the rate lets bytes go; false when told to stop. */
static bool take_tokens(struct pool *p, struct rebuilder *rb, uint64_t bytes)
{
	struct timespec dl;
	bool go;

	pthread_mutex_lock(&p->lock);
	while (!p->rebuild_stop && p->rebuild_rate) {
		uint64_t now = cmp_now_ns();
		uint64_t dt = MIN(now - rb->filled_at, 1000000000ull);
		uint64_t cap = MAX(bytes, p->rebuild_rate / 4);

		rb->tokens = MIN(rb->tokens + dt * p->rebuild_rate / 1000000000,
				 cap);
		rb->filled_at = now;
		if (rb->tokens >= bytes) {
			rb->tokens -= bytes;
			break;
		}
		cmp_deadline_ms(
			&dl, (bytes - rb->tokens) * 1000 / p->rebuild_rate + 1);
		pthread_cond_timedwait(&p->rebuild_wake, &p->lock, &dl);
	}
	go = !p->rebuild_stop;
	pthread_mutex_unlock(&p->lock);
	return go;
}

/*
 * Up to BATCH blocks to rebuild from handle *cursor on (lock), counting
 * those short of copies in the pass; *cursor moves on (past the end:
 * next_new_handle).
 */
static uint32_t collect_locked(struct pool *p, struct rebuilder *rb,
			       uint32_t *cursor, uint32_t *out)
{
	uint32_t n = 0, budget = SCAN_BUDGET, h = *cursor;
	uint64_t now = cmp_now_ns();

	for (; h < p->next_new_handle && n < BATCH && budget; h++, budget--) {
		const struct handle_loc *loc = &p->handles[h];
		enum need need;

		if (!(loc->flags & HF_ON_LRL) || loc->state == HANDLE_LOST)
			continue;
		need = need_locked(p, h, now);
		if (need == NEED_NONE)
			continue;
		rb->found++;
		if (need == NEED_SOURCE)
			rb->waiting++;
		else
			out[n++] = h;
	}
	*cursor = h;
	return n;
}

static void log_progress(struct pool *p, struct rebuilder *rb, bool done)
{
	uint64_t now = cmp_now_ns();

	if (!rb->found || (!done && now - rb->logged < PROGRESS_NS))
		return;
	/* a pass that changed nothing says nothing (one a second) */
	if (done && !rb->rebuilt && rb->found == rb->last_found)
		return;
	rb->logged = now;
	log_info("pool: re-replication%s: %llu of %llu blocks short of copies "
		 "made whole (%.1f MiB in %.1f s); %llu failed or busy, %llu "
		 "wait for a provider to come back",
		 done ? " pass done" : "", (unsigned long long)rb->rebuilt,
		 (unsigned long long)rb->found,
		 (double)rb->rebuilt * p->block_size / 1048576.0,
		 (double)(now - rb->t0) / 1e9, (unsigned long long)rb->failed,
		 (unsigned long long)rb->waiting);
}

/* Short of copies and not rebuilt (yet), as far as this pass knows. */
static void set_degraded(struct pool *p, const struct rebuilder *rb)
{
	pthread_mutex_lock(&p->lock);
	p->rc.degraded = rb->found - rb->rebuilt;
	pthread_mutex_unlock(&p->lock);
}

/* Borrows that found no room in a row before a pass stops trying. */
#define NO_ROOM_STOP 8

/* One pass over every handle: true when work is left (retry later). */
static bool pass(struct pool *p, struct rebuilder *rb)
{
	uint32_t cursor = 1, batch[BATCH], n, no_room = 0;
	bool more = true, full = false;
	int ret;

	rb->t0 = rb->logged = rb->last_pass = cmp_now_ns();
	rb->found = rb->rebuilt = rb->waiting = rb->failed = 0;
	while (more) {
		pthread_mutex_lock(&p->lock);
		n = collect_locked(p, rb, &cursor, batch);
		more = cursor < p->next_new_handle && !p->rebuild_stop;
		pthread_mutex_unlock(&p->lock);
		for (uint32_t i = 0; i < n; i++) {
			/* no room anywhere now: the rest are only counted */
			if (no_room >= NO_ROOM_STOP) {
				rb->failed++;
				continue;
			}
			if (!take_tokens(p, rb, p->block_size))
				return false;
			ret = rebuild_one(p, rb, batch[i], &full);
			no_room = full ? no_room + 1 : 0;
			if (!ret)
				rb->rebuilt++;
			else if (ret == -EAGAIN)
				rb->found--; /* settled meanwhile */
			else
				rb->failed++;
			set_degraded(p, rb);
			log_progress(p, rb, false);
		}
	}
	set_degraded(p, rb);
	log_progress(p, rb, true);
	rb->last_found = rb->found;
	pthread_mutex_lock(&p->lock);
	p->rc.rebuild_passes++;
	pthread_mutex_unlock(&p->lock);
	/* the releases of replaced copies go now, not at the next kick */
	pool_drain_releases(p);
	/*
	 * A pass makes one copy of a block: one that lost two (its compute
	 * copies, a memserver copy left) gets the next in the next pass.
	 */
	return rb->found > rb->rebuilt || rb->rebuilt;
}

/*
 * When the next pass is due (lock): a retry, or the moment a suspect
 * provider's copies stop counting. 0: only when kicked.
 */
static uint64_t next_due_locked(const struct pool *p,
				const struct rebuilder *rb)
{
	uint64_t due = rb->retry_at;

	for (uint32_t i = 0; i < p->nsuspect; i++) {
		uint64_t t = p->suspect_since[i] + p->rebuild_after_ns;

		if (t > rb->last_pass && (!due || t < due))
			due = t;
	}
	return due;
}

static void *rebuild_main(void *arg)
{
	struct pool *p = arg;
	struct rebuilder rb = {.buf = p->rebuild_buf};
	struct timespec dl;
	uint64_t now, due;
	bool left;

	rb.filled_at = cmp_now_ns();
	pthread_mutex_lock(&p->lock);
	while (!p->rebuild_stop) {
		now = cmp_now_ns();
		due = next_due_locked(p, &rb);
		if (!p->rebuild_kick && (!due || now < due)) {
			if (!due) {
				pthread_cond_wait(&p->rebuild_wake, &p->lock);
				continue;
			}
			cmp_deadline_ms(&dl, (due - now) / 1000000 + 1);
			pthread_cond_timedwait(&p->rebuild_wake, &p->lock, &dl);
			continue;
		}
		p->rebuild_kick = false;
		pthread_mutex_unlock(&p->lock);
		left = pass(p, &rb);
		pthread_mutex_lock(&p->lock);
		rb.retry_at = left ? cmp_now_ns() + RETRY_NS : 0;
	}
	pthread_mutex_unlock(&p->lock);
	return NULL;
}

void pool_kick_rebuild_locked(struct pool *p)
{
	if (!p->rebuilder_running)
		return;
	p->rebuild_kick = true;
	pthread_cond_signal(&p->rebuild_wake);
}

int pool_rebuild_start(struct pool *p)
{
	int ret;

	/* (with one copy, a memserver copy is what it is made again from) */
	if (p->replicas < 2 && p->wp.policy == POOL_WP_NONE)
		return 0;
	p->rebuild_buf = malloc(p->block_size);
	if (!p->rebuild_buf)
		return -ENOMEM;
	p->rebuild_stop = false;
	ret = -pthread_create(&p->rebuilder, NULL, rebuild_main, p);
	if (ret) {
		log_error("pool: cannot start the rebuilder: %s",
			  strerror(-ret));
		free(p->rebuild_buf);
		p->rebuild_buf = NULL;
		return ret;
	}
	pthread_mutex_lock(&p->lock);
	p->rebuilder_running = true;
	/* blocks may have moved out already */
	pool_kick_rebuild_locked(p);
	pthread_mutex_unlock(&p->lock);
	return 0;
}

void pool_rebuild_stop(struct pool *p)
{
	pthread_mutex_lock(&p->lock);
	if (!p->rebuilder_running) {
		pthread_mutex_unlock(&p->lock);
		return;
	}
	p->rebuild_stop = true;
	pthread_cond_signal(&p->rebuild_wake);
	pthread_mutex_unlock(&p->lock);
	pthread_join(p->rebuilder, NULL);
	pthread_mutex_lock(&p->lock);
	p->rebuilder_running = false;
	pthread_mutex_unlock(&p->lock);
	free(p->rebuild_buf);
	p->rebuild_buf = NULL;
}
