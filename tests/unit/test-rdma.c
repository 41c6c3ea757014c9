// SPDX-License-Identifier: MIT
/*
 * Unit tests of the RDMA transport with verbs and CM mocked. The real entry
 * points are wrapped (-Wl,--wrap=, listed in connector/rdma/meson.build);
 * the inline ones (ibv_post_send/recv, ibv_poll_cq, ibv_req_notify_cq)
 * reach this file through the ops of a fake ibv_context that the wrapped
 * calls hand out. Together the fakes are a tiny in-process fabric: QPs
 * joined by rdma_accept deliver SENDs into each other's posted receives
 * (counting any SEND that finds none: an RNR, i.e. a flow-control bug) and
 * do RDMA READ/WRITE with memcpy after checking rkey, bounds and access.
 * Channels are semaphore eventfds, so the transport's poll() loop and
 * conn_fd() run for real.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <errno.h>
#include <poll.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <unistd.h>
#include <arpa/inet.h>

#include "cmp/log.h"
#include "cmp/util.h"
#include "rdma-internal.h"

/* --- the fake fabric -------------------------------------------------- */

struct fake_event {
	struct rdma_cm_event ev; /* first: handed out as rdma_cm_event */
	uint8_t priv[64];
};

struct fake_cm_ch {
	struct rdma_event_channel ch; /* first */
	struct fake_event *q[64];
	unsigned int head, count;
};

struct fake_qp;

struct fake_id {
	struct rdma_cm_id id; /* first */
	struct fake_id *peer;
	bool disconnected;
	uint8_t initiator_depth, responder_resources;
};

struct fake_comp_ch {
	struct ibv_comp_channel ch; /* first */
	struct fake_cq *cq;
};

struct fake_cq {
	struct ibv_cq cq; /* first */
	struct ibv_wc wc[1024];
	unsigned int head, count;
	bool armed;
};

struct fake_qp {
	struct ibv_qp qp; /* first */
	struct fake_qp *peer;
	struct fake_id *owner;
	struct {
		uint64_t wr_id;
		struct ibv_sge sge;
	} rq[256];
	unsigned int rq_head, rq_count;
	bool err;
};

struct fake_mr {
	struct ibv_mr mr; /* first */
	int access;
	struct fake_mr *next;
};

static pthread_mutex_t fab = PTHREAD_MUTEX_INITIALIZER;

/* Knobs and counters; reset before every test. */
static struct {
	int devices;
	int fail_reg_mr_at; /* this ibv_reg_mr call fails, 1-based */
	int reg_mr_calls;
	int post_send_err; /* positive errno from ibv_post_send */
	bool reject;	   /* rdma_connect is answered REJECTED */
	bool addr_error;   /* rdma_resolve_addr yields ADDR_ERROR */
	bool bad_hello;	   /* rdma_connect mangles the hello */
	int rnr;	   /* SENDs that found no receive posted */
	int credit_msgs;   /* zero-length SENDs */
	int data_msgs;
	int rma_ops;
	void *last_rma_local;
	int live; /* fake objects not yet destroyed */
	unsigned int rq_at_connect, rq_at_accept;
	struct fake_id *listener;
	struct fake_mr *mrs;
	uint32_t next_key;
} F;

static int fake_post_send(struct ibv_qp *qp, struct ibv_send_wr *wr,
			  struct ibv_send_wr **bad);
static int fake_post_recv(struct ibv_qp *qp, struct ibv_recv_wr *wr,
			  struct ibv_recv_wr **bad);
static int fake_poll_cq(struct ibv_cq *cq, int n, struct ibv_wc *wc);
static int fake_req_notify_cq(struct ibv_cq *cq, int solicited_only);

static struct ibv_context fake_ctx = {
	.ops =
		{
			.post_send = fake_post_send,
			.post_recv = fake_post_recv,
			.poll_cq = fake_poll_cq,
			.req_notify_cq = fake_req_notify_cq,
		},
};

static void signal_fd(int fd)
{
	uint64_t one = 1;

	assert_int_equal(write(fd, &one, sizeof(one)), sizeof(one));
}

/* fab held */
static void push_event(struct fake_cm_ch *ch, enum rdma_cm_event_type type,
		       struct fake_id *id, const void *priv, size_t len)
{
	struct fake_event *e = calloc(1, sizeof(*e));

	assert_non_null(e);
	assert_true(ch->count < ARRAY_SIZE(ch->q));
	F.live++;
	e->ev.event = type;
	e->ev.id = &id->id;
	if (priv) {
		memcpy(e->priv, priv, len);
		e->ev.param.conn.private_data = e->priv;
		e->ev.param.conn.private_data_len = (uint8_t)len;
		e->ev.param.conn.initiator_depth = id->initiator_depth;
		e->ev.param.conn.responder_resources = id->responder_resources;
	}
	ch->q[(ch->head + ch->count++) % ARRAY_SIZE(ch->q)] = e;
	signal_fd(ch->ch.fd);
}

static struct fake_cm_ch *id_channel(struct fake_id *id)
{
	return (struct fake_cm_ch *)id->id.channel;
}

/* fab held */
static void push_wc(struct fake_cq *cq, uint64_t wr_id, enum ibv_wc_status st,
		    enum ibv_wc_opcode op, uint32_t len, int flags,
		    uint32_t imm)
{
	struct ibv_wc *wc;

	assert_true(cq->count < ARRAY_SIZE(cq->wc));
	wc = &cq->wc[(cq->head + cq->count++) % ARRAY_SIZE(cq->wc)];
	*wc = (struct ibv_wc){
		.wr_id = wr_id,
		.status = st,
		.opcode = op,
		.byte_len = len,
		.wc_flags = flags,
		.imm_data = imm,
	};
	if (cq->armed) {
		cq->armed = false;
		signal_fd(cq->cq.channel->fd);
	}
}

/* fab held: the QP moves to error, every posted receive flushes. */
static void qp_error(struct fake_qp *q)
{
	q->err = true;
	while (q->rq_count) {
		push_wc((struct fake_cq *)q->qp.recv_cq,
			q->rq[q->rq_head].wr_id, IBV_WC_WR_FLUSH_ERR,
			IBV_WC_RECV, 0, 0, 0);
		q->rq_head = (q->rq_head + 1) % ARRAY_SIZE(q->rq);
		q->rq_count--;
	}
}

