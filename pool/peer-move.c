// SPDX-License-Identifier: MIT
/*
 * Moving loans on, the peer service's part (include/cmp/peer.h): the
 * mover's calls around its own copy (begin, wanted, end, on the loan
 * table), HANDOVER (a node that moved one of its lent blocks here gives
 * the loan to the block's owner), MOVE_NOTICE (a provider tells us, the
 * owner, where one of our blocks went), and the notices this node owes
 * to the owners of blocks it moved on. The sequence is drawn in
 * proto_block.h.
 */
#include <errno.h>
#include <string.h>

#include "cmp/log.h"
#include "cmp/util.h"
#include "peer-internal.h"

/* A notice the owner did not take is tried again this much later. */
#define NOTICE_RETRY_NS (500ull * 1000000ull)

/*
 * The mover's memory window over the block it hands over ends before the
 * block is another owner's: revoked while the mover's loan is pinned, so
 * the block cannot go back to the store (and be lent with a new window)
 * meanwhile. 0, or why the handover cannot happen.
 */
static int end_mover_window(struct peer *p, uint32_t mover,
			    struct proto_block_ref r)
{
	int ret = loans_pin(p->loans, mover, r, cmp_now_ns(), NULL);

	if (ret < 0)
		return -ESTALE; /* not its loan (any more), or being moved */
	ret = peer_revoke_window(p, r.block);
	/* freed meanwhile: nothing to hand over */
	if (loans_unpin(p->loans, r.block) && !ret)
		ret = -ESTALE;
	return ret;
}

int peer_handle_handover(struct peer *p, struct server_conn *sc,
			 const struct wire_hdr *h)
{
	struct peer_conn *pc = server_conn_data(sc);
	struct proto_block_handover ho;
	uint8_t buf[PROTO_BLOCK_REF_SIZE];
	struct iovec iov = {buf, sizeof(buf)};
	uint32_t epoch;
	int ret;

	ret = peer_need_owner(sc, h);
	if (ret)
		return ret < 0 ? ret : 0;
	ret = peer_read_all(sc, h, pc->msg, PROTO_BLOCK_HANDOVER_SIZE);
	if (ret < 0)
		return ret;
	ret = proto_block_handover_decode(pc->msg, h->len, &ho);
	if (ret < 0)
		return peer_refuse_and_close(sc, h, ret);
	ret = end_mover_window(p, pc->owner, ho.ref);
	if (!ret)
		ret = loans_handover(p->loans, pc->owner, ho.ref, ho.to,
				     cmp_now_ns(), &epoch);
	if (ret < 0) {
		log_warn_rl("peer: %s: handing block %u of node %u over to "
			    "node %u: %s",
			    server_conn_peer(sc), ho.ref.block, pc->owner,
			    ho.to, strerror(-ret));
		return server_reply(sc, h, wire_status_from_errno(ret), NULL,
				    0);
	}
	log_debug("peer: block %u moved here by node %u is node %u's now",
		  ho.ref.block, pc->owner, ho.to);
	proto_block_ref_encode((struct proto_block_ref){ho.ref.block, epoch},
			       buf, sizeof(buf));
	return server_reply(sc, h, WIRE_S_OK, &iov, 1);
}

int peer_handle_notice(struct peer *p, struct server_conn *sc,
		       const struct wire_hdr *h)
{
	struct peer_conn *pc = server_conn_data(sc);
	struct proto_block_moved mv;
	int ret;

	ret = peer_need_owner(sc, h);
	if (ret)
		return ret < 0 ? ret : 0;
	ret = peer_read_all(sc, h, pc->msg, PROTO_BLOCK_MOVED_SIZE);
	if (ret < 0)
		return ret;
	ret = proto_block_moved_decode(pc->msg, h->len, &mv);
	if (ret < 0)
		return peer_refuse_and_close(sc, h, ret);
	loans_touch(p->loans, pc->owner, cmp_now_ns());
	ret = p->ops->notice ? p->ops->notice(p->ctx, pc->owner, &mv)
			     : -EOPNOTSUPP;
	return server_reply(sc, h, wire_status_from_errno(ret), NULL, 0);
}

