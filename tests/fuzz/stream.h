/* SPDX-License-Identifier: MIT */
/*
 * For fuzz targets that drive a receiving function over a real connection:
 * the input becomes everything the peer ever sends, followed by the end of
 * its stream, so the code under test can never wait for more.
 */
#ifndef CMP_FUZZ_STREAM_H
#define CMP_FUZZ_STREAM_H

#include <stdlib.h>
#include <sys/socket.h>
#include <sys/uio.h>

#include "cmp/conn.h"

/* Beyond this the peer's bytes might not fit the socket buffer. */
#define FUZZ_STREAM_MAX 65536

struct fuzz_stream {
	struct conn *peer;
	struct conn *us;
};

/* Returns false when size is too large to stage. */
static inline bool fuzz_stream_open(struct fuzz_stream *s, const void *data,
				    size_t size)
{
	static struct conn_listener *listener;
	struct iovec iov = {(void *)data, size};

	if (size > FUZZ_STREAM_MAX)
		return false;
	if (!listener && conn_listen("mem://", &listener))
		abort();
	if (conn_connect(conn_listener_addr(listener), 0, &s->peer) ||
	    conn_accept(listener, &s->us) || conn_writev(s->peer, &iov, 1))
		abort();
	/* Our replies still go through; our reads end at the input's end. */
	shutdown(conn_fd(s->peer), SHUT_WR);
	return true;
}

static inline void fuzz_stream_close(struct fuzz_stream *s)
{
	conn_destroy(s->peer);
	conn_destroy(s->us);
}

#endif