static struct fake_mr *find_mr(uint32_t key, bool remote, uintptr_t addr,
			       size_t len, int access)
{
	for (struct fake_mr *m = F.mrs; m; m = m->next) {
		uintptr_t start = (uintptr_t)m->mr.addr;

		if ((remote ? m->mr.rkey : m->mr.lkey) != key)
			continue;
		if (addr < start || addr + len > start + m->mr.length)
			return NULL;
		return (m->access & access) == access ? m : NULL;
	}
	return NULL;
}

static enum ibv_wc_status do_send(struct fake_qp *q, struct ibv_send_wr *wr)
{
	struct fake_qp *p = q->peer;
	uint32_t len = wr->num_sge ? wr->sg_list[0].length : 0;
	struct ibv_sge *dst;

	if (!p || p->err)
		return IBV_WC_RETRY_EXC_ERR;
	if (!p->rq_count) {
		F.rnr++;
		return IBV_WC_RNR_RETRY_EXC_ERR;
	}
	dst = &p->rq[p->rq_head].sge;
	if (len > dst->length)
		return IBV_WC_LOC_LEN_ERR;
	if (len)
		memcpy((void *)(uintptr_t)dst->addr,
		       (void *)(uintptr_t)wr->sg_list[0].addr, len);
	push_wc((struct fake_cq *)p->qp.recv_cq, p->rq[p->rq_head].wr_id,
		IBV_WC_SUCCESS, IBV_WC_RECV, len,
		wr->opcode == IBV_WR_SEND_WITH_IMM ? IBV_WC_WITH_IMM : 0,
		wr->imm_data);
	p->rq_head = (p->rq_head + 1) % ARRAY_SIZE(p->rq);
	p->rq_count--;
	if (len)
		F.data_msgs++;
	else
		F.credit_msgs++;
	return IBV_WC_SUCCESS;
}

static enum ibv_wc_status do_rma(struct fake_qp *q, struct ibv_send_wr *wr)
{
	bool rd = wr->opcode == IBV_WR_RDMA_READ;
	struct ibv_sge *s = &wr->sg_list[0];
	void *local = (void *)(uintptr_t)s->addr;
	void *remote = (void *)(uintptr_t)wr->wr.rdma.remote_addr;

	if (!q->peer || q->peer->err)
		return IBV_WC_RETRY_EXC_ERR;
	if (!find_mr(s->lkey, false, s->addr, s->length,
		     rd ? IBV_ACCESS_LOCAL_WRITE : 0))
		return IBV_WC_LOC_PROT_ERR;
	if (!find_mr(wr->wr.rdma.rkey, true, (uintptr_t)remote, s->length,
		     rd ? IBV_ACCESS_REMOTE_READ : IBV_ACCESS_REMOTE_WRITE))
		return IBV_WC_REM_ACCESS_ERR;
	memcpy(rd ? local : remote, rd ? remote : local, s->length);
	F.rma_ops++;
	F.last_rma_local = local;
	return IBV_WC_SUCCESS;
}

static int fake_post_send(struct ibv_qp *qp, struct ibv_send_wr *wr,
			  struct ibv_send_wr **bad)
{
	struct fake_qp *q = (struct fake_qp *)qp;

	pthread_mutex_lock(&fab);
	if (F.post_send_err) {
		*bad = wr;
		pthread_mutex_unlock(&fab);
		return F.post_send_err;
	}
	for (; wr; wr = wr->next) {
		enum ibv_wc_status st = IBV_WC_WR_FLUSH_ERR;
		bool send = wr->opcode == IBV_WR_SEND ||
			    wr->opcode == IBV_WR_SEND_WITH_IMM;

		if (!q->err)
			st = send ? do_send(q, wr) : do_rma(q, wr);
		push_wc((struct fake_cq *)qp->send_cq, wr->wr_id, st,
			send ? IBV_WC_SEND : IBV_WC_RDMA_READ, 0, 0, 0);
		/* On RC any failed WR takes the QP to error. */
		if (st != IBV_WC_SUCCESS && !q->err)
			qp_error(q);
	}
	pthread_mutex_unlock(&fab);
	return 0;
}

static int fake_post_recv(struct ibv_qp *qp, struct ibv_recv_wr *wr,
			  struct ibv_recv_wr **bad)
{
	struct fake_qp *q = (struct fake_qp *)qp;

	pthread_mutex_lock(&fab);
	for (; wr; wr = wr->next) {
		unsigned int i = (q->rq_head + q->rq_count) % ARRAY_SIZE(q->rq);

		if (q->err) {
			push_wc((struct fake_cq *)qp->recv_cq, wr->wr_id,
				IBV_WC_WR_FLUSH_ERR, IBV_WC_RECV, 0, 0, 0);
			continue;
		}
		assert_true(q->rq_count < ARRAY_SIZE(q->rq));
		q->rq[i].wr_id = wr->wr_id;
		q->rq[i].sge = wr->sg_list[0];
		q->rq_count++;
	}
	pthread_mutex_unlock(&fab);
	return 0;
}

static int fake_poll_cq(struct ibv_cq *cq, int n, struct ibv_wc *wc)
{
	struct fake_cq *f = (struct fake_cq *)cq;
	int i;

	pthread_mutex_lock(&fab);
	for (i = 0; i < n && f->count; i++) {
		wc[i] = f->wc[f->head];
		f->head = (f->head + 1) % ARRAY_SIZE(f->wc);
		f->count--;
	}
	pthread_mutex_unlock(&fab);
	return i;
}

static int fake_req_notify_cq(struct ibv_cq *cq, int solicited_only)
{
	pthread_mutex_lock(&fab);
	((struct fake_cq *)cq)->armed = true;
	pthread_mutex_unlock(&fab);
	return 0;
}

/* --- wrapped verbs ---------------------------------------------------- */

struct ibv_device **__wrap_ibv_get_device_list(int *n);
void __wrap_ibv_free_device_list(struct ibv_device **list);
int __wrap_ibv_query_device(struct ibv_context *ctx,
			    struct ibv_device_attr *attr);
struct ibv_pd *__wrap_ibv_alloc_pd(struct ibv_context *ctx);
int __wrap_ibv_dealloc_pd(struct ibv_pd *pd);
struct ibv_mr *__wrap_ibv_reg_mr(struct ibv_pd *pd, void *addr, size_t len,
				 int access);
