// SPDX-License-Identifier: MIT
/*
 * Who may connect to a server and stay (include/cmp/server.h, "Limits"):
 * the caps on connections still in the handshake, in all and per source
 * address, checked when a connection is accepted; the caps on
 * authenticated connections, in all and per peer node, checked when its
 * handshake succeeds. The two kinds are counted apart, so strangers never
 * take an authenticated connection's place.
 *
 * When the cap in all is full, a connection from an address that holds
 * none of the places takes the place of the oldest connection of the
 * address that holds the most (if it holds more than one): with a first-
 * come cap alone, a flood from ten addresses (8 half HELLOs each, reopened
 * when closed) kept every new connection out, cmpctl status included. A
 * flood now has to come from more addresses than there are places to keep
 * a newcomer out. Counting is by linear scans of at most max_unauth
 * entries (64), and the search for a place to take runs only for a
 * newcomer's address.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cmp/conn.h"
#include "cmp/log.h"
#include "cmp/util.h"
#include "server-internal.h"

void server_unauth_remove_locked(struct server *s, struct server_conn *sc)
{
	int i = sc->unauth_slot;

	if (i < 0)
		return;
	s->unauth[i] = s->unauth[--s->nunauth];
	s->unauth[i]->unauth_slot = i;
	sc->unauth_slot = -1;
}

/* Why an authenticated connection may not stay; NULL when it may. */
static const char *auth_cap_locked(struct server *s, uint32_t node,
				   unsigned int *have)
{
	const struct server_limits *lim = &s->cfg.limits;
	struct server_conn *x;

	*have = s->nauth;
	if (s->nauth >= lim->max_conns)
		return "authenticated connections in all";
	*have = 0;
	for (x = s->conns; x; x = x->next)
		*have += x->authed && x->node == node;
	if (*have >= lim->max_conns_per_node)
		return "connections from that node";
	return NULL;
}

int server_settle(struct server *s, struct server_conn *sc, int ret)
{
	uint32_t node = conn_peer_node(sc->conn);
	const char *full = NULL;
	unsigned int have = 0;

	pthread_mutex_lock(&s->lock);
	server_unauth_remove_locked(s, sc);
	if (!ret)
		full = auth_cap_locked(s, node, &have);
	if (!ret && !full) {
		sc->authed = true;
		sc->node = node;
		s->nauth++;
	}
	/* a fence may wait for this handshake to settle */
	pthread_cond_broadcast(&s->ended);
	pthread_mutex_unlock(&s->lock);
	if (full) {
		atomic_fetch_add(&s->refused, 1);
		log_warn_flood("%s: peer %s (node %u) refused: %u %s already",
			       s->name, conn_peer(sc->conn), node, have, full);
		return -EUSERS;
	}
	if (ret < 0)
		atomic_fetch_add(&s->hs_failed, 1);
	/* a version mismatch has had its one line, naming both versions */
	if (ret == -ECONNRESET || ret == -EPROTONOSUPPORT)
		log_debug("%s: peer %s: handshake: %s", s->name,
			  conn_peer(sc->conn), strerror(-ret));
	else if (ret < 0)
		log_warn_flood("%s: peer %s refused: %s failed: %s", s->name,
			       conn_peer(sc->conn),
			       s->cfg.plain ? "request" : "handshake",
			       strerror(-ret));
	return ret;
}

/*
 * The source address of a peer, without its port: "tcp://10.0.0.5",
 * "tcp://[::1]". All mem:// connections to one listener come from one
 * process, so they share "mem://NAME".
 */
static void addr_key(const char *peer, char *key, size_t len)
{
	const char *rest = strstr(peer, "://");
	const char *end = NULL;
	size_t n = strnlen(peer, len - 1);

	memcpy(key, peer, n);
	key[n] = '\0';
	if (!rest)
		return;
	if (!strncmp(peer, "mem://", 6))
		end = strchr(rest, '#');
	else if ((end = strrchr(rest + 3, ':')) && strchr(end, ']'))
		end = NULL; /* "[v6]" without a port */
	if (end && (size_t)(end - peer) < len)
		key[end - peer] = '\0';
}

static unsigned int count_addr_locked(struct server *s, const char *addr)
{
	unsigned int n = 0;

	for (unsigned int i = 0; i < s->nunauth; i++)
		n += !strcmp(s->unauth[i]->addr, addr);
	return n;
}

