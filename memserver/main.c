// SPDX-License-Identifier: MIT
/*
 * cmp-memserver: the lowest tier of the pool. It offers a large capacity of
 * blocks from a file (the page cache and the disk behind it) or from RAM,
 * serves them to owner nodes with the peer service, and registers with
 * cmp-manager so owners find it once no compute node has idle memory left.
 * When the manager announces an owner dead, its blocks here are freed.
 */
#include <errno.h>
#include <getopt.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <unistd.h>

#include "cmp-config.h"
#include "cmp/auth.h"
#include "cmp/log.h"
#include "cmp/mgrclient.h"
#include "cmp/peer.h"
#include "cmp/util.h"
#include "store.h"

#define MS_DEFAULT_BLOCK (1u << 20)
#define MS_REGISTER_WAIT_MS 3000

struct ms_options {
	const char *manager;
	const char *listen;
	const char *key_path;
	const char *store_path;
	uint64_t size;
	uint64_t ram;
	uint32_t block_size;
	uint32_t node_id;
	bool insecure;
	bool foreground;
	bool debug;
};

enum opt_kind { OPT_STR, OPT_SIZE, OPT_BLOCK, OPT_U32, OPT_FLAG, OPT_EXIT };

/* One row per option, so --help and the parser cannot drift apart. */
struct opt_row {
	const char *name;
	char short_name; /* 0: none */
	enum opt_kind kind;
	size_t field; /* offsetof in struct ms_options */
	const char *arg;
	const char *help;
};

#define F(f) offsetof(struct ms_options, f)
static const struct opt_row rows[] = {
	{"manager", 'm', OPT_STR, F(manager), "ADDR",
	 "cmp-manager to register with (tcp://HOST:PORT), required"},
	{"listen", 'l', OPT_STR, F(listen), "ADDR",
	 "address owners connect to (tcp://HOST:PORT; port 0 picks one), "
	 "required"},
	{"key", 'k', OPT_STR, F(key_path), "FILE",
	 "cluster key file (cmpctl keygen; mode 0600), required unless "
	 "--insecure"},
	{"store", 's', OPT_STR, F(store_path), "FILE",
	 "back the blocks by FILE (created or reused, old content dropped); "
	 "needs --size"},
	{"size", 'S', OPT_SIZE, F(size), "SIZE",
	 "capacity of the --store file (e.g. 64G)"},
	{"ram", 'r', OPT_SIZE, F(ram), "SIZE",
	 "back the blocks by anonymous RAM of SIZE instead of a file"},
	{"block", 'b', OPT_BLOCK, F(block_size), "SIZE",
	 "cluster block size, power of two 4K..4M (default 1M; must match "
	 "the cluster)"},
	{"insecure", 0, OPT_FLAG, F(insecure), NULL,
	 "run without a key (trusted networks only; talks only to insecure "
	 "peers)"},
	{"node-id", 'n', OPT_U32, F(node_id), "N",
	 "node id, nonzero (default: random, kept until exit)"},
	{"foreground", 'f', OPT_FLAG, F(foreground), NULL,
	 "stay in the foreground and log to stderr (default: daemonize, "
	 "log to syslog)"},
	{"debug", 'd', OPT_FLAG, F(debug), NULL, "log debug messages"},
	{"help", 'h', OPT_EXIT, 0, NULL, "show this help and exit"},
	{"version", 'V', OPT_EXIT, 0, NULL, "show the version and exit"},
};
#undef F

/* One option of --help: its names, then its text wrapped at 80 columns. */
static void print_row(FILE *out, const struct opt_row *r)
{
	const char *text = r->help;
	char left[40];
	int col;

	if (r->short_name)
		snprintf(left, sizeof(left), "-%c, --%s%s%s", r->short_name,
			 r->name, r->arg ? " " : "", r->arg ? r->arg : "");
	else
		snprintf(left, sizeof(left), "    --%s%s%s", r->name,
			 r->arg ? " " : "", r->arg ? r->arg : "");
	fprintf(out, "  %-22s", left);
	col = 24;
	while (*text) {
		size_t word = strcspn(text, " ");

		if (col + 1 + (int)word > 79) {
			fprintf(out, "\n%24s", "");
			col = 24;
		}
		fprintf(out, " %.*s", (int)word, text);
		col += 1 + word;
		text += word;
		text += strspn(text, " ");
	}
	fputc('\n', out);
}

static void usage(FILE *out)
{
	fprintf(out,
		"Usage: cmp-memserver --manager ADDR --listen ADDR "
		"(--key FILE | --insecure)\n"
		"                     (--store FILE --size SIZE | --ram SIZE) "
		"[options]\n\n"
		"Offers file- or RAM-backed blocks to the cmpfs pool as its "
		"lowest tier.\nSIGTERM or SIGINT shuts it down; the blocks it "
		"held are gone with it.\n\nOptions:\n");
	for (size_t i = 0; i < ARRAY_SIZE(rows); i++)
		print_row(out, &rows[i]);
}

static int set_option(const struct opt_row *r, const char *val,
		      struct ms_options *o)
{
	char *field = (char *)o + r->field;
	uint64_t v;
	char *end;