int __wrap_ibv_dereg_mr(struct ibv_mr *mr);
struct ibv_comp_channel *__wrap_ibv_create_comp_channel(struct ibv_context *c);
int __wrap_ibv_destroy_comp_channel(struct ibv_comp_channel *ch);
struct ibv_cq *__wrap_ibv_create_cq(struct ibv_context *ctx, int cqe,
				    void *cq_ctx, struct ibv_comp_channel *ch,
				    int vec);
int __wrap_ibv_destroy_cq(struct ibv_cq *cq);
int __wrap_ibv_get_cq_event(struct ibv_comp_channel *ch, struct ibv_cq **cq,
			    void **ctx);
void __wrap_ibv_ack_cq_events(struct ibv_cq *cq, unsigned int n);
struct rdma_event_channel *__wrap_rdma_create_event_channel(void);
void __wrap_rdma_destroy_event_channel(struct rdma_event_channel *ch);
int __wrap_rdma_create_id(struct rdma_event_channel *ch, struct rdma_cm_id **id,
			  void *ctx, enum rdma_port_space ps);
int __wrap_rdma_destroy_id(struct rdma_cm_id *id);
int __wrap_rdma_resolve_addr(struct rdma_cm_id *id, struct sockaddr *src,
			     struct sockaddr *dst, int ms);
int __wrap_rdma_resolve_route(struct rdma_cm_id *id, int ms);
int __wrap_rdma_create_qp(struct rdma_cm_id *id, struct ibv_pd *pd,
			  struct ibv_qp_init_attr *attr);
void __wrap_rdma_destroy_qp(struct rdma_cm_id *id);
int __wrap_rdma_connect(struct rdma_cm_id *id, struct rdma_conn_param *p);
int __wrap_rdma_accept(struct rdma_cm_id *id, struct rdma_conn_param *p);
int __wrap_rdma_reject(struct rdma_cm_id *id, const void *priv, uint8_t len);
int __wrap_rdma_disconnect(struct rdma_cm_id *id);
int __wrap_rdma_bind_addr(struct rdma_cm_id *id, struct sockaddr *addr);
int __wrap_rdma_listen(struct rdma_cm_id *id, int backlog);
int __wrap_rdma_get_cm_event(struct rdma_event_channel *ch,
			     struct rdma_cm_event **ev);
int __wrap_rdma_ack_cm_event(struct rdma_cm_event *ev);
int __wrap_rdma_migrate_id(struct rdma_cm_id *id,
			   struct rdma_event_channel *ch);
__be16 __wrap_rdma_get_src_port(struct rdma_cm_id *id);

static void *fake_alloc(size_t size)
{
	void *p = calloc(1, size);

	assert_non_null(p);
	pthread_mutex_lock(&fab);
	F.live++;
	pthread_mutex_unlock(&fab);
	return p;
}

static void fake_free(void *p)
{
	if (!p)
		return;
	pthread_mutex_lock(&fab);
	F.live--;
	pthread_mutex_unlock(&fab);
	free(p);
}

struct ibv_device **__wrap_ibv_get_device_list(int *n)
{
	*n = F.devices;
	return calloc((size_t)F.devices + 1, sizeof(struct ibv_device *));
}

void __wrap_ibv_free_device_list(struct ibv_device **list)
{
	free(list);
}

int __wrap_ibv_query_device(struct ibv_context *ctx,
			    struct ibv_device_attr *attr)
{
	memset(attr, 0, sizeof(*attr));
	attr->max_qp_rd_atom = 16;
	attr->max_qp_init_rd_atom = 16;
	return 0;
}

struct ibv_pd *__wrap_ibv_alloc_pd(struct ibv_context *ctx)
{
	struct ibv_pd *pd = fake_alloc(sizeof(*pd));

	pd->context = ctx;
	return pd;
}

int __wrap_ibv_dealloc_pd(struct ibv_pd *pd)
{
	fake_free(pd);
	return 0;
}

struct ibv_mr *__wrap_ibv_reg_mr(struct ibv_pd *pd, void *addr, size_t len,
				 int access)
{
	struct fake_mr *m;

	if (++F.reg_mr_calls == F.fail_reg_mr_at) {
		errno = ENOMEM;
		return NULL;
	}
	m = fake_alloc(sizeof(*m));
	pthread_mutex_lock(&fab);
	m->mr = (struct ibv_mr){
		.context = pd->context,
		.pd = pd,
		.addr = addr,
		.length = len,
		.lkey = ++F.next_key,
		.rkey = ++F.next_key,
	};
	m->access = access;
	m->next = F.mrs;
	F.mrs = m;
	pthread_mutex_unlock(&fab);
	return &m->mr;
}

int __wrap_ibv_dereg_mr(struct ibv_mr *mr)
{
	pthread_mutex_lock(&fab);
	for (struct fake_mr **p = &F.mrs; *p; p = &(*p)->next) {
		if (&(*p)->mr == mr) {
			*p = (*p)->next;
			break;
		}
	}
	pthread_mutex_unlock(&fab);
	fake_free(mr);
	return 0;
}

struct ibv_comp_channel *__wrap_ibv_create_comp_channel(struct ibv_context *c)
{
	struct fake_comp_ch *ch = fake_alloc(sizeof(*ch));

	ch->ch.context = c;
	ch->ch.fd = eventfd(0, EFD_SEMAPHORE | EFD_CLOEXEC);
	assert_true(ch->ch.fd >= 0);
	return &ch->ch;
}

int __wrap_ibv_destroy_comp_channel(struct ibv_comp_channel *ch)
{
	close(ch->fd);
	fake_free(ch);
	return 0;
}

struct ibv_cq *__wrap_ibv_create_cq(struct ibv_context *ctx, int cqe,
				    void *cq_ctx, struct ibv_comp_channel *ch,
				    int vec)
{
	struct fake_cq *cq = fake_alloc(sizeof(*cq));

	cq->cq.context = ctx;
	cq->cq.channel = ch;
	cq->cq.cq_context = cq_ctx;
	cq->cq.cqe = cqe;
	((struct fake_comp_ch *)ch)->cq = cq;
	return &cq->cq;
}

int __wrap_ibv_destroy_cq(struct ibv_cq *cq)
{
	fake_free(cq);
	return 0;
}

int __wrap_ibv_get_cq_event(struct ibv_comp_channel *ch, struct ibv_cq **cq,
			    void **ctx)
{
	struct fake_comp_ch *f = (struct fake_comp_ch *)ch;
	uint64_t v;

	if (read(ch->fd, &v, sizeof(v)) != sizeof(v))
		return -1;
	*cq = &f->cq->cq;
	*ctx = f->cq->cq.cq_context;
	return 0;
}

