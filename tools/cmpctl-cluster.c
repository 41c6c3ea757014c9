// SPDX-License-Identifier: MIT
/*
 * cmpctl status and cmpctl keygen (cmpctl-cluster.h): the role of every
 * manager of the list (ROLE) and a NODES snapshot from the active one,
 * printed as a table or JSON, and key generation with errors a person can
 * act on.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "cmp/auth.h"
#include "cmpctl-cluster.h"
#include "cmp/mgr.h"
#include "cmp/util.h"

#define STATUS_TIMEOUT_MS 3000
/* the longest wait for a node's snapshot (a node answers in ms) */
#define SNAPSHOT_WAIT_MS 1000

/* Addresses are printable ASCII already; quotes and backslashes remain. */
static void json_str(FILE *out, const char *s)
{
	fputc('"', out);
	for (; *s; s++) {
		if (*s == '"' || *s == '\\')
			fputc('\\', out);
		fputc(*s, out);
	}
	fputc('"', out);
}

/* What one manager of the list said to ROLE. */
struct seen {
	char addr[MGR_MANAGER_ADDR_LEN];
	int err; /* 0: role holds its answer */
	struct proto_mgr_role role;
};

static void print_json_managers(FILE *out, const struct seen *m, size_t nm)
{
	fprintf(out, ", \"managers\": [");
	for (size_t i = 0; i < nm; i++) {
		fprintf(out, "%s{\"addr\": ", i ? ", " : "");
		json_str(out, m[i].addr);
		if (m[i].err) {
			fprintf(out, ", \"role\": null, \"error\": ");
			json_str(out, mgr_strerror(m[i].err));
			fputc('}', out);
			continue;
		}
		fprintf(out,
			", \"role\": \"%s\", \"rank\": %u, \"since_s\": %llu, "
			"\"takeovers\": %u, \"alive\": %u, \"copied\": %u, "
			"\"copied_age_ms\": %llu}",
			mgr_role_name(m[i].role.role), m[i].role.rank,
			(unsigned long long)(m[i].role.since_ms / 1000),
			m[i].role.takeovers, m[i].role.alive, m[i].role.copied,
			(unsigned long long)m[i].role.copied_ms);
	}
	fputc(']', out);
}

static void print_json(FILE *out, const char *addr, const struct seen *m,
		       size_t nm, const struct mgr_node_info *n, size_t count)
{
	size_t i;

	fprintf(out, "{\"manager\": ");
	json_str(out, addr);
	print_json_managers(out, m, nm);
	fprintf(out, ", \"nodes\": [");
	for (i = 0; i < count; i++) {
		fprintf(out, "%s\n  {\"id\": %u, \"kind\": \"%s\", ",
			i ? "," : "", n[i].node, mgr_kind_name(n[i].kind));
		fprintf(out,
			"\"alive\": %s, \"state\": \"%s\", \"since_s\": %llu, "
			"\"addr\": ",
			n[i].state == MGR_NODE_ALIVE ? "true" : "false",
			mgr_node_state_name(n[i].state),
			(unsigned long long)(n[i].since_ms / 1000));
		json_str(out, n[i].addr);
		fprintf(out,
			", \"block_size\": %u, \"capacity\": %llu, "
			"\"capacity_bytes\": %llu, \"free\": %llu, "
			"\"lll\": %llu, \"lrl\": %llu, \"rll\": %llu, "
			"\"rrl\": %llu, \"age_ms\": %llu, \"fresh\": %s, ",
			n[i].block_size, (unsigned long long)n[i].capacity,
			(unsigned long long)(n[i].capacity * n[i].block_size),
			(unsigned long long)n[i].counts.free,
			(unsigned long long)n[i].counts.lll,
			(unsigned long long)n[i].counts.lrl,
			(unsigned long long)n[i].counts.rll,
			(unsigned long long)n[i].counts.rrl,
			(unsigned long long)n[i].age_ms,
			n[i].fresh ? "true" : "false");
		fprintf(out,
			"\"read_bytes\": %llu, \"write_bytes\": %llu, "
			"\"net_rx_bytes\": %llu, \"net_tx_bytes\": %llu, "
			"\"writepolicy\": \"%s\"}",
			(unsigned long long)n[i].traffic.read_bytes,
			(unsigned long long)n[i].traffic.write_bytes,
			(unsigned long long)n[i].traffic.net_rx_bytes,
			(unsigned long long)n[i].traffic.net_tx_bytes,
			mgr_wpolicy_name(n[i].wpolicy));
	}
	fprintf(out, "%s]}\n", count ? "\n" : "");
}