	switch (r->kind) {
	case OPT_STR:
		if (!*val)
			break;
		*(const char **)field = val;
		return 0;
	case OPT_SIZE:
		if (cmp_parse_size(val, &v) || !v)
			break;
		*(uint64_t *)field = v;
		return 0;
	case OPT_BLOCK:
		if (cmp_parse_size(val, &v) || !proto_block_size_valid(v))
			break;
		*(uint32_t *)field = v;
		return 0;
	case OPT_U32:
		errno = 0;
		v = strtoull(val, &end, 0);
		if (!*val || *end || errno || !v || v > UINT32_MAX)
			break;
		*(uint32_t *)field = v;
		return 0;
	case OPT_FLAG:
		*(bool *)field = true;
		return 0;
	case OPT_EXIT:
		return 0;
	}
	fprintf(stderr, "cmp-memserver: bad --%s '%s': %s\n", r->name, val,
		r->help);
	return -EINVAL;
}

/* Cross-option rules; one clear line for the first one broken. */
static int check_options(const struct ms_options *o)
{
	const char *err = NULL;

	if (!o->manager)
		err = "--manager ADDR is required";
	else if (!o->listen)
		err = "--listen ADDR is required";
	else if (!o->key_path && !o->insecure)
		err = "--key FILE is required (or --insecure on a trusted "
		      "network)";
	else if (o->key_path && o->insecure)
		err = "--key and --insecure exclude each other";
	else if (!o->store_path == !o->ram)
		err = "give exactly one of --store FILE (with --size) and "
		      "--ram SIZE";
	else if (o->store_path && !o->size)
		err = "--store needs --size SIZE";
	else if (o->ram && o->size)
		err = "--size goes with --store; --ram takes its own size";
	if (err) {
		fprintf(stderr, "cmp-memserver: %s (see --help)\n", err);
		return -EINVAL;
	}
	return 0;
}

/* Returns 0 to run, 1 to exit successfully (--help), -EINVAL. */
static int parse_options(int argc, char **argv, struct ms_options *o)
{
	struct option longopts[ARRAY_SIZE(rows) + 1] = {0};
	char shortopts[3 * ARRAY_SIZE(rows) + 2] = ":";
	size_t sl = 1;
	int c, idx;

	for (size_t i = 0; i < ARRAY_SIZE(rows); i++) {
		bool arg = rows[i].arg != NULL;

		longopts[i].name = rows[i].name;
		longopts[i].has_arg = arg ? required_argument : no_argument;
		longopts[i].val = 256 + i;
		if (rows[i].short_name) {
			shortopts[sl++] = rows[i].short_name;
			if (arg)
				shortopts[sl++] = ':';
		}
	}
	o->block_size = MS_DEFAULT_BLOCK;
	opterr = 0;
	while ((c = getopt_long(argc, argv, shortopts, longopts, &idx)) != -1) {
		const struct opt_row *r = NULL;

		if (c >= 256)
			r = &rows[c - 256];
		for (size_t i = 0; !r && i < ARRAY_SIZE(rows); i++)
			if (rows[i].short_name == c)
				r = &rows[i];
		if (!r) {
			fprintf(stderr,
				"cmp-memserver: %s option '%s' (see "
				"--help)\n",
				c == ':' ? "missing value for" : "unknown",
				argv[optind - 1]);
			return -EINVAL;
		}
		if (r->kind == OPT_EXIT) {
			if (!strcmp(r->name, "help"))
				usage(stdout);
			else
				printf("cmp-memserver %s\n",
				       CMP_VERSION_STRING);
			return 1;
		}
		if (set_option(r, optarg, o) < 0)
			return -EINVAL;
	}
	if (optind < argc) {
		fprintf(stderr,
			"cmp-memserver: unexpected argument '%s' (see "
			"--help)\n",
			argv[optind]);
		return -EINVAL;
	}
	return check_options(o);
}

struct memserver {
	struct ms_options *opts;
	struct ms_store *store;
	struct peer *peer;
	struct mgr_client *mgr;
	uint32_t node_id;
};

static void mgr_counts(void *ctx, struct proto_mgr_counts *out)
{
	struct memserver *ms = ctx;
	uint32_t total = ms_store_total(ms->store);
	uint32_t nfree = ms_store_free_count(ms->store);

	memset(out, 0, sizeof(*out));
	out->free = nfree;
	out->rll = total - nfree;
}

static void mgr_node_dead(void *ctx, uint32_t node)
{
	struct memserver *ms = ctx;

	if (node != ms->node_id) {
		peer_owner_dead(ms->peer, node);
		return;
	}
	/*
	 * The manager had declared us dead and told every owner, who marked
	 * their blocks here lost: nobody will use them again.
	 */
	log_warn("the manager had declared this memserver dead; freeing the "
		 "%u blocks it held",
		 ms_store_total(ms->store) - ms_store_free_count(ms->store));
	ms_store_release_all(ms->store);
}

static uint32_t random_node_id(void)
{
	uint32_t id = 0;

	while (!id)
		if (getrandom(&id, sizeof(id), 0) != sizeof(id))
			id = (uint32_t)getpid() ^ (uint32_t)cmp_now_ns();
	return id;
}

