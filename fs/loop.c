// SPDX-License-Identifier: MIT
/*
 * The request loop: a pool of worker threads serves /dev/fuse, but only
 * one of them reads it at a time, and the thread that served the last
 * request reads the next one. At one request at a time (a swap-in through
 * a loop device, a page fault of a mapping, fio at depth 1) one hot thread
 * serves them all, as a single-threaded daemon would; another worker takes
 * over the reading, the most recently idle first, only when requests are
 * already queued behind the one just read (poll() says so), or when the
 * request being served is about to wait for another node
 * (fs_loop_may_block()). While requests stay queued, a worker that
 * finishes one reads the next itself, as libfuse's workers do.
 *
 * Why not libfuse's loop_mt: it parks every worker in read() on /dev/fuse,
 * and the kernel wakes the one that has waited longest, so consecutive
 * requests rotate through all the threads, each waking up cold, often on
 * the other CPU. Measured here (release build, 32 KiB O_DIRECT reads at
 * depth 1 through a loop device on a cmpfs file, the swap path): loop_mt
 * with 10 threads 740-1,620 IOPS, one thread 3,700-9,300 (FUSE-NOTES:
 * 512-byte preads p50 7-10 us single-threaded, 30-40 us with loop_mt).
 * A single thread alone would serialize a request that waits on the
 * network, and write bursts; a queued request gets a thread of its own.
 *
 * Locking: fs_loop.lock protects reader, idle, stopping and err. The
 * reader is the one worker allowed to read /dev/fuse; it is NULL only
 * while every worker is busy, and the first to finish becomes it. A
 * worker's served and serving are atomics, read by the watchdog.
 */
#include <errno.h>
#include <poll.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>

#include "cmp/log.h"
#include "cmp/util.h"
#include "fs.h"

struct loop_worker {
	struct fs_loop *loop;
	pthread_t thread;
	pthread_cond_t turn;	     /* signalled when made the reader */
	struct loop_worker *next;    /* the idle stack (lock) */
	struct fuse_buf buf;	     /* libfuse's request buffer */
	atomic_uint_fast64_t served; /* requests begun (for the watchdog) */
	atomic_bool serving;	     /* between reading and replying */
	bool started;
};

struct fs_loop {
	struct fuse_session *se;
	int fd;
	pthread_mutex_t lock;
	struct loop_worker *reader; /* may read /dev/fuse now, or NULL */
	struct loop_worker *idle;   /* most recently idle first */
	bool stopping;
	pthread_cond_t stopped; /* the watchdog's sleep */
	int err;		/* the first read error, -errno */
	unsigned int nworkers;
	struct loop_worker workers[];
};

/* The worker running on this thread (NULL outside the loop). */
static __thread struct loop_worker *self;

/* Waits until w may read; false when the loop stops. */
static bool wait_turn(struct fs_loop *l, struct loop_worker *w)
{
	bool go;

	pthread_mutex_lock(&l->lock);
	while (l->reader != w && !l->stopping)
		pthread_cond_wait(&w->turn, &l->lock);
	go = !l->stopping;
	pthread_mutex_unlock(&l->lock);
	return go;
}

/*
 * The caller, the reader, lets the most recently idle worker read while
 * it serves its request; with no worker idle, the first to finish reads.
 */
static void pass_turn(struct fs_loop *l, struct loop_worker *w)
{
	struct loop_worker *next;

	pthread_mutex_lock(&l->lock);
	if (l->reader == w) {
		next = l->idle;
		if (next)
			l->idle = next->next;
		l->reader = next;
		if (next)
			pthread_cond_signal(&next->turn);
	}
	pthread_mutex_unlock(&l->lock);
}

/*
 * At start and after each request: read next if no one does, else go idle
 * (on top of the stack). So the reader is NULL only while no worker idles.
 */
static void request_done(struct fs_loop *l, struct loop_worker *w)
{
	pthread_mutex_lock(&l->lock);
	if (!l->reader) {
		l->reader = w;
	} else if (l->reader != w) {
		w->next = l->idle;
		l->idle = w;
	}
	pthread_mutex_unlock(&l->lock);
}

static void stop(struct fs_loop *l, int err)
{
	pthread_mutex_lock(&l->lock);
	if (!l->stopping && err)
		l->err = err;
	l->stopping = true;
	for (unsigned int i = 0; i < l->nworkers; i++)
		pthread_cond_signal(&l->workers[i].turn);
	pthread_cond_signal(&l->stopped);
	pthread_mutex_unlock(&l->lock);
	fuse_session_exit(l->se);
}

/* Are more requests waiting in /dev/fuse? */
static bool queued(const struct fs_loop *l)
{
	struct pollfd pfd = {.fd = l->fd, .events = POLLIN};

	return poll(&pfd, 1, 0) == 1 && (pfd.revents & POLLIN);
}

