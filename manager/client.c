// SPDX-License-Identifier: MIT
/*
 * The manager client (include/cmp/mgr.h). One thread owns the
 * registration connection: it registers, sends heartbeats on time, reads
 * replies and NODE_DEAD pushes, and reconnects with backoff. Queries from
 * other threads use separate connections from a small cache, one caller per
 * connection at a time, so they never wait behind the heartbeat thread.
 *
 * Lock order: mgr_client.lock only (never held across network I/O).
 */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "cmp/auth.h"
#include "cmp/conn.h"
#include "cmp/log.h"
#include "cmp/mgr.h"
#include "cmp/util.h"
#include "cmp/wire.h"

#define DEFAULT_TIMEOUT_MS 2000
#define BACKOFF_MIN_MS 100
#define BACKOFF_MAX_MS 2000
#define QUERY_CACHE 4
#define MANAGER_ADDR_LEN 128

struct mgr_client {
	struct mgr_client_config cfg; /* strings point into the copies below */
	char manager_addr[MANAGER_ADDR_LEN];
	char listen_addr[PROTO_MGR_ADDR_LEN];
	atomic_uint_fast64_t next_id;
	pthread_t thread;
	int wake[2]; /* self-pipe: destroy wakes the client thread */

	pthread_mutex_t lock; /* protects the fields below */
	pthread_cond_t cond;  /* registered or reg_err changed */
	bool stopping;
	bool registered;
	int reg_err;
	struct conn *idle[QUERY_CACHE];
	size_t nidle;

	/* the client thread's own */
	struct conn *reg;
	uint32_t hb_ms;
	uint64_t epoch;
	uint64_t silent_ns; /* no heartbeat reply for this long: gone */
	uint64_t heard_ns;  /* last heartbeat reply (or registration) */
	uint64_t next_hb_ns;
	bool lost; /* "lost the manager" was logged */
	int last_err;
};

/*
 * Transport failures that all mean "no manager there" to a caller; every
 * other error (a refusal, a timeout, a bad address) stays as it is.
 */
static int unreachable(int err)
{
	switch (err) {
	case -ECONNREFUSED:
	case -ECONNRESET:
	case -ECONNABORTED:
	case -ENOENT:
	case -EPIPE:
	case -ENETUNREACH:
	case -ENETDOWN:
	case -EHOSTDOWN:
	case -EADDRNOTAVAIL:
	case -ENOTCONN:
	case -ESHUTDOWN:
		return -EHOSTUNREACH;
	default:
		return err;
	}
}

/* A connection to the manager; node 0: a tool (cmpctl). */
static int dial(const char *addr, struct auth_keyring *kr, uint32_t node,
		int timeout_ms, struct conn **out)
{
	struct conn *conn;
	int ret;

	ret = conn_connect(addr, timeout_ms, &conn);
	if (ret < 0)
		return ret;
	ret = auth_client(conn, kr, node, node ? cmp_incarnation() : 0,
			  timeout_ms);
	if (ret < 0)
		goto err_destroy_conn;
	ret = conn_set_timeout(conn, timeout_ms);
	if (ret < 0)
		goto err_destroy_conn;
	*out = conn;
	return 0;

err_destroy_conn:
	conn_destroy(conn);
	return ret;
}

/*
 * Sends one request and reads its reply into rep (cap bytes). Returns the
 * transport's -errno (the connection is then unusable), or 0 with the
 * reply's wire status in *status and its length in *replen.
 */
static int transact(struct conn *conn, unsigned int op, uint64_t id,
		    const void *req, size_t reqlen, void *rep, size_t cap,
		    size_t *replen, uint32_t *status)
{
	struct wire_hdr h = {.op = (uint8_t)op, .id = id};
	struct iovec iov = {.iov_base = (void *)req, .iov_len = reqlen};
	int ret;

	ret = wire_send(conn, &h, &iov, reqlen ? 1 : 0);
	if (ret < 0)
		return ret;
	ret = wire_recv_hdr(conn, &h);
	if (ret < 0)
		return ret;
	/* query connections get no pushes: anything else is garbage */
	if (!(h.flags & WIRE_F_REPLY) || h.op != op || h.id != id)
		return -EPROTO;
	if (h.len > cap)
		return -EMSGSIZE;
	iov = (struct iovec){.iov_base = rep, .iov_len = cap};
	ret = wire_recv_payload(conn, &h, &iov, 1);
	if (ret < 0)
		return ret;
	*replen = h.len;
	*status = h.status;
	return 0;
}