void __wrap_ibv_ack_cq_events(struct ibv_cq *cq, unsigned int n)
{
}

/* --- wrapped CM ------------------------------------------------------- */

struct rdma_event_channel *__wrap_rdma_create_event_channel(void)
{
	struct fake_cm_ch *ch = fake_alloc(sizeof(*ch));

	ch->ch.fd = eventfd(0, EFD_SEMAPHORE | EFD_CLOEXEC);
	assert_true(ch->ch.fd >= 0);
	return &ch->ch;
}

void __wrap_rdma_destroy_event_channel(struct rdma_event_channel *ch)
{
	struct fake_cm_ch *f = (struct fake_cm_ch *)ch;

	while (f->count) {
		fake_free(f->q[f->head]);
		f->head = (f->head + 1) % ARRAY_SIZE(f->q);
		f->count--;
	}
	close(ch->fd);
	fake_free(f);
}

int __wrap_rdma_create_id(struct rdma_event_channel *ch, struct rdma_cm_id **id,
			  void *ctx, enum rdma_port_space ps)
{
	struct fake_id *f = fake_alloc(sizeof(*f));

	f->id.channel = ch;
	f->id.context = ctx;
	f->id.ps = ps;
	*id = &f->id;
	return 0;
}

int __wrap_rdma_destroy_id(struct rdma_cm_id *id)
{
	struct fake_id *f = (struct fake_id *)id;

	pthread_mutex_lock(&fab);
	if (f->peer)
		f->peer->peer = NULL;
	if (F.listener == f)
		F.listener = NULL;
	pthread_mutex_unlock(&fab);
	fake_free(f);
	return 0;
}

int __wrap_rdma_resolve_addr(struct rdma_cm_id *id, struct sockaddr *src,
			     struct sockaddr *dst, int ms)
{
	struct fake_id *f = (struct fake_id *)id;

	pthread_mutex_lock(&fab);
	if (F.addr_error) {
		push_event(id_channel(f), RDMA_CM_EVENT_ADDR_ERROR, f, NULL, 0);
	} else {
		id->verbs = &fake_ctx;
		memcpy(&id->route.addr.dst_addr, dst,
		       sizeof(struct sockaddr_in));
		push_event(id_channel(f), RDMA_CM_EVENT_ADDR_RESOLVED, f, NULL,
			   0);
	}
	pthread_mutex_unlock(&fab);
	return 0;
}

int __wrap_rdma_resolve_route(struct rdma_cm_id *id, int ms)
{
	pthread_mutex_lock(&fab);
	push_event(id_channel((struct fake_id *)id),
		   RDMA_CM_EVENT_ROUTE_RESOLVED, (struct fake_id *)id, NULL, 0);
	pthread_mutex_unlock(&fab);
	return 0;
}

int __wrap_rdma_create_qp(struct rdma_cm_id *id, struct ibv_pd *pd,
			  struct ibv_qp_init_attr *attr)
{
	struct fake_qp *q = fake_alloc(sizeof(*q));

	assert_true(attr->cap.max_recv_wr <= ARRAY_SIZE(q->rq));
	assert_int_equal(attr->sq_sig_all, 1);
	q->qp.context = &fake_ctx;
	q->qp.pd = pd;
	q->qp.send_cq = attr->send_cq;
	q->qp.recv_cq = attr->recv_cq;
	q->qp.qp_type = attr->qp_type;
	q->owner = (struct fake_id *)id;
	attr->cap.max_inline_data = 64; /* less than asked, as devices do */
	id->qp = &q->qp;
	return 0;
}

void __wrap_rdma_destroy_qp(struct rdma_cm_id *id)
{
	struct fake_qp *q = (struct fake_qp *)id->qp;

	pthread_mutex_lock(&fab);
	if (q->peer)
		q->peer->peer = NULL;
	pthread_mutex_unlock(&fab);
	id->qp = NULL;
	fake_free(q);
}

int __wrap_rdma_connect(struct rdma_cm_id *id, struct rdma_conn_param *p)
{
	struct fake_id *f = (struct fake_id *)id, *s;
	struct sockaddr_in *peer;
	uint8_t hello[64];

	assert_true(p->responder_resources > 0 && p->initiator_depth > 0);
	F.rq_at_connect = ((struct fake_qp *)id->qp)->rq_count;
	memcpy(hello, p->private_data, p->private_data_len);
	if (F.bad_hello)
		hello[0] ^= 0xff;
	pthread_mutex_lock(&fab);
	if (F.reject) {
		push_event(id_channel(f), RDMA_CM_EVENT_REJECTED, f, NULL, 0);
	} else if (F.listener) {
		s = calloc(1, sizeof(*s));
		assert_non_null(s);
		F.live++;
		s->id.verbs = &fake_ctx;
		s->id.channel = F.listener->id.channel;
		s->peer = f;
		s->initiator_depth = p->initiator_depth;
		s->responder_resources = p->responder_resources;
		peer = (struct sockaddr_in *)&s->id.route.addr.dst_addr;
		peer->sin_family = AF_INET;
		peer->sin_port = htons(5555);
		peer->sin_addr.s_addr = htonl(INADDR_LOOPBACK);
		f->peer = s;
		push_event(id_channel(F.listener),
			   RDMA_CM_EVENT_CONNECT_REQUEST, s, hello,
			   p->private_data_len);
	}
	pthread_mutex_unlock(&fab);
	return 0;
}

int __wrap_rdma_accept(struct rdma_cm_id *id, struct rdma_conn_param *p)
{
	struct fake_id *s = (struct fake_id *)id;
	struct fake_qp *sq = (struct fake_qp *)id->qp, *cq;

	F.rq_at_accept = sq->rq_count;
	pthread_mutex_lock(&fab);
	assert_non_null(s->peer);
	cq = (struct fake_qp *)s->peer->id.qp;
	sq->peer = cq;
	cq->peer = sq;
	push_event(id_channel(s), RDMA_CM_EVENT_ESTABLISHED, s, NULL, 0);
	push_event(id_channel(s->peer), RDMA_CM_EVENT_ESTABLISHED, s->peer,
		   p->private_data, p->private_data_len);
	pthread_mutex_unlock(&fab);
	return 0;
}

