// SPDX-License-Identifier: MIT
/*
 * The other managers of the list (include/cmp/mgr.h, "Several
 * managers"): which one is active, decided by each manager on its own
 * from what it hears, with no coordination service and nothing stored. A
 * watcher thread asks every other manager ROLE four times per takeover
 * time and, once a heartbeat interval, copies the node list of one that
 * says it is active. This manager is a standby while a manager ranked
 * before it answered within the takeover time, and active otherwise:
 *
 *   standby -> active: nobody ranked before it answered for takeover_ms
 *     (or ever, at start, after one round of questions): it lists the
 *     copied nodes as they were (registry_adopt()); each one that does
 *     not register within the rejoin time becomes SUSPECT and is
 *     announced, as a node that stops heartbeating is.
 *   active -> standby: a manager ranked before it answers again: it
 *     forgets its registry without announcing anything and closes the
 *     registration connections, whose nodes then register with the first
 *     manager of their list that takes them.
 *
 * Two managers are both active only until the lower-ranked one hears the
 * other (a poll period): each node follows one of them, and as no manager
 * frees anything, nothing is lost meanwhile.
 */
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cmp/log.h"
#include "cmp/mgr.h"
#include "cmp/server.h"
#include "cmp/util.h"
#include "cmp/wire.h"
#include "manager-internal.h"
#include "registry.h"

#define MS 1000000ull
#define NOT_ASKED (-EINPROGRESS) /* manager_peer.err before the first poll */

static uint32_t poll_ms(const struct manager *m)
{
	return MAX(m->takeover_ms / 4, 10u);
}

static int poll_timeout_ms(const struct manager *m)
{
	return (int)MAX(m->takeover_ms / 2, 100u);
}

/*
 * How long a node of the copied list has to register with a manager that
 * took over: it notices a silent manager within (suspect_after + 1)
 * heartbeats, then retries at most MGR_RETRY_MS apart.
 */
static uint64_t rejoin_ms(const struct manager *m)
{
	return 2ull * (m->suspect_after + 1) * m->heartbeat_ms;
}

bool manager_standby_locked(const struct manager *m)
{
	return m->role == MGR_ROLE_STANDBY;
}

/* Takes the addresses of list but listen_addr as peers; -EINVAL if bad. */
static int find_peers(struct manager *m, const char *list,
		      const char *listen_addr)
{
	char all[MGR_MAX_MANAGERS][MGR_MANAGER_ADDR_LEN];
	int n = mgr_split_managers(list, all, MGR_MAX_MANAGERS), self = -1;

	if (n < 0) {
		log_error("manager: bad manager list '%s' (1 to %d addresses "
			  "separated by commas)",
			  list, MGR_MAX_MANAGERS);
		return -EINVAL;
	}
	for (int i = 0; i < n; i++) {
		struct manager_peer *p = &m->peers[m->npeers];

		if (!strcmp(all[i], listen_addr) && self < 0) {
			self = i;
			continue;
		}
		memcpy(p->addr, all[i], sizeof(p->addr));
		p->rank = (unsigned int)i;
		p->err = NOT_ASKED;
		m->npeers++;
	}
	if (self < 0) {
		log_error("manager: the manager list '%s' does not hold this "
			  "manager's address '%s' (spelled as in --listen)",
			  list, listen_addr);
		return -EINVAL;
	}
	m->rank = (unsigned int)self;
	return 0;
}

int manager_peers_init(struct manager *m, const char *list,
		       const char *listen_addr, uint32_t takeover_ms)
{
	int ret;

	m->role = MGR_ROLE_ACTIVE;
	m->role_ns = cmp_now_ns();
	m->takeover_ms = takeover_ms ? takeover_ms : 2 * m->heartbeat_ms;
	if (!list)
		return 0;
	ret = find_peers(m, list, listen_addr);
	if (ret < 0 || !m->npeers)
		return ret;
	/* a standby until the first round of questions says otherwise */
	m->role = MGR_ROLE_STANDBY;
	m->mirror = calloc(PROTO_MGR_MAX_NODES, sizeof(*m->mirror));
	return m->mirror ? 0 : -ENOMEM;
}