/* "alive", "suspect since 12s", "left 30s ago". */
static const char *state_text(const struct mgr_node_info *n, char *buf,
			      size_t len)
{
	unsigned long long s = (unsigned long long)(n->since_ms / 1000);

	if (n->state == MGR_NODE_SUSPECT)
		snprintf(buf, len, "suspect since %llus", s);
	else if (n->state == MGR_NODE_LEFT)
		snprintf(buf, len, "left %llus ago", s);
	else
		snprintf(buf, len, "%s", mgr_node_state_name(n->state));
	return buf;
}

/* "3 alive", "3 alive, 1 suspect, 2 left" */
static void count_states(const struct mgr_node_info *n, size_t count, char *buf,
			 size_t len)
{
	char sus[40] = "", left[40] = "";
	size_t k[4] = {0}, i;

	for (i = 0; i < count; i++)
		k[n[i].state < 4 ? n[i].state : 0]++;
	if (k[MGR_NODE_SUSPECT])
		snprintf(sus, sizeof(sus), ", %zu suspect",
			 k[MGR_NODE_SUSPECT]);
	if (k[MGR_NODE_LEFT])
		snprintf(left, sizeof(left), ", %zu left", k[MGR_NODE_LEFT]);
	snprintf(buf, len, "%zu alive%s%s", k[MGR_NODE_ALIVE], sus, left);
}

/* "12 ms", "3.4 s", "5 min": how old a node's numbers are. */
static const char *age_text(uint64_t ms, char *buf, size_t len)
{
	if (ms < 1000)
		snprintf(buf, len, "%llu ms", (unsigned long long)ms);
	else if (ms < 100000)
		snprintf(buf, len, "%.1f s", (double)ms / 1000);
	else
		snprintf(buf, len, "%llu min", (unsigned long long)ms / 60000);
	return buf;
}

/*
 * A node's lists in units. A node that is not alive shows none: its last
 * counts are stale (they stay in --json, as last known).
 */
static void print_lists(FILE *out, const struct mgr_node_info *n)
{
	const uint64_t v[] = {n->counts.free, n->counts.lll, n->counts.lrl,
			      n->counts.rll, n->counts.rrl};
	char a[32];

	for (size_t i = 0; i < ARRAY_SIZE(v); i++)
		fprintf(out, " %10s",
			n->state != MGR_NODE_ALIVE
				? "-"
				: cmp_format_size(v[i] * n->block_size, a,
						  sizeof(a)));
}

static void print_row(FILE *out, const struct mgr_node_info *n, int sw, int w)
{
	char a[32], b[32], st[48];

	fprintf(out, "%-10u %-9s %-*s %-*s %9s %10s", n->node,
		mgr_kind_name(n->kind), sw, state_text(n, st, sizeof(st)), w,
		n->addr, cmp_format_size(n->block_size, a, sizeof(a)),
		cmp_format_size(n->capacity * n->block_size, b, sizeof(b)));
	print_lists(out, n);
	fprintf(out, " %8s%s\n", age_text(n->age_ms, a, sizeof(a)),
		n->state == MGR_NODE_ALIVE && !n->fresh ? "*" : "");
}