static struct conn *checkout(struct mgr_client *c)
{
	struct conn *conn = NULL;

	pthread_mutex_lock(&c->lock);
	if (c->nidle)
		conn = c->idle[--c->nidle];
	pthread_mutex_unlock(&c->lock);
	return conn;
}

static void checkin(struct mgr_client *c, struct conn *conn)
{
	pthread_mutex_lock(&c->lock);
	if (c->nidle < QUERY_CACHE && !c->stopping) {
		c->idle[c->nidle++] = conn;
		conn = NULL;
	}
	pthread_mutex_unlock(&c->lock);
	if (conn)
		conn_destroy(conn);
}

/*
 * One request on a cached connection, or a fresh one when the cache is
 * empty or its connection went stale (the manager restarted).
 */
static int query(struct mgr_client *c, unsigned int op, const void *req,
		 size_t reqlen, void *rep, size_t cap, size_t *replen)
{
	uint32_t status;
	struct conn *conn;
	bool cached;
	int ret;

	for (;;) {
		conn = checkout(c);
		cached = conn != NULL;
		if (!conn) {
			ret = dial(c->manager_addr, c->cfg.keyring, c->cfg.node,
				   c->cfg.timeout_ms, &conn);
			if (ret < 0)
				return unreachable(ret);
		}
		ret = transact(conn, op, atomic_fetch_add(&c->next_id, 1), req,
			       reqlen, rep, cap, replen, &status);
		if (ret == 0) {
			checkin(c, conn);
			return wire_status_to_errno(status);
		}
		conn_destroy(conn);
		if (!cached)
			return unreachable(ret);
	}
}

int mgr_client_find_free(struct mgr_client *c, uint32_t n,
			 struct mgr_free_entry *out, size_t max, size_t *count)
{
	struct proto_mgr_find_free q = {.node = c->cfg.node, .want = n};
	struct mgr_free_entry e[PROTO_MGR_MAX_FREE];
	uint8_t req[PROTO_MGR_FIND_FREE_SIZE];
	uint8_t rep[PROTO_MGR_FREE_REPLY_MAX];
	size_t len, got;
	int ret;

	*count = 0;
	if (!n)
		return -EINVAL;
	proto_mgr_find_free_encode(&q, req, sizeof(req));
	ret = query(c, WIRE_OP_FIND_FREE, req, sizeof(req), rep, sizeof(rep),
		    &len);
	if (ret < 0)
		return ret;
	ret = proto_mgr_free_list_decode(rep, len, e, ARRAY_SIZE(e), &got);
	if (ret < 0) {
		log_warn("manager %s: malformed FIND_FREE reply",
			 c->manager_addr);
		return ret;
	}
	*count = MIN(got, max);
	memcpy(out, e, *count * sizeof(*out));
	return 0;
}

/* Decodes a NODES reply, keeping the first max entries. */
static int nodes_decode(const void *rep, size_t len, struct mgr_node_info *out,
			size_t max, size_t *count)
{
	struct mgr_node_info *all;
	size_t got;
	int ret;

	all = calloc(PROTO_MGR_MAX_NODES, sizeof(*all));
	if (!all)
		return -ENOMEM;
	ret = proto_mgr_nodes_decode(rep, len, all, PROTO_MGR_MAX_NODES, &got);
	if (ret == 0) {
		*count = MIN(got, max);
		memcpy(out, all, *count * sizeof(*out));
	}
	free(all);
	return ret;
}

int mgr_client_nodes(struct mgr_client *c, struct mgr_node_info *out,
		     size_t max, size_t *count)
{
	uint8_t *rep;
	size_t len;
	int ret;

	*count = 0;
	rep = malloc(PROTO_MGR_NODES_REPLY_MAX);
	if (!rep)
		return -ENOMEM;
	ret = query(c, WIRE_OP_NODES, NULL, 0, rep, PROTO_MGR_NODES_REPLY_MAX,
		    &len);
	if (ret == 0)
		ret = nodes_decode(rep, len, out, max, count);
	free(rep);
	return ret;
}