/* Copies the node list of p, which says it is active: once a heartbeat. */
static void copy_list(struct manager *m, const struct manager_peer *p)
{
	size_t n;
	int ret;

	if (cmp_now_ns() - m->mirror_ns < m->heartbeat_ms * MS)
		return;
	ret = mgr_query_nodes(p->addr, m->keyring, poll_timeout_ms(m),
			      m->mirror, PROTO_MGR_MAX_NODES, &n);
	if (ret < 0) {
		log_debug("manager: the node list of %s: %s", p->addr,
			  mgr_strerror(ret));
		return;
	}
	pthread_mutex_lock(&m->lock); /* ROLE shows them */
	m->nmirror = n;
	m->mirror_ns = cmp_now_ns();
	pthread_mutex_unlock(&m->lock);
}

/* What one answer (or its absence) changed, for the log. */
static void note_answer(struct manager_peer *p, int ret,
			const struct proto_mgr_role *r)
{
	if (ret < 0) {
		if (p->err == 0 || p->err == NOT_ASKED)
			log_info("manager: the manager at %s (rank %u) does "
				 "not answer: %s",
				 p->addr, p->rank, mgr_strerror(ret));
		p->err = ret;
		return;
	}
	if (p->err || p->role != r->role)
		log_info("manager: the manager at %s (rank %u) answers: %s "
			 "for %llu s, %u nodes alive",
			 p->addr, p->rank, mgr_role_name(r->role),
			 (unsigned long long)(r->since_ms / 1000), r->alive);
	p->err = 0;
	p->role = r->role;
	p->answered_ns = cmp_now_ns();
}

/* ROLE to every peer; the list of the first active one is copied. */
static void poll_peers(struct manager *m)
{
	bool copied = false;

	for (size_t i = 0; i < m->npeers; i++) {
		struct manager_peer *p = &m->peers[i];
		struct proto_mgr_role r;
		int ret = mgr_query_role(p->addr, m->keyring,
					 poll_timeout_ms(m), &r);

		note_answer(p, ret, &r);
		if (ret == 0 && r.role == MGR_ROLE_ACTIVE && !copied) {
			copy_list(m, p);
			copied = true;
		}
	}
}

/* A manager ranked before this one that answered in time, or NULL. */
static const struct manager_peer *higher_alive(const struct manager *m,
					       uint64_t now)
{
	for (size_t i = 0; i < m->npeers; i++) {
		const struct manager_peer *p = &m->peers[i];

		if (p->rank < m->rank && p->answered_ns &&
		    now - p->answered_ns < m->takeover_ms * MS)
			return p;
	}
	return NULL;
}

/* Under m->lock: active, with the copied list if it is recent. */
static size_t take_over_locked(struct manager *m, uint64_t now)
{
	uint64_t fresh_ns = (m->takeover_ms + 2ull * m->heartbeat_ms) * MS;
	size_t adopted = 0;

	if (m->mirror_ns && now - m->mirror_ns <= fresh_ns)
		adopted = registry_adopt(m->reg, m->mirror, m->nmirror, now,
					 now + rejoin_ms(m) * MS);
	m->role = MGR_ROLE_ACTIVE;
	m->role_ns = now;
	/* active from the start (nobody before it answers) is no takeover */
	m->takeovers += m->decided;
	m->defers_to[0] = '\0';
	return adopted;
}

/*
 * Under m->lock: a standby with an empty registry. The registration
 * connections it held, referenced, for the caller to close.
 */
static size_t step_down_locked(struct manager *m, uint64_t now,
			       struct server_conn ***out)
{
	void **conns = calloc(PROTO_MGR_MAX_NODES, sizeof(*conns));
	size_t n;

	/* without memory, nodes learn it from their next heartbeat */
	n = registry_clear(m->reg, conns, conns ? PROTO_MGR_MAX_NODES : 0);
	for (size_t i = 0; i < n; i++)
		server_conn_get(conns[i]);
	m->role = MGR_ROLE_STANDBY;
	m->role_ns = now;
	*out = (struct server_conn **)conns;
	return n;
}

static void log_takeover(const struct manager *m, size_t adopted)
{
	uint64_t age = (cmp_now_ns() - m->mirror_ns) / MS;

	if (!adopted) {
		log_info("manager: active (rank %u): no manager ranked before "
			 "it answers; no node list to take over",
			 m->rank);
		return;
	}
	log_info("manager: active (rank %u): no manager ranked before it "
		 "answers; lists the %zu nodes of the last active manager's "
		 "list (%llu ms old): each must register within %llu ms or "
		 "is announced suspect",
		 m->rank, adopted, (unsigned long long)age,
		 (unsigned long long)rejoin_ms(m));
}