/* "write policies: node 11 through, node 12 back" (none: no line). */
static void print_wpolicies(FILE *out, const struct mgr_node_info *n,
			    size_t count)
{
	const char *sep = "write policies (memserver copies): ";

	for (size_t i = 0; i < count; i++) {
		if (!n[i].wpolicy)
			continue;
		fprintf(out, "%snode %u %s", sep, n[i].node,
			mgr_wpolicy_name(n[i].wpolicy));
		sep = ", ";
	}
	if (sep[0] != ',')
		return;
	fputc('\n', out);
}

/*
 * "active for 12.0 s, 3 nodes alive, took over 1 time", "standby for
 * 3.1 s, holds a copy of 3 nodes, 0.4 s old", "not answering: why".
 */
static void print_manager(FILE *out, const struct seen *m, size_t rank, int w)
{
	const struct proto_mgr_role *r = &m->role;
	char a[32], b[32];

	fprintf(out, "%-*s %4zu ", w, m->addr, rank);
	if (m->err) {
		fprintf(out, "not answering: %s%s\n", mgr_strerror(m->err),
			cmpctl_error_hint(m->err));
		return;
	}
	fprintf(out, "%s for %s", mgr_role_name(r->role),
		age_text(r->since_ms, a, sizeof(a)));
	if (r->role == MGR_ROLE_ACTIVE)
		fprintf(out, ", %u nodes alive", r->alive);
	else if (r->copied)
		fprintf(out, ", holds a copy of %u nodes, %s old", r->copied,
			age_text(r->copied_ms, b, sizeof(b)));
	if (r->takeovers)
		fprintf(out, ", took over %u time%s", r->takeovers,
			r->takeovers == 1 ? "" : "s");
	fputc('\n', out);
}

static void print_managers(FILE *out, const struct seen *m, size_t nm)
{
	int w = 7;

	for (size_t i = 0; i < nm; i++)
		w = MAX(w, (int)strlen(m[i].addr));
	fprintf(out, "%-*s %4s %s\n", w, "MANAGER", "RANK", "ROLE");
	for (size_t i = 0; i < nm; i++)
		print_manager(out, &m[i], i, w);
}

static void print_table(FILE *out, const char *addr,
			const struct mgr_node_info *n, size_t count)
{
	uint64_t cap = 0, free_bytes = 0;
	char a[32], b[32], st[48], states[128];
	size_t i, stale = 0;
	int w = 4, sw = 5; /* the ADDR and STATE columns fit their longest */

	for (i = 0; i < count; i++) {
		w = MAX(w, (int)strlen(n[i].addr));
		sw = MAX(sw, (int)strlen(state_text(&n[i], st, sizeof(st))));
	}
	fprintf(out,
		"%-10s %-9s %-*s %-*s %9s %10s %10s %10s %10s %10s %10s "
		"%8s\n",
		"NODE", "KIND", sw, "STATE", w, "ADDR", "BLOCK", "CAPACITY",
		"FREE", "LLL", "LRL", "RLL", "RRL", "AGE");
	for (i = 0; i < count; i++) {
		print_row(out, &n[i], sw, w);
		if (n[i].state != MGR_NODE_ALIVE)
			continue;
		stale += !n[i].fresh;
		cap += n[i].capacity * n[i].block_size;
		free_bytes += n[i].counts.free * n[i].block_size;
	}
	count_states(n, count, states, sizeof(states));
	fprintf(out, "%zu nodes (%s) at manager %s; pool %s, %s free\n", count,
		states, addr, cmp_format_size(cap, a, sizeof(a)),
		cmp_format_size(free_bytes, b, sizeof(b)));
	if (stale)
		fprintf(out, "* did not answer the snapshot: its numbers are "
			     "as old as AGE says\n");
	print_wpolicies(out, n, count);
}

const char *cmpctl_error_hint(int err)
{
	switch (err) {
	case -EACCES:
		return " (wrong cluster key, or secure and insecure mixed)";
	case -ECONNREFUSED:
		return " (is cmp-manager running there?)";
	case -EHOSTUNREACH:
	case -ENETUNREACH:
		return " (check the address and the network)";
	case -ETIMEDOUT:
		return " (no answer in time)";
	default:
		return "";
	}
}

