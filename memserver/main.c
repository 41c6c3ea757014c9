// SPDX-License-Identifier: MIT
/*
 * cmp-memserver: the lowest tier of the pool. It offers a large capacity of
 * blocks from a file (the page cache and the disk behind it) or from RAM,
 * serves them to owner nodes with the peer service, and registers with
 * cmp-manager so owners find it once no compute node has idle memory left.
 * What the manager says about other nodes changes nothing here: an owner's
 * blocks are freed by the owner, never on the manager's word.
 */
#include <errno.h>
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
#include "cmp/metrics.h"
#include "cmp/mgr.h"
#include "cmp/opts.h"
#include "cmp/peer.h"
#include "cmp/server.h"
#include "cmp/util.h"
#include "store.h"

#define MS_REGISTER_WAIT_MS 3000

struct ms_options {
	char *manager;
	char *listen;
	char *metrics;
	char *key_path;
	char *store_path;
	uint64_t size;
	uint64_t ram;
	uint32_t block_size;
	uint32_t node_id;
	uint32_t lease_ms;
	bool fresh;
	bool insecure;
	bool foreground;
	bool debug;
	struct server_limits limits;
};

/* clang-format off */
#define F(m) OPT_FIELD(struct ms_options, m)
static const struct opt_def ms_opt_defs[] = {
	{.name = "manager", .short_name = 'm', .type = OPT_ADDR_LIST,
	 F(manager), .max = MGR_MAX_MANAGERS, .metavar = "ADDR[,ADDR...]",
	 .help = "cmp-manager to register with (tcp://HOST:PORT), required; "
		 "several, comma-separated in the cluster's order: the first "
		 "that takes it, another when that one stops answering"},
	{.name = "listen", .short_name = 'l', .type = OPT_ADDR, F(listen),
	 .metavar = "ADDR",
	 .help = "address owners connect to (tcp://HOST:PORT; port 0 picks "
		 "one), required"},
	OPTS_ROWS_KEY(struct ms_options),
	{.name = "store", .short_name = 's', .type = OPT_STR, F(store_path),
	 .metavar = "FILE",
	 .help = "back the blocks by FILE, with an index of whose block is "
		 "where in FILE.idx: a restart on them keeps every loan and "
		 "its bytes (created when there is no index); needs --size"},
	{.name = "fresh", .type = OPT_FLAG, F(fresh),
	 .help = "with --store: drop the loans its index keeps and start "
		 "empty (the owners lose their blocks here)"},
	{.name = "size", .short_name = 'S', .type = OPT_SIZE, F(size),
	 .min = 1, .metavar = "SIZE",
	 .help = "capacity of the --store file (e.g. 64G)"},
	{.name = "ram", .short_name = 'r', .type = OPT_SIZE, F(ram),
	 .min = 1, .metavar = "SIZE",
	 .help = "back the blocks by anonymous RAM of SIZE instead of a file"},
	{.name = "block", .short_name = 'b', .type = OPT_SIZE, F(block_size),
	 .min = PROTO_BLOCK_MIN_SIZE, .max = PROTO_BLOCK_MAX_SIZE,
	 .flags = OPT_POW2, .metavar = "SIZE", .def = "1M",
	 .help = "cluster block size; must match the cluster's"},
	{.name = "node-id", .short_name = 'n', .type = OPT_UINT, F(node_id),
	 .min = 1, .metavar = "N",
	 .help = "node id, random (and kept until exit) when not given"},
	{.name = "lease", .type = OPT_MS, F(lease_ms),
	 .min = PEER_LEASE_OPT_MIN_MS, .metavar = "TIME",
	 .def = PEER_LEASE_OPT_DEFAULT, .help = PEER_LEASE_OPT_HELP},
	OPTS_ROW_METRICS(struct ms_options, metrics),
	OPTS_ROWS_LIMITS(struct ms_options, limits),
	OPTS_ROWS_DAEMON(struct ms_options),
};
#undef F
/* clang-format on */

static const struct opts_spec ms_opts = {
	.prog = "cmp-memserver",
	.usage = "cmp-memserver --manager ADDR[,ADDR...] --listen ADDR\n"
		 "              (--key FILE | --insecure)\n"
		 "              (--store FILE --size SIZE | --ram SIZE) "
		 "[OPTIONS]",
	.about = "Offers file- or RAM-backed blocks to the cmpfs pool as its "
		 "lowest tier. SIGTERM or SIGINT shuts it down: a --store "
		 "keeps its loans for the next start, RAM loses them.",
	.opts = ms_opt_defs,
	.nopts = ARRAY_SIZE(ms_opt_defs),
};

