// SPDX-License-Identifier: MIT
/*
 * The request loop (fs/loop.c) against a fake /dev/fuse: libfuse's
 * receive and process calls and poll() are wrapped (-Wl,--wrap), so a test
 * queues requests, says what each does when served (return at once, call
 * fs_loop_may_block() and wait, wait without a word, sleep) and sees which
 * worker thread served it. What must hold: one request at a time stays on
 * one thread; a request that waits, whether it says so or not, does not
 * hold up the next; queued requests are served side by side; an unmount
 * ends the loop with every worker.
 */
#include <errno.h>
#include <poll.h>
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>

#include "cmp/util.h"
#include "fs.h"

#define NWORKERS 4
#define MAXREQ 256

enum kind { FAST, BLOCKS, STALLS, SLEEPS };

struct fake_req {
	enum kind kind;
	pthread_t by;
	bool started, done, release;
};

static struct {
	pthread_mutex_t lock;
	pthread_cond_t cond;
	unsigned int queue[MAXREQ];
	unsigned int head, tail, nreq;
	struct fake_req req[MAXREQ];
	bool unmounted, exited;
	bool bad_poll; /* a poll() the loop should not make (asserted later) */
} F = {.lock = PTHREAD_MUTEX_INITIALIZER};

static pthread_t runner;
static int run_ret;
/* any pointer: the wrapped calls never look at it */
static struct fuse_session *const SE = (struct fuse_session *)&F;

int __wrap_fuse_session_receive_buf(struct fuse_session *se,
				    struct fuse_buf *buf);
void __wrap_fuse_session_process_buf(struct fuse_session *se,
				     const struct fuse_buf *buf);
int __wrap_fuse_session_fd(struct fuse_session *se);
void __wrap_fuse_session_exit(struct fuse_session *se);
int __wrap_fuse_session_exited(struct fuse_session *se);
void __wrap_fuse_session_reset(struct fuse_session *se);
int __wrap_poll(struct pollfd *fds, nfds_t n, int timeout);

/* Blocks until a request is queued; 0 once unmounted (as on ENODEV). */
int __wrap_fuse_session_receive_buf(struct fuse_session *se,
				    struct fuse_buf *buf)
{
	int ret = 1;

	(void)se;
	pthread_mutex_lock(&F.lock);
	while (F.head == F.tail && !F.unmounted)
		pthread_cond_wait(&F.cond, &F.lock);
	if (F.head == F.tail) {
		F.exited = true;
		ret = 0;
	} else {
		buf->size = F.queue[F.head++ % MAXREQ];
	}
	pthread_mutex_unlock(&F.lock);
	return ret;
}

void __wrap_fuse_session_process_buf(struct fuse_session *se,
				     const struct fuse_buf *buf)
{
	struct fake_req *r = &F.req[buf->size];

	(void)se;
	pthread_mutex_lock(&F.lock);
	r->by = pthread_self();
	r->started = true;
	pthread_cond_broadcast(&F.cond);
	if (r->kind == BLOCKS) {
		pthread_mutex_unlock(&F.lock);
		fs_loop_may_block();
		pthread_mutex_lock(&F.lock);
	}
	while ((r->kind == BLOCKS || r->kind == STALLS) && !r->release)
		pthread_cond_wait(&F.cond, &F.lock);
	pthread_mutex_unlock(&F.lock);
	if (r->kind == SLEEPS)
		usleep(20000);
	pthread_mutex_lock(&F.lock);
	r->done = true;
	pthread_cond_broadcast(&F.cond);
	pthread_mutex_unlock(&F.lock);
}

int __wrap_fuse_session_fd(struct fuse_session *se)
{
	(void)se;
	return 42;
}

void __wrap_fuse_session_exit(struct fuse_session *se)
{
	(void)se;
	pthread_mutex_lock(&F.lock);
	F.exited = true;
	pthread_mutex_unlock(&F.lock);
}

int __wrap_fuse_session_exited(struct fuse_session *se)
{
	int yes;

	(void)se;
	pthread_mutex_lock(&F.lock);
	yes = F.exited;
	pthread_mutex_unlock(&F.lock);
	return yes;
}

void __wrap_fuse_session_reset(struct fuse_session *se)
{
	(void)se;
}

/* /dev/fuse is readable while requests are queued. */
int __wrap_poll(struct pollfd *fds, nfds_t n, int timeout)
{
	int ready;

	pthread_mutex_lock(&F.lock);
	/* on a worker thread: no cmocka assert here */
	F.bad_poll |= n != 1 || fds[0].fd != 42 || timeout != 0;
	ready = F.head != F.tail;
	pthread_mutex_unlock(&F.lock);
	fds[0].revents = ready ? POLLIN : 0;
	return ready;
}

static void *run(void *arg)
{
	(void)arg;
	run_ret = fs_loop_run(SE, NWORKERS);
	return NULL;
}

static int start(void **state)
{
	(void)state;
	pthread_mutex_lock(&F.lock);
	F.head = F.tail = F.nreq = 0;
	F.unmounted = F.exited = false;
	memset(F.req, 0, sizeof(F.req));
	pthread_mutex_unlock(&F.lock);
	run_ret = 1;
	return pthread_create(&runner, NULL, run, NULL);
}

