// SPDX-License-Identifier: MIT
/*
 * cmp-sim: runs a cmpfs cluster of many nodes in one process, on the real
 * pool, peer and manager code in stepped mode (sim.h), through a
 * workload generated from a seed or read from a trace, and reports over
 * time (DIR/samples.csv, plotted by tools/sim/plot.gp) and at the end
 * (DIR/summary.txt, and the invariants). --smoke is the small run the
 * tests do; it fails when an invariant does.
 *
 * Time is the simulator's: every tick it applies the events due, then
 * steps the manager and every node. Library log lines go to DIR/log.
 */
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "cmp/log.h"
#include "cmp/opts.h"
#include "cmp/util.h"
#include "sim.h"

struct sim_options {
	uint32_t nodes, memservers, seconds, joins, leaves, deaths, load;
	uint64_t blocks, seed;
	uint32_t tick_ms, sample_ms, settle_ms, lease_ms, heartbeat_ms;
	char *trace, *write_trace, *out;
	bool smoke, verbose;
};

#define F(m) OPT_FIELD(struct sim_options, m)
/* clang-format off */
static const struct opt_def rows[] = {
	{.name = "nodes", .short_name = 'n', .type = OPT_UINT, F(nodes),
	 .min = 1, .max = 100000, .metavar = "N", .def = "10",
	 .help = "compute nodes of the generated workload"},
	{.name = "memservers", .type = OPT_UINT, F(memservers),
	 .max = 10000, .metavar = "N", .def = "0",
	 .help = "memservers (0: one per 50 nodes, at least one)"},
	{.name = "blocks", .short_name = 'b', .type = OPT_UINT, F(blocks),
	 .max = 1ull << 32, .metavar = "N", .def = "0",
	 .help = "blocks of capacity in all, 85% on the compute nodes "
		 "(0: 1000 a node)"},
	{.name = "seconds", .short_name = 's', .type = OPT_UINT, F(seconds),
	 .min = 1, .max = 86400, .metavar = "S", .def = "60",
	 .help = "length of the generated workload, simulated seconds"},
	{.name = "seed", .type = OPT_UINT, F(seed), .metavar = "N",
	 .def = "1", .help = "the generator's seed"},
	{.name = "joins", .type = OPT_UINT, F(joins), .max = 100,
	 .metavar = "PCT", .def = "5", .help = "nodes that join late"},
	{.name = "leaves", .type = OPT_UINT, F(leaves), .max = 100,
	 .metavar = "PCT", .def = "3", .help = "nodes that leave cleanly"},
	{.name = "deaths", .type = OPT_UINT, F(deaths), .max = 100,
	 .metavar = "PCT", .def = "2", .help = "nodes that die"},
	{.name = "load", .type = OPT_UINT, F(load), .min = 1, .max = 1000,
	 .metavar = "PCT", .def = "100",
	 .help = "scales every node's demand (150: a cluster that runs full)"},
	{.name = "trace", .short_name = 't', .type = OPT_STR, F(trace),
	 .metavar = "FILE", .help = "run this trace instead of generating one"},
	{.name = "write-trace", .type = OPT_STR, F(write_trace),
	 .metavar = "FILE", .help = "write the workload as a trace"},
	{.name = "out", .type = OPT_STR, F(out),
	 .metavar = "DIR", .def = "cmp-sim-out",
	 .help = "samples.csv, summary.txt and the libraries' log go here"},
	{.name = "tick", .type = OPT_MS, F(tick_ms), .min = 1, .max = 10000,
	 .metavar = "MS", .def = "100ms",
	 .help = "simulated time between two steps of every node"},
	{.name = "sample", .type = OPT_MS, F(sample_ms), .min = 1,
	 .max = 3600000, .metavar = "MS", .def = "1s",
	 .help = "simulated time between two rows of samples.csv"},
	{.name = "settle", .type = OPT_MS, F(settle_ms), .max = 3600000,
	 .metavar = "MS", .def = "0",
	 .help = "quiet time after the workload before the check "
		 "(0: the lease and 15 s)"},
	{.name = "lease", .type = OPT_MS, F(lease_ms), .min = 1000,
	 .max = 3600000, .metavar = "MS", .def = "20s",
	 .help = "providers' lease on owners (a dead owner's loans end)"},
	{.name = "heartbeat", .type = OPT_MS, F(heartbeat_ms), .min = 10,
	 .max = 60000, .metavar = "MS", .def = "1s",
	 .help = "the manager's heartbeat interval"},
	{.name = "smoke", .type = OPT_FLAG, F(smoke),
	 .help = "the small run of the tests: 20 nodes, 5000 blocks, 30 s; "
		 "exit 1 when an invariant fails"},
	{.name = "verbose", .short_name = 'v', .type = OPT_FLAG, F(verbose),
	 .help = "log the libraries' info lines too"},
};
/* clang-format on */

