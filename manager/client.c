// SPDX-License-Identifier: MIT
/*
 * The manager client (include/cmp/mgr.h). One thread owns the
 * registration connection: it registers, sends heartbeats on time, reads
 * replies and NODE_STATE pushes, and reconnects with backoff. Given
 * several managers, each registration round tries them in list order and
 * stays with the first that takes it; losing that one starts a new round
 * from the first (the managers agree among themselves which one is
 * active: a standby refuses). Once that
 * thread is stopped (leave or destroy) the caller owns the connection and
 * says LEAVE on it. Queries from other threads use separate connections
 * from a small cache, one caller per connection at a time, so they never
 * wait behind the heartbeat thread (client-query.c). Errors keep the errno
 * the system gave.
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
#include <sys/random.h>
#include <time.h>
#include <unistd.h>

#include "client-internal.h"
#include "cmp/auth.h"
#include "cmp/conn.h"
#include "cmp/log.h"
#include "cmp/mgr.h"
#include "cmp/util.h"
#include "cmp/wire.h"

#define BACKOFF_MIN_MS 100
#define BACKOFF_MAX_MS MGR_RETRY_MS
#define SUMMARY_NS (60 * 1000000000ull) /* "still no manager" at most */

static void set_reg_state(struct mgr_client *c, bool registered, int err)
{
	pthread_mutex_lock(&c->lock);
	c->registered = registered;
	c->reg_err = err;
	pthread_cond_broadcast(&c->cond);
	pthread_mutex_unlock(&c->lock);
}

/* The manager we are registered with (its index), for our log lines. */
static const char *cur_addr(struct mgr_client *c)
{
	return c->mgrs[mgr_client_current(c)];
}

size_t mgr_client_current(struct mgr_client *c)
{
	size_t i;

	pthread_mutex_lock(&c->lock);
	i = c->cur;
	pthread_mutex_unlock(&c->lock);
	return i;
}

const char *mgr_client_manager(struct mgr_client *c, char *buf, size_t len)
{
	pthread_mutex_lock(&c->lock);
	snprintf(buf, len, "%s", c->registered ? c->mgrs[c->cur] : "");
	pthread_mutex_unlock(&c->lock);
	return buf;
}

