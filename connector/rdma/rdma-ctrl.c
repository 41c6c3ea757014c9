// SPDX-License-Identifier: MIT
/*
 * The receive side of the RDMA byte stream and its one control message:
 * the small and big receive rings, credits owed and returned, and GROW,
 * by which each end announces its big ring once its handshake succeeded
 * (protocol in rdma-internal.h). Everything here runs with the
 * connection's lock held and never blocks.
 */
#include <errno.h>
#include <string.h>
#include <endian.h>
#include <arpa/inet.h>

#include "cmp/log.h"
#include "cmp/util.h"
#include "rdma-internal.h"

static bool slot_is_small(unsigned int slot)
{
	return slot >= RDMA_RX_DEPTH;
}

static uint32_t slot_size(unsigned int slot)
{
	return slot_is_small(slot) ? RDMA_SMALL_BUF_SIZE : RDMA_BUF_SIZE;
}

char *conn_rdma_rx_slot(const struct rdma_conn *c, unsigned int slot)
{
	if (slot_is_small(slot))
		return c->rx_small.mem +
		       (size_t)(slot - RDMA_RX_DEPTH) * RDMA_SMALL_BUF_SIZE;
	return c->rx_big.mem + (size_t)slot * RDMA_BUF_SIZE;
}

static int post_recv_slot(struct rdma_conn *c, unsigned int slot)
{
	const struct rdma_buf *b =
		slot_is_small(slot) ? &c->rx_small : &c->rx_big;
	struct ibv_sge sge = {
		.addr = (uintptr_t)conn_rdma_rx_slot(c, slot),
		.length = slot_size(slot),
		.lkey = b->mr->lkey,
	};
	struct ibv_recv_wr wr = {
		.wr_id = rdma_wr_id(RDMA_WR_RECV, slot),
		.sg_list = &sge,
		.num_sge = 1,
	};
	struct ibv_recv_wr *bad;
	int ret;

	ret = ibv_post_recv(c->qp, &wr, &bad);
	if (ret) {
		log_error_rl("%s: ibv_post_recv: %s", c->base.peer,
			     strerror(ret));
		return -ret;
	}
	c->rx_posted++;
	if (slot_is_small(slot))
		c->rx_small_total++;
	return 0;
}

int conn_rdma_post_small_ring(struct rdma_conn *c)
{
	for (unsigned int i = 0; i < RDMA_SMALL_RX_DEPTH; i++) {
		int ret = post_recv_slot(c, RDMA_RX_DEPTH + i);

		if (ret)
			return ret;
	}
	return 0;
}

/*
 * From here on small buffers are not reposted, so rx_small_total is final
 * and every receive posted after it is big: that count is what lets the
 * peer size its SENDs exactly.
 */
int conn_rdma_grow_locked(struct rdma_conn *c)
{
	for (unsigned int slot = 0; slot < RDMA_RX_DEPTH; slot++) {
		int ret = post_recv_slot(c, slot);

		if (ret) {
			conn_rdma_fail_locked(c, ret);
			return ret;
		}
	}
	c->grown = true;
	c->grow_pending = true;
	conn_rdma_send_credits_locked(c);
	return 0;
}

void conn_rdma_recycle_locked(struct rdma_conn *c, unsigned int slot)
{
	if (c->error || (slot_is_small(slot) && c->grown))
		return;
	if (post_recv_slot(c, slot)) {
		conn_rdma_fail_locked(c, -EIO);
		return;
	}
	c->rx_owed++;
}

uint32_t conn_rdma_send_limit_locked(const struct rdma_conn *c)
{
	/* SEND number tx_sends + 1 fills the peer's next receive. */
	if (c->peer_grown && c->tx_sends >= c->peer_small_total)
		return c->peer_big_size;
	return c->peer_small_size;
}

static int post_grow_locked(struct rdma_conn *c)
{
	char *area = c->tx_small.mem +
		     (size_t)RDMA_SMALL_TX_DEPTH * RDMA_SMALL_BUF_SIZE;
	struct rdma_ctrl msg = {
		.type = htole16(RDMA_CTRL_GROW),
		.rx_depth = htole16(RDMA_RX_DEPTH),
		.buf_size = htole32(RDMA_BUF_SIZE),
		.small_total = htole32(c->rx_small_total),
	};
	struct ibv_sge sge = {
		.addr = (uintptr_t)area,
		.length = sizeof(msg),
		.lkey = c->tx_small.mr->lkey,
	};
	struct ibv_send_wr wr = {
		.wr_id = rdma_wr_id(RDMA_WR_CREDIT, 1),
		.sg_list = &sge,
		.num_sge = 1,
		.opcode = IBV_WR_SEND_WITH_IMM,
		.imm_data = htonl(RDMA_IMM_CTRL | c->rx_owed),
	};

	/* Only one GROW is ever sent: the area is free. */
	memcpy(area, &msg, sizeof(msg));
	return conn_rdma_post_send_locked(c, &wr);
}