/* Active or standby, from what the last round heard. */
static void decide(struct manager *m)
{
	uint64_t now = cmp_now_ns();
	const struct manager_peer *hi = higher_alive(m, now);
	struct server_conn **conns = NULL;
	size_t n = 0, adopted = 0;
	int change = 0;

	pthread_mutex_lock(&m->lock);
	if (!m->stopping && m->role == MGR_ROLE_STANDBY && !hi) {
		adopted = take_over_locked(m, now);
		change = 1;
	} else if (!m->stopping && m->role == MGR_ROLE_ACTIVE && hi) {
		n = step_down_locked(m, now, &conns);
		change = -1;
	}
	snprintf(m->defers_to, sizeof(m->defers_to), "%s",
		 hi && m->role == MGR_ROLE_STANDBY ? hi->addr : "");
	m->decided = true;
	pthread_mutex_unlock(&m->lock);

	if (change > 0)
		log_takeover(m, adopted);
	if (change < 0)
		log_warn("manager: standby now: %s (rank %u) answers; "
			 "clearing its registry and closing %zu registration "
			 "connections, so that their nodes register there",
			 hi->addr, hi->rank, n);
	for (size_t i = 0; i < n; i++) {
		server_conn_close(conns[i]);
		server_conn_put(conns[i]);
	}
	free(conns);
}

/* Waits ms, or until the manager stops; false once stopping. */
static bool pause_ms(struct manager *m, uint32_t ms)
{
	struct timespec dl;
	bool go;

	cmp_deadline_ms(&dl, ms);
	pthread_mutex_lock(&m->lock);
	if (!m->stopping)
		pthread_cond_timedwait(&m->stop_cond, &m->lock, &dl);
	go = !m->stopping;
	pthread_mutex_unlock(&m->lock);
	return go;
}

static void *watch(void *arg)
{
	struct manager *m = arg;

	do {
		poll_peers(m);
		decide(m);
	} while (pause_ms(m, poll_ms(m)));
	return NULL;
}

int manager_peers_start(struct manager *m)
{
	int ret;

	if (!m->npeers)
		return 0;
	ret = -pthread_create(&m->watcher, NULL, watch, m);
	if (ret < 0) {
		log_error("manager: cannot start the thread that watches the "
			  "other managers: %s",
			  strerror(-ret));
		return ret;
	}
	m->watching = true;
	return 0;
}

void manager_peers_stop(struct manager *m)
{
	if (m->watching)
		pthread_join(m->watcher, NULL);
	m->watching = false;
}

void manager_peers_finish(struct manager *m)
{
	free(m->mirror);
	m->mirror = NULL;
}

int manager_op_role(struct manager *m, struct server_conn *sc,
		    const struct wire_hdr *h)
{
	struct proto_mgr_role r = {.rank = (uint8_t)m->rank, .epoch = m->epoch};
	uint8_t out[PROTO_MGR_ROLE_SIZE];
	struct iovec iov = {.iov_base = out, .iov_len = sizeof(out)};
	int ret = server_skip_payload(sc, h); /* the request is empty */

	if (ret < 0)
		return ret;
	pthread_mutex_lock(&m->lock);
	r.role = m->role;
	r.alive = (uint32_t)registry_live_count(m->reg);
	r.takeovers = m->takeovers;
	r.since_ms = (cmp_now_ns() - m->role_ns) / MS;
	r.copied = (uint32_t)m->nmirror;
	if (r.copied)
		r.copied_ms = (cmp_now_ns() - m->mirror_ns) / MS;
	/* a name too long for the wire is left out: it is for people */
	if (strlen(m->defers_to) < PROTO_MGR_ADDR_LEN)
		memcpy(r.defers_to, m->defers_to, strlen(m->defers_to) + 1);
	pthread_mutex_unlock(&m->lock);
	ret = proto_mgr_role_encode(&r, out, sizeof(out));
	if (ret < 0)
		return manager_reply_status(sc, h, ret);
	return server_reply(sc, h, WIRE_S_OK, &iov, 1);
}
