// SPDX-License-Identifier: MIT
/*
 * The fake RDMA fabric behind fake-rdma.h, shared by the transport's unit
 * tests and the self-test run against it: devices, PDs, MRs, memory
 * windows, CQs and QPs, and the wire between two QPs. The CM is in
 * fake-rdma-cm.c.
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
static struct ibv_mw *fake_alloc_mw(struct ibv_pd *pd, enum ibv_mw_type type);
static int fake_dealloc_mw(struct ibv_mw *mw);

struct ibv_context fake_ctx = {
	.ops =
		{
			.post_send = fake_post_send,
			.post_recv = fake_post_recv,
			.poll_cq = fake_poll_cq,
			.req_notify_cq = fake_req_notify_cq,
			.alloc_mw = fake_alloc_mw,
			.dealloc_mw = fake_dealloc_mw,
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

static bool in_range(uintptr_t start, uint64_t size, uintptr_t addr, size_t len)
{
	return addr >= start && len <= size && addr - start <= size - len;
}

/* A local key: an MR of the QP's PD. */
static struct fake_mr *find_lkey(struct fake_qp *q, uint32_t key,
				 uintptr_t addr, size_t len, int access)
{
	for (struct fake_mr *m = F.mrs; m; m = m->next) {
		if (m->mr.lkey != key)
			continue;
		if (m->mr.pd != q->qp.pd ||
		    !in_range((uintptr_t)m->mr.addr, m->mr.length, addr, len))
			return NULL;
		return (m->access & access) == access ? m : NULL;
	}
	return NULL;
}

/*
 * What an incoming READ/WRITE at responder q may touch: an MR of q's PD
 * with the remote rights, or a window bound to q itself.
 */
static bool remote_ok(struct fake_qp *q, uint32_t rkey, uintptr_t addr,
		      size_t len, int access)
{
	for (struct fake_mr *m = F.mrs; m; m = m->next) {
		if (m->mr.rkey != rkey)
			continue;
		return m->mr.pd == q->qp.pd &&
		       in_range((uintptr_t)m->mr.addr, m->mr.length, addr,
				len) &&
		       (m->access & access) == access;
	}
	for (struct fake_mw *w = F.mws; w; w = w->next) {
		if (!w->bound || w->mw.rkey != rkey)
			continue;
		return w->qp == q && in_range(w->addr, w->len, addr, len) &&
		       (w->access & access) == access;
	}
	return false;
}

int fake_bound_windows(void)
{
	int n = 0;

	for (struct fake_mw *w = F.mws; w; w = w->next)
		n += w->bound;
	return n;
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
	F.max_send_len = MAX(F.max_send_len, len);
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
	if (!find_lkey(q, s->lkey, s->addr, s->length,
		       rd ? IBV_ACCESS_LOCAL_WRITE : 0))
		return IBV_WC_LOC_PROT_ERR;
	if (!remote_ok(q->peer, wr->wr.rdma.rkey, (uintptr_t)remote, s->length,
		       rd ? IBV_ACCESS_REMOTE_READ : IBV_ACCESS_REMOTE_WRITE))
		return IBV_WC_REM_ACCESS_ERR;
	memcpy(rd ? local : remote, rd ? remote : local, s->length);
	F.rma_ops++;
	F.last_rma_local = local;
	return IBV_WC_SUCCESS;
}

static struct fake_mw *find_mw_by_rkey(uint32_t rkey)
{
	for (struct fake_mw *w = F.mws; w; w = w->next)
		if (w->mw.rkey == rkey)
			return w;
	return NULL;
}

/*
 * A type 2 bind: the window must be free, in the QP's PD, over an MR of
 * that PD with MW_BIND (and local write for remote write), and the new
 * rkey must keep the window's index (only its low 8 bits change).
 */
static enum ibv_wc_status do_bind(struct fake_qp *q, struct ibv_send_wr *wr)
{
	struct fake_mw *w = (struct fake_mw *)wr->bind_mw.mw;
	const struct ibv_mw_bind_info *b = &wr->bind_mw.bind_info;
	struct fake_mr *m = (struct fake_mr *)b->mr;

	if (w->mw.type != IBV_MW_TYPE_2 || w->bound || w->mw.pd != q->qp.pd ||
	    m->mr.pd != q->qp.pd || !(m->access & IBV_ACCESS_MW_BIND) ||
	    ((b->mw_access_flags & IBV_ACCESS_REMOTE_WRITE) &&
	     !(m->access & IBV_ACCESS_LOCAL_WRITE)) ||
	    !in_range((uintptr_t)m->mr.addr, m->mr.length, b->addr,
		      b->length) ||
	    (wr->bind_mw.rkey >> 8) != (w->mw.rkey >> 8))
		return IBV_WC_MW_BIND_ERR;
	w->bound = true;
	w->qp = q;
	w->mr = m;
	w->addr = b->addr;
	w->len = b->length;
	w->access = (int)b->mw_access_flags;
	w->mw.rkey = wr->bind_mw.rkey;
	F.binds++;
	return IBV_WC_SUCCESS;
}