int mgr_query_nodes(const char *manager_addr, struct auth_keyring *keyring,
		    int timeout_ms, struct mgr_node_info *out, size_t max,
		    size_t *count)
{
	struct conn *conn;
	uint32_t status;
	uint8_t *rep;
	size_t len;
	int ret;

	*count = 0;
	if (timeout_ms <= 0)
		timeout_ms = DEFAULT_TIMEOUT_MS;
	rep = malloc(PROTO_MGR_NODES_REPLY_MAX);
	if (!rep)
		return -ENOMEM;
	ret = dial(manager_addr, keyring, 0, timeout_ms, &conn);
	if (ret < 0) {
		ret = unreachable(ret);
		goto out_free;
	}
	ret = transact(conn, WIRE_OP_NODES, 1, NULL, 0, rep,
		       PROTO_MGR_NODES_REPLY_MAX, &len, &status);
	conn_destroy(conn);
	if (ret < 0) {
		ret = unreachable(ret);
		goto out_free;
	}
	ret = wire_status_to_errno(status);
	if (ret == 0)
		ret = nodes_decode(rep, len, out, max, count);
out_free:
	free(rep);
	return ret;
}

static void set_reg_state(struct mgr_client *c, bool registered, int err)
{
	pthread_mutex_lock(&c->lock);
	c->registered = registered;
	c->reg_err = err;
	pthread_cond_broadcast(&c->cond);
	pthread_mutex_unlock(&c->lock);
}

static bool stopping(struct mgr_client *c)
{
	bool s;

	pthread_mutex_lock(&c->lock);
	s = c->stopping;
	pthread_mutex_unlock(&c->lock);
	return s;
}

/* Waits ms or until destroy; poll on the wake pipe is the timer. */
static void nap(struct mgr_client *c, int ms)
{
	struct pollfd pfd = {.fd = c->wake[0], .events = POLLIN};

	poll(&pfd, 1, ms);
}

/*
 * Asks the owner for its counts, clamped to what the manager accepts: a
 * count it refuses would close the connection at every heartbeat.
 */
static void sample(struct mgr_client *c, struct proto_mgr_counts *counts)
{
	const uint64_t max = PROTO_MGR_MAX_BLOCKS;

	memset(counts, 0, sizeof(*counts));
	counts->free = c->cfg.capacity;
	if (c->cfg.counts)
		c->cfg.counts(c->cfg.ctx, counts);
	counts->free = MIN(counts->free, c->cfg.capacity);
	counts->lll = MIN(counts->lll, max - counts->free);
	counts->rll = MIN(counts->rll, max - counts->free - counts->lll);
	counts->lrl = MIN(counts->lrl, max);
	counts->rrl = MIN(counts->rrl, max);
}

static int on_node_dead(struct mgr_client *c, const struct wire_hdr *h)
{
	uint8_t buf[PROTO_MGR_NODE_DEAD_SIZE];
	struct iovec iov = {.iov_base = buf, .iov_len = sizeof(buf)};
	struct proto_mgr_node_dead nd;
	int ret;

	if (h->len != sizeof(buf))
		return -EBADMSG;
	ret = wire_recv_payload(c->reg, h, &iov, 1);
	if (ret < 0)
		return ret;
	ret = proto_mgr_node_dead_decode(buf, h->len, &nd);
	if (ret < 0)
		return ret;
	log_info("manager %s: node %u died", c->manager_addr, nd.node);
	if (c->cfg.node_dead)
		c->cfg.node_dead(c->cfg.ctx, nd.node);
	return 0;
}

/*
 * Reads one frame on the registration connection. Pushes are handled
 * here; a reply is returned in *h with its payload left unread.
 */
static int read_frame(struct mgr_client *c, struct wire_hdr *h, bool *reply)
{
	int ret;

	ret = wire_recv_hdr(c->reg, h);
	if (ret < 0)
		return ret;
	*reply = h->flags & WIRE_F_REPLY;
	if (*reply)
		return 0;
	if (h->op == WIRE_OP_NODE_DEAD)
		return on_node_dead(c, h);
	/* a push this client does not know: newer manager, ignore it */
	return wire_skip_payload(c->reg, h);
}

