/* SPDX-License-Identifier: MIT */
/*
 * Stream connections over a connected socket file descriptor, shared by the
 * TCP and in-memory (AF_UNIX socketpair) transports: vectored send/receive
 * loops that never return short, per-call deadlines through poll(), and
 * shutdown/destroy. The transports only differ in how they obtain the fd.
 */
#ifndef CMP_FDIO_H
#define CMP_FDIO_H

#include "conn-internal.h"

/*
 * Wraps a connected, blocking stream socket. On success the connection owns
 * fd and closes it in conn_destroy(); on failure (NULL, errno ENOMEM) the
 * caller still owns fd. peer names the other end in log lines.
 */
struct conn *fdio_conn_create(int fd, const char *peer);

/*
 * Waits until fd is ready for events or the deadline (cmp_now_ns() value,
 * 0 = none) passes. Returns 0, -ETIMEDOUT or -errno from poll().
 */
int fdio_wait(int fd, short events, uint64_t deadline_ns);

/* Deadline in cmp_now_ns() terms for a timeout in ms (<= 0: none, 0). */
uint64_t fdio_deadline(int timeout_ms);

#endif