static const struct opts_spec spec = {
	.prog = "cmp-sim",
	.usage = "cmp-sim [OPTIONS]\n",
	.about = "Runs many cmpfs nodes, memservers and a manager in one "
		 "process on the real libraries (stepped, on simulated time) "
		 "through a workload, and reports placement, manager load, "
		 "moves and metadata over time. Exit status 1 when an "
		 "invariant fails.",
	.opts = rows,
	.nopts = ARRAY_SIZE(rows),
};

static uint64_t sim_clock(void *ctx)
{
	return *(const uint64_t *)ctx;
}

static double wall_now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + ts.tv_nsec / 1e9;
}

/* A tick that does not end within a minute is a hang (nothing waits). */
static void on_alarm(int sig)
{
	static const char msg[] = "cmp-sim: a tick took over 60 s: stuck\n";

	if (write(STDOUT_FILENO, msg, sizeof(msg) - 1) < 0)
		_exit(3);
	_exit(3);
}

static int open_out(const struct sim_options *o, FILE **csv)
{
	char path[512];
	FILE *log;

	if (mkdir(o->out, 0755) < 0 && errno != EEXIST) {
		printf("cmp-sim: %s: %s\n", o->out, strerror(errno));
		return -errno;
	}
	snprintf(path, sizeof(path), "%s/log", o->out);
	log = fopen(path, "w");
	if (!log || dup2(fileno(log), STDERR_FILENO) < 0) {
		printf("cmp-sim: %s: %s\n", path, strerror(errno));
		return -EIO;
	}
	fclose(log);
	snprintf(path, sizeof(path), "%s/samples.csv", o->out);
	*csv = fopen(path, "w");
	if (!*csv) {
		printf("cmp-sim: %s: %s\n", path, strerror(errno));
		return -errno;
	}
	return 0;
}

static int load_trace(struct sim_options *o, struct sim_trace *t)
{
	struct sim_gen g = {
		.nodes = o->nodes,
		.memservers = o->memservers,
		.blocks = o->blocks ? o->blocks : 1000ull * o->nodes,
		.seconds = o->seconds,
		.seed = o->seed,
		.joins = o->joins,
		.leaves = o->leaves,
		.deaths = o->deaths,
		.load = o->load,
	};
	char note[256];
	int ret;

	if (o->trace)
		return sim_trace_read(o->trace, t);
	ret = sim_trace_generate(&g, t);
	if (ret || !o->write_trace)
		return ret;
	snprintf(note, sizeof(note),
		 "generated: --nodes %u --memservers %u --blocks %llu "
		 "--seconds %u --seed %llu --joins %u --leaves %u --deaths %u "
		 "--load %u",
		 g.nodes, g.memservers, (unsigned long long)g.blocks, g.seconds,
		 (unsigned long long)g.seed, g.joins, g.leaves, g.deaths,
		 g.load);
	return sim_trace_write(o->write_trace, t, note);
}

