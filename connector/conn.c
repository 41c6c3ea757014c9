// SPDX-License-Identifier: MIT
/*
 * The public connector API. Picks the transport from the address scheme and
 * forwards every later call through the connection's ops, so nothing above
 * the connector knows which network it runs on.
 */
#include <errno.h>
#include <string.h>
#include <strings.h>

#include "cmp-config.h"
#include "cmp/log.h"
#include "cmp/util.h"
#include "conn-internal.h"
#include "wire-internal.h"

/*
 * connector/meson.build says whether the RDMA transport is linked in: the
 * libraries may be present while the transport is not (yet) built.
 */
#ifndef CMP_CONN_RDMA_LINKED
#define CMP_CONN_RDMA_LINKED CMP_HAVE_RDMA
#endif

static const struct conn_transport *const transports[] = {
	&conn_tcp_transport,
	&conn_mem_transport,
#if CMP_HAVE_RDMA && CMP_CONN_RDMA_LINKED
	&conn_rdma_transport,
#endif
};

/* Finds the transport for addr and the text after "scheme://". */
static int lookup(const char *addr, const struct conn_transport **t,
		  const char **rest)
{
	const char *sep = addr ? strstr(addr, "://") : NULL;
	size_t len;
	size_t i;

	if (!sep) {
		log_error("%s: malformed address (want scheme://...)",
			  addr ? addr : "(null)");
		return -EINVAL;
	}
	len = (size_t)(sep - addr);
	for (i = 0; i < ARRAY_SIZE(transports); i++) {
		if (strlen(transports[i]->scheme) == len &&
		    !strncasecmp(addr, transports[i]->scheme, len)) {
			*t = transports[i];
			*rest = sep + 3;
			return 0;
		}
	}
	if (len == 4 && !strncasecmp(addr, "rdma", 4))
		log_error("%s: cmpfs was built without RDMA support", addr);
	else
		log_error("%s: unknown address scheme '%.*s'", addr, (int)len,
			  addr);
	return -EPROTONOSUPPORT;
}

/* What every new connection gets, whatever its transport. */
int conn_setup(struct conn **out)
{
	struct conn *c = *out;
	int ret;

	c->timeout_ms = 0;
	ret = wire_conn_init(c);
	if (ret) {
		c->ops->destroy(c);
		*out = NULL;
	}
	return ret;
}

int conn_listen(const char *addr, struct conn_listener **out)
{
	const struct conn_transport *t;
	const char *rest;
	int ret;

	*out = NULL;
	ret = lookup(addr, &t, &rest);
	if (ret)
		return ret;
	return t->listen(rest, out);
}

int conn_listener_fd(const struct conn_listener *l)
{
	return l->ops->fd(l);
}

const char *conn_listener_addr(const struct conn_listener *l)
{
	return l->addr;
}

int conn_accept(struct conn_listener *l, struct conn **out)
{
	int ret;

	*out = NULL;
	ret = l->ops->accept(l, out);
	if (!ret)
		ret = conn_setup(out);
	return ret;
}

void conn_listener_destroy(struct conn_listener *l)
{
	if (l)
		l->ops->destroy(l);
}

int conn_connect(const char *addr, int timeout_ms, struct conn **out)
{
	const struct conn_transport *t;
	const char *rest;
	int ret;

	*out = NULL;
	ret = lookup(addr, &t, &rest);
	if (ret)
		return ret;
	ret = t->connect(rest, timeout_ms, out);
	if (!ret)
		ret = conn_setup(out);
	return ret;
}

int conn_writev(struct conn *c, const struct iovec *iov, int iovcnt)
{
	if (iovcnt < 0 || (iovcnt && !iov))
		return -EINVAL;
	if (!iovcnt)
		return 0;
	return c->ops->writev(c, iov, iovcnt);
}

int conn_read(struct conn *c, void *buf, size_t len)
{
	struct iovec iov = {.iov_base = buf, .iov_len = len};

	if (!len)
		return 0;
	return c->ops->readv(c, &iov, 1);
}

int conn_readv(struct conn *c, const struct iovec *iov, int iovcnt)
{
	if (iovcnt < 0 || (iovcnt && !iov))
		return -EINVAL;
	if (!iovcnt)
		return 0;
	return c->ops->readv(c, iov, iovcnt);
}

ssize_t conn_read_some(struct conn *c, void *buf, size_t len)
{
	if (!len)
		return -EINVAL;
	if (!c->ops->read_some)
		return -EOPNOTSUPP;
	return c->ops->read_some(c, buf, len);
}

int conn_set_timeout(struct conn *c, int timeout_ms)
{
	int ret;

	if (timeout_ms < 0)
		return -EINVAL;
	ret = c->ops->set_timeout(c, timeout_ms);
	if (!ret)
		c->timeout_ms = timeout_ms;
	return ret;
}

int conn_get_timeout(const struct conn *c)
{
	return c->timeout_ms;
}

int conn_fd(const struct conn *c)
{
	return c->ops->fd(c);
}

bool conn_pending(const struct conn *c)
{
	return c->ops->pending(c);
}

const char *conn_peer(const struct conn *c)
{
	return c->peer;
}

void conn_shutdown(struct conn *c)
{
	c->ops->shutdown(c);
}

void conn_destroy(struct conn *c)
{
	if (!c)
		return;
	wire_conn_finish(c);
	c->ops->destroy(c);
}

uint32_t conn_peer_node(const struct conn *c)
{
	return c->wire.peer_node;
}

uint64_t conn_peer_incarnation(const struct conn *c)
{
	return c->wire.peer_incarnation;
}

uint64_t conn_session_id(const struct conn *c)
{
	return c->wire.session;
}

bool conn_has_rma(const struct conn *c)
{
	return c->ops->rma_read && c->ops->rma_write;
}

int conn_authenticated(struct conn *c)
{
	return c->ops->authenticated ? c->ops->authenticated(c) : 0;
}

int conn_rma_register(void *base, size_t len)
{
	int ret;

	if (!base || !len)
		return -EINVAL;
	for (size_t i = 0; i < ARRAY_SIZE(transports); i++) {
		if (!transports[i]->rma_register)
			continue;
		ret = transports[i]->rma_register(base, len);
		if (ret)
			return ret;
	}
	return 0;
}

int conn_rma_unregister(void *base)
{
	int ret;

	for (size_t i = 0; i < ARRAY_SIZE(transports); i++) {
		if (!transports[i]->rma_unregister)
			continue;
		ret = transports[i]->rma_unregister(base);
		if (ret)
			return ret;
	}
	return 0;
}

int conn_rma_grant(struct conn *c, void *addr, size_t len,
		   struct conn_region *out)
{
	if (!c->ops->rma_grant)
		return -EOPNOTSUPP;
	return c->ops->rma_grant(c, addr, len, out);
}

int conn_rma_revoke(struct conn *c, const struct conn_region *r)
{
	if (!c->ops->rma_revoke)
		return -EOPNOTSUPP;
	return c->ops->rma_revoke(c, r);
}

int conn_rma_read(struct conn *c, void *dst, size_t len,
		  const struct conn_region *r, uint64_t offset)
{
	if (!c->ops->rma_read)
		return -EOPNOTSUPP;
	return c->ops->rma_read(c, dst, len, r, offset);
}

int conn_rma_write(struct conn *c, const void *src, size_t len,
		   const struct conn_region *r, uint64_t offset)
{
	if (!c->ops->rma_write)
		return -EOPNOTSUPP;
	return c->ops->rma_write(c, src, len, r, offset);
}
