// SPDX-License-Identifier: MIT
/*
 * Fuzz target for the peer service's request handling (pool/peer.c): the
 * input is everything an authenticated client sends after the handshake,
 * fed over a real mem:// connection to a real peer serving a small RAM
 * store. This reaches what the pure decoders cannot: reading payloads in
 * stages through the payload cursor, skipping refused data, batches,
 * replies, and closing on garbage. A drain thread swallows the replies so
 * neither end can block the other; the peer ends the connection when the
 * input ends. Blocks lent during one input are all freed before the next.
 */
#include <pthread.h>
#include <signal.h>
#include <stdint.h>
#include <stdlib.h>
#include <sys/socket.h>

#include "cmp/auth.h"
#include "cmp/conn.h"
#include "cmp/log.h"
#include "cmp/peer.h"
#include "../../memserver/store.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define FUZZ_BS 4096u
#define FUZZ_BLOCKS 16u
/* Largest input staged; the peer never sees frames beyond it. */
#define FUZZ_MAX_INPUT (256u << 10)

static struct ms_store *store;
static struct peer *peer;

static void start_peer(void)
{
	struct peer_config cfg = {
		.listen_addr = "mem://",
		.node_id = 1,
		.block_size = FUZZ_BS,
		.ops = &ms_store_ops,
	};

	log_init("fuzz-peer", LOG_LVL_ERROR);
	signal(SIGPIPE, SIG_IGN);
	if (ms_store_create(NULL, FUZZ_BLOCKS * FUZZ_BS, FUZZ_BS, &store))
		abort();
	cfg.ctx = store;
	peer = peer_create(&cfg);
	if (!peer)
		abort();
}

/* Reads replies until the peer closes the connection. */
static void *drain(void *arg)
{
	struct conn *c = arg;
	uint8_t buf[65536];

	while (recv(conn_fd(c), buf, sizeof(buf), 0) > 0)
		;
	return NULL;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct iovec iov = {(void *)data, size};
	struct conn *c;
	pthread_t t;

	if (size > FUZZ_MAX_INPUT)
		return 0;
	if (!peer)
		start_peer();
	if (conn_connect(peer_listen_addr(peer), 5000, &c) ||
	    conn_set_timeout(c, 10000) || auth_client(c, NULL, 0, 0, 5000))
		abort();
	if (pthread_create(&t, NULL, drain, c))
		abort();
	/* the peer may close early on garbage: a failed write is fine */
	if (size)
		conn_writev(c, &iov, 1);
	shutdown(conn_fd(c), SHUT_WR);
	pthread_join(t, NULL);
	conn_destroy(c);
	ms_store_release_all(store);
	return 0;
}
