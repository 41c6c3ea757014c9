/* SPDX-License-Identifier: MIT */
/*
 * A connected pair of RDMA connections over the fake fabric (fake-rdma.c),
 * before or after authentication, and small helpers shared by the RDMA
 * transport tests: test-rdma.c (connection management, streams, growth)
 * and test-rdma-rma.c (one-sided access through memory windows): stream
 * shorthands, stderr capture, and regions registered for a test and
 * unregistered when its pair is destroyed. Include after cmocka.h,
 * rdma-internal.h and fake-rdma.h.
 */
#ifndef CMP_TEST_RDMA_PAIR_H
#define CMP_TEST_RDMA_PAIR_H

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

struct pair {
	struct conn_listener *l;
	struct conn *cli, *srv;
	int accept_ret;
};

static inline struct rdma_conn *rc(struct conn *c);
static inline int wr(struct conn *c, const void *buf, size_t len);
static inline int rd(struct conn *c, void *buf, size_t len);

static void *regions[RDMA_MAX_REGIONS];

/* cmocka setup: a fresh fake fabric with one device. */
static inline int pair_setup(void **state)
{
	memset(&F, 0, sizeof(F));
	F.devices = 1;
	return 0;
}

struct accept_job {
	struct pair *p;
	struct conn **out;
};

static inline void *accept_main(void *arg)
{
	struct accept_job *j = arg;

	j->p->accept_ret = j->p->l->ops->accept(j->p->l, j->out);
	return NULL;
}

static inline void start_listener(struct pair *p)
{
	assert_int_equal(conn_rdma_transport.listen("127.0.0.1:0", &p->l), 0);
	assert_string_equal(p->l->addr, "rdma://127.0.0.1:7000");
}

/* One more connection on p->l: *cli connected to the accepted *srv. */
static inline void accept_one(struct pair *p, struct conn **cli,
			      struct conn **srv)
{
	struct accept_job j = {p, srv};
	pthread_t t;

	assert_int_equal(pthread_create(&t, NULL, accept_main, &j), 0);
	assert_int_equal(
		conn_rdma_transport.connect("127.0.0.1:7000", 2000, cli), 0);
	pthread_join(t, NULL);
	assert_int_equal(p->accept_ret, 0);
}

/* Connected, not authenticated: both ends on their small buffers. */
static inline void connect_pair_small(struct pair *p)
{
	start_listener(p);
	accept_one(p, &p->cli, &p->srv);
}

static inline bool past_small(struct conn *c)
{
	bool past;

	pthread_mutex_lock(&rc(c)->lock);
	past = rc(c)->peer_grown && rc(c)->tx_sends >= rc(c)->peer_small_total;
	pthread_mutex_unlock(&rc(c)->lock);
	return past;
}

/*
 * Both ends authenticated, and each end's SENDs past the other's small
 * receives (so every later SEND may be big); the fake's counters reset.
 */
static inline void grow_pair(struct pair *p)
{
	char x = 'x';

	assert_int_equal(p->cli->ops->authenticated(p->cli), 0);
	assert_int_equal(p->srv->ops->authenticated(p->srv), 0);
	for (int i = 0; i < 4 * RDMA_SMALL_RX_DEPTH; i++) {
		if (past_small(p->cli) && past_small(p->srv))
			break;
		assert_int_equal(wr(p->cli, &x, 1), 0);
		assert_int_equal(rd(p->srv, &x, 1), 0);
		assert_int_equal(wr(p->srv, &x, 1), 0);
		assert_int_equal(rd(p->cli, &x, 1), 0);
	}
	assert_true(past_small(p->cli) && past_small(p->srv));
	pthread_mutex_lock(&fab);
	assert_int_equal(F.rnr, 0);
	F.data_msgs = F.credit_msgs = F.rma_ops = 0;
	F.max_send_len = 0;
	pthread_mutex_unlock(&fab);
}

/* connect_pair_small() + grow_pair(). */
static inline void connect_pair(struct pair *p)
{
	connect_pair_small(p);
	grow_pair(p);
}

/* conn_rma_register() through the transport, undone by destroy_pair(). */
static inline void reg_region(void *base, size_t len)
{
	for (size_t i = 0; i < RDMA_MAX_REGIONS; i++) {
		if (!regions[i]) {
			assert_int_equal(
				conn_rdma_transport.rma_register(base, len), 0);
			regions[i] = base;
			return;
		}
	}
	fail_msg("too many regions in one test");
}

/* Destroys what exists, unregisters the test's regions, checks leaks. */
static inline void destroy_pair(struct pair *p)
{
	if (p->cli)
		p->cli->ops->destroy(p->cli);
	if (p->srv)
		p->srv->ops->destroy(p->srv);
	if (p->l)
		p->l->ops->destroy(p->l);
	for (size_t i = 0; i < RDMA_MAX_REGIONS; i++) {
		if (regions[i])
			assert_int_equal(
				conn_rdma_transport.rma_unregister(regions[i]),
				0);
		regions[i] = NULL;
	}
	pthread_mutex_lock(&fab);
	assert_int_equal(F.live, 0);
	assert_int_equal(F.reg_bytes, 0);
	pthread_mutex_unlock(&fab);
}

static inline int wr(struct conn *c, const void *buf, size_t len)
{
	struct iovec iov = {.iov_base = (void *)buf, .iov_len = len};

	return c->ops->writev(c, &iov, 1);
}

static inline int rd(struct conn *c, void *buf, size_t len)
{
	struct iovec iov = {.iov_base = buf, .iov_len = len};

	return c->ops->readv(c, &iov, 1);
}

static inline uint8_t pat(size_t i)
{
	return (uint8_t)(i * 7 + (i >> 11));
}

static inline struct rdma_conn *rc(struct conn *c)
{
	return (struct rdma_conn *)c;
}

/* Polls for a thread asleep in c's poll(), with a deadline. */
static inline bool eventually_polling(struct conn *c)
{
	uint64_t end = cmp_now_ns() + 2000000000ull;
	bool polling = false;

	while (!polling && cmp_now_ns() < end) {
		pthread_mutex_lock(&rc(c)->lock);
		polling = rc(c)->polling;
		pthread_mutex_unlock(&rc(c)->lock);
		if (!polling)
			usleep(1000);
	}
	return polling;
}

static inline char *capture_stderr_begin(int *saved)
{
	char *path = strdup("/tmp/test-rdma-XXXXXX");
	int fd = mkstemp(path);

	assert_true(fd >= 0);
	fflush(stderr);
	*saved = dup(STDERR_FILENO);
	dup2(fd, STDERR_FILENO);
	close(fd);
	return path;
}

static inline void capture_stderr_end(int saved, char *path, char *out,
				      size_t len)
{
	FILE *f;
	size_t n;

	fflush(stderr);
	dup2(saved, STDERR_FILENO);
	close(saved);
	f = fopen(path, "r");
	assert_non_null(f);
	n = fread(out, 1, len - 1, f);
	out[n] = '\0';
	fclose(f);
	unlink(path);
	free(path);
}

static inline int count_lines(const char *s)
{
	int n = 0;

	for (; *s; s++)
		n += *s == '\n';
	return n;
}

#endif