static bool holds_turn(struct fs_loop *l, struct loop_worker *w)
{
	bool yes;

	pthread_mutex_lock(&l->lock);
	yes = l->reader == w;
	pthread_mutex_unlock(&l->lock);
	return yes;
}

static void *worker_main(void *arg)
{
	struct loop_worker *w = arg;
	struct fs_loop *l = w->loop;
	bool extra = false; /* reading without the turn: requests queued */
	int res;

	self = w;
	request_done(l, w);
	while (extra || wait_turn(l, w)) {
		res = fuse_session_receive_buf(l->se, &w->buf);
		if (res == -EINTR || res == -EAGAIN)
			continue;
		if (res <= 0) {
			/* 0: unmounted (ENODEV), the session has exited */
			stop(l, res);
			break;
		}
		if (!extra && queued(l))
			pass_turn(l, w);
		atomic_fetch_add_explicit(&w->served, 1, memory_order_relaxed);
		atomic_store_explicit(&w->serving, true, memory_order_relaxed);
		fuse_session_process_buf(l->se, &w->buf);
		atomic_store_explicit(&w->serving, false, memory_order_relaxed);
		if (fuse_session_exited(l->se)) {
			stop(l, 0);
			break;
		}
		/*
		 * While requests are queued, whoever finishes takes the next
		 * one, without a wake-up or a hand-over; otherwise the reader
		 * reads on and the others go idle.
		 */
		extra = !holds_turn(l, w) && queued(l);
		if (!extra)
			request_done(l, w);
	}
	self = NULL;
	return NULL;
}

/*
 * The watchdog, on the thread that started the loop: a reader that has
 * served one request for a whole WATCHDOG_MS without calling
 * fs_loop_may_block() hands the reading over all the same. Nothing it
 * serves should wait that long, but a daemon that serves swap must keep
 * reading whatever happens to one request (a thread stalled in reclaim
 * that waits on the swap-out the daemon itself must serve would never
 * come back), as libfuse's workers, all in read(), did.
 */
#define WATCHDOG_MS 100

static void watch(struct fs_loop *l)
{
	struct loop_worker *seen = NULL;
	uint_fast64_t seen_served = 0;
	struct timespec at;

	pthread_mutex_lock(&l->lock);
	while (!l->stopping) {
		struct loop_worker *r = l->reader;

		if (r && r == seen &&
		    atomic_load_explicit(&r->serving, memory_order_relaxed) &&
		    atomic_load_explicit(&r->served, memory_order_relaxed) ==
			    seen_served) {
			pthread_mutex_unlock(&l->lock);
			pass_turn(l, r);
			pthread_mutex_lock(&l->lock);
			continue;
		}
		seen = r;
		seen_served = r ? atomic_load_explicit(&r->served,
						       memory_order_relaxed)
				: 0;
		cmp_deadline_ms(&at, WATCHDOG_MS);
		pthread_cond_timedwait(&l->stopped, &l->lock, &at);
	}
	pthread_mutex_unlock(&l->lock);
}

void fs_loop_may_block(void)
{
	if (self)
		pass_turn(self->loop, self);
}

int fs_loop_run(struct fuse_session *se, unsigned int nworkers)
{
	struct fs_loop *l;
	unsigned int started = 0;
	int ret = 0;

	if (!nworkers)
		nworkers = 1;
	l = calloc(1, sizeof(*l) + nworkers * sizeof(l->workers[0]));
	if (!l)
		return -ENOMEM;
	l->se = se;
	l->fd = fuse_session_fd(se);
	l->nworkers = nworkers;
	pthread_mutex_init(&l->lock, NULL);
	cmp_cond_init_monotonic(&l->stopped);
	for (unsigned int i = 0; i < nworkers; i++) {
		l->workers[i].loop = l;
		pthread_cond_init(&l->workers[i].turn, NULL);
	}
	/* Fewer workers than asked still serve; none cannot. */
	for (unsigned int i = 0; i < nworkers; i++) {
		struct loop_worker *w = &l->workers[i];

		ret = -pthread_create(&w->thread, NULL, worker_main, w);
		if (ret) {
			log_warn("started %u FUSE workers of %u: %s", started,
				 nworkers, strerror(-ret));
			break;
		}
		w->started = true;
		started++;
	}
	if (started) {
		ret = 0;
		watch(l);
	}
	/* all gone before any cond goes: a late stop() signals them all */
	for (unsigned int i = 0; i < nworkers; i++)
		if (l->workers[i].started)
			pthread_join(l->workers[i].thread, NULL);
	for (unsigned int i = 0; i < nworkers; i++) {
		pthread_cond_destroy(&l->workers[i].turn);
		free(l->workers[i].buf.mem);
	}
	if (!ret)
		ret = l->err;
	pthread_cond_destroy(&l->stopped);
	pthread_mutex_destroy(&l->lock);
	free(l);
	fuse_session_reset(se);
	return ret;
}