static int register_reply(struct mgr_client *c, uint64_t id)
{
	uint8_t buf[PROTO_MGR_REGISTER_REPLY_SIZE];
	struct iovec iov = {.iov_base = buf, .iov_len = sizeof(buf)};
	struct proto_mgr_register_reply rep;
	bool reply = false, same_manager;
	struct wire_hdr h;
	int ret;

	do {
		ret = read_frame(c, &h, &reply);
		if (ret < 0)
			return ret;
	} while (!reply);
	if (h.op != WIRE_OP_REGISTER || h.id != id)
		return -EPROTO;
	if (h.status) {
		ret = wire_skip_payload(c->reg, &h);
		return ret < 0 ? ret : wire_status_to_errno(h.status);
	}
	if (h.len != sizeof(buf))
		return -EBADMSG;
	ret = wire_recv_payload(c->reg, &h, &iov, 1);
	if (ret < 0)
		return ret;
	ret = proto_mgr_register_reply_decode(buf, h.len, &rep);
	if (ret < 0)
		return ret;
	if (c->epoch && c->epoch != rep.epoch)
		log_info("manager %s restarted; node %u registered again",
			 c->manager_addr, c->cfg.node);
	same_manager = c->epoch == rep.epoch;
	c->epoch = rep.epoch;
	c->hb_ms = rep.heartbeat_ms;
	c->silent_ns =
		(uint64_t)(rep.dead_after + 1) * rep.heartbeat_ms * 1000000ull;
	if (c->cfg.heartbeat_ms && c->cfg.heartbeat_ms < c->hb_ms)
		c->hb_ms = c->cfg.heartbeat_ms;
	/*
	 * The same manager taking us back means our registration connection
	 * closed or went silent: a death it has announced, even if it has
	 * forgotten us since.
	 */
	if (same_manager)
		rep.flags |= MGR_REG_F_WAS_DEAD;
	if (rep.flags & MGR_REG_F_WAS_DEAD) {
		log_warn("manager %s had declared node %u (this node) dead: "
			 "its loans and borrowed blocks are gone",
			 c->manager_addr, c->cfg.node);
		if (c->cfg.node_dead)
			c->cfg.node_dead(c->cfg.ctx, c->cfg.node);
	}
	return 0;
}

static int do_register(struct mgr_client *c)
{
	struct proto_mgr_register reg = {
		.node = c->cfg.node,
		.kind = (uint8_t)c->cfg.kind,
		.block_size = c->cfg.block_size,
		.capacity = c->cfg.capacity,
	};
	uint8_t buf[PROTO_MGR_REGISTER_SIZE];
	struct iovec iov = {.iov_base = buf, .iov_len = sizeof(buf)};
	struct proto_mgr_counts counts;
	struct wire_hdr h = {.op = WIRE_OP_REGISTER};
	int ret;

	ret = dial(c->manager_addr, c->cfg.keyring, c->cfg.node,
		   c->cfg.timeout_ms, &c->reg);
	if (ret < 0)
		return ret;
	sample(c, &counts);
	reg.free = counts.free;
	snprintf(reg.addr, sizeof(reg.addr), "%s", c->listen_addr);
	proto_mgr_register_encode(&reg, buf, sizeof(buf));
	h.id = atomic_fetch_add(&c->next_id, 1);
	ret = wire_send(c->reg, &h, &iov, 1);
	if (ret == 0)
		ret = register_reply(c, h.id);
	if (ret < 0) {
		conn_destroy(c->reg);
		c->reg = NULL;
		return ret;
	}
	c->heard_ns = cmp_now_ns();
	c->next_hb_ns = c->heard_ns + (uint64_t)c->hb_ms * 1000000ull;
	return 0;
}

static int send_heartbeat(struct mgr_client *c)
{
	struct proto_mgr_heartbeat hb = {.node = c->cfg.node};
	uint8_t buf[PROTO_MGR_HEARTBEAT_SIZE];
	struct iovec iov = {.iov_base = buf, .iov_len = sizeof(buf)};
	struct wire_hdr h = {.op = WIRE_OP_HEARTBEAT};

	/* a manager that stopped answering is as gone as a closed one */
	if (cmp_now_ns() - c->heard_ns > c->silent_ns)
		return -ETIMEDOUT;
	sample(c, &hb.counts);
	proto_mgr_heartbeat_encode(&hb, buf, sizeof(buf));
	h.id = atomic_fetch_add(&c->next_id, 1);
	c->next_hb_ns = cmp_now_ns() + (uint64_t)c->hb_ms * 1000000ull;
	return wire_send(c->reg, &h, &iov, 1);
}