/* ROLE to every manager of the list; the active one, or NULL. */
static const char *ask_roles(const char *list, struct auth_keyring *kr,
			     struct seen *m, size_t *nm)
{
	char addrs[MGR_MAX_MANAGERS][MGR_MANAGER_ADDR_LEN];
	int n = mgr_split_managers(list, addrs, MGR_MAX_MANAGERS);
	const char *active = NULL;

	*nm = n > 0 ? (size_t)n : 0;
	for (size_t i = 0; i < *nm; i++) {
		memcpy(m[i].addr, addrs[i], sizeof(m[i].addr));
		m[i].err = mgr_query_role(m[i].addr, kr, STATUS_TIMEOUT_MS,
					  &m[i].role);
		if (!m[i].err && m[i].role.role == MGR_ROLE_ACTIVE && !active)
			active = m[i].addr;
	}
	return active;
}

/* No manager is active: one line, saying what each one said. */
static int no_active(const struct seen *m, size_t nm)
{
	char line[MGR_MAX_MANAGERS * (MGR_MANAGER_ADDR_LEN + 64)];
	size_t len = 0;
	int err = -EREMOTE;

	if (nm == 1 && m[0].err) {
		fprintf(stderr, "cmpctl: manager %s: %s%s\n", m[0].addr,
			strerror(-m[0].err), cmpctl_error_hint(m[0].err));
		return m[0].err;
	}
	for (size_t i = 0; i < nm && len < sizeof(line); i++) {
		if (m[i].err && err == -EREMOTE)
			err = m[i].err;
		len += (size_t)snprintf(
			line + len, sizeof(line) - len, "%s%s: %s",
			i ? "; " : "", m[i].addr,
			m[i].err ? mgr_strerror(m[i].err)
				 : mgr_role_name(m[i].role.role));
	}
	fprintf(stderr, "cmpctl: no active manager (%s)\n", line);
	return err;
}

int cmpctl_cluster_status(const char *manager_addr, const char *key_path,
			  bool json, FILE *out)
{
	struct seen managers[MGR_MAX_MANAGERS];
	struct mgr_node_info *nodes;
	struct auth_keyring *kr = NULL;
	const char *active;
	size_t count, nm;
	int ret;

	if (key_path) {
		/* auth_keyring_load() says what is wrong with the file */
		kr = auth_keyring_load(key_path);
		if (!kr)
			return -errno;
	}
	nodes = calloc(PROTO_MGR_MAX_NODES, sizeof(*nodes));
	if (!nodes) {
		ret = -ENOMEM;
		fprintf(stderr, "cmpctl: %s\n", strerror(-ret));
		goto out_wipe;
	}
	active = ask_roles(manager_addr, kr, managers, &nm);
	if (!active) {
		ret = no_active(managers, nm);
		goto out_free;
	}
	ret = mgr_query_snapshot(active, kr, STATUS_TIMEOUT_MS,
				 SNAPSHOT_WAIT_MS, nodes, PROTO_MGR_MAX_NODES,
				 &count);
	if (ret < 0) {
		fprintf(stderr, "cmpctl: manager %s: %s%s\n", active,
			mgr_strerror(ret), cmpctl_error_hint(ret));
		goto out_free;
	}
	if (json) {
		print_json(out, active, managers, nm, nodes, count);
	} else {
		print_table(out, active, nodes, count);
		print_managers(out, managers, nm);
	}
	ret = fflush(out) ? -errno : 0;
out_free:
	free(nodes);
out_wipe:
	auth_keyring_destroy(kr);
	return ret;
}

int cmpctl_keygen(const char *path)
{
	int ret;

	if (!path) {
		fprintf(stderr, "cmpctl keygen: give the key file to write\n");
		return -EINVAL;
	}
	/* auth_key_generate() says why it could not, once */
	ret = auth_key_generate(path);
	if (ret < 0)
		return ret;
	printf("wrote a new cluster key to %s (mode 0600); copy it to every "
	       "node, manager and memserver\n",
	       path);
	return 0;
}
