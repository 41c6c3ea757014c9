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
#include <getopt.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cmp/auth.h"
#include "cmp/log.h"
#include "cmp/util.h"
#include "manager.h"

struct options {
	const char *listen;
	const char *key_path;
	bool insecure;
	bool foreground;
	bool debug;
	uint32_t heartbeat_ms;
	uint32_t dead_after;
};

typedef int (*opt_fn)(struct options *o, const char *arg);

static int parse_u32(const char *arg, uint32_t min, uint32_t max, uint32_t *out)
{
	unsigned long v;
	char *end;

	errno = 0;
	v = strtoul(arg, &end, 10);
	if (errno || end == arg || *end || v < min || v > max)
		return -EINVAL;
	*out = (uint32_t)v;
	return 0;
}

static int opt_listen(struct options *o, const char *arg)
{
	o->listen = arg;
	return 0;
}

static int opt_key(struct options *o, const char *arg)
{
	o->key_path = arg;
	return 0;
}

static int opt_insecure(struct options *o, const char *arg)
{
	o->insecure = true;
	return 0;
}

static int opt_heartbeat(struct options *o, const char *arg)
{
	return parse_u32(arg, 10, 3600000, &o->heartbeat_ms);
}

static int opt_dead_after(struct options *o, const char *arg)
{
	return parse_u32(arg, 1, 1000, &o->dead_after);
}

static int opt_foreground(struct options *o, const char *arg)
{
	o->foreground = true;
	return 0;
}

static int opt_debug(struct options *o, const char *arg)
{
	o->debug = true;
	return 0;
}

static const struct option_desc {
	struct option lo;
	opt_fn fn;
	const char *help;
} option_table[] = {
	{{"listen", required_argument, NULL, 'l'},
	 opt_listen,
	 "--listen tcp://ADDR:PORT   where nodes reach the manager"},
	{{"key", required_argument, NULL, 'k'},
	 opt_key,
	 "--key FILE                 cluster key (cmpctl keygen FILE)"},
	{{"insecure", no_argument, NULL, 'I'},
	 opt_insecure,
	 "--insecure                 no key: trusted networks only"},
	{{"heartbeat-ms", required_argument, NULL, 'H'},
	 opt_heartbeat,
	 "--heartbeat-ms N           heartbeat interval (default 1000)"},
	{{"dead-after", required_argument, NULL, 'D'},
	 opt_dead_after,
	 "--dead-after N             missed heartbeats before death "
	 "(default 3)"},
	{{"foreground", no_argument, NULL, 'f'},
	 opt_foreground,
	 "-f, --foreground           stay in the foreground, log to stderr"},
	{{"debug", no_argument, NULL, 'd'},
	 opt_debug,
	 "-d, --debug                debug logging"},
};

static void usage(FILE *out)
{
	size_t i;

	fprintf(out, "usage: cmp-manager --listen tcp://ADDR:PORT "
		     "(--key FILE | --insecure) [options]\n\n"
		     "The cmpfs cluster manager: registry of nodes, free "
		     "counts and liveness.\n\n");
	for (i = 0; i < ARRAY_SIZE(option_table); i++)
		fprintf(out, "  %s\n", option_table[i].help);
	fprintf(out, "  -h, --help                 this text\n"
		     "  -V, --version              print the version\n");
}

static int parse_args(int argc, char **argv, struct options *o)
{
	struct option lo[ARRAY_SIZE(option_table) + 3];
	size_t i;
	int c;

	for (i = 0; i < ARRAY_SIZE(option_table); i++)
		lo[i] = option_table[i].lo;
	lo[i++] = (struct option){"help", no_argument, NULL, 'h'};
	lo[i++] = (struct option){"version", no_argument, NULL, 'V'};
	lo[i] = (struct option){0};

	while ((c = getopt_long(argc, argv, "fdhV", lo, NULL)) != -1) {
		if (c == 'h') {
			usage(stdout);
			exit(0);
		}
		if (c == 'V') {
			printf("cmp-manager %s\n", CMP_VERSION);
			exit(0);
		}
		for (i = 0; i < ARRAY_SIZE(option_table); i++)
			if (option_table[i].lo.val == c)
				break;
		if (i == ARRAY_SIZE(option_table)) {
			usage(stderr);
			return -EINVAL;
		}
		if (option_table[i].fn(o, optarg) < 0) {
			fprintf(stderr, "cmp-manager: bad value for --%s: %s\n",
				option_table[i].lo.name, optarg);
			return -EINVAL;
		}
	}
	if (optind < argc) {
		fprintf(stderr, "cmp-manager: unexpected argument: %s\n",
			argv[optind]);
		return -EINVAL;
	}
	if (!o->listen) {
		fprintf(stderr, "cmp-manager: --listen is required\n");
		return -EINVAL;
	}
	if (!o->key_path == !o->insecure) {
		fprintf(stderr,
			"cmp-manager: give exactly one of --key FILE and "
			"--insecure\n");
		return -EINVAL;
	}
	return 0;
}

int main(int argc, char **argv)
{
	struct options o = {0};
	struct manager_config mc;
	struct auth_keyring *kr = NULL;
	struct manager *m;
	sigset_t set;
	int sig, ret;

	if (parse_args(argc, argv, &o) < 0)
		return 2;
	log_init("cmp-manager", o.debug ? LOG_LVL_DEBUG : LOG_LVL_INFO);
	if (o.key_path) {
		/* auth_keyring_load() says what is wrong with the file */
		kr = auth_keyring_load(o.key_path);
		if (!kr)
			return 1;
	}
	ret = o.foreground ? 0 : cmp_detach();
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
		.listen_addr = o.listen,
		.keyring = kr,
		.heartbeat_ms = o.heartbeat_ms,
		.dead_after = o.dead_after,
	};
	m = manager_create(&mc);
	if (!m) {
		cmp_detach_done(1, -1);
		auth_keyring_destroy(kr);
		return 1;
	}
	log_info("cmp-manager %s listening on %s (%s), heartbeat %u ms, "
		 "dead after %u missed",
		 CMP_VERSION, manager_addr(m),
		 o.key_path ? "cluster key" : "INSECURE, no key",
		 o.heartbeat_ms ? o.heartbeat_ms : MANAGER_DEFAULT_HEARTBEAT_MS,
		 o.dead_after ? o.dead_after : MANAGER_DEFAULT_DEAD_AFTER);
	cmp_detach_done(0, -1);

	for (;;) {
		if (sigwait(&set, &sig))
			continue;
		if (sig != SIGHUP)
			break;
		if (kr)
			auth_keyring_reload(kr); /* logs one line */
		else
			log_info("SIGHUP: insecure, no key file to reload");
	}
	log_info("cmp-manager: %s, shutting down", strsignal(sig));
	manager_destroy(m);
	auth_keyring_destroy(kr);
	return 0;
}