static int on_reply(struct mgr_client *c, const struct wire_hdr *h)
{
	int ret;

	ret = wire_skip_payload(c->reg, h);
	if (ret < 0 || h->op != WIRE_OP_HEARTBEAT)
		return ret;
	c->heard_ns = cmp_now_ns();
	if (h->status == WIRE_S_NOENT)
		return -ENOENT; /* declared dead meanwhile: register again */
	if (h->status)
		log_warn("manager %s refused a heartbeat of node %u: %s",
			 c->manager_addr, c->cfg.node,
			 strerror(-wire_status_to_errno(h->status)));
	return 0;
}

/* One turn of the registered loop: wait, read what came, beat on time. */
static int serve_turn(struct mgr_client *c)
{
	struct pollfd pfd[2] = {
		{.fd = conn_fd(c->reg), .events = POLLIN},
		{.fd = c->wake[0], .events = POLLIN},
	};
	uint64_t now = cmp_now_ns();
	struct wire_hdr h;
	bool reply;
	int wait_ms = 0, ret;

	if (now < c->next_hb_ns)
		wait_ms = (int)((c->next_hb_ns - now + 999999) / 1000000);
	if (conn_pending(c->reg))
		wait_ms = 0;
	ret = poll(pfd, 2, wait_ms);
	if (ret < 0 && errno != EINTR)
		return -errno;
	if (pfd[1].revents)
		return 0;
	if (conn_pending(c->reg) || (ret > 0 && pfd[0].revents)) {
		ret = read_frame(c, &h, &reply);
		if (ret == 0 && reply)
			ret = on_reply(c, &h);
		if (ret < 0)
			return ret;
	}
	if (cmp_now_ns() >= c->next_hb_ns)
		return send_heartbeat(c);
	return 0;
}

static void report(struct mgr_client *c, const char *what, int err)
{
	if (c->lost && err == c->last_err)
		return;
	log_warn("manager %s: %s node %u: %s; retrying", c->manager_addr, what,
		 c->cfg.node, strerror(-err));
	c->lost = true;
	c->last_err = err;
}

static void *client_thread(void *arg)
{
	struct mgr_client *c = arg;
	int backoff = BACKOFF_MIN_MS, ret;

	while (!stopping(c)) {
		if (!c->reg) {
			ret = do_register(c);
			if (ret < 0) {
				/* refusals stay as they are, the rest is
				 * "no manager" for waiters */
				set_reg_state(c, false, unreachable(ret));
				report(c, "cannot register", ret);
				nap(c, backoff);
				backoff = MIN(backoff * 2, BACKOFF_MAX_MS);
				continue;
			}
			log_info("manager %s: node %u registered%s, heartbeat "
				 "%u ms",
				 c->manager_addr, c->cfg.node,
				 c->lost ? " again" : "", c->hb_ms);
			c->lost = false;
			backoff = BACKOFF_MIN_MS;
			set_reg_state(c, true, 0);
		}
		ret = serve_turn(c);
		if (ret < 0) {
			set_reg_state(c, false, unreachable(ret));
			if (ret == -ENOENT)
				log_warn("manager %s forgot node %u; "
					 "registering again",
					 c->manager_addr, c->cfg.node);
			else
				report(c, "lost the connection of", ret);
			conn_destroy(c->reg);
			c->reg = NULL;
		}
	}
	return NULL;
}

static int check_config(const struct mgr_client_config *cfg)
{
	if (!cfg->manager_addr || !*cfg->manager_addr ||
	    strlen(cfg->manager_addr) >= MANAGER_ADDR_LEN) {
		log_error("manager client: bad manager address");
		return -EINVAL;
	}
	if (!cfg->node || (cfg->kind != MGR_KIND_COMPUTE &&
			   cfg->kind != MGR_KIND_MEMSERVER)) {
		log_error("manager client: node id must be nonzero and kind "
			  "compute or memserver");
		return -EINVAL;
	}
	if (!cfg->listen_addr ||
	    !proto_mgr_addr_valid(cfg->listen_addr, PROTO_MGR_ADDR_LEN)) {
		log_error("manager client: listen address must be 1..%d "
			  "printable characters",
			  PROTO_MGR_ADDR_LEN - 1);
		return -EINVAL;
	}
	if (cfg->block_size < PROTO_MGR_MIN_BLOCK ||
	    cfg->block_size > PROTO_MGR_MAX_BLOCK ||
	    !cmp_is_pow2(cfg->block_size) ||
	    cfg->capacity > PROTO_MGR_MAX_BLOCKS) {
		log_error("manager client: block size %u or capacity %llu out "
			  "of range",
			  cfg->block_size, (unsigned long long)cfg->capacity);
		return -EINVAL;
	}
	return 0;
}