/* cmpctl drain: a tool may ask too (a node id is not needed). */
int peer_handle_drain(struct peer *p, struct server_conn *sc,
		      const struct wire_hdr *h)
{
	struct peer_conn *pc = server_conn_data(sc);
	struct proto_block_drain_rep rep = {0};
	struct iovec iov = {pc->msg, PROTO_BLOCK_DRAIN_REP_SIZE};
	uint32_t flags;
	int ret;

	ret = peer_read_all(sc, h, pc->msg, PROTO_BLOCK_DRAIN_SIZE);
	if (ret < 0)
		return ret;
	ret = proto_block_drain_decode(pc->msg, h->len, &flags);
	if (ret < 0)
		return peer_refuse_and_close(sc, h, ret);
	ret = p->ops->drain ? p->ops->drain(p->ctx,
					    flags & PROTO_BLOCK_DRAIN_ON, &rep)
			    : -EOPNOTSUPP;
	if (ret < 0)
		return server_reply(sc, h, wire_status_from_errno(ret), NULL,
				    0);
	log_info_rl("peer: %s asks this node to %s (%u blocks held for "
		    "others, %u owners to tell)",
		    server_conn_peer(sc),
		    flags & PROTO_BLOCK_DRAIN_ON ? "drain" : "lend again",
		    rep.held, rep.forwarding);
	proto_block_drain_rep_encode(&rep, pc->msg, sizeof(pc->msg));
	return server_reply(sc, h, WIRE_S_OK, &iov, 1);
}

int peer_move_begin(struct peer *p, uint32_t idx, int timeout_ms,
		    uint32_t *owner, uint32_t *epoch)
{
	int ret = loans_move_begin(p->loans, idx, timeout_ms, owner, epoch);

	if (ret < 0)
		return ret;
	/*
	 * A one-sided write landing after the copy would be lost, and the
	 * block is ours once moved: the owner's window ends before the copy
	 * (its next access asks with a message: BUSY, then MOVED).
	 */
	if (peer_revoke_window(p, idx) < 0) {
		loans_move_end(p->loans, idx, NULL);
		return -EIO;
	}
	return 0;
}

bool peer_move_wanted(struct peer *p, uint32_t idx)
{
	return loans_move_wanted(p->loans, idx);
}

int peer_move_end(struct peer *p, uint32_t idx, const struct peer_loan *to)
{
	return loans_move_end(p->loans, idx, to);
}

uint32_t peer_forwarding(struct peer *p)
{
	return loans_forwarding(p->loans);
}

uint32_t peer_forwarding_to(struct peer *p, uint32_t owner)
{
	return loans_forwarding_to(p->loans, owner);
}

size_t peer_notices_due(struct peer *p, struct peer_notice *out, size_t max)
{
	struct loans_notice ln[16];
	size_t n = 0, got;

	do {
		got = loans_fwd_due(p->loans, cmp_now_ns(), ln,
				    MIN(max - n, ARRAY_SIZE(ln)));
		for (size_t i = 0; i < got; i++, n++) {
			out[n] = (struct peer_notice){
				.owner = ln[i].owner,
				.mv =
					{
						.from = ln[i].block,
						.from_epoch = ln[i].epoch,
						.node = ln[i].to.node,
						.block = ln[i].to.block,
						.epoch = ln[i].to.epoch,
						.flags =
							ln[i].freed
								? PROTO_BLOCK_MOVED_FREED
								: 0,
					},
			};
			peer_node_addr(p, ln[i].to.node, out[n].mv.addr);
		}
	} while (got && n < max);
	return n;
}

void peer_notice_done(struct peer *p, const struct peer_notice *n, int result)
{
	struct loans_notice ln = {
		.owner = n->owner,
		.block = n->mv.from,
		.epoch = n->mv.from_epoch,
		.freed = n->mv.flags & PROTO_BLOCK_MOVED_FREED,
	};

	loans_fwd_noticed(p->loans, &ln, result,
			  cmp_now_ns() + NOTICE_RETRY_NS);
}

void peer_notices_all_due(struct peer *p)
{
	loans_fwd_due_all(p->loans);
}
