// SPDX-License-Identifier: MIT
/*
 * cmp-manager: command line, key loading, going to the background and
 * signals around the manager service (manager.h). The main thread only
 * waits for signals: SIGINT or SIGTERM stop the manager, SIGHUP reloads
 * the key file. Every other thread runs with those signals blocked.
 */
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cmp/auth.h"
#include "cmp/log.h"
#include "cmp/metrics.h"
#include "cmp/mgr.h"
#include "cmp/opts.h"
#include "cmp/util.h"
#include "manager.h"

struct options {
	char *listen;
	char *managers;
	char *metrics;
	char *key_path;
	bool insecure;
	bool foreground;
	bool debug;
	uint32_t heartbeat_ms;
	uint32_t suspect_after;
	uint32_t forget_after_ms;
	uint32_t takeover_ms;
	struct server_limits limits;
};

/* clang-format off */
#define F(m) OPT_FIELD(struct options, m)
static const struct opt_def manager_opt_defs[] = {
	{.name = "listen", .short_name = 'l', .type = OPT_ADDR, F(listen),
	 .metavar = "ADDR",
	 .help = "where nodes reach the manager (tcp://HOST:PORT), required"},
	{.name = "managers", .type = OPT_ADDR_LIST, F(managers),
	 .max = MGR_MAX_MANAGERS, .metavar = "ADDR,ADDR...",
	 .help = "every manager of the cluster, in the order the nodes are "
		 "given them (-o manager=), this one's --listen address among "
		 "them, spelled the same; it is active while no manager before "
		 "it answers, else a standby; off by default: the only "
		 "manager"},
	{.name = "takeover-after", .type = OPT_MS, F(takeover_ms),
	 .min = 10, .max = 3600000, .metavar = "MS",
	 .help = "with --managers: how long every manager before this one "
		 "must stay silent before it becomes active; twice "
		 "--heartbeat-ms unless given"},
	OPTS_ROWS_KEY(struct options),
	{.name = "heartbeat-ms", .type = OPT_MS, F(heartbeat_ms),
	 .min = 10, .max = 3600000, .metavar = "MS",
	 .def = OPTS_STRINGIFY(MANAGER_DEFAULT_HEARTBEAT_MS),
	 .help = "heartbeat interval the nodes are told to keep"},
	{.name = "suspect-after", .type = OPT_UINT, F(suspect_after),
	 .min = 1, .max = 1000, .metavar = "N",
	 .def = OPTS_STRINGIFY(MANAGER_DEFAULT_SUSPECT_AFTER),
	 .help = "missed heartbeats before a node is shown as suspect (its "
		 "data is not touched)"},
	{.name = "forget-after", .type = OPT_MS, F(forget_after_ms),
	 .min = 1000, .max = 7 * 24 * 3600 * 1000u, .metavar = "MS",
	 .def = OPTS_STRINGIFY(MANAGER_DEFAULT_FORGET_AFTER_MS),
	 .help = "how long a suspect node stays listed (10 min by default; "
		 "left nodes: a minute); a forgotten node is welcome back "
		 "any time"},
	OPTS_ROW_METRICS(struct options, metrics),
	OPTS_ROWS_LIMITS(struct options, limits),
	OPTS_ROWS_DAEMON(struct options),
};
#undef F
/* clang-format on */

static const struct opts_spec manager_opts = {
	.prog = "cmp-manager",
	.usage = "cmp-manager --listen ADDR (--key FILE | --insecure) "
		 "[OPTIONS]",
	.about =
		"The cmpfs cluster manager: registry of nodes, free counts and "
		"liveness (alive, suspect, left: information only, the manager "
		"never frees data). With --managers, one of several: a standby "
		"takes over when the active one stops answering. SIGTERM or "
		"SIGINT shuts it down.",
	.opts = manager_opt_defs,
	.nopts = ARRAY_SIZE(manager_opt_defs),
};