/*
 * A pending GROW goes first (it returns the owed credits too); else an
 * explicit credit message once half the ring is owed and none rides.
 */
void conn_rdma_send_credits_locked(struct rdma_conn *c)
{
	struct ibv_send_wr wr = {
		.wr_id = rdma_wr_id(RDMA_WR_CREDIT, 0),
		.opcode = IBV_WR_SEND_WITH_IMM,
	};
	int ret;

	if (!c->tx_credits || !c->sq_free ||
	    c->credit_inflight >= RDMA_CREDIT_WRS || c->error)
		return;
	if (c->grow_pending) {
		ret = post_grow_locked(c);
		c->grow_pending = false;
	} else if (c->rx_owed >=
		   (c->grown ? RDMA_RX_DEPTH : RDMA_SMALL_RX_DEPTH) / 2) {
		wr.imm_data = htonl(c->rx_owed);
		ret = conn_rdma_post_send_locked(c, &wr);
	} else {
		return;
	}
	if (ret)
		return;
	c->tx_credits--;
	c->tx_sends++;
	c->credit_inflight++;
	c->rx_owed = 0;
}

static void protocol_error_locked(struct rdma_conn *c, const char *what,
				  unsigned int value)
{
	if (!c->error)
		log_error_rl("%s: protocol error: %s %u", c->base.peer, what,
			     value);
	conn_rdma_fail_locked(c, -EPROTO);
}

/* The peer's big ring is up: bigger SENDs once its small ones are full. */
static void on_grow_locked(struct rdma_conn *c, unsigned int slot, uint32_t len)
{
	struct rdma_ctrl msg;
	unsigned int depth;

	if (len != sizeof(msg)) {
		protocol_error_locked(c, "control message of bytes", len);
		return;
	}
	memcpy(&msg, conn_rdma_rx_slot(c, slot), sizeof(msg));
	depth = le16toh(msg.rx_depth);
	if (le16toh(msg.type) != RDMA_CTRL_GROW || c->peer_grown) {
		protocol_error_locked(c, "control message", le16toh(msg.type));
		return;
	}
	if (depth < 2 || le32toh(msg.buf_size) < c->peer_small_size ||
	    le32toh(msg.small_total) < c->peer_depth) {
		protocol_error_locked(c, "GROW of depth", depth);
		return;
	}
	c->peer_grown = true;
	c->peer_big_size = MIN(le32toh(msg.buf_size), (uint32_t)RDMA_BUF_SIZE);
	c->peer_small_total = le32toh(msg.small_total);
	c->peer_depth += depth;
	c->tx_credits += depth;
}

void conn_rdma_on_recv_locked(struct rdma_conn *c, const struct ibv_wc *wc)
{
	unsigned int slot = (uint32_t)wc->wr_id;
	uint32_t imm = 0;

	c->rx_posted--;
	if (wc->status != IBV_WC_SUCCESS) {
		conn_rdma_completion_failed_locked(c, wc, "receive");
		return;
	}
	if (slot >= RDMA_RX_SLOTS || wc->byte_len > slot_size(slot)) {
		protocol_error_locked(c, "receive of bytes", wc->byte_len);
		return;
	}
	if (wc->wc_flags & IBV_WC_WITH_IMM) {
		uint32_t credits;

		imm = ntohl(wc->imm_data);
		credits = imm & RDMA_IMM_CREDITS;
		if (imm & ~(RDMA_IMM_CTRL | RDMA_IMM_CREDITS)) {
			protocol_error_locked(c, "immediate data", imm);
			return;
		}
		if (credits > c->peer_depth - c->tx_credits) {
			protocol_error_locked(c, "credits beyond ring",
					      credits);
			return;
		}
		c->tx_credits += credits;
	}
	if (imm & RDMA_IMM_CTRL) {
		on_grow_locked(c, slot, wc->byte_len);
		conn_rdma_recycle_locked(c, slot);
		return;
	}
	if (wc->byte_len == 0) {
		/* Credit only: the buffer goes straight back, and is owed. */
		conn_rdma_recycle_locked(c, slot);
		return;
	}
	c->rx_fifo[(c->rx_head + c->rx_count) % RDMA_RX_SLOTS] = (uint16_t)slot;
	c->rx_len[slot] = wc->byte_len;
	c->rx_count++;
}