/* What a run saw at its peaks, besides its last sample. */
struct sim_peaks {
	uint64_t ms_lent; /* most blocks on the memservers */
};

/* The run: events and steps tick by tick, a row every sample. */
static void run(struct sim_world *w, const struct sim_trace *t,
		const struct sim_options *o, FILE *csv, struct sim_sample *last,
		struct sim_peaks *pk)
{
	uint64_t start = w->now_ns, tick = o->tick_ms * SIM_MS;
	uint64_t end = start + t->end_ms * SIM_MS + o->settle_ms * SIM_MS;
	uint64_t next_sample = start;
	double wall0 = wall_now();
	struct sim_sample s, prev;
	bool have_prev = false;
	size_t ei = 0;

	for (;; w->now_ns += tick) {
		alarm(60);
		while (ei < t->n &&
		       start + t->ev[ei].t_ms * SIM_MS <= w->now_ns)
			sim_world_apply(w, &t->ev[ei++]);
		sim_world_step(w);
		if (w->now_ns >= next_sample ||
		    (w->now_ns >= end && ei == t->n)) {
			next_sample += o->sample_ms * SIM_MS;
			sim_sample(w, wall_now() - wall0, &s);
			sim_csv_row(csv, &s, have_prev ? &prev : NULL);
			pk->ms_lent = MAX(pk->ms_lent, s.ms_lent);
			prev = s;
			have_prev = true;
		}
		if (w->now_ns >= end && ei == t->n)
			break;
	}
	alarm(0);
	*last = prev;
}

static long max_rss_mib(void)
{
	struct rusage ru;

	getrusage(RUSAGE_SELF, &ru);
	return ru.ru_maxrss / 1024;
}

static double per(uint64_t a, uint64_t b)
{
	return b ? (double)a / (double)b : 0;
}

static void summary(FILE *f, const struct sim_world *w,
		    const struct sim_sample *s, const struct sim_options *o,
		    int failed)
{
	const struct sim_totals *t = &w->tot;

	fprintf(f,
		"nodes %u memservers %u capacity_blocks %llu sim_s %.0f "
		"wall_s %.1f max_rss_mib %ld\n"
		"allocs %llu alloc_fail %llu frees %llu reads %llu "
		"read_fail %llu joins %llu leaves %llu deaths %llu\n"
		"mgr_msgs %llu mgr_per_alloc %.3f find_free %llu "
		"find_free_per_alloc %.4f heartbeats %llu registers %llu "
		"nodes_queries %llu\n"
		"evictions %llu homecomings %llu lent_moved %llu followed "
		"%llu\n"
		"debt_incidents %llu debt_node_ticks %llu debt_nodes_at_end %u "
		"could_be_local_at_end %llu\n"
		"meta_bytes_per_block %.1f (pool %.1f loans %.1f providers "
		"%.1f) heap_bytes_per_block %.1f provider_conns %llu\n"
		"invariants_failed %d\n",
		s->compute, s->memservers, (unsigned long long)s->capacity,
		s->t_s, s->wall_s, max_rss_mib(), (unsigned long long)t->allocs,
		(unsigned long long)t->alloc_fail, (unsigned long long)t->frees,
		(unsigned long long)t->reads, (unsigned long long)t->read_fail,
		(unsigned long long)t->joins, (unsigned long long)t->leaves,
		(unsigned long long)t->deaths, (unsigned long long)s->mgr_msgs,
		per(s->mgr_msgs, t->allocs), (unsigned long long)s->find_free,
		per(s->find_free, t->allocs), (unsigned long long)s->heartbeats,
		(unsigned long long)s->registers,
		(unsigned long long)s->nodes_queries,
		(unsigned long long)s->evictions,
		(unsigned long long)s->homecomings,
		(unsigned long long)s->lent_moved,
		(unsigned long long)s->followed,
		(unsigned long long)t->debt_incidents,
		(unsigned long long)t->debt_ticks, s->debt_nodes,
		(unsigned long long)s->could_be_local,
		per(s->meta_bytes, s->capacity), per(s->meta_pool, s->capacity),
		per(s->meta_loans, s->capacity),
		per(s->meta_remote, s->capacity),
		per(s->heap_bytes, s->capacity), (unsigned long long)s->conns,
		failed);
	(void)o;
}

