// SPDX-License-Identifier: MIT
/*
 * Byte-stream I/O over a connected socket, shared by tcp.c and mem.c. The
 * loops here carry the "all or an error" promise of conn_writev() and
 * conn_readv(): partial transfers and EINTR are resumed, end of stream is
 * -ECONNRESET, and a deadline set with conn_set_timeout() is enforced with
 * poll(). Nothing is allocated per call: the caller's iovec array is handed
 * to the kernel as it is, and only a transfer that resumes in the middle of
 * an iovec copies a bounded window of it to the stack.
 *
 * Without a deadline the socket is used in blocking mode, so a frame is
 * usually one sendmsg() or one recvmsg(MSG_WAITALL). With a deadline each
 * call uses MSG_DONTWAIT and waits in poll() for the time left.
 */
#include <errno.h>
#include <limits.h>
#include <poll.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "cmp/log.h"
#include "cmp/util.h"
#include "fdio.h"

/* iovecs copied to the stack when a transfer resumes inside an iovec */
#define RESUME_WINDOW 64

struct fd_conn {
	struct conn base;
	int fd;
	/* ms, 0 = none: set by conn_set_timeout(), read by the I/O threads */
	atomic_int timeout_ms;
	/* set by conn_shutdown(): later failures are expected, not logged */
	atomic_bool shut;
};

/* How far a transfer has come through the caller's (const) iovec array. */
struct iov_cursor {
	const struct iovec *iov;
	int cnt;
	int idx;
	size_t off; /* bytes of iov[idx] already transferred */
	size_t done;
};

static struct fd_conn *to_fd_conn(const struct conn *c)
{
	return (struct fd_conn *)c;
}

uint64_t fdio_deadline(int timeout_ms)
{
	if (timeout_ms <= 0)
		return 0;
	return cmp_now_ns() + (uint64_t)timeout_ms * 1000000u;
}

int fdio_wait(int fd, short events, uint64_t deadline_ns)
{
	struct pollfd pfd = {.fd = fd, .events = events};
	int ms = -1;
	int ret;

	for (;;) {
		if (deadline_ns) {
			uint64_t now = cmp_now_ns();

			if (now >= deadline_ns)
				return -ETIMEDOUT;
			ms = (int)((deadline_ns - now + 999999) / 1000000);
		}
		ret = poll(&pfd, 1, ms);
		if (ret > 0)
			return 0; /* errors and hangups show in the next call */
		if (ret < 0 && errno != EINTR)
			return -errno;
	}
}

static void cursor_skip_done(struct iov_cursor *cur)
{
	while (cur->idx < cur->cnt && cur->iov[cur->idx].iov_len == cur->off) {
		cur->idx++;
		cur->off = 0;
	}
}

static void cursor_advance(struct iov_cursor *cur, size_t n)
{
	cur->done += n;
	while (n) {
		size_t left = cur->iov[cur->idx].iov_len - cur->off;

		if (n < left) {
			cur->off += n;
			return;
		}
		n -= left;
		cur->idx++;
		cur->off = 0;
	}
	cursor_skip_done(cur);
}

/* Points msg at what is left to transfer. */
static void cursor_msg(const struct iov_cursor *cur, struct msghdr *msg,
		       struct iovec win[RESUME_WINDOW])
{
	int n = cur->cnt - cur->idx;

	memset(msg, 0, sizeof(*msg));
	if (cur->off == 0) {
		/* The kernel only reads msg_iov, so the caller's array will do.
		 */
		msg->msg_iov = (struct iovec *)&cur->iov[cur->idx];
		msg->msg_iovlen = (size_t)MIN(n, IOV_MAX);
		return;
	}
	n = MIN(n, RESUME_WINDOW);
	memcpy(win, &cur->iov[cur->idx], (size_t)n * sizeof(*win));
	win[0].iov_base = (char *)win[0].iov_base + cur->off;
	win[0].iov_len -= cur->off;
	msg->msg_iov = win;
	msg->msg_iovlen = (size_t)n;
}

static int fail(struct fd_conn *fc, const struct iov_cursor *cur, bool out,
		int err)
{
	const char *what = out ? "send" : "receive";
	bool quiet = atomic_load(&fc->shut);
	size_t total = cmp_iov_total(cur->iov, cur->cnt);
	int timeout_ms;

	switch (err) {
	case -ETIMEDOUT:
		/* The stream may stop mid-frame: no later call may use it. */
		atomic_store(&fc->shut, true);
		shutdown(fc->fd, SHUT_RDWR);
		timeout_ms = atomic_load(&fc->timeout_ms);
		log_warn_flood("%s: %s timed out after %d ms (%zu of %zu "
			       "bytes)",
			       fc->base.peer, what, timeout_ms, cur->done,
			       total);
		return err;
	case -ECONNRESET:
	case -EPIPE:
		if (quiet || (!out && cur->done == 0 && err == -ECONNRESET))
			log_debug("%s: connection closed", fc->base.peer);
		else
			log_warn_flood("%s: connection lost during %s (%zu of "
				       "%zu bytes)",
				       fc->base.peer, what, cur->done, total);
		return -ECONNRESET;
	default:
		if (quiet)
			log_debug("%s: %s failed after shutdown: %s",
				  fc->base.peer, what, strerror(-err));
		else
			log_error_flood("%s: %s failed (%zu of %zu bytes): %s",
					fc->base.peer, what, cur->done, total,
					strerror(-err));
		return err;
	}
}