static int refuse(const char *name, const char *why)
{
	return opts_error(&ms_opts, name, "%s (see --help)", why);
}

/* Rules between options; one line for the first one broken. */
static int check_options(const struct ms_options *o)
{
	if (!o->manager)
		return refuse("manager", "required");
	if (!o->listen)
		return refuse("listen", "required");
	if (!o->key_path && !o->insecure)
		return refuse("key", "required unless --insecure");
	if (o->key_path && o->insecure)
		return refuse("insecure", "excludes --key");
	if (!o->store_path == !o->ram)
		return refuse(o->ram ? "ram" : "store",
			      "give exactly one of --store FILE (with --size) "
			      "and --ram SIZE");
	if (o->store_path && !o->size)
		return refuse("store", "needs --size SIZE");
	if (o->ram && o->size)
		return refuse("size", "goes with --store; --ram takes its own "
				      "size");
	if (o->fresh && !o->store_path)
		return refuse("fresh", "goes with --store");
	return 0;
}

/* Returns 0 to run, OPTS_HELP, OPTS_VERSION, or -EINVAL (said). */
static int parse_options(int argc, char **argv, struct ms_options *o)
{
	int ret = opts_init(&ms_opts, o);

	if (!ret)
		ret = opts_parse_argv(&ms_opts, o, argc, argv, NULL);
	return ret ? ret : check_options(o);
}

struct memserver {
	struct ms_options *opts;
	struct ms_store *store;
	struct peer *peer;
	struct mgr_client *mgr;
	struct metrics_server *metrics;
	uint32_t node_id;
};

/* What the block server moved, with each heartbeat (cmpctl top). */
static void mgr_traffic(void *ctx, struct proto_mgr_traffic *out)
{
	struct memserver *ms = ctx;
	struct server_stats st;

	peer_get_server_stats(ms->peer, &st);
	out->net_rx_bytes = st.rx_bytes;
	out->net_tx_bytes = st.tx_bytes;
}

/* The memserver's counters for Prometheus (include/cmp/metrics.h). */
static void collect(void *ctx, struct metrics_out *out)
{
	static const struct metrics_label free_l = {"list", "free"},
					  lent_l = {"list", "lent"};
	struct memserver *ms = ctx;
	uint64_t bs = ms->opts->block_size;
	uint32_t total = ms_store_total(ms->store);
	uint32_t nfree = ms_store_free_count(ms->store);
	struct server_stats st;

	metrics_add(out, METRICS_GAUGE, "cmp_memserver_capacity_bytes",
		    "what this memserver offers the pool", NULL, 0, total * bs);
	metrics_add(out, METRICS_GAUGE, "cmp_memserver_blocks_bytes",
		    "its blocks, free or lent to owners, in bytes", &free_l, 1,
		    nfree * bs);
	metrics_add(out, METRICS_GAUGE, "cmp_memserver_blocks_bytes", "",
		    &lent_l, 1, (uint64_t)(total - nfree) * bs);
	metrics_add(out, METRICS_GAUGE, "cmp_memserver_registered",
		    "1 while registered with the manager", NULL, 0,
		    mgr_client_registered(ms->mgr));
	peer_get_server_stats(ms->peer, &st);
	metrics_add_server(out, "cmp_memserver", &st);
}

/* --metrics, once serving: 0, or -errno (logged). */
static int start_metrics(struct memserver *ms)
{
	struct ms_options *o = ms->opts;

	if (!o->metrics)
		return 0;
	ms->metrics = metrics_server_create(&(struct metrics_config){
		.listen_addr = o->metrics,
		.prefix = "cmp_memserver",
		.collect = collect,
		.ctx = ms,
		.limits = &o->limits,
	});
	if (!ms->metrics)
		return -errno;
	log_info("metrics at http://%s/metrics",
		 metrics_server_addr(ms->metrics) + strlen("tcp://"));
	return 0;
}