/* The oldest connection of the address that holds the most, if > 1. */
static struct server_conn *busiest_oldest_locked(struct server *s,
						 unsigned int *held)
{
	struct server_conn *pick = NULL;
	unsigned int most = 1;

	for (unsigned int i = 0; i < s->nunauth; i++) {
		struct server_conn *x = s->unauth[i];
		unsigned int n = count_addr_locked(s, x->addr);

		if (n > most ||
		    (n == most && pick && !strcmp(x->addr, pick->addr) &&
		     x->hs_due < pick->hs_due)) {
			most = n;
			pick = x;
		}
	}
	*held = most;
	return pick;
}

/*
 * Makes room for a newcomer's address: the victim leaves the counts; its
 * thread, if it has one, finds its connection shut down.
 */
static struct server_conn *evict_locked(struct server *s, unsigned int *held)
{
	struct server_conn *victim = busiest_oldest_locked(s, held);

	if (!victim)
		return NULL;
	server_unauth_remove_locked(s, victim);
	if (victim->has_thread)
		conn_shutdown(victim->conn);
	return victim;
}

static struct server_conn *conn_new(struct server *s, struct conn *c,
				    const char *addr)
{
	struct server_conn *sc = calloc(1, sizeof(*sc));

	if (!sc)
		return NULL;
	sc->srv = s;
	sc->conn = c;
	atomic_init(&sc->refs, 1);
	pthread_mutex_init(&sc->wlock, NULL);
	sc->hs_due =
		cmp_now_ns() + (uint64_t)s->cfg.limits.handshake_ms * 1000000u;
	snprintf(sc->addr, sizeof(sc->addr), "%s", addr);
	sc->unauth_slot = -1;
	return sc;
}

/* What admit decided, for the one line saying so (outside the lock). */
struct verdict {
	char addr[SERVER_ADDR_KEY_LEN];
	unsigned int same, all, held;
	char victim[96]; /* its conn_peer(), "" when none */
};

/* Says why c was refused (and closes it) or what made room for it. */
static void report(struct server *s, struct conn *c, const struct verdict *v,
		   bool admitted)
{
	const struct server_limits *lim = &s->cfg.limits;

	if (!admitted || v->victim[0])
		atomic_fetch_add(&s->refused, 1);
	if (admitted) {
		if (v->victim[0])
			log_warn_flood("%s: peer %s dropped: %u connections "
				       "in the handshake, %u of them from its "
				       "address; making room for %s",
				       s->name, v->victim, v->all, v->held,
				       conn_peer(c));
		return;
	}
	if (v->same >= lim->max_unauth_per_addr)
		log_warn_flood("%s: peer %s refused: %u connections from %s "
			       "in the handshake already",
			       s->name, conn_peer(c), v->same, v->addr);
	else if (v->all >= lim->max_unauth)
		log_warn_flood("%s: peer %s refused: %u connections in the "
			       "handshake already",
			       s->name, conn_peer(c), v->all);
	else
		log_error_flood("%s: peer %s dropped: out of memory", s->name,
				conn_peer(c));
	conn_destroy(c);
}

struct server_conn *server_admit(struct server *s, struct conn *c,
				 struct server_conn **evicted)
{
	const struct server_limits *lim = &s->cfg.limits;
	struct server_conn *sc = NULL, *victim = NULL;
	struct verdict v = {.held = 0};

	*evicted = NULL;
	addr_key(conn_peer(c), v.addr, sizeof(v.addr));
	pthread_mutex_lock(&s->lock);
	v.all = s->nunauth;
	v.same = count_addr_locked(s, v.addr);
	if (v.same < lim->max_unauth_per_addr) {
		if (v.all >= lim->max_unauth && !v.same)
			victim = evict_locked(s, &v.held);
		if (s->nunauth < lim->max_unauth)
			sc = conn_new(s, c, v.addr);
	}
	if (sc) {
		sc->unauth_slot = (int)s->nunauth;
		s->unauth[s->nunauth++] = sc;
	}
	if (victim) {
		snprintf(v.victim, sizeof(v.victim), "%s",
			 conn_peer(victim->conn));
		if (!victim->has_thread)
			*evicted = victim;
	}
	pthread_mutex_unlock(&s->lock);
	report(s, c, &v, sc != NULL);
	return sc;
}
