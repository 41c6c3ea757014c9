// SPDX-License-Identifier: MIT
/*
 * The manager client's REGISTER frame, and registering again when the
 * node's capacity changes (a resize, mgr_client_set_capacity()) or what
 * it offers does at once (mgr_client_counts_changed()): the
 * client thread sends REGISTER once more on its registration connection
 * (the manager takes a registration again from the connection that has
 * it), with the new capacity, and reads the reply as it reads the
 * heartbeats' (client.c).
 */
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "client-internal.h"
#include "cmp/conn.h"
#include "cmp/log.h"
#include "cmp/mgr.h"
#include "cmp/wire.h"

uint64_t mgr_client_capacity(struct mgr_client *c)
{
	uint64_t cap;

	pthread_mutex_lock(&c->lock);
	cap = c->cfg.capacity;
	pthread_mutex_unlock(&c->lock);
	return cap;
}

/* Was the capacity changed since the last REGISTER? Clears the news. */
bool mgr_client_capacity_news(struct mgr_client *c)
{
	bool news;

	pthread_mutex_lock(&c->lock);
	news = c->capacity_news;
	c->capacity_news = false;
	pthread_mutex_unlock(&c->lock);
	return news;
}

/* REGISTER on the registration connection; its reply is read apart. */
int mgr_client_send_register(struct mgr_client *c, uint64_t *id)
{
	struct proto_mgr_register reg = {
		.node = c->cfg.node,
		.kind = (uint8_t)c->cfg.kind,
		.wpolicy = (uint8_t)c->cfg.wpolicy,
		.block_size = c->cfg.block_size,
		.capacity = mgr_client_capacity(c),
		.incarnation = c->incarnation,
	};
	uint8_t buf[PROTO_MGR_REGISTER_SIZE];
	struct iovec iov = {.iov_base = buf, .iov_len = sizeof(buf)};
	struct proto_mgr_counts counts;
	struct wire_hdr h = {.op = WIRE_OP_REGISTER};

	mgr_client_sample(c, &counts);
	reg.free = counts.free;
	snprintf(reg.addr, sizeof(reg.addr), "%s", c->listen_addr);
	proto_mgr_register_encode(&reg, buf, sizeof(buf));
	h.id = atomic_fetch_add(&c->next_id, 1);
	*id = h.id;
	return wire_send(c->reg, &h, &iov, 1);
}

/* News for the manager: the client thread registers again (any thread). */
static void tell_soon_locked(struct mgr_client *c)
{
	char b = 1;

	c->capacity_news = true;
	if (write(c->wake[1], &b, 1) < 0 && errno != EAGAIN)
		log_debug("manager client: wake: %s", strerror(errno));
}

void mgr_client_set_capacity(struct mgr_client *c, uint64_t capacity)
{
	pthread_mutex_lock(&c->lock);
	c->cfg.capacity = capacity;
	tell_soon_locked(c);
	pthread_mutex_unlock(&c->lock);
}

void mgr_client_counts_changed(struct mgr_client *c)
{
	pthread_mutex_lock(&c->lock);
	tell_soon_locked(c);
	pthread_mutex_unlock(&c->lock);
}