static void mgr_counts(void *ctx, struct proto_mgr_counts *out)
{
	struct memserver *ms = ctx;

	ms_store_mgr_counts(ms->store, out);
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
		.traffic = mgr_traffic,
		.caller_reports_start = true,
		.ctx = ms,
	};
	int ret;

	ms->mgr = mgr_client_create(&mcfg);
	if (!ms->mgr)
		return -errno;
	/*
	 * A manager that is down is fine (the client keeps retrying, and
	 * says so at most once a minute from now on); one that refuses us
	 * for good is a configuration error. Either way, one line here.
	 */
	ret = mgr_client_wait_registered(ms->mgr, MS_REGISTER_WAIT_MS);
	if (mgr_refusal_text(ret)) {
		log_error("the manager at %s refused this memserver (node %u): "
			  "%s",
			  ms->opts->manager, ms->node_id,
			  mgr_refusal_text(ret));
		return ret;
	}
	if (ret)
		log_warn("no manager at %s yet (%s): serving, but owners find "
			 "this memserver only once it has registered; "
			 "retrying every %d s",
			 ms->opts->manager, mgr_strerror(ret),
			 MGR_RETRY_MS / 1000);
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
		.lease_ms = o->lease_ms,
		.limits = &o->limits,
		/* the same provider to owners, when the store kept its loans */
		.incarnation = ms_store_incarnation(ms->store),
	};
	int ret;

	ms->peer = peer_create(&pcfg);
	if (!ms->peer)
		return -errno;
	ret = start_mgr(ms, kr);
	return ret ? ret : start_metrics(ms);
}

/* The store, and the node id: a kept store's, --node-id, or random. */
static int create_store(struct memserver *ms)
{
	struct ms_options *o = ms->opts;
	int ret;

	if (o->store_path)
		ret = ms_store_create_kept(
			&(struct ms_store_kept_config){
				.path = o->store_path,
				.size = o->size,
				.block_size = o->block_size,
				.node_id = o->node_id,
				.fresh = o->fresh,
			},
			&ms->store);
	else
		ret = ms_store_create(NULL, o->ram, o->block_size, &ms->store);
	if (ret < 0)
		return ret;
	ms->node_id = ms_store_node_id(ms->store);
	if (!ms->node_id)
		ms->node_id = o->node_id ? o->node_id : random_node_id();
	return 0;
}

/* What a kept store brought back, once the peer lends it again. */
static void log_kept(struct memserver *ms)
{
	uint32_t loans, owners;

	if (ms_store_kept_counts(ms->store, &loans, &owners))
		log_info("kept %u loans of %u owners from %s", loans, owners,
			 ms->opts->store_path);
}

/*
 * A clean shutdown. A store that keeps loans for the next start does not
 * leave the cluster: owners told it left would count their blocks here
 * as lost; it shows as suspect until it is back. Anything else leaves
 * (the manager shows it as left).
 */
static void leave_or_keep(struct memserver *ms)
{
	uint32_t lent = peer_lent(ms->peer);

	if (ms_store_incarnation(ms->store) && lent) {
		log_info("keeping %u loans in %s for the next start: not "
			 "leaving the cluster",
			 lent, ms->opts->store_path);
		return;
	}
	mgr_client_leave(ms->mgr);
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
	ret = create_store(ms);
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
	log_kept(ms);
	cmp_detach_done(0, -1);

	sig = auth_wait_for_stop(&set, kr);
	log_info("%s: shutting down", strsignal(sig));
	leave_or_keep(ms);
	ret = 0;

out_destroy:
	cmp_detach_done(1, -1);
	metrics_server_destroy(ms->metrics);
	mgr_client_destroy(ms->mgr);
	peer_destroy(ms->peer);
	if (!ret)
		ms_store_stop_clean(ms->store);
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
	if (ret) {
		ret = opts_exit_status(&ms_opts, ret);
		goto out_opts;
	}
	if (o.debug)
		log_set_level(LOG_LVL_DEBUG);
	/* auth_keyring_load() says what is wrong with the file */
	ret = 0;
	if (o.key_path) {
		kr = auth_keyring_load(o.key_path);
		ret = kr ? 0 : -errno;
	}
	if (!ret)
		ret = run(&ms, kr);
	auth_keyring_destroy(kr);
	ret = ret < 0 ? 1 : 0;
out_opts:
	opts_finish(&ms_opts, &o);
	return ret;
}