int __wrap_rdma_reject(struct rdma_cm_id *id, const void *priv, uint8_t len)
{
	struct fake_id *s = (struct fake_id *)id;

	pthread_mutex_lock(&fab);
	if (s->peer)
		push_event(id_channel(s->peer), RDMA_CM_EVENT_REJECTED, s->peer,
			   NULL, 0);
	pthread_mutex_unlock(&fab);
	return 0;
}

int __wrap_rdma_disconnect(struct rdma_cm_id *id)
{
	struct fake_id *f = (struct fake_id *)id;

	pthread_mutex_lock(&fab);
	if (!f->disconnected) {
		f->disconnected = true;
		if (id->qp)
			qp_error((struct fake_qp *)id->qp);
		push_event(id_channel(f), RDMA_CM_EVENT_DISCONNECTED, f, NULL,
			   0);
		if (f->peer && !f->peer->disconnected)
			push_event(id_channel(f->peer),
				   RDMA_CM_EVENT_DISCONNECTED, f->peer, NULL,
				   0);
	}
	pthread_mutex_unlock(&fab);
	return 0;
}

int __wrap_rdma_bind_addr(struct rdma_cm_id *id, struct sockaddr *addr)
{
	memcpy(&id->route.addr.src_addr, addr, sizeof(struct sockaddr_in));
	return 0;
}

int __wrap_rdma_listen(struct rdma_cm_id *id, int backlog)
{
	pthread_mutex_lock(&fab);
	F.listener = (struct fake_id *)id;
	pthread_mutex_unlock(&fab);
	return 0;
}

int __wrap_rdma_get_cm_event(struct rdma_event_channel *ch,
			     struct rdma_cm_event **ev)
{
	struct fake_cm_ch *f = (struct fake_cm_ch *)ch;
	uint64_t v;

	/* Blocks, or fails with EAGAIN, as the real channel fd does. */
	if (read(ch->fd, &v, sizeof(v)) != sizeof(v))
		return -1;
	pthread_mutex_lock(&fab);
	assert_true(f->count > 0);
	*ev = &f->q[f->head]->ev;
	f->head = (f->head + 1) % ARRAY_SIZE(f->q);
	f->count--;
	pthread_mutex_unlock(&fab);
	return 0;
}

int __wrap_rdma_ack_cm_event(struct rdma_cm_event *ev)
{
	fake_free(ev);
	return 0;
}

int __wrap_rdma_migrate_id(struct rdma_cm_id *id, struct rdma_event_channel *ch)
{
	id->channel = ch;
	return 0;
}

__be16 __wrap_rdma_get_src_port(struct rdma_cm_id *id)
{
	struct sockaddr_in *in = (struct sockaddr_in *)&id->route.addr.src_addr;

	return in->sin_port ? in->sin_port : htons(7000);
}

/* --- helpers ---------------------------------------------------------- */

struct pair {
	struct conn_listener *l;
	struct conn *cli, *srv;
	int accept_ret;
};

static void *accept_main(void *arg)
{
	struct pair *p = arg;

	p->accept_ret = p->l->ops->accept(p->l, &p->srv);
	return NULL;
}

static void start_listener(struct pair *p)
{
	assert_int_equal(conn_rdma_transport.listen("127.0.0.1:0", &p->l), 0);
	assert_string_equal(p->l->addr, "rdma://127.0.0.1:7000");
}

static void connect_pair(struct pair *p)
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

static void destroy_pair(struct pair *p)
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

static int wr(struct conn *c, const void *buf, size_t len)
{
	struct iovec iov = {.iov_base = (void *)buf, .iov_len = len};

	return c->ops->writev(c, &iov, 1);
}

static int rd(struct conn *c, void *buf, size_t len)
{
	struct iovec iov = {.iov_base = buf, .iov_len = len};

	return c->ops->readv(c, &iov, 1);
}

static uint8_t pat(size_t i)
{
	return (uint8_t)(i * 7 + (i >> 11));
}

static struct rdma_conn *rc(struct conn *c)
{
	return (struct rdma_conn *)c;
}

/* Polls for a condition with a deadline rather than sleeping blindly. */
static bool eventually_polling(struct conn *c)
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

struct io_job {
	struct conn *c;
	uint8_t *buf;
	size_t len;
	int ret;
};

static void *writer_main(void *arg)
{
	struct io_job *j = arg;

	j->ret = wr(j->c, j->buf, j->len);
	return NULL;
}

static void *reader_main(void *arg)
{
	struct io_job *j = arg;

	j->ret = rd(j->c, j->buf, j->len);
	return NULL;
}

static int setup(void **state)
{
	struct fake_mr *keep = NULL;

	memset(&F, 0, sizeof(F));
	F.mrs = keep;
	F.devices = 1;
	return 0;
}

/* --- tests: connection management ------------------------------------- */

static char *capture_stderr_begin(int *saved)
{
	char *path = strdup("/tmp/test-rdma-XXXXXX");
	int fd = mkstemp(path);

	assert_true(fd >= 0);
	*saved = dup(STDERR_FILENO);
	dup2(fd, STDERR_FILENO);
	close(fd);
	return path;
}

