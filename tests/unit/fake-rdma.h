/* SPDX-License-Identifier: MIT */
/*
 * A fake in-process RDMA fabric for tests (fake-rdma.c): the verbs and CM
 * entry points the transport calls, as __wrap_ functions for
 * -Wl,--wrap=, and a fake ibv_context whose ops serve the inline verbs.
 * QPs joined by rdma_accept deliver SENDs into each other's posted
 * receives and do RDMA READ/WRITE with memcpy after rkey, bounds and
 * access checks: an rkey is an MR of the responder's PD with remote rights
 * or a type 2 memory window bound to the responder's QP (bound with
 * IBV_WR_BIND_MW, invalidated with IBV_WR_LOCAL_INV or deallocation).
 * Channels are semaphore eventfds, so poll() works. The verbs entry points
 * are here, the CM ones in fake-rdma-cm.c. All fake state is protected by
 * fab.
 */
#ifndef CMP_FAKE_RDMA_H
#define CMP_FAKE_RDMA_H

#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>

#include <infiniband/verbs.h>
#include <rdma/rdma_cma.h>

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
	int armed; /* 0 no, 1 solicited (and failed) completions, 2 any */
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

struct fake_mw {
	struct ibv_mw mw; /* first */
	bool bound;
	struct fake_qp *qp; /* bound to */
	struct fake_mr *mr; /* over */
	uint64_t addr, len;
	int access;
	struct fake_mw *next;
};

/* Knobs and counters; reset before every test. */
struct fake_state {
	int devices;
	int fail_reg_mr_at; /* this ibv_reg_mr call fails, 1-based */
	int reg_mr_calls;
	int post_send_err; /* positive errno from ibv_post_send */
	bool scripted;	   /* connect steps answer with will_return() events */
	bool bad_hello;	   /* rdma_connect mangles the hello */
	int rnr;	   /* SENDs that found no receive posted */
	int credit_msgs;   /* zero-length SENDs */
	int data_msgs;
	uint32_t max_send_len; /* the largest SEND delivered */
	int rma_ops;
	void *last_rma_local;
	int live; /* fake objects not yet destroyed */
	unsigned int rq_at_connect, rq_at_accept;
	struct fake_id *listener;
	struct fake_mr *mrs;
	uint32_t next_key;
	bool no_mw;	      /* the device has no memory windows */
	size_t reg_bytes;     /* registered now */
	size_t max_reg_bytes; /* the most ever registered at once */
	struct fake_mw *mws;
	int binds, invalidations;
	uint32_t next_mw_index; /* rkey = index << 8 | tag */
};

extern pthread_mutex_t fab;
extern struct fake_state F;

/* fab held: queues a CM event on ch. */
void fake_push_event(struct fake_cm_ch *ch, enum rdma_cm_event_type type,
		     struct fake_id *id, const void *priv, size_t len);
/* fab held: the QP moves to error, every posted receive flushes. */
void fake_qp_error(struct fake_qp *q);
/* fab held: bound memory windows now. */
int fake_bound_windows(void);

/* Shared by fake-rdma.c and fake-rdma-cm.c. */
extern struct ibv_context fake_ctx;
void *fake_alloc(size_t size);
void fake_free(void *p);

#endif
