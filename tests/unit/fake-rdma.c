// SPDX-License-Identifier: MIT
/*
 * The fake RDMA fabric behind fake-rdma.h, shared by the transport's unit
 * tests and the self-test run against it.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <unistd.h>
#include <arpa/inet.h>

#include "cmp/util.h"
#include "fake-rdma.h"

pthread_mutex_t fab = PTHREAD_MUTEX_INITIALIZER;

struct fake_state F;

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

void fake_push_event(struct fake_cm_ch *ch, enum rdma_cm_event_type type,
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
		    uint32_t imm, bool solicited)
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
	if (cq->armed == 2 ||
	    (cq->armed == 1 && (solicited || st != IBV_WC_SUCCESS))) {
		cq->armed = 0;
		signal_fd(cq->cq.channel->fd);
	}
}

void fake_qp_error(struct fake_qp *q)
{
	q->err = true;
	while (q->rq_count) {
		push_wc((struct fake_cq *)q->qp.recv_cq,
			q->rq[q->rq_head].wr_id, IBV_WC_WR_FLUSH_ERR,
			IBV_WC_RECV, 0, 0, 0, false);
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
		wr->imm_data, wr->send_flags & IBV_SEND_SOLICITED);
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
			send ? IBV_WC_SEND : IBV_WC_RDMA_READ, 0, 0, 0, false);
		/* On RC any failed WR takes the QP to error. */
		if (st != IBV_WC_SUCCESS && !q->err)
			fake_qp_error(q);
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
				IBV_WC_WR_FLUSH_ERR, IBV_WC_RECV, 0, 0, 0,
				false);
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
	struct fake_cq *f = (struct fake_cq *)cq;

	pthread_mutex_lock(&fab);
	/* A request for any completion overrides a solicited one. */
	f->armed = MAX(f->armed, solicited_only ? 1 : 2);
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

/*
 * With F.scripted, the CM answers each step of a connect with the event the
 * test queued with will_return(scripted, ...) instead of the fabric's own.
 */
static enum rdma_cm_event_type scripted(enum rdma_cm_event_type normal)
{
	return F.scripted ? mock_type(enum rdma_cm_event_type) : normal;
}

int __wrap_rdma_resolve_addr(struct rdma_cm_id *id, struct sockaddr *src,
			     struct sockaddr *dst, int ms)
{
	struct fake_id *f = (struct fake_id *)id;

	enum rdma_cm_event_type ev = scripted(RDMA_CM_EVENT_ADDR_RESOLVED);

	pthread_mutex_lock(&fab);
	if (ev == RDMA_CM_EVENT_ADDR_RESOLVED) {
		id->verbs = &fake_ctx;
		memcpy(&id->route.addr.dst_addr, dst,
		       sizeof(struct sockaddr_in));
	}
	fake_push_event(id_channel(f), ev, f, NULL, 0);
	pthread_mutex_unlock(&fab);
	return 0;
}

int __wrap_rdma_resolve_route(struct rdma_cm_id *id, int ms)
{
	enum rdma_cm_event_type ev = scripted(RDMA_CM_EVENT_ROUTE_RESOLVED);

	pthread_mutex_lock(&fab);
	fake_push_event(id_channel((struct fake_id *)id), ev,
			(struct fake_id *)id, NULL, 0);
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
	if (F.scripted) {
		/* No hello comes with a scripted ESTABLISHED: a foreign peer.
		 */
		fake_push_event(id_channel(f), scripted(0), f, NULL, 0);
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
		fake_push_event(id_channel(F.listener),
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
	fake_push_event(id_channel(s), RDMA_CM_EVENT_ESTABLISHED, s, NULL, 0);
	fake_push_event(id_channel(s->peer), RDMA_CM_EVENT_ESTABLISHED, s->peer,
			p->private_data, p->private_data_len);
	pthread_mutex_unlock(&fab);
	return 0;
}

int __wrap_rdma_reject(struct rdma_cm_id *id, const void *priv, uint8_t len)
{
	struct fake_id *s = (struct fake_id *)id;

	pthread_mutex_lock(&fab);
	if (s->peer)
		fake_push_event(id_channel(s->peer), RDMA_CM_EVENT_REJECTED,
				s->peer, NULL, 0);
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
			fake_qp_error((struct fake_qp *)id->qp);
		fake_push_event(id_channel(f), RDMA_CM_EVENT_DISCONNECTED, f,
				NULL, 0);
		if (f->peer && !f->peer->disconnected)
			fake_push_event(id_channel(f->peer),
					RDMA_CM_EVENT_DISCONNECTED, f->peer,
					NULL, 0);
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