static void capture_stderr_end(int saved, char *path, char *out, size_t len)
{
	FILE *f;
	size_t n;

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

static int count_lines(const char *s)
{
	int n = 0;

	for (; *s; s++)
		n += *s == '\n';
	return n;
}

static void
connect_without_rdma_device_fails_with_enodev_and_one_line(void **state)
{
	struct conn *c = NULL;
	char out[1024];
	int saved, ret;
	char *path;

	F.devices = 0;
	path = capture_stderr_begin(&saved);
	ret = conn_rdma_transport.connect("10.0.0.1:7000", 100, &c);
	capture_stderr_end(saved, path, out, sizeof(out));
	assert_int_equal(ret, -ENODEV);
	assert_null(c);
	assert_int_equal(count_lines(out), 1);
	assert_non_null(strstr(out, "rdma://10.0.0.1:7000: no RDMA device "
				    "found (ibv_get_device_list)"));
	assert_int_equal(F.live, 0);
}

static void listen_without_rdma_device_fails_with_enodev(void **state)
{
	struct conn_listener *l = NULL;
	char out[1024];
	int saved, ret;
	char *path;

	F.devices = 0;
	path = capture_stderr_begin(&saved);
	ret = conn_rdma_transport.listen("0.0.0.0:7000", &l);
	capture_stderr_end(saved, path, out, sizeof(out));
	assert_int_equal(ret, -ENODEV);
	assert_int_equal(count_lines(out), 1);
	assert_int_equal(F.live, 0);
}

static void malformed_address_is_einval(void **state)
{
	struct conn *c = NULL;

	assert_int_equal(conn_rdma_transport.connect("no-port", 100, &c),
			 -EINVAL);
	assert_int_equal(conn_rdma_transport.connect("[::1", 100, &c), -EINVAL);
	assert_int_equal(F.live, 0);
}

static void connect_and_accept_post_receives_before_connecting(void **state)
{
	struct pair p = {0};

	connect_pair(&p);
	/* No SEND may arrive before the whole ring is posted. */
	assert_int_equal(F.rq_at_connect, RDMA_RX_DEPTH);
	assert_int_equal(F.rq_at_accept, RDMA_RX_DEPTH);
	assert_string_equal(p.cli->peer, "rdma://127.0.0.1:7000");
	assert_string_equal(p.srv->peer, "rdma://127.0.0.1:5555");
	assert_true(rc(p.cli)->connected && rc(p.srv)->connected);
	assert_int_equal(rc(p.cli)->tx_credits, RDMA_RX_DEPTH);
	assert_true(p.cli->ops->fd(p.cli) >= 0);
	destroy_pair(&p);
}

static void connect_rejected_by_peer_returns_econnrefused(void **state)
{
	struct conn *c = NULL;

	F.reject = true;
	assert_int_equal(
		conn_rdma_transport.connect("127.0.0.1:7000", 1000, &c),
		-ECONNREFUSED);
	assert_int_equal(F.live, 0);
}

static void unresolvable_address_returns_ehostunreach(void **state)
{
	struct conn *c = NULL;

	F.addr_error = true;
	assert_int_equal(
		conn_rdma_transport.connect("127.0.0.1:7000", 1000, &c),
		-EHOSTUNREACH);
	assert_int_equal(F.live, 0);
}

static void connect_times_out_when_nobody_answers(void **state)
{
	struct conn *c = NULL;
	uint64_t t = cmp_now_ns();

	assert_int_equal(conn_rdma_transport.connect("127.0.0.1:7000", 100, &c),
			 -ETIMEDOUT);
	assert_true(cmp_now_ns() - t < 1000000000ull);
	assert_int_equal(F.live, 0);
}

static void server_refuses_a_foreign_peer_and_keeps_accepting(void **state)
{
	struct pair p = {0};
	struct conn *bad = NULL;
	pthread_t t;

	start_listener(&p);
	assert_int_equal(pthread_create(&t, NULL, accept_main, &p), 0);
	F.bad_hello = true;
	assert_int_equal(
		conn_rdma_transport.connect("127.0.0.1:7000", 1000, &bad),
		-ECONNREFUSED);
	F.bad_hello = false;
	assert_int_equal(
		conn_rdma_transport.connect("127.0.0.1:7000", 1000, &p.cli), 0);
	pthread_join(t, NULL);
	assert_int_equal(p.accept_ret, 0);
	destroy_pair(&p);
}

/* --- tests: stream ------------------------------------------------------ */

static void bytes_arrive_in_order_both_ways(void **state)
{
	struct pair p = {0};
	char a[] = "hello", b[] = ", ", c[] = "world";
	struct iovec iov[4] = {{a, 5}, {b, 0}, {b, 2}, {c, 5}};
	char got[13] = {0}, x[2], y[10];
	struct iovec riov[2] = {{x, 2}, {y, 10}};

	connect_pair(&p);
	assert_int_equal(p.cli->ops->writev(p.cli, iov, 4), 0);
	assert_int_equal(rd(p.srv, got, 3), 0);
	assert_int_equal(rd(p.srv, got + 3, 9), 0);
	assert_string_equal(got, "hello, world");
	assert_int_equal(wr(p.srv, "0123456789AB", 12), 0);
	assert_int_equal(p.cli->ops->readv(p.cli, riov, 2), 0);
	assert_memory_equal(x, "01", 2);
	assert_memory_equal(y, "23456789AB", 10);
	destroy_pair(&p);
}

static void large_write_is_chunked_into_buffer_sized_sends(void **state)
{
	const size_t len = 3 * 1024 * 1024 + 7;
	struct io_job w = {0};
	struct pair p = {0};
	uint8_t *out = malloc(len), *in = malloc(len);
	pthread_t t;

	assert_non_null(out);
	assert_non_null(in);
	for (size_t i = 0; i < len; i++)
		out[i] = pat(i);
	connect_pair(&p);
	w = (struct io_job){.c = p.cli, .buf = out, .len = len};
	assert_int_equal(pthread_create(&t, NULL, writer_main, &w), 0);
	for (size_t done = 0; done < len;) {
		size_t n = MIN(len - done, (size_t)100003);

		assert_int_equal(rd(p.srv, in + done, n), 0);
		done += n;
	}
	pthread_join(t, NULL);
	assert_int_equal(w.ret, 0);
	assert_memory_equal(in, out, len);
	assert_int_equal(F.data_msgs,
			 (len + RDMA_BUF_SIZE - 1) / RDMA_BUF_SIZE);
	assert_int_equal(F.rnr, 0);
	destroy_pair(&p);
	free(in);
	free(out);
}

static void fast_sender_stops_at_the_receiver_ring_without_rnr(void **state)
{
	struct pair p = {0};
	int ret = 0, sent = 0;

	connect_pair(&p);
	p.cli->ops->set_timeout(p.cli, 100);
	while (sent < 2 * RDMA_RX_DEPTH) {
		ret = wr(p.cli, "x", 1);
		if (ret)
			break;
		sent++;
	}
	/* One receive stays free for a credit message. */
	assert_int_equal(ret, -ETIMEDOUT);
	assert_int_equal(sent, RDMA_RX_DEPTH - 1);
	assert_int_equal(F.rnr, 0);
	/* A timed-out connection stays unusable. */
	assert_int_equal(wr(p.cli, "x", 1), -ETIMEDOUT);
	destroy_pair(&p);
}

static void credits_flow_back_so_a_long_stream_never_overruns(void **state)
{
	const size_t len = 16 * 1024 * 1024;
	struct pair p = {0};
	uint8_t *out = malloc(len), *in = malloc(1000);
	struct io_job w;
	pthread_t t;

	assert_non_null(out);
	assert_non_null(in);
	for (size_t i = 0; i < len; i++)
		out[i] = pat(i);
	connect_pair(&p);
	w = (struct io_job){.c = p.cli, .buf = out, .len = len};
	assert_int_equal(pthread_create(&t, NULL, writer_main, &w), 0);
	for (size_t done = 0; done < len;) {
		size_t n = MIN(len - done, (size_t)777);

		assert_int_equal(rd(p.srv, in, n), 0);
		assert_memory_equal(in, out + done, n);
		done += n;
	}
	pthread_join(t, NULL);
	assert_int_equal(w.ret, 0);
	assert_int_equal(F.rnr, 0);
	/* One-way traffic: credits had to travel on their own. */
	assert_true(F.credit_msgs > 0);
	destroy_pair(&p);
	free(in);
	free(out);
}

static void credits_ride_on_replies_in_ping_pong(void **state)
{
	struct pair p = {0};
	char buf[64] = {0};

	connect_pair(&p);
	for (int i = 0; i < 1000; i++) {
		assert_int_equal(wr(p.cli, buf, sizeof(buf)), 0);
		assert_int_equal(rd(p.srv, buf, sizeof(buf)), 0);
		assert_int_equal(wr(p.srv, buf, sizeof(buf)), 0);
		assert_int_equal(rd(p.cli, buf, sizeof(buf)), 0);
	}
	assert_int_equal(F.credit_msgs, 0);
	assert_int_equal(F.rnr, 0);
	destroy_pair(&p);
}

static bool readable(struct conn *c)
{
	struct pollfd pfd = {.fd = c->ops->fd(c), .events = POLLIN};

	return poll(&pfd, 1, 0) == 1;
}

static void conn_fd_and_pending_follow_the_buffered_bytes(void **state)
{
	struct pair p = {0};
	char buf[10];

	connect_pair(&p);
	assert_false(readable(p.srv));
	assert_false(p.srv->ops->pending(p.srv));
	assert_int_equal(wr(p.cli, "0123456789", 10), 0);
	assert_true(readable(p.srv));
	assert_int_equal(rd(p.srv, buf, 4), 0);
	assert_true(p.srv->ops->pending(p.srv));
	assert_int_equal(rd(p.srv, buf, 6), 0);
	assert_false(p.srv->ops->pending(p.srv));
	assert_false(readable(p.srv));
	destroy_pair(&p);
}

static void read_times_out_and_leaves_the_connection_unusable(void **state)
{
	struct pair p = {0};
	char buf[4];

	connect_pair(&p);
	assert_int_equal(p.srv->ops->set_timeout(p.srv, 50), 0);
	assert_int_equal(rd(p.srv, buf, 4), -ETIMEDOUT);
	assert_int_equal(rd(p.srv, buf, 4), -ETIMEDOUT);
	destroy_pair(&p);
}

/* --- tests: failures ---------------------------------------------------- */

static void bytes_sent_before_disconnect_are_read_then_econnreset(void **state)
{
	struct pair p = {0};
	char buf[100];

	connect_pair(&p);
	assert_int_equal(wr(p.cli, buf, 100), 0);
	p.cli->ops->destroy(p.cli);
	p.cli = NULL;
	assert_int_equal(rd(p.srv, buf, 100), 0);
	assert_int_equal(rd(p.srv, buf, 1), -ECONNRESET);
	assert_int_equal(wr(p.srv, buf, 1), -ECONNRESET);
	destroy_pair(&p);
}

static void disconnect_mid_transfer_wakes_the_blocked_reader(void **state)
{
	static uint8_t buf[200000];
	struct pair p = {0};
	struct io_job r;
	pthread_t t;

	connect_pair(&p);
	r = (struct io_job){.c = p.srv, .buf = buf, .len = sizeof(buf)};
	assert_int_equal(pthread_create(&t, NULL, reader_main, &r), 0);
	assert_int_equal(wr(p.cli, buf, 70000), 0); /* part of it only */
	assert_true(eventually_polling(p.srv));
	p.cli->ops->destroy(p.cli);
	p.cli = NULL;
	pthread_join(t, NULL);
	assert_int_equal(r.ret, -ECONNRESET);
	destroy_pair(&p);
}

static void shutdown_wakes_the_blocked_reader(void **state)
{
	struct pair p = {0};
	uint8_t buf[8];
	struct io_job r;
	pthread_t t;

	connect_pair(&p);
	r = (struct io_job){.c = p.srv, .buf = buf, .len = sizeof(buf)};
	assert_int_equal(pthread_create(&t, NULL, reader_main, &r), 0);
	assert_true(eventually_polling(p.srv));
	p.srv->ops->shutdown(p.srv);
	pthread_join(t, NULL);
	assert_int_equal(r.ret, -ECONNRESET);
	assert_true(readable(p.srv));
	destroy_pair(&p);
}

static void flush_error_completions_fail_io_with_econnreset(void **state)
{
	struct pair p = {0};
	char buf[4];

	connect_pair(&p);
	pthread_mutex_lock(&fab);
	qp_error((struct fake_qp *)rc(p.srv)->qp);
	pthread_mutex_unlock(&fab);
	assert_int_equal(rd(p.srv, buf, 4), -ECONNRESET);
	assert_int_equal(rc(p.srv)->rx_posted, 0);
	assert_int_equal(wr(p.srv, buf, 4), -ECONNRESET);
	destroy_pair(&p);
}

static void device_removal_fails_the_connection_with_enodev(void **state)
{
	struct pair p = {0};
	char buf[4];

	connect_pair(&p);
	pthread_mutex_lock(&fab);
	push_event((struct fake_cm_ch *)rc(p.cli)->cm_ch,
		   RDMA_CM_EVENT_DEVICE_REMOVAL,
		   (struct fake_id *)rc(p.cli)->id, NULL, 0);
	pthread_mutex_unlock(&fab);
	assert_int_equal(rd(p.cli, buf, 4), -ENODEV);
	destroy_pair(&p);
}

static void registration_failure_at_connect_frees_everything(void **state)
{
	/* The receive ring, the send slots, the staging buffer. */
	for (int at = 1; at <= 3; at++) {
		struct conn *c = NULL;

		memset(&F, 0, sizeof(F));
		F.devices = 1;
		F.fail_reg_mr_at = at;
		assert_int_equal(
			conn_rdma_transport.connect("127.0.0.1:7000", 1000, &c),
			-ENOMEM);
		assert_null(c);
		assert_int_equal(F.live, 0);
	}
}

static void post_send_failure_returns_negative_errno(void **state)
{
	struct pair p = {0};

	connect_pair(&p);
	F.post_send_err = ENOMEM;
	assert_int_equal(wr(p.cli, "x", 1), -ENOMEM);
	F.post_send_err = 0;
	assert_int_equal(wr(p.cli, "x", 1), -ENOMEM); /* sticky */
	destroy_pair(&p);
}

/* --- tests: one-sided --------------------------------------------------- */

static void rma_moves_exact_byte_ranges_without_the_server(void **state)
{
	const size_t n = 4 * 1024 * 1024;
	uint8_t *region = malloc(n), *plain = malloc(n), *local = malloc(n);
	struct conn_region r, mine;
	struct pair p = {0};

	assert_non_null(region);
	assert_non_null(plain);
	assert_non_null(local);
	for (size_t i = 0; i < n; i++)
		region[i] = pat(i);
	connect_pair(&p);
	assert_int_equal(p.srv->ops->expose(p.srv, region, n, &r), 0);
	assert_int_equal(r.addr, (uintptr_t)region);
	assert_int_equal(r.len, n);
	assert_int_equal(p.cli->ops->expose(p.cli, local, n, &mine), 0);

	/* Unregistered destination: through the bounce buffer. */
	memset(plain, 0, n);
	assert_int_equal(p.cli->ops->rma_read(p.cli, plain, 512, &r, 12345), 0);
	assert_memory_equal(plain, region + 12345, 512);
	assert_ptr_equal(F.last_rma_local, rc(p.cli)->stage);

	/* Exposed destination: straight into it, in 1 MiB pieces. */
	F.rma_ops = 0;
	assert_int_equal(p.cli->ops->rma_read(p.cli, local + 5, 3 << 20, &r, 7),
			 0);
	assert_memory_equal(local + 5, region + 7, 3 << 20);
	assert_int_equal(F.rma_ops, 3);
	assert_true(F.last_rma_local >= (void *)local &&
		    F.last_rma_local < (void *)(local + n));

	/* Writes land in the server's memory and nowhere else. */
	memset(plain, 0xab, 700);
	assert_int_equal(p.cli->ops->rma_write(p.cli, plain, 700, &r, 4095), 0);
	for (size_t i = 4000; i < 5000; i++)
		assert_int_equal(region[i],
				 i >= 4095 && i < 4795 ? 0xab : pat(i));
	assert_false(p.srv->ops->pending(p.srv)); /* no server CPU, no bytes */
	destroy_pair(&p);
	free(local);
	free(plain);
	free(region);
}

static void rma_outside_the_region_is_einval(void **state)
{
	static uint8_t region[8192], buf[16];
	struct pair p = {0};
	struct conn_region r;

	connect_pair(&p);
	assert_int_equal(p.srv->ops->expose(p.srv, region, sizeof(region), &r),
			 0);
	assert_int_equal(p.cli->ops->rma_read(p.cli, buf, 16, &r, 8190),
			 -EINVAL);
	assert_int_equal(p.cli->ops->rma_write(p.cli, buf, 16, &r, UINT64_MAX),
			 -EINVAL);
	assert_int_equal(p.cli->ops->rma_read(p.cli, buf, 16, &r, 8176), 0);
	destroy_pair(&p);
}

static void rma_with_a_bad_rkey_fails_with_eacces(void **state)
{
	static uint8_t region[8192], buf[16];
	struct pair p = {0};
	struct conn_region r;

	connect_pair(&p);
	assert_int_equal(p.srv->ops->expose(p.srv, region, sizeof(region), &r),
			 0);
	r.rkey ^= 0x5555;
	assert_int_equal(p.cli->ops->rma_read(p.cli, buf, 16, &r, 0), -EACCES);
	/* The QP is in error now: the connection is done. */
	assert_int_equal(wr(p.cli, "x", 1), -EACCES);
	destroy_pair(&p);
}

static void expose_registration_failure_returns_enomem(void **state)
{
	static uint8_t region[4096];
	struct pair p = {0};
	struct conn_region r;

	connect_pair(&p);
	F.fail_reg_mr_at = F.reg_mr_calls + 1;
	assert_int_equal(p.srv->ops->expose(p.srv, region, sizeof(region), &r),
			 -ENOMEM);
	/* The connection itself is fine. */
	assert_int_equal(wr(p.srv, "ok", 2), 0);
	destroy_pair(&p);
}

int main(void)
{
#define T(f) cmocka_unit_test_setup(f, setup)
	const struct CMUnitTest tests[] = {
		T(connect_without_rdma_device_fails_with_enodev_and_one_line),
		T(listen_without_rdma_device_fails_with_enodev),
		T(malformed_address_is_einval),
		T(connect_and_accept_post_receives_before_connecting),
		T(connect_rejected_by_peer_returns_econnrefused),
		T(unresolvable_address_returns_ehostunreach),
		T(connect_times_out_when_nobody_answers),
		T(server_refuses_a_foreign_peer_and_keeps_accepting),
		T(bytes_arrive_in_order_both_ways),
		T(large_write_is_chunked_into_buffer_sized_sends),
		T(fast_sender_stops_at_the_receiver_ring_without_rnr),
		T(credits_flow_back_so_a_long_stream_never_overruns),
		T(credits_ride_on_replies_in_ping_pong),
		T(conn_fd_and_pending_follow_the_buffered_bytes),
		T(read_times_out_and_leaves_the_connection_unusable),
		T(bytes_sent_before_disconnect_are_read_then_econnreset),
		T(disconnect_mid_transfer_wakes_the_blocked_reader),
		T(shutdown_wakes_the_blocked_reader),
		T(flush_error_completions_fail_io_with_econnreset),
		T(device_removal_fails_the_connection_with_enodev),
		T(registration_failure_at_connect_frees_everything),
		T(post_send_failure_returns_negative_errno),
		T(rma_moves_exact_byte_ranges_without_the_server),
		T(rma_outside_the_region_is_einval),
		T(rma_with_a_bad_rkey_fails_with_eacces),
		T(expose_registration_failure_returns_enomem),
	};
#undef T

	log_init("test-rdma", LOG_LVL_ERROR);
	return cmocka_run_group_tests(tests, NULL, NULL);
}