/* The unmount: fs_loop_run() returns 0 once every worker has gone. */
static int unmount(void **state)
{
	(void)state;
	pthread_mutex_lock(&F.lock);
	F.unmounted = true;
	for (unsigned int i = 0; i < F.nreq; i++)
		F.req[i].release = true;
	pthread_cond_broadcast(&F.cond);
	pthread_mutex_unlock(&F.lock);
	pthread_join(runner, NULL);
	assert_int_equal(run_ret, 0);
	assert_false(F.bad_poll);
	return 0;
}

/* Queues n requests of one kind at once; returns the first one's id. */
static unsigned int submit_locked(enum kind kind, unsigned int n)
{
	unsigned int first = F.nreq;

	assert_true(F.nreq + n <= MAXREQ);
	for (unsigned int i = 0; i < n; i++) {
		F.req[F.nreq].kind = kind;
		F.queue[F.tail++ % MAXREQ] = F.nreq++;
	}
	pthread_cond_broadcast(&F.cond);
	return first;
}

static unsigned int submit(enum kind kind)
{
	unsigned int id;

	pthread_mutex_lock(&F.lock);
	id = submit_locked(kind, 1);
	pthread_mutex_unlock(&F.lock);
	return id;
}

/* Waits (at most 10 s) until request id has started or is done. */
static bool wait_for(unsigned int id, bool done)
{
	struct timespec at;
	bool yes;

	cmp_deadline_ms(&at, 10000);
	pthread_mutex_lock(&F.lock);
	while (!(yes = done ? F.req[id].done : F.req[id].started))
		if (pthread_cond_timedwait(&F.cond, &F.lock, &at) ==
		    ETIMEDOUT) {
			yes = done ? F.req[id].done : F.req[id].started;
			break;
		}
	pthread_mutex_unlock(&F.lock);
	return yes;
}

static void release(unsigned int id)
{
	pthread_mutex_lock(&F.lock);
	F.req[id].release = true;
	pthread_cond_broadcast(&F.cond);
	pthread_mutex_unlock(&F.lock);
}

/*
 * 50 requests, each submitted once the last is done: one thread serves
 * (nearly) all of them. Not all: on a loaded machine the watchdog may see
 * a worker preempted for 100 ms mid-request and hand the reading on.
 * Rotating through the workers, as libfuse's loop_mt does, gives each
 * about a quarter.
 */
static void one_request_at_a_time_stays_on_one_thread(void **state)
{
	unsigned int first = F.nreq, n = 50, best = 0;

	(void)state;
	for (unsigned int i = 0; i < n; i++)
		assert_true(wait_for(submit(FAST), true));
	for (unsigned int i = 0; i < n; i++) {
		unsigned int same = 0;

		for (unsigned int j = 0; j < n; j++)
			same += pthread_equal(F.req[first + i].by,
					      F.req[first + j].by) != 0;
		if (same > best)
			best = same;
	}
	assert_true(best >= 40);
}

static void a_request_that_may_block_lets_the_next_through(void **state)
{
	unsigned int a, b;

	(void)state;
	a = submit(BLOCKS);
	assert_true(wait_for(a, false));
	b = submit(FAST);
	assert_true(wait_for(b, true));
	assert_false(F.req[a].done);
	assert_false(pthread_equal(F.req[a].by, F.req[b].by));
	release(a);
	assert_true(wait_for(a, true));
}

static void a_stalled_request_is_passed_by_the_watchdog(void **state)
{
	unsigned int a, b;

	(void)state;
	a = submit(STALLS);
	assert_true(wait_for(a, false));
	b = submit(FAST);
	assert_true(wait_for(b, true));
	assert_false(F.req[a].done);
	release(a);
	assert_true(wait_for(a, true));
}

static void queued_requests_are_served_side_by_side(void **state)
{
	unsigned int first, n = 8, threads = 0;

	(void)state;
	pthread_mutex_lock(&F.lock);
	first = submit_locked(SLEEPS, n);
	pthread_mutex_unlock(&F.lock);
	for (unsigned int i = 0; i < n; i++)
		assert_true(wait_for(first + i, true));
	for (unsigned int i = 0; i < n; i++) {
		bool seen = false;

		for (unsigned int j = 0; j < i; j++)
			seen |= pthread_equal(F.req[first + i].by,
					      F.req[first + j].by);
		threads += !seen;
	}
	assert_true(threads > 1);
}

static void an_unmount_with_idle_workers_ends_the_loop(void **state)
{
	(void)state;
	/* start() and unmount() around nothing: every worker idle */
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(
			one_request_at_a_time_stays_on_one_thread, start,
			unmount),
		cmocka_unit_test_setup_teardown(
			a_request_that_may_block_lets_the_next_through, start,
			unmount),
		cmocka_unit_test_setup_teardown(
			a_stalled_request_is_passed_by_the_watchdog, start,
			unmount),
		cmocka_unit_test_setup_teardown(
			queued_requests_are_served_side_by_side, start,
			unmount),
		cmocka_unit_test_setup_teardown(
			an_unmount_with_idle_workers_ends_the_loop, start,
			unmount),
	};

	cmp_cond_init_monotonic(&F.cond); /* wait_for() counts on it */
	return cmocka_run_group_tests(tests, NULL, NULL);
}