/*
 * The smoke run must have done what it is there to check: nodes that
 * borrowed, lent, moved lent blocks on and followed them, pulled blocks
 * home, used the memservers, joined late, left and died.
 */
static int smoke_covered(const struct sim_world *w, const struct sim_sample *s,
			 const struct sim_peaks *pk)
{
	const struct {
		const char *what;
		uint64_t n;
	} seen[] = {
		{"evictions", s->evictions},
		{"homecomings", s->homecomings},
		{"lent blocks moved", s->lent_moved},
		{"blocks followed", s->followed},
		{"blocks on memservers", pk->ms_lent},
		{"late joins", w->tot.joins > s->compute + s->memservers},
		{"leaves", w->tot.leaves},
		{"deaths", w->tot.deaths},
	};
	int missed = 0;

	for (size_t i = 0; i < ARRAY_SIZE(seen); i++) {
		if (seen[i].n)
			continue;
		printf("cmp-sim: smoke: no %s: the run checked less than it "
		       "should\n",
		       seen[i].what);
		missed++;
	}
	return missed;
}

static int simulate(struct sim_options *o)
{
	struct sim_trace t;
	struct sim_world w;
	struct sim_sample last;
	struct sim_peaks pk = {0};
	char path[512];
	FILE *csv, *sum;
	int ret, failed;

	ret = load_trace(o, &t);
	if (ret)
		return 1;
	if (open_out(o, &csv))
		goto err_trace;
	cmp_set_stepped(true);
	cmp_set_clock(sim_clock, &w.now_ns);
	if (sim_world_init(&w, t.nodes, o->lease_ms, o->heartbeat_ms,
			   o->seed)) {
		printf("cmp-sim: cannot start the manager (see %s/log)\n",
		       o->out);
		goto err_csv;
	}
	printf("cmp-sim: %zu events on %u nodes over %.0f s (+%.0f s to "
	       "settle)\n",
	       t.n, t.nodes, t.end_ms / 1e3, o->settle_ms / 1e3);
	fflush(stdout);
	sim_csv_header(csv);
	run(&w, &t, o, csv, &last, &pk);
	failed = sim_check(&w, stdout);
	if (o->smoke)
		failed += smoke_covered(&w, &last, &pk);
	snprintf(path, sizeof(path), "%s/summary.txt", o->out);
	sum = fopen(path, "w");
	if (sum) {
		summary(sum, &w, &last, o, failed);
		fclose(sum);
	}
	summary(stdout, &w, &last, o, failed);
	sim_world_finish(&w);
	fclose(csv);
	sim_trace_finish(&t);
	return failed ? 1 : 0;

err_csv:
	fclose(csv);
err_trace:
	sim_trace_finish(&t);
	return 1;
}

int main(int argc, char **argv)
{
	struct sim_options o;
	int ret;

	if (opts_init(&spec, &o))
		return 1;
	ret = opts_parse_argv(&spec, &o, argc, argv, NULL);
	if (ret)
		return opts_exit_status(&spec, ret);
	if (o.smoke) {
		o.nodes = 20;
		o.blocks = 5000;
		o.seconds = 30;
		o.deaths = o.leaves = o.joins = 10;
	}
	if (!o.settle_ms)
		o.settle_ms = o.lease_ms + 15000;
	log_init("cmp-sim", o.verbose ? LOG_LVL_INFO : LOG_LVL_WARN);
	signal(SIGALRM, on_alarm);
	setvbuf(stdout, NULL, _IOLBF, 0);
	ret = simulate(&o);
	opts_finish(&spec, &o);
	return ret;
}