const char *mgr_strerror(int err)
{
	if (err == -EREMOTE)
		return "standby (another manager is active)";
	return strerror(-err);
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
void mgr_client_sample(struct mgr_client *c, struct proto_mgr_counts *counts)
{
	const uint64_t max = PROTO_MGR_MAX_BLOCKS;
	uint64_t cap = mgr_client_capacity(c);

	memset(counts, 0, sizeof(*counts));
	counts->free = cap;
	if (c->cfg.counts)
		c->cfg.counts(c->cfg.ctx, counts);
	counts->free = MIN(counts->free, cap);
	counts->lll = MIN(counts->lll, max - counts->free);
	counts->rll = MIN(counts->rll, max - counts->free - counts->lll);
	counts->lrl = MIN(counts->lrl, max);
	counts->rrl = MIN(counts->rrl, max);
}

static void sample_traffic(struct mgr_client *c, struct proto_mgr_traffic *t)
{
	memset(t, 0, sizeof(*t));
	if (c->cfg.traffic)
		c->cfg.traffic(c->cfg.ctx, t);
}

static int on_node_state(struct mgr_client *c, const struct wire_hdr *h)
{
	uint8_t buf[PROTO_MGR_NODE_STATE_SIZE];
	struct iovec iov = {.iov_base = buf, .iov_len = sizeof(buf)};
	struct proto_mgr_node_state ns;
	int ret;

	if (h->len != sizeof(buf))
		return -EBADMSG;
	ret = wire_recv_payload(c->reg, h, &iov, 1);
	if (ret < 0)
		return ret;
	ret = proto_mgr_node_state_decode(buf, h->len, &ns);
	if (ret < 0)
		return ret;
	log_debug("manager %s: node %u (%s at %s) is %s", cur_addr(c), ns.node,
		  mgr_kind_name(ns.kind), ns.addr,
		  mgr_node_state_name(ns.state));
	if (ns.node != c->cfg.node && c->cfg.node_state)
		c->cfg.node_state(c->cfg.ctx, ns.node,
				  (enum mgr_node_state)ns.state, ns.addr);
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
	if (h->op == WIRE_OP_NODE_STATE)
		return on_node_state(c, h);
	if (h->op == WIRE_OP_SNAPSHOT) {
		/* someone asked for every node's counts: send ours now */
		c->next_hb_ns = 0;
		return wire_skip_payload(c->reg, h);
	}
	/* a push this client does not know: newer manager, ignore it */
	return wire_skip_payload(c->reg, h);
}

static int register_reply(struct mgr_client *c, uint64_t id, size_t i)
{
	uint8_t buf[PROTO_MGR_REGISTER_REPLY_SIZE];
	struct iovec iov = {.iov_base = buf, .iov_len = sizeof(buf)};
	struct proto_mgr_register_reply rep;
	bool reply = false;
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
	/* cur is still the manager of the last registration */
	if (c->epoch && c->epoch != rep.epoch && c->cur == i)
		log_info("the manager at %s restarted", c->mgrs[i]);
	c->epoch = rep.epoch;
	c->hb_ms = rep.heartbeat_ms;
	c->silent_ns = (uint64_t)(rep.suspect_after + 1) * rep.heartbeat_ms *
		       1000000ull;
	if (c->cfg.heartbeat_ms && c->cfg.heartbeat_ms < c->hb_ms)
		c->hb_ms = c->cfg.heartbeat_ms;
	return 0;
}

/* Registers with manager i of the list. */
static int register_at(struct mgr_client *c, size_t i)
{
	uint64_t id;
	int ret;

	ret = mgr_dial(c->mgrs[i], c->cfg.keyring, c->cfg.node, c->incarnation,
		       c->cfg.timeout_ms, &c->reg);
	if (ret < 0)
		return ret;
	mgr_client_capacity_news(c); /* this registration says it */
	ret = mgr_client_send_register(c, &id);
	if (ret == 0)
		ret = register_reply(c, id, i);
	if (ret < 0) {
		conn_destroy(c->reg);
		c->reg = NULL;
		return ret;
	}
	c->heard_ns = cmp_now_ns();
	c->next_hb_ns = c->heard_ns + (uint64_t)c->hb_ms * 1000000ull;
	return 0;
}

/* Refusals: the manager answered, and said no. */
static bool refusal(int err)
{
	return mgr_refusal_text(err) != NULL;
}

/*
 * What a failed round reports: a refusal, else the failure of the first
 * manager that was no standby, else -EREMOTE (only standbys answered).
 */
static int round_error(const struct mgr_client *c, size_t tried)
{
	for (size_t i = 0; i < tried; i++)
		if (refusal(c->round_err[i]))
			return c->round_err[i];
	for (size_t i = 0; i < tried; i++)
		if (c->round_err[i] != -EREMOTE)
			return c->round_err[i];
	return tried ? -EREMOTE : -ESHUTDOWN;
}

/*
 * One registration round: the managers in list order until one takes
 * us. *standby tells whether one of them answered as a standby.
 */
static int register_round(struct mgr_client *c, bool *standby)
{
	size_t i;
	int ret;

	*standby = false;
	for (i = 0; i < c->nmgrs && !stopping(c); i++) {
		ret = register_at(c, i);
		c->round_err[i] = ret;
		if (ret == 0) {
			pthread_mutex_lock(&c->lock);
			c->cur = i;
			pthread_mutex_unlock(&c->lock);
			return 0;
		}
		*standby |= ret == -EREMOTE;
	}
	return round_error(c, i);
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
	mgr_client_sample(c, &hb.counts);
	sample_traffic(c, &hb.traffic);
	proto_mgr_heartbeat_encode(&hb, buf, sizeof(buf));
	h.id = atomic_fetch_add(&c->next_id, 1);
	c->next_hb_ns = cmp_now_ns() + (uint64_t)c->hb_ms * 1000000ull;
	return wire_send(c->reg, &h, &iov, 1);
}

static int on_reply(struct mgr_client *c, const struct wire_hdr *h)
{
	int ret;

	ret = wire_skip_payload(c->reg, h);
	if (ret == 0 && h->op == WIRE_OP_REGISTER && h->status)
		log_warn("manager %s refused node %u's new capacity: %s",
			 cur_addr(c), c->cfg.node,
			 strerror(-wire_status_to_errno(h->status)));
	if (ret < 0 || h->op != WIRE_OP_HEARTBEAT)
		return ret;
	c->heard_ns = cmp_now_ns();
	if (h->status == WIRE_S_NOENT)
		return -ENOENT; /* it lost track of us: register again */
	if (h->status == WIRE_S_STANDBY)
		return -EREMOTE; /* it stepped down: find the active one */
	if (h->status)
		log_warn("manager %s refused a heartbeat of node %u: %s",
			 cur_addr(c), c->cfg.node,
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
	uint64_t id;
	bool reply;
	int wait_ms = 0, ret;

	/* a new capacity: registering again on this connection says it */
	if (mgr_client_capacity_news(c)) {
		ret = mgr_client_send_register(c, &id);
		if (ret < 0)
			return ret;
	}
	if (now < c->next_hb_ns)
		wait_ms = (int)((c->next_hb_ns - now + 999999) / 1000000);
	if (conn_pending(c->reg) || c->stepped)
		wait_ms = 0;
	/* stepped: what came is pending (no fd), and nobody waits */
	ret = c->stepped ? 0 : poll(pfd, 2, wait_ms);
	if (ret < 0 && errno != EINTR)
		return -errno;
	if (pfd[1].revents) {
		char buf[16];

		/* (a stop is seen by the loop; news by the next turn) */
		while (read(c->wake[0], buf, sizeof(buf)) > 0)
			;
		return 0;
	}
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

const char *mgr_refusal_text(int err)
{
	switch (err) {
	case -EACCES:
		return "wrong cluster key, or secure and insecure mixed";
	case -EINVAL:
		return "block size differs from the cluster's";
	case -EBUSY:
		return "its node id is alive on another connection, of another "
		       "process";
	default:
		return NULL;
	}
}

/* Failures before the first registration are the caller's to say. */
static bool caller_says_it(const struct mgr_client *c)
{
	return c->cfg.caller_reports_start && !c->ever_registered;
}

/*
 * "the manager at A: why", or with several "any manager (A: why; B:
 * why)": what the last round heard from each.
 */
static const char *failure_text(const struct mgr_client *c, int err, char *buf,
				size_t len)
{
	size_t n;

	if (c->nmgrs == 1) {
		snprintf(buf, len, "the manager at %s: %s", c->mgrs[0],
			 mgr_strerror(err));
		return buf;
	}
	n = (size_t)snprintf(buf, len, "any manager (");
	for (size_t i = 0; i < c->nmgrs && c->round_err[i] && n < len; i++)
		n += (size_t)snprintf(buf + n, len - n, "%s%s: %s",
				      i ? "; " : "", c->mgrs[i],
				      mgr_strerror(c->round_err[i]));
	if (n < len)
		snprintf(buf + n, len - n, ")");
	return buf;
}

/* The manager that refused (err, a refusal) in the last round. */
static const char *refuser(const struct mgr_client *c, int err)
{
	for (size_t i = 0; i < c->nmgrs; i++)
		if (c->round_err[i] == err)
			return c->mgrs[i];
	return c->manager_addr;
}

static void log_failure(struct mgr_client *c, int err, uint64_t now)
{
	char why[MANAGER_LIST_LEN + 512];

	if (!c->down_ns || refusal(err)) {
		if (refusal(err))
			log_warn("the manager at %s refused node %u: %s; "
				 "retrying every %d s",
				 refuser(c, err), c->cfg.node,
				 mgr_refusal_text(err), BACKOFF_MAX_MS / 1000);
		else
			log_warn("cannot reach %s; retrying every %d s",
				 failure_text(c, err, why, sizeof(why)),
				 BACKOFF_MAX_MS / 1000);
	} else {
		log_warn("still no manager at %s after %llu s, %u attempts "
			 "(last: %s)",
			 c->manager_addr,
			 (unsigned long long)((now - c->down_ns) /
					      1000000000ull),
			 c->attempts, mgr_strerror(err));
	}
}

/*
 * One line when registering starts to fail, then at most one a minute
 * (or at once for a new refusal), so a manager down for hours costs a few
 * lines, each with the real reason. A daemon starting says itself what a
 * failure before its first registration means for it, in one line
 * (caller_reports_start): the client leaves its first line out then, and
 * its summaries count from there.
 */
static void note_failure(struct mgr_client *c, int err)
{
	uint64_t now = cmp_now_ns();

	c->attempts++;
	if (c->down_ns && now < c->next_summary_ns &&
	    (err == c->logged_err || !refusal(err)))
		return;
	if (!caller_says_it(c))
		log_failure(c, err, now);
	if (!c->down_ns)
		c->down_ns = now;
	c->next_summary_ns = now + SUMMARY_NS;
	c->logged_err = err;
}

static void note_registered(struct mgr_client *c)
{
	if (c->down_ns)
		log_info("node %u registered with the manager at %s after "
			 "%llu s and %u attempts, heartbeat %u ms",
			 c->cfg.node, cur_addr(c),
			 (unsigned long long)((cmp_now_ns() - c->down_ns) /
					      1000000000ull),
			 c->attempts, c->hb_ms);
	else
		log_info("node %u registered with the manager at %s%s, "
			 "heartbeat %u ms",
			 c->cfg.node, cur_addr(c),
			 c->ever_registered ? " again" : "", c->hb_ms);
	c->ever_registered = true;
	c->down_ns = 0;
	c->attempts = 0;
	c->logged_err = 0;
}

static void note_lost(struct mgr_client *c, int err)
{
	if (err == -ENOENT)
		log_warn("the manager at %s no longer counts node %u as "
			 "registered; registering again",
			 cur_addr(c), c->cfg.node);
	else if (err == -EREMOTE)
		log_warn("the manager at %s is a standby now; registering "
			 "with the active one",
			 cur_addr(c));
	else
		log_warn("lost the manager at %s: %s; registering again",
			 cur_addr(c), strerror(-err));
}

/*
 * One registration round, with what it changes and says: 0 once
 * registered, else its -errno and in *wait_ms the pause before the next
 * round (the backoff; short while a standby answers: it is about to take
 * over).
 */
static int try_register(struct mgr_client *c, int *wait_ms)
{
	bool standby;
	int ret = register_round(c, &standby);

	if (ret == 0) {
		note_registered(c);
		c->backoff_ms = BACKOFF_MIN_MS;
		set_reg_state(c, true, 0);
		return 0;
	}
	set_reg_state(c, false, ret);
	if (!stopping(c))
		note_failure(c, ret);
	*wait_ms = standby ? MIN(c->backoff_ms, MGR_STANDBY_RETRY_MS)
			   : c->backoff_ms;
	c->backoff_ms = MIN(c->backoff_ms * 2, BACKOFF_MAX_MS);
	return ret;
}

/* One turn once registered; a failure ends the registration. */
static int turn(struct mgr_client *c)
{
	int ret = serve_turn(c);

	if (ret < 0) {
		set_reg_state(c, false, ret);
		if (!stopping(c))
			note_lost(c, ret);
		conn_destroy(c->reg);
		c->reg = NULL;
	}
	return ret;
}

static void *client_thread(void *arg)
{
	struct mgr_client *c = arg;
	int wait;

	while (!stopping(c)) {
		if (!c->reg && try_register(c, &wait) < 0)
			nap(c, wait);
		else
			turn(c);
	}
	return NULL;
}

static int check_config(const struct mgr_client_config *cfg,
			char (*mgrs)[MGR_MANAGER_ADDR_LEN], size_t *nmgrs)
{
	int n = mgr_split_managers(cfg->manager_addr, mgrs, MGR_MAX_MANAGERS);

	if (n < 0 || strlen(cfg->manager_addr) >= MANAGER_LIST_LEN) {
		log_error("manager client: bad manager address list (1 to %d "
			  "addresses separated by commas)",
			  MGR_MAX_MANAGERS);
		return -EINVAL;
	}
	*nmgrs = (size_t)n;
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

	c = calloc(1, sizeof(*c));
	if (!c)
		return NULL;
	ret = check_config(cfg, c->mgrs, &c->nmgrs);
	if (ret < 0) {
		free(c);
		errno = -ret;
		return NULL;
	}
	c->cfg = *cfg;
	snprintf(c->manager_addr, sizeof(c->manager_addr), "%s",
		 cfg->manager_addr);
	snprintf(c->listen_addr, sizeof(c->listen_addr), "%s",
		 cfg->listen_addr);
	c->cfg.manager_addr = c->manager_addr;
	c->cfg.listen_addr = c->listen_addr;
	if (c->cfg.timeout_ms <= 0)
		c->cfg.timeout_ms = MGR_DEFAULT_TIMEOUT_MS;
	/* per client, so two clients of one process are told apart */
	while (!c->incarnation)
		if (getrandom(&c->incarnation, sizeof(c->incarnation), 0) < 0)
			c->incarnation = cmp_now_ns() ^ (uint64_t)getpid();
	atomic_init(&c->next_id, 1);
	c->reg_err = -EAGAIN;
	pthread_mutex_init(&c->lock, NULL);
	pthread_cond_init(&c->cond, NULL);

	if (pipe2(c->wake, O_CLOEXEC | O_NONBLOCK) < 0) {
		ret = -errno;
		goto err_free;
	}
	c->stepped = cmp_stepped();
	c->backoff_ms = BACKOFF_MIN_MS;
	ret = c->stepped ? 0
			 : -pthread_create(&c->thread, NULL, client_thread, c);
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
	while (!c->stepped && !c->registered && c->reg_err != -EACCES &&
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

/* Stops the client thread, once; the caller then owns c->reg. */
static void stop_thread(struct mgr_client *c)
{
	char b = 1;
	bool join;

	pthread_mutex_lock(&c->lock);
	c->stopping = true;
	join = !c->joined;
	c->joined = true;
	pthread_mutex_unlock(&c->lock);
	if (!join || c->stepped)
		return;
	if (write(c->wake[1], &b, 1) < 0 && errno != EAGAIN)
		log_debug("manager client: wake: %s", strerror(errno));
	pthread_join(c->thread, NULL);
}

/*
 * LEAVE on the registration connection, then frames until its reply:
 * pushes and late heartbeat replies are skipped (nothing acts on them
 * any more). Each read is bounded by the connection's timeout, the whole
 * by the configured one.
 */
static int say_leave(struct mgr_client *c)
{
	struct proto_mgr_leave lv = {.node = c->cfg.node};
	uint8_t buf[PROTO_MGR_LEAVE_SIZE];
	struct iovec iov = {.iov_base = buf, .iov_len = sizeof(buf)};
	struct wire_hdr h = {.op = WIRE_OP_LEAVE};
	uint64_t end = cmp_now_ns() + (uint64_t)c->cfg.timeout_ms * 1000000ull;
	uint64_t id = atomic_fetch_add(&c->next_id, 1);
	int ret;

	proto_mgr_leave_encode(&lv, buf, sizeof(buf));
	h.id = id;
	ret = wire_send(c->reg, &h, &iov, 1);
	while (ret == 0) {
		ret = wire_recv_hdr(c->reg, &h);
		if (ret == 0)
			ret = wire_skip_payload(c->reg, &h);
		if (ret < 0)
			break;
		if ((h.flags & WIRE_F_REPLY) && h.op == WIRE_OP_LEAVE &&
		    h.id == id)
			return wire_status_to_errno(h.status);
		if (cmp_now_ns() > end)
			ret = -ETIMEDOUT;
	}
	return ret;
}

/* The client thread's turns, once, without waiting (stepped mode). */
void mgr_client_step(struct mgr_client *c)
{
	uint64_t now = cmp_now_ns();
	int wait;

	if (!c->stepped || stopping(c) || (!c->reg && now < c->retry_at))
		return;
	if (!c->reg && try_register(c, &wait) < 0) {
		c->retry_at = now + (uint64_t)wait * 1000000ull;
		return;
	}
	while (turn(c) == 0 && conn_pending(c->reg))
		;
}

int mgr_client_leave(struct mgr_client *c)
{
	int ret;

	stop_thread(c);
	if (!c->reg)
		return -ENOTCONN;
	ret = say_leave(c);
	conn_destroy(c->reg);
	c->reg = NULL;
	set_reg_state(c, false, -ESHUTDOWN);
	if (ret < 0)
		log_warn("could not tell the manager at %s that node %u "
			 "leaves: %s; it will show it as suspect",
			 cur_addr(c), c->cfg.node, strerror(-ret));
	else
		log_info("node %u left the cluster (the manager at %s shows "
			 "it as left)",
			 c->cfg.node, cur_addr(c));
	return ret;
}

void mgr_client_destroy(struct mgr_client *c)
{
	size_t i;

	if (!c)
		return;
	stop_thread(c);
	if (c->reg)
		conn_destroy(c->reg);
	for (i = 0; i < c->nidle; i++)
		conn_destroy(c->idle[i].conn);
	close(c->wake[0]);
	close(c->wake[1]);
	pthread_cond_destroy(&c->cond);
	pthread_mutex_destroy(&c->lock);
	free(c);
}