struct mgr_client *mgr_client_create(const struct mgr_client_config *cfg)
{
	struct mgr_client *c;
	int ret;

	ret = check_config(cfg);
	if (ret < 0) {
		errno = -ret;
		return NULL;
	}
	c = calloc(1, sizeof(*c));
	if (!c)
		return NULL;
	c->cfg = *cfg;
	snprintf(c->manager_addr, sizeof(c->manager_addr), "%s",
		 cfg->manager_addr);
	snprintf(c->listen_addr, sizeof(c->listen_addr), "%s",
		 cfg->listen_addr);
	c->cfg.manager_addr = c->manager_addr;
	c->cfg.listen_addr = c->listen_addr;
	if (c->cfg.timeout_ms <= 0)
		c->cfg.timeout_ms = DEFAULT_TIMEOUT_MS;
	atomic_init(&c->next_id, 1);
	c->reg_err = -EAGAIN;
	pthread_mutex_init(&c->lock, NULL);
	pthread_cond_init(&c->cond, NULL);

	if (pipe2(c->wake, O_CLOEXEC | O_NONBLOCK) < 0) {
		ret = -errno;
		goto err_free;
	}
	ret = -pthread_create(&c->thread, NULL, client_thread, c);
	if (ret < 0)
		goto err_close_pipe;
	return c;

err_close_pipe:
	close(c->wake[0]);
	close(c->wake[1]);
err_free:
	log_error("manager client: cannot start: %s", strerror(-ret));
	pthread_cond_destroy(&c->cond);
	pthread_mutex_destroy(&c->lock);
	free(c);
	errno = -ret;
	return NULL;
}

int mgr_client_wait_registered(struct mgr_client *c, int timeout_ms)
{
	struct timespec ts;
	int ret = 0;

	clock_gettime(CLOCK_REALTIME, &ts);
	ts.tv_sec += timeout_ms / 1000;
	ts.tv_nsec += (long)(timeout_ms % 1000) * 1000000l;
	ts.tv_sec += ts.tv_nsec / 1000000000l;
	ts.tv_nsec %= 1000000000l;
	pthread_mutex_lock(&c->lock);
	/* a wrong key or block size will not fix itself: say so at once */
	while (!c->registered && c->reg_err != -EACCES &&
	       c->reg_err != -EINVAL && ret == 0)
		ret = pthread_cond_timedwait(&c->cond, &c->lock, &ts);
	if (c->registered)
		ret = 0;
	else if (c->reg_err && c->reg_err != -EAGAIN)
		ret = c->reg_err;
	else
		ret = -ETIMEDOUT;
	pthread_mutex_unlock(&c->lock);
	return ret;
}

bool mgr_client_registered(struct mgr_client *c)
{
	bool r;

	pthread_mutex_lock(&c->lock);
	r = c->registered;
	pthread_mutex_unlock(&c->lock);
	return r;
}

void mgr_client_destroy(struct mgr_client *c)
{
	char b = 1;
	size_t i;

	if (!c)
		return;
	pthread_mutex_lock(&c->lock);
	c->stopping = true;
	pthread_mutex_unlock(&c->lock);
	if (write(c->wake[1], &b, 1) < 0 && errno != EAGAIN)
		log_debug("manager client: wake: %s", strerror(errno));
	pthread_join(c->thread, NULL);
	if (c->reg)
		conn_destroy(c->reg);
	for (i = 0; i < c->nidle; i++)
		conn_destroy(c->idle[i]);
	close(c->wake[0]);
	close(c->wake[1]);
	pthread_cond_destroy(&c->cond);
	pthread_mutex_destroy(&c->lock);
	free(c);
}