static int xfer(struct fd_conn *fc, const struct iovec *iov, int iovcnt,
		bool out)
{
	struct iov_cursor cur = {.iov = iov, .cnt = iovcnt};
	struct iovec win[RESUME_WINDOW];
	int timeout_ms =
		atomic_load_explicit(&fc->timeout_ms, memory_order_relaxed);
	uint64_t deadline = fdio_deadline(timeout_ms);
	int flags = out ? MSG_NOSIGNAL : MSG_WAITALL;
	struct msghdr msg;
	ssize_t n;
	int ret;

	if (deadline)
		flags = (flags & ~MSG_WAITALL) | MSG_DONTWAIT;
	cursor_skip_done(&cur);
	while (cur.idx < cur.cnt) {
		cursor_msg(&cur, &msg, win);
		if (out)
			n = sendmsg(fc->fd, &msg, flags);
		else
			n = recvmsg(fc->fd, &msg, flags);
		if (n > 0) {
			cursor_advance(&cur, (size_t)n);
			continue;
		}
		if (n == 0) /* end of stream (recv only: we never send 0) */
			return fail(fc, &cur, out, -ECONNRESET);
		if (errno == EINTR)
			continue;
		/* The kernel gave up on the peer (keepalive, user timeout):
		 * that is a vanished peer, not our deadline. */
		if (errno == ETIMEDOUT || errno == EHOSTUNREACH)
			return fail(fc, &cur, out, -ECONNRESET);
		if (errno != EAGAIN && errno != EWOULDBLOCK)
			return fail(fc, &cur, out, -errno);
		ret = fdio_wait(fc->fd, out ? POLLOUT : POLLIN, deadline);
		if (ret)
			return fail(fc, &cur, out, ret);
	}
	return 0;
}

static int fdio_writev(struct conn *c, const struct iovec *iov, int iovcnt)
{
	return xfer(to_fd_conn(c), iov, iovcnt, true);
}

static int fdio_readv(struct conn *c, const struct iovec *iov, int iovcnt)
{
	return xfer(to_fd_conn(c), iov, iovcnt, false);
}

static ssize_t fdio_read_some(struct conn *c, void *buf, size_t len)
{
	struct fd_conn *fc = to_fd_conn(c);
	uint64_t deadline = fdio_deadline(atomic_load(&fc->timeout_ms));
	ssize_t n;
	int ret;

	for (;;) {
		n = recv(fc->fd, buf, len, MSG_DONTWAIT);
		if (n > 0)
			return n;
		if (n == 0)
			return -ECONNRESET;
		if (errno == EINTR)
			continue;
		if (errno != EAGAIN && errno != EWOULDBLOCK)
			return errno == ETIMEDOUT ? -ECONNRESET : -errno;
		ret = fdio_wait(fc->fd, POLLIN, deadline);
		if (ret)
			return ret;
	}
}

static int fdio_set_timeout(struct conn *c, int timeout_ms)
{
	atomic_store(&to_fd_conn(c)->timeout_ms, timeout_ms);
	return 0;
}

static int fdio_fd(const struct conn *c)
{
	return to_fd_conn(c)->fd;
}

static bool fdio_pending(const struct conn *c)
{
	return false; /* the kernel holds every buffered byte */
}

static void fdio_shutdown(struct conn *c)
{
	struct fd_conn *fc = to_fd_conn(c);

	atomic_store(&fc->shut, true);
	shutdown(fc->fd, SHUT_RDWR);
}

static void fdio_destroy(struct conn *c)
{
	struct fd_conn *fc = to_fd_conn(c);

	close(fc->fd);
	free(fc);
}

static const struct conn_ops fdio_ops = {
	.writev = fdio_writev,
	.readv = fdio_readv,
	.read_some = fdio_read_some,
	.set_timeout = fdio_set_timeout,
	.fd = fdio_fd,
	.pending = fdio_pending,
	.shutdown = fdio_shutdown,
	.destroy = fdio_destroy,
};

struct conn *fdio_conn_create(int fd, const char *peer)
{
	struct fd_conn *fc = calloc(1, sizeof(*fc));

	if (!fc)
		return NULL;
	fc->base.ops = &fdio_ops;
	snprintf(fc->base.peer, sizeof(fc->base.peer), "%s", peer);
	fc->fd = fd;
	atomic_init(&fc->timeout_ms, 0);
	atomic_init(&fc->shut, false);
	return &fc->base;
}
