// SPDX-License-Identifier: MIT
/*
 * The relay of the liveness tests (relay.h): one acceptor thread, and two
 * pump threads per relayed connection.
 */
#include <poll.h>
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>

#include "relay.h"

#define TIMEOUT_MS 2000

atomic_uint relay_delayed, relay_delayed_max;

/* What goes towards the provider waits delay_ms (counted meanwhile). */
static void delay(struct relay *r)
{
	unsigned int ms = atomic_load(&r->delay_ms), now, max;

	if (!ms)
		return;
	now = atomic_fetch_add(&relay_delayed, 1) + 1;
	max = atomic_load(&relay_delayed_max);
	while (now > max &&
	       !atomic_compare_exchange_weak(&relay_delayed_max, &max, now))
		;
	nanosleep(&(struct timespec){ms / 1000, (long)(ms % 1000) * 1000000},
		  NULL);
	atomic_fetch_sub(&relay_delayed, 1);
}

struct pump {
	struct relay *r;
	struct pair *p;
	bool to_provider;
};

static void *pump_main(void *arg)
{
	struct pump *pu = arg;
	struct conn *src = pu->to_provider ? pu->p->a : pu->p->b;
	struct conn *dst = pu->to_provider ? pu->p->b : pu->p->a;
	struct pollfd pfd = {.fd = conn_fd(src), .events = POLLIN};
	uint8_t buf[65536];

	for (;;) {
		struct iovec iov = {buf, 0};
		ssize_t n;

		if (poll(&pfd, 1, 10) < 0 || atomic_load(&pu->p->cut))
			break;
		if (atomic_load(&pu->r->hold) || !(pfd.revents & POLLIN))
			continue;
		n = read(pfd.fd, buf, sizeof(buf));
		if (n <= 0)
			break;
		if (pu->to_provider)
			delay(pu->r);
		iov.iov_len = (size_t)n;
		if (conn_writev(dst, &iov, 1))
			break;
	}
	conn_shutdown(dst);
	conn_shutdown(src);
	atomic_fetch_sub(&pu->p->running, 1);
	free(pu);
	return NULL;
}

/* Joins and frees the pairs whose pumps ended (all: reset them first). */
static void reap_pairs_locked(struct relay *r, bool all)
{
	for (int i = 0; i < RELAY_PAIRS; i++) {
		struct pair *p = &r->pairs[i];

		if (!p->used || (!all && atomic_load(&p->running)))
			continue;
		if (all) {
			atomic_store(&p->cut, true);
			conn_shutdown(p->a);
			conn_shutdown(p->b);
		}
		pthread_join(p->t[0], NULL);
		pthread_join(p->t[1], NULL);
		conn_destroy(p->a);
		conn_destroy(p->b);
		p->used = false;
	}
}

static void start_pair(struct relay *r, struct conn *a, struct conn *b)
{
	struct pair *p = NULL;

	pthread_mutex_lock(&r->lock);
	reap_pairs_locked(r, false);
	for (int i = 0; i < RELAY_PAIRS && !p; i++)
		if (!r->pairs[i].used)
			p = &r->pairs[i];
	assert_non_null(p);
	*p = (struct pair){.a = a, .b = b, .used = true};
	atomic_init(&p->running, 2);
	atomic_init(&p->cut, false);
	for (int k = 0; k < 2; k++) {
		struct pump *pu = malloc(sizeof(*pu));

		assert_non_null(pu);
		*pu = (struct pump){r, p, k == 0};
		assert_int_equal(pthread_create(&p->t[k], NULL, pump_main, pu),
				 0);
	}
	pthread_mutex_unlock(&r->lock);
}

static void *acceptor_main(void *arg)
{
	struct relay *r = arg;

	while (!atomic_load(&r->stop)) {
		struct pollfd pfd = {.events = POLLIN};
		struct conn *a, *b;

		pthread_mutex_lock(&r->lock);
		pfd.fd = r->l ? conn_listener_fd(r->l) : -1;
		pthread_mutex_unlock(&r->lock);
		if (poll(&pfd, 1, 10) <= 0 || !(pfd.revents & POLLIN))
			continue;
		pthread_mutex_lock(&r->lock);
		if (!r->l || conn_accept(r->l, &a)) {
			pthread_mutex_unlock(&r->lock);
			continue;
		}
		pthread_mutex_unlock(&r->lock);
		if (conn_connect(r->to, TIMEOUT_MS, &b)) {
			conn_destroy(a);
			continue;
		}
		start_pair(r, a, b);
	}
	return NULL;
}

void relay_listen(struct relay *r)
{
	struct conn_listener *l;

	assert_int_equal(conn_listen(r->addr, &l), 0);
	pthread_mutex_lock(&r->lock);
	r->l = l;
	pthread_mutex_unlock(&r->lock);
}

void relay_refuse(struct relay *r)
{
	pthread_mutex_lock(&r->lock);
	conn_listener_destroy(r->l);
	r->l = NULL;
	pthread_mutex_unlock(&r->lock);
}

void relay_reset(struct relay *r)
{
	pthread_mutex_lock(&r->lock);
	reap_pairs_locked(r, true);
	pthread_mutex_unlock(&r->lock);
}

void relay_start(struct relay *r, const char *to)
{
	static unsigned int seq;

	snprintf(r->addr, sizeof(r->addr), "mem://relay-%d-%u", getpid(),
		 ++seq);
	r->to = to;
	pthread_mutex_init(&r->lock, NULL);
	relay_listen(r);
	assert_int_equal(pthread_create(&r->acceptor, NULL, acceptor_main, r),
			 0);
}

void relay_stop(struct relay *r)
{
	atomic_store(&r->stop, true);
	atomic_store(&r->hold, false);
	pthread_join(r->acceptor, NULL);
	pthread_mutex_lock(&r->lock);
	reap_pairs_locked(r, true);
	if (r->l)
		conn_listener_destroy(r->l);
	pthread_mutex_unlock(&r->lock);
	pthread_mutex_destroy(&r->lock);
}
