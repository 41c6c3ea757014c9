/* SPDX-License-Identifier: MIT */
/*
 * A connected pair of RDMA connections over the fake fabric (fake-rdma.c),
 * and small helpers shared by the RDMA transport tests: test-rdma.c
 * (connection management, streams) and test-rdma-rma.c (one-sided access).
 * Include after cmocka.h, rdma-internal.h and fake-rdma.h.
 */
#ifndef CMP_TEST_RDMA_PAIR_H
#define CMP_TEST_RDMA_PAIR_H

struct pair {
	struct conn_listener *l;
	struct conn *cli, *srv;
	int accept_ret;
};

static inline void *accept_main(void *arg)
{
	struct pair *p = arg;

	p->accept_ret = p->l->ops->accept(p->l, &p->srv);
	return NULL;
}

static inline void start_listener(struct pair *p)
{
	assert_int_equal(conn_rdma_transport.listen("127.0.0.1:0", &p->l), 0);
	assert_string_equal(p->l->addr, "rdma://127.0.0.1:7000");
}

static inline void connect_pair(struct pair *p)
{
	pthread_t t;

	start_listener(p);
	assert_int_equal(pthread_create(&t, NULL, accept_main, p), 0);
	assert_int_equal(
		conn_rdma_transport.connect("127.0.0.1:7000", 2000, &p->cli),
		0);
	pthread_join(t, NULL);
	assert_int_equal(p->accept_ret, 0);
}

static inline void destroy_pair(struct pair *p)
{
	if (p->cli)
		p->cli->ops->destroy(p->cli);
	if (p->srv)
		p->srv->ops->destroy(p->srv);
	if (p->l)
		p->l->ops->destroy(p->l);
	pthread_mutex_lock(&fab);
	assert_int_equal(F.live, 0);
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

static inline int setup(void **state)
{
	memset(&F, 0, sizeof(F));
	F.devices = 1;
	return 0;
}

#endif
