// SPDX-License-Identifier: MIT
/*
 * stallframe: an authenticated client that starts a big write and stops
 * in the middle of it, for the flood test (test-faults-flood.sh). It
 * connects to a block server, completes the handshake with the cluster
 * key, borrows blocks as owner --owner, then sends a WRITE_BATCH frame
 * whose header announces 16 MiB (one extent per borrowed block), and
 * stalls after the header and the first 64 KiB record. A server with a
 * frame-body deadline closes the connection; one without keeps a thread
 * and a half-written block forever.
 *
 *   stallframe --to tcp://HOST:PORT (--key FILE | --insecure)
 *              [--owner N] [--go FILE] [--wait SECS]
 *
 * It prints "ready" once authenticated and lent its blocks, waits until
 * the --go file exists, stalls, and prints when the server closed the
 * connection ("closed by the server after 10.2 s", exit 0) or that it is
 * still open after --wait seconds (exit 1). Then, like any owner that
 * goes, it says GOODBYE on a new connection, so that its blocks there
 * end (a node that holds blocks for an owner that never leaves keeps
 * serving them until its lease ends, even when it unmounts).
 *
 * The frame goes through the connector's own wire_send() (sealed or not,
 * whatever the handshake settled); conn_writev() is wrapped (link with
 * -Wl,--wrap=conn_writev) to let only the first STALL_AFTER bytes out.
 */
#include <errno.h>
#include <poll.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "cmp/auth.h"
#include "cmp/conn.h"
#include "cmp/wire.h"
#include "proto_block.h"

/* The header and the first record of a sealed frame: 32 + 64 KiB + 16. */
#define STALL_AFTER (32u + (64u << 10) + 16u)
#define ANNOUNCED WIRE_MAX_PAYLOAD
#define NBLOCKS 16u

int __real_conn_writev(struct conn *c, const struct iovec *iov, int iovcnt);
int __wrap_conn_writev(struct conn *c, const struct iovec *iov, int iovcnt);

static bool armed;
static size_t budget = STALL_AFTER;
static int wait_secs = 30;
static double stalled_at;
static double closed_after = -1;

static double now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec + ts.tv_nsec / 1e9;
}

/* Waits until the peer closes (end of stream or reset) or time is up. */
static int wait_closed(struct conn *c)
{
	struct pollfd pfd = {.fd = conn_fd(c), .events = POLLIN};
	double end = stalled_at + wait_secs;
	char buf[4096];

	while (now() < end) {
		int n = poll(&pfd, 1, 100);

		if (n <= 0)
			continue;
		for (;;) {
			ssize_t r =
				recv(pfd.fd, buf, sizeof(buf), MSG_DONTWAIT);

			if (r == 0 ||
			    (r < 0 && errno != EAGAIN && errno != EINTR)) {
				closed_after = now() - stalled_at;
				return -ECONNRESET;
			}
			if (r < 0)
				break;
		}
	}
	return -ETIMEDOUT;
}

int __wrap_conn_writev(struct conn *c, const struct iovec *iov, int iovcnt)
{
	struct iovec part[WIRE_SEND_MAX_IOV + 1];
	size_t left = budget;
	int n = 0, ret;

	if (!armed)
		return __real_conn_writev(c, iov, iovcnt);
	for (int i = 0; i < iovcnt && left && n < WIRE_SEND_MAX_IOV + 1; i++) {
		part[n] = iov[i];
		if (part[n].iov_len > left)
			part[n].iov_len = left;
		left -= part[n].iov_len;
		n++;
	}
	ret = n ? __real_conn_writev(c, part, n) : 0;
	budget = left;
	if (ret < 0 || budget)
		return ret;
	stalled_at = now();
	printf("stalled after %u bytes of a WRITE_BATCH frame announcing %u\n",
	       STALL_AFTER, ANNOUNCED);
	fflush(stdout);
	return wait_closed(c);
}

static int call(struct conn *c, uint8_t op, const struct iovec *req,
		uint8_t *rep, size_t cap, size_t *got)
{
	struct wire_hdr h = {.op = op, .id = 1}, rh;
	struct iovec iov = {rep, cap};
	int ret;

	ret = wire_send(c, &h, req, 1);
	if (!ret)
		ret = wire_recv_hdr(c, &rh);
	if (ret)
		return ret;
	if (rh.status != WIRE_S_OK)
		return wire_status_to_errno(rh.status);
	if (rh.len > cap)
		return -EMSGSIZE;
	*got = rh.len;
	return rh.len ? wire_recv_payload(c, &rh, &iov, 1) : 0;
}

/* Borrows NBLOCKS blocks (as the connection's node); fills refs. */
static int borrow(struct conn *c, struct proto_block_ref *refs)
{
	struct proto_block_alloc_rep rep;
	uint8_t buf[PROTO_BLOCK_MAX_IDX_MSG];
	struct iovec iov = {buf, 0};
	size_t got = 0;
	int ret;

	ret = proto_block_alloc_req_encode(NBLOCKS, 0, buf, sizeof(buf));
	if (ret < 0)
		return ret;
	iov.iov_len = ret;
	ret = call(c, WIRE_OP_ALLOC, &iov, buf, sizeof(buf), &got);
	if (ret < 0)
		return ret;
	/* no windows asked for: the block size checks nothing */
	ret = proto_block_alloc_rep_decode(buf, got, PROTO_BLOCK_MIN_SIZE, &rep,
					   refs, NULL, NBLOCKS);
	if (ret < 0)
		return ret;
	return rep.count == NBLOCKS ? 0 : -ENOSPC;
}

