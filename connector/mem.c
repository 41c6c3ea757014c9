// SPDX-License-Identifier: MIT
/*
 * The in-process transport: mem://NAME. Unit tests and the cluster simulator
 * run many "nodes" in one process; this transport gives them real,
 * independent byte streams without a network stack. Listening registers NAME
 * in a process-wide table; connecting makes an AF_UNIX socketpair and queues
 * one end for the listener's conn_accept(). The streams then behave exactly
 * like TCP ones because they share fdio.c (timeouts, EOF, shutdown).
 *
 * Listening on "mem://" (empty name) picks a fresh unique name, the analogue
 * of TCP port 0; conn_listener_addr() tells which. In stepped mode
 * (cmp_stepped()) the streams are mem-step.c's instead: no fds, no threads.
 *
 * Locking: registry_lock protects the registry list, every listener's
 * pending queue and the name counters. The listener's eventfd (semaphore
 * mode) counts queued connections, so it polls readable exactly when
 * conn_accept() will not block.
 */
#include <ctype.h>
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <unistd.h>

#include "cmp/log.h"
#include "cmp/util.h"
#include "conn-internal.h"
#include "fdio.h"

#define MEM_NAME_MAX 64

struct mem_pending {
	struct mem_pending *next;
	int fd;
	char peer[sizeof(((struct conn *)0)->peer)];
};

struct mem_listener {
	struct conn_listener base;
	const char *name; /* points into base.addr */
	int efd;
	/* under registry_lock */
	struct mem_listener *next;
	struct mem_pending *head;
	struct mem_pending **tail;
};

static pthread_mutex_t registry_lock = PTHREAD_MUTEX_INITIALIZER;
static struct mem_listener *registry;
static unsigned long anon_seq;
static unsigned long conn_seq;

static bool name_ok(const char *name)
{
	size_t n = strlen(name);
	size_t i;

	if (n > MEM_NAME_MAX)
		return false;
	for (i = 0; i < n; i++)
		if (!isgraph((unsigned char)name[i]))
			return false;
	return true;
}

static struct mem_listener *find_locked(const char *name)
{
	struct mem_listener *ml;

	for (ml = registry; ml; ml = ml->next)
		if (!strcmp(ml->name, name))
			return ml;
	return NULL;
}

static struct mem_listener *to_mem_listener(const struct conn_listener *l)
{
	return (struct mem_listener *)l;
}

static int mem_listener_fd(const struct conn_listener *l)
{
	return to_mem_listener(l)->efd;
}

static int mem_accept(struct conn_listener *l, struct conn **out)
{
	struct mem_listener *ml = to_mem_listener(l);
	struct mem_pending *p;
	uint64_t one;
	int err;

	/* Blocks until a connection is queued, and claims it. */
	while (read(ml->efd, &one, sizeof(one)) != sizeof(one)) {
		if (errno == EINTR)
			continue;
		err = -errno;
		log_error_flood("%s: accept failed: %s", l->addr,
				strerror(errno));
		return err;
	}
	pthread_mutex_lock(&registry_lock);
	p = ml->head;
	ml->head = p->next;
	if (!ml->head)
		ml->tail = &ml->head;
	pthread_mutex_unlock(&registry_lock);

	*out = fdio_conn_create(p->fd, p->peer);
	if (!*out) {
		log_error("%s: no memory for a connection from %s", l->addr,
			  p->peer);
		close(p->fd);
		free(p);
		return -ENOMEM;
	}
	free(p);
	return 0;
}

static void mem_listener_destroy(struct conn_listener *l)
{
	struct mem_listener *ml = to_mem_listener(l);
	struct mem_listener **pp;
	struct mem_pending *p;

	pthread_mutex_lock(&registry_lock);
	for (pp = &registry; *pp; pp = &(*pp)->next) {
		if (*pp == ml) {
			*pp = ml->next;
			break;
		}
	}
	/* Connections never accepted: their clients see end of stream. */
	while ((p = ml->head)) {
		ml->head = p->next;
		close(p->fd);
		free(p);
	}
	pthread_mutex_unlock(&registry_lock);
	close(ml->efd);
	free(ml);
}

static const struct conn_listener_ops mem_listener_ops = {
	.fd = mem_listener_fd,
	.accept = mem_accept,
	.destroy = mem_listener_destroy,
};

