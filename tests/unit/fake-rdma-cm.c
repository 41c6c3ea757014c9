// SPDX-License-Identifier: MIT
/*
 * The connection manager half of the fake RDMA fabric (fake-rdma.h): event
 * channels, ids, resolve/connect/accept/disconnect, with the events a real
 * CM would queue, or scripted ones (F.scripted).
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

static struct fake_cm_ch *id_channel(struct fake_id *id)
{
	return (struct fake_cm_ch *)id->id.channel;
}

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