static enum ibv_wc_status do_local_inv(struct fake_qp *q,
				       struct ibv_send_wr *wr)
{
	struct fake_mw *w = find_mw_by_rkey(wr->invalidate_rkey);

	if (!w || !w->bound || w->qp != q)
		return IBV_WC_MW_BIND_ERR;
	w->bound = false;
	w->qp = NULL;
	F.invalidations++;
	return IBV_WC_SUCCESS;
}

static enum ibv_wc_opcode wc_opcode(enum ibv_wr_opcode op)
{
	switch (op) {
	case IBV_WR_SEND:
	case IBV_WR_SEND_WITH_IMM:
		return IBV_WC_SEND;
	case IBV_WR_RDMA_WRITE:
		return IBV_WC_RDMA_WRITE;
	case IBV_WR_BIND_MW:
		return IBV_WC_BIND_MW;
	case IBV_WR_LOCAL_INV:
		return IBV_WC_LOCAL_INV;
	default:
		return IBV_WC_RDMA_READ;
	}
}

static enum ibv_wc_status execute(struct fake_qp *q, struct ibv_send_wr *wr)
{
	switch (wr->opcode) {
	case IBV_WR_SEND:
	case IBV_WR_SEND_WITH_IMM:
		return do_send(q, wr);
	case IBV_WR_BIND_MW:
		return do_bind(q, wr);
	case IBV_WR_LOCAL_INV:
		return do_local_inv(q, wr);
	default:
		return do_rma(q, wr);
	}
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
		enum ibv_wc_opcode op = wc_opcode(wr->opcode);

		if (!q->err)
			st = execute(q, wr);
		push_wc((struct fake_cq *)qp->send_cq, wr->wr_id, st, op, 0, 0,
			0, false);
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

void *fake_alloc(size_t size)
{
	void *p = calloc(1, size);

	assert_non_null(p);
	pthread_mutex_lock(&fab);
	F.live++;
	pthread_mutex_unlock(&fab);
	return p;
}

void fake_free(void *p)
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
	if (!F.no_mw) {
		attr->max_mw = 1 << 16;
		attr->device_cap_flags =
			IBV_DEVICE_MEM_WINDOW | IBV_DEVICE_MEM_WINDOW_TYPE_2B;
	}
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
	bool fail;

	/* connections of both ends may register at once (a server thread) */
	pthread_mutex_lock(&fab);
	fail = ++F.reg_mr_calls == F.fail_reg_mr_at;
	pthread_mutex_unlock(&fab);
	if (fail) {
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
	F.reg_bytes += len;
	F.max_reg_bytes = MAX(F.max_reg_bytes, F.reg_bytes);
	pthread_mutex_unlock(&fab);
	return &m->mr;
}

int __wrap_ibv_dereg_mr(struct ibv_mr *mr)
{
	pthread_mutex_lock(&fab);
	/* As ibv_dereg_mr(3) says: not while a window over it is bound. */
	for (struct fake_mw *w = F.mws; w; w = w->next) {
		if (w->bound && &w->mr->mr == mr) {
			pthread_mutex_unlock(&fab);
			return EBUSY;
		}
	}
	for (struct fake_mr **p = &F.mrs; *p; p = &(*p)->next) {
		if (&(*p)->mr == mr) {
			*p = (*p)->next;
			break;
		}
	}
	F.reg_bytes -= mr->length;
	pthread_mutex_unlock(&fab);
	fake_free(mr);
	return 0;
}

static struct ibv_mw *fake_alloc_mw(struct ibv_pd *pd, enum ibv_mw_type type)
{
	struct fake_mw *w;

	if (F.no_mw) {
		errno = EOPNOTSUPP;
		return NULL;
	}
	w = fake_alloc(sizeof(*w));
	pthread_mutex_lock(&fab);
	w->mw = (struct ibv_mw){
		.context = pd->context,
		.pd = pd,
		.rkey = (0x100 + F.next_mw_index++) << 8 | 0xfe,
		.type = type,
	};
	w->next = F.mws;
	F.mws = w;
	pthread_mutex_unlock(&fab);
	return &w->mw;
}

/* Deallocation unbinds, as ibv_dealloc_mw(3) says. */
static int fake_dealloc_mw(struct ibv_mw *mw)
{
	pthread_mutex_lock(&fab);
	for (struct fake_mw **p = &F.mws; *p; p = &(*p)->next) {
		if (&(*p)->mw == mw) {
			*p = (*p)->next;
			break;
		}
	}
	pthread_mutex_unlock(&fab);
	fake_free(mw);
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