/* Names the listener; picks a fresh name when none is given. */
static int name_locked(struct mem_listener *ml, const char *rest)
{
	char name[MEM_NAME_MAX + 1];

	if (*rest) {
		if (find_locked(rest))
			return -EADDRINUSE;
		snprintf(ml->base.addr, sizeof(ml->base.addr), "mem://%s",
			 rest);
	} else {
		do
			snprintf(name, sizeof(name), "anon-%lu", ++anon_seq);
		while (find_locked(name));
		snprintf(ml->base.addr, sizeof(ml->base.addr), "mem://%s",
			 name);
	}
	ml->name = ml->base.addr + strlen("mem://");
	return 0;
}

static int mem_listen(const char *rest, struct conn_listener **out)
{
	struct mem_listener *ml;
	int ret;

	if (!name_ok(rest)) {
		log_error("mem://%s: malformed name", rest);
		return -EINVAL;
	}
	if (cmp_stepped())
		return mem_step_listen(rest, out);
	ml = calloc(1, sizeof(*ml));
	if (!ml)
		return -ENOMEM;
	ml->base.ops = &mem_listener_ops;
	ml->tail = &ml->head;
	ml->efd = eventfd(0, EFD_CLOEXEC | EFD_SEMAPHORE);
	if (ml->efd < 0) {
		ret = -errno;
		log_error("mem://%s: eventfd: %s", rest, strerror(errno));
		goto err_free;
	}

	pthread_mutex_lock(&registry_lock);
	ret = name_locked(ml, rest);
	if (!ret) {
		ml->next = registry;
		registry = ml;
	}
	pthread_mutex_unlock(&registry_lock);
	if (ret) {
		log_error("mem://%s: address already in use", rest);
		goto err_close_efd;
	}
	*out = &ml->base;
	return 0;

err_close_efd:
	close(ml->efd);
err_free:
	free(ml);
	return ret;
}

/* Queues the server end of a new pair on the listener called name. */
static int enqueue(const char *name, struct mem_pending *p)
{
	struct mem_listener *ml;
	uint64_t one = 1;
	int ret = 0;

	pthread_mutex_lock(&registry_lock);
	ml = find_locked(name);
	if (!ml) {
		ret = -ECONNREFUSED;
		goto out_unlock;
	}
	/* Only fails when the counter would overflow: never in practice. */
	if (write(ml->efd, &one, sizeof(one)) != sizeof(one)) {
		ret = -errno;
		goto out_unlock;
	}
	snprintf(p->peer, sizeof(p->peer), "mem://%s#%lu", name, ++conn_seq);
	*ml->tail = p;
	ml->tail = &p->next;
out_unlock:
	pthread_mutex_unlock(&registry_lock);
	return ret;
}

static int mem_connect(const char *rest, int timeout_ms, struct conn **out)
{
	struct mem_pending *p;
	char peer[sizeof(((struct conn *)0)->peer)];
	int sv[2];
	int ret;

	if (!*rest || !name_ok(rest)) {
		log_error("mem://%s: malformed name", rest);
		return -EINVAL;
	}
	if (cmp_stepped())
		return mem_step_connect(rest, out);
	p = calloc(1, sizeof(*p));
	if (!p)
		return -ENOMEM;
	if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv)) {
		ret = -errno;
		log_error("mem://%s: socketpair: %s", rest, strerror(errno));
		goto err_free;
	}
	p->fd = sv[1];
	ret = enqueue(rest, p);
	if (ret) {
		/* callers retry and say it once, with what they were doing */
		log_debug("mem://%s: cannot connect: %s", rest, strerror(-ret));
		goto err_close;
	}
	/* From here the listener owns p and sv[1]. */
	snprintf(peer, sizeof(peer), "mem://%s", rest);
	*out = fdio_conn_create(sv[0], peer);
	if (!*out) {
		close(sv[0]); /* the accepted end sees end of stream */
		return -ENOMEM;
	}
	return 0;

err_close:
	close(sv[0]);
	close(sv[1]);
err_free:
	free(p);
	return ret;
}

const struct conn_transport conn_mem_transport = {
	.scheme = "mem",
	.listen = mem_listen,
	.connect = mem_connect,
};