/* Returns 0 to run, OPTS_HELP, OPTS_VERSION, or -EINVAL (said). */
static int parse_args(int argc, char **argv, struct options *o)
{
	int ret = opts_init(&manager_opts, o);

	if (!ret)
		ret = opts_parse_argv(&manager_opts, o, argc, argv, NULL);
	if (ret)
		return ret;
	if (!o->listen)
		return opts_error(&manager_opts, "listen",
				  "required (see --help)");
	if (!o->key_path && !o->insecure)
		return opts_error(&manager_opts, "key",
				  "required unless --insecure (see --help)");
	if (o->key_path && o->insecure)
		return opts_error(&manager_opts, "insecure",
				  "excludes --key (see --help)");
	if (o->takeover_ms && !o->managers)
		return opts_error(&manager_opts, "takeover-after",
				  "needs --managers (see --help)");
	return 0;
}

/* --metrics: NULL when not asked for; false when it could not start. */
static bool start_metrics(const struct options *o, struct manager *m,
			  struct metrics_server **out)
{
	*out = NULL;
	if (!o->metrics)
		return true;
	*out = metrics_server_create(&(struct metrics_config){
		.listen_addr = o->metrics,
		.prefix = "cmp_manager",
		.collect = manager_collect_metrics,
		.ctx = m,
		.limits = &o->limits,
	});
	if (*out)
		log_info("cmp-manager: metrics at http://%s/metrics",
			 metrics_server_addr(*out) + strlen("tcp://"));
	return *out != NULL;
}

/* Runs the manager until SIGINT or SIGTERM; returns the exit status. */
static int run(const struct options *o)
{
	struct manager_config mc;
	struct auth_keyring *kr = NULL;
	struct metrics_server *ms;
	struct manager *m;
	sigset_t set;
	int sig, ret;

	if (o->key_path) {
		/* auth_keyring_load() says what is wrong with the file */
		kr = auth_keyring_load(o->key_path);
		if (!kr)
			return 1;
	}
	ret = o->foreground ? 0 : cmp_detach();
	if (ret < 0) {
		log_error("cannot go to the background: %s", strerror(-ret));
		auth_keyring_destroy(kr);
		return 1;
	}

	/* before any thread starts, so they all inherit the mask */
	cmp_daemon_protect(true);
	sigemptyset(&set);
	sigaddset(&set, SIGINT);
	sigaddset(&set, SIGTERM);
	sigaddset(&set, SIGHUP);
	pthread_sigmask(SIG_BLOCK, &set, NULL);
	signal(SIGPIPE, SIG_IGN);

	mc = (struct manager_config){
		.listen_addr = o->listen,
		.keyring = kr,
		.heartbeat_ms = o->heartbeat_ms,
		.suspect_after = o->suspect_after,
		.forget_after_ms = o->forget_after_ms,
		.limits = &o->limits,
		.managers = o->managers,
		.takeover_ms = o->takeover_ms,
	};
	m = manager_create(&mc);
	if (!m || !start_metrics(o, m, &ms)) {
		manager_destroy(m);
		cmp_detach_done(1, -1);
		auth_keyring_destroy(kr);
		return 1;
	}
	log_info("cmp-manager %s listening on %s (%s), heartbeat %u ms, "
		 "suspect after %u missed, forgotten after %u s%s%s",
		 CMP_VERSION, manager_addr(m),
		 o->key_path ? "cluster key" : "INSECURE, no key",
		 o->heartbeat_ms, o->suspect_after, o->forget_after_ms / 1000,
		 o->managers ? "; managers " : "",
		 o->managers ? o->managers : "");
	cmp_detach_done(0, -1);

	sig = auth_wait_for_stop(&set, kr);
	log_info("cmp-manager: %s, shutting down", strsignal(sig));
	metrics_server_destroy(ms);
	manager_destroy(m);
	auth_keyring_destroy(kr);
	return 0;
}

int main(int argc, char **argv)
{
	struct options o = {0};
	int ret = parse_args(argc, argv, &o);

	if (ret) {
		ret = opts_exit_status(&manager_opts, ret);
	} else {
		log_init("cmp-manager", o.debug ? LOG_LVL_DEBUG : LOG_LVL_INFO);
		ret = run(&o);
	}
	opts_finish(&manager_opts, &o);
	return ret;
}