static int start_mgr(struct memserver *ms, struct auth_keyring *kr)
{
	struct mgr_client_config mcfg = {
		.manager_addr = ms->opts->manager,
		.keyring = kr,
		.node = ms->node_id,
		.kind = MGR_KIND_MEMSERVER,
		.listen_addr = peer_listen_addr(ms->peer),
		.block_size = ms->opts->block_size,
		.capacity = ms_store_total(ms->store),
		.counts = mgr_counts,
		.node_dead = mgr_node_dead,
		.ctx = ms,
	};

	int ret;

	ms->mgr = mgr_client_create(&mcfg);
	if (!ms->mgr)
		return -errno;
	/*
	 * A manager that is down is fine (the client keeps retrying and says
	 * so); one that refuses us for good is a configuration error.
	 */
	ret = mgr_client_wait_registered(ms->mgr, MS_REGISTER_WAIT_MS);
	if (ret == -EINVAL || ret == -EBUSY || ret == -EACCES) {
		log_error("manager %s refused this memserver: %s%s",
			  ms->opts->manager, strerror(-ret),
			  ret == -EINVAL  ? " (block size differs from the "
					    "cluster's?)"
			  : ret == -EBUSY ? " (node id in use)"
					  : "");
		return ret;
	}
	return 0;
}

/* Starts peer service and manager client; returns 0 or -errno, logged. */
static int start_services(struct memserver *ms, struct auth_keyring *kr)
{
	struct ms_options *o = ms->opts;
	struct peer_config pcfg = {
		.listen_addr = o->listen,
		.keyring = kr,
		.node_id = ms->node_id,
		.block_size = o->block_size,
		.ops = &ms_store_ops,
		.ctx = ms->store,
	};

	ms->peer = peer_create(&pcfg);
	if (!ms->peer)
		return -errno;
	return start_mgr(ms, kr);
}

/* The main thread waits for signals: SIGHUP reloads the key file. */
static int wait_for_stop(sigset_t *set, struct auth_keyring *kr)
{
	int sig;

	for (;;) {
		if (sigwait(set, &sig))
			continue;
		if (sig != SIGHUP)
			return sig;
		if (kr)
			auth_keyring_reload(kr); /* logs one line */
		else
			log_info("SIGHUP: insecure, no key file to reload");
	}
}

static int run(struct memserver *ms, struct auth_keyring *kr)
{
	struct ms_options *o = ms->opts;
	char cap[32], bs[32];
	int sig, ret;
	sigset_t set;

	if (!o->foreground) {
		ret = cmp_detach();
		if (ret < 0) {
			log_error("cannot daemonize: %s", strerror(-ret));
			goto out_destroy;
		}
	}
	/* before the store: its file mapping is then unlocked again */
	cmp_daemon_protect(true);
	ret = ms_store_create(o->store_path, o->store_path ? o->size : o->ram,
			      o->block_size, &ms->store);
	if (ret < 0)
		goto out_destroy;
	/* every thread started below inherits the blocked signals */
	sigemptyset(&set);
	sigaddset(&set, SIGTERM);
	sigaddset(&set, SIGINT);
	sigaddset(&set, SIGHUP);
	pthread_sigmask(SIG_BLOCK, &set, NULL);
	signal(SIGPIPE, SIG_IGN);

	ret = start_services(ms, kr);
	if (ret < 0)
		goto out_destroy;
	log_info("node %u serving %s (%u blocks of %s) from %s on %s, "
		 "manager %s%s",
		 ms->node_id,
		 cmp_format_size((uint64_t)ms_store_total(ms->store) *
					 o->block_size,
				 cap, sizeof(cap)),
		 ms_store_total(ms->store),
		 cmp_format_size(o->block_size, bs, sizeof(bs)),
		 o->store_path ? o->store_path : "RAM",
		 peer_listen_addr(ms->peer), o->manager,
		 kr ? "" : " (insecure)");
	cmp_detach_done(0, -1);

	sig = wait_for_stop(&set, kr);
	log_info("%s: shutting down", strsignal(sig));
	ret = 0;

out_destroy:
	cmp_detach_done(1, -1);
	mgr_client_destroy(ms->mgr);
	peer_destroy(ms->peer);
	ms_store_destroy(ms->store);
	return ret;
}

int main(int argc, char **argv)
{
	struct ms_options o = {0};
	struct memserver ms = {.opts = &o};
	struct auth_keyring *kr = NULL;
	int ret;

	log_init("cmp-memserver", LOG_LVL_INFO);
	ret = parse_options(argc, argv, &o);
	if (ret)
		return ret > 0 ? 0 : 2;
	if (o.debug)
		log_set_level(LOG_LVL_DEBUG);
	if (o.key_path) {
		kr = auth_keyring_load(o.key_path);
		if (!kr)
			return 1; /* auth_keyring_load() said why */
	}
	ms.node_id = o.node_id ? o.node_id : random_node_id();
	ret = run(&ms, kr);
	auth_keyring_destroy(kr);
	return ret < 0 ? 1 : 0;
}