/* The batch: one extent per block, together ANNOUNCED bytes of payload. */
static int send_stalled(struct conn *c, const struct proto_block_ref *refs,
			uint32_t bs)
{
	struct proto_block_extent ext[NBLOCKS];
	uint8_t hdr[PROTO_BLOCK_MAX_BATCH_HDR];
	size_t hlen =
		PROTO_BLOCK_BATCH_SIZE + NBLOCKS * PROTO_BLOCK_EXTENT_SIZE;
	size_t data_len = ANNOUNCED - hlen, left = data_len;
	struct wire_hdr h = {.op = WIRE_OP_WRITE_BATCH, .id = 2};
	struct iovec iov[2];
	uint8_t *data;
	int ret;

	for (uint32_t i = 0; i < NBLOCKS; i++) {
		ext[i].block = refs[i].block;
		ext[i].epoch = refs[i].epoch;
		ext[i].off = 0;
		ext[i].len = left < bs ? (uint32_t)left : bs;
		left -= ext[i].len;
	}
	if (left)
		return -EINVAL; /* blocks too small for 16 MiB */
	ret = proto_block_batch_encode(ext, NBLOCKS, hdr, sizeof(hdr));
	if (ret < 0)
		return ret;
	data = malloc(data_len);
	if (!data)
		return -ENOMEM;
	memset(data, 0x5a, data_len);
	iov[0] = (struct iovec){hdr, (size_t)ret};
	iov[1] = (struct iovec){data, data_len};
	armed = true;
	ret = wire_send(c, &h, iov, 2);
	free(data);
	return ret;
}

/* The handshake with the key file at key_path (NULL: insecure), as node owner.
 */
static int handshake(struct conn *c, const char *key_path, uint32_t owner)
{
	struct auth_keyring *kr = NULL;
	int ret;

	if (key_path) {
		kr = auth_keyring_load(key_path);
		if (!kr)
			return -errno;
	}
	ret = auth_client(c, kr, owner, (uint64_t)time(NULL) << 20 | getpid(),
			  5000);
	auth_keyring_destroy(kr);
	return ret;
}

static int wait_go(const char *go)
{
	double end = now() + 120;

	while (go && access(go, F_OK)) {
		if (now() > end)
			return -ETIMEDOUT;
		usleep(20000);
	}
	return 0;
}

/* A new connection as owner, GOODBYE: the server ends our loans. */
static void goodbye(const char *to, const char *key_path, uint32_t owner)
{
	struct wire_hdr h = {.op = WIRE_OP_GOODBYE, .id = 1}, rh;
	struct conn *c;
	int ret;

	armed = false;
	ret = conn_connect(to, 5000, &c);
	if (ret < 0)
		goto out;
	ret = conn_set_timeout(c, 5000);
	if (!ret)
		ret = handshake(c, key_path, owner);
	if (!ret)
		ret = wire_send(c, &h, NULL, 0);
	if (!ret)
		ret = wire_recv_hdr(c, &rh);
	if (!ret)
		ret = rh.status == WIRE_S_OK ? wire_skip_payload(c, &rh) : -EIO;
	conn_destroy(c);
out:
	printf("goodbye: %s\n", ret < 0 ? strerror(-ret) : "ok");
	fflush(stdout);
}

int main(int argc, char **argv)
{
	const char *to = NULL, *key_path = NULL, *go = NULL;
	uint32_t owner = 99, bs = 1u << 20;
	struct proto_block_ref refs[NBLOCKS];
	bool insecure = false;
	struct conn *c;
	int ret;

	for (int i = 1; i < argc; i++) {
		const char *v = i + 1 < argc ? argv[i + 1] : "";

		if (!strcmp(argv[i], "--insecure")) {
			insecure = true;
			continue;
		}
		if (!strcmp(argv[i], "--to"))
			to = v;
		else if (!strcmp(argv[i], "--key"))
			key_path = v;
		else if (!strcmp(argv[i], "--owner"))
			owner = (uint32_t)atoi(v);
		else if (!strcmp(argv[i], "--go"))
			go = v;
		else if (!strcmp(argv[i], "--wait"))
			wait_secs = atoi(v);
		else if (!strcmp(argv[i], "--block-size"))
			bs = (uint32_t)atoi(v);
		else
			break;
		i++;
	}
	if (!to || (!key_path && !insecure)) {
		fprintf(stderr, "usage: stallframe --to tcp://HOST:PORT "
				"(--key FILE | --insecure) [--owner N] "
				"[--block-size BYTES] [--go FILE] "
				"[--wait SECS]\n");
		return 2;
	}
	ret = conn_connect(to, 5000, &c);
	if (ret < 0)
		goto fail;
	ret = handshake(c, insecure ? NULL : key_path, owner);
	if (!ret)
		ret = borrow(c, refs);
	if (ret < 0)
		goto fail_conn;
	printf("ready: authenticated, %u blocks lent to owner %u\n", NBLOCKS,
	       owner);
	fflush(stdout);
	ret = wait_go(go);
	if (!ret)
		ret = send_stalled(c, refs, bs);
	conn_destroy(c);
	goodbye(to, insecure ? NULL : key_path, owner);
	if (closed_after >= 0) {
		printf("closed by the server after %.1f s\n", closed_after);
		return 0;
	}
	if (ret == -ETIMEDOUT && stalled_at > 0) {
		printf("still open after %d s\n", wait_secs);
		return 1;
	}
	goto fail;
fail_conn:
	conn_destroy(c);
fail:
	printf("stallframe: %s: %s\n", to, strerror(-ret));
	return 2;
}
