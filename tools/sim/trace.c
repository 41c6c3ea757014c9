// SPDX-License-Identifier: MIT
/*
 * cmp-sim's workloads: generated from a seed, or read from a text file
 * (and written to one, so a generated run can be replayed or edited).
 *
 * The generated cluster: compute nodes giving the pool 85% of the
 * capacity, each a random 0.5-1.5 times the average, and memservers the
 * other 15%. A node's data follows a target level, moved towards once a
 * second (each node at its own phase in the second):
 *   - bursty (40%): quiet at 30% of its memory for 5-20 s, then a burst
 *     to 1.5-2.5 times its memory for 5-15 s (it borrows), and again;
 *   - steady (40%): 60-95% of its memory, with 1% churn a second;
 *   - idle lenders (20%): 3% of their memory, lending the rest.
 * Each node reads a few of its blocks a second. Some nodes join late
 * (10-60% into the run), some leave cleanly or die (30-80% in); from 85%
 * on every node frees down to half its memory, so the cluster has room
 * and settles. Memservers join at the start and stay. --load scales
 * every target (150: half as much again, a cluster that runs full).
 *
 * The text form: one event a line, "T_MS NODE OP [ARG]" (NODE an index
 * from 0, OP one of join, join-memserver, alloc, free, read, leave, die),
 * '#' starts a comment; events in time order.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cmp/util.h"
#include "sim.h"

static const char *const op_names[OP_NOPS] = {
	[OP_JOIN] = "join",   [OP_JOIN_MS] = "join-memserver",
	[OP_ALLOC] = "alloc", [OP_FREE] = "free",
	[OP_READ] = "read",   [OP_LEAVE] = "leave",
	[OP_DIE] = "die",
};

const char *sim_op_name(uint32_t op)
{
	return op < OP_NOPS ? op_names[op] : "?";
}

static int add(struct sim_trace *t, uint64_t t_ms, uint32_t node, uint32_t op,
	       uint32_t arg)
{
	if (t->n == t->cap) {
		size_t cap = t->cap ? t->cap * 2 : 4096;
		struct sim_event *ev = realloc(t->ev, cap * sizeof(*ev));

		if (!ev)
			return -ENOMEM;
		t->ev = ev;
		t->cap = cap;
	}
	t->ev[t->n++] = (struct sim_event){t_ms, node, op, arg};
	if (node >= t->nodes)
		t->nodes = node + 1;
	if (t_ms > t->end_ms)
		t->end_ms = t_ms;
	return 0;
}

void sim_trace_finish(struct sim_trace *t)
{
	free(t->ev);
	memset(t, 0, sizeof(*t));
}

/* ---- generating ---- */

/* splitmix64: small, fast, and the same everywhere for a seed */
static uint64_t next(uint64_t *s)
{
	uint64_t z = (*s += 0x9e3779b97f4a7c15ull);

	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
	return z ^ (z >> 31);
}

/* Uniform in [lo, hi). */
static double uni(uint64_t *s, double lo, double hi)
{
	return lo + (hi - lo) * (double)(next(s) >> 11) / (double)(1ull << 53);
}

enum demand { BURSTY, STEADY, IDLE };

/* One compute node's plan while the generator walks its seconds. */
struct plan {
	uint32_t idx, local;
	enum demand kind;
	uint64_t join_ms, end_ms; /* end: UINT64_MAX, or it leaves/dies */
	uint32_t end_op;
	double load; /* scales the targets */
	double target;
	uint64_t cur;
	/* bursty: when the current phase ends, and whether it is a burst */
	uint64_t phase_end_ms;
	bool burst;
};

static void plan_node(struct plan *p, const struct sim_gen *g, uint64_t *rng,
		      uint32_t idx, uint32_t avg)
{
	double r = uni(rng, 0, 1), dur = g->seconds * 1000.0;

	memset(p, 0, sizeof(*p));
	p->idx = idx;
	p->local = (uint32_t)MAX(16.0, avg * uni(rng, 0.5, 1.5));
	p->kind = r < 0.4 ? BURSTY : r < 0.8 ? STEADY : IDLE;
	p->join_ms = (idx * 7u) % 1000;
	if (uni(rng, 0, 100) < g->joins)
		p->join_ms = (uint64_t)(dur * uni(rng, 0.1, 0.6));
	p->end_ms = UINT64_MAX;
	r = uni(rng, 0, 100);
	if (r < g->leaves + g->deaths) {
		p->end_ms = (uint64_t)(dur * uni(rng, 0.3, 0.8));
		p->end_op = r < g->leaves ? OP_LEAVE : OP_DIE;
	}
	p->load = g->load ? g->load / 100.0 : 1.0;
	p->target = p->load * p->local *
		    (p->kind == STEADY ? uni(rng, 0.6, 0.95)
		     : p->kind == IDLE ? 0.03
				       : 0.3);
}

/* The target for the second starting at t (bursty phases, the end). */
static void retarget(struct plan *p, uint64_t *rng, uint64_t t, double dur)
{
	if (p->kind == BURSTY && t >= p->phase_end_ms) {
		p->burst = !p->burst;
		p->phase_end_ms =
			t + (uint64_t)(1000 * (p->burst ? uni(rng, 5, 15)
							: uni(rng, 5, 20)));
		p->target = p->load * p->local *
			    (p->burst ? uni(rng, 1.5, 2.5) : 0.3);
	}
	if (t >= dur * 0.85)
		p->target = MIN(p->target, p->local * 0.5);
}

/* One second of node p at t: towards the target, with churn, and reads. */
static int second(struct sim_trace *tr, struct plan *p, uint64_t *rng,
		  uint64_t t)
{
	double step = p->local * (p->kind == BURSTY ? 0.25 : 0.1);
	double delta = MAX(-step, MIN(step, p->target - (double)p->cur));
	uint32_t churn =
		p->kind == IDLE ? 0 : (uint32_t)(p->local * uni(rng, 0, 0.02));
	uint32_t up = (uint32_t)MAX(0.0, delta) + churn;
	uint32_t down = (uint32_t)MAX(0.0, -delta) + churn;
	int ret = 0;

	down = (uint32_t)MIN((uint64_t)down, p->cur + up);
	if (up)
		ret = add(tr, t, p->idx, OP_ALLOC, up);
	p->cur += up;
	if (!ret && down)
		ret = add(tr, t + 1, p->idx, OP_FREE, down);
	p->cur -= down;
	if (!ret && p->cur)
		ret = add(tr, t + 2, p->idx, OP_READ,
			  (uint32_t)MIN(p->cur, 4ull));
	return ret;
}

static int by_time(const void *a, const void *b)
{
	const struct sim_event *x = a, *y = b;

	if (x->t_ms != y->t_ms)
		return x->t_ms < y->t_ms ? -1 : 1;
	return x->node < y->node ? -1 : x->node > y->node;
}

static int gen_node(struct sim_trace *t, const struct sim_gen *g, uint64_t *rng,
		    uint32_t idx, uint32_t avg)
{
	uint64_t dur = (uint64_t)g->seconds * 1000, phase = next(rng) % 1000;
	struct plan p;
	int ret;

	plan_node(&p, g, rng, idx, avg);
	ret = add(t, p.join_ms, idx, OP_JOIN, p.local);
	for (uint64_t s = p.join_ms + 1000 + phase; !ret && s < dur;
	     s += 1000) {
		if (s >= p.end_ms) {
			ret = add(t, s, idx, p.end_op, 0);
			break;
		}
		retarget(&p, rng, s, (double)dur);
		ret = second(t, &p, rng, s);
	}
	return ret;
}

int sim_trace_generate(const struct sim_gen *g, struct sim_trace *t)
{
	uint32_t ms = g->memservers ? g->memservers : MAX(1u, g->nodes / 50);
	uint64_t rng = g->seed;
	uint32_t avg, ms_blocks;
	int ret = 0;

	memset(t, 0, sizeof(*t));
	if (!g->nodes || !g->blocks || !g->seconds)
		return -EINVAL;
	avg = (uint32_t)(g->blocks * 85 / 100 / g->nodes);
	ms_blocks = (uint32_t)MAX(64ull, g->blocks * 15 / 100 / ms);
	for (uint32_t i = 0; !ret && i < g->nodes; i++)
		ret = gen_node(t, g, &rng, i, avg);
	for (uint32_t i = 0; !ret && i < ms; i++)
		ret = add(t, 0, g->nodes + i, OP_JOIN_MS, ms_blocks);
	if (ret) {
		sim_trace_finish(t);
		return ret;
	}
	qsort(t->ev, t->n, sizeof(*t->ev), by_time);
	return 0;
}

/* ---- the text form ---- */

static int parse_op(const char *name, uint32_t *op)
{
	for (uint32_t i = 0; i < OP_NOPS; i++) {
		if (!strcmp(name, op_names[i])) {
			*op = i;
			return 0;
		}
	}
	return -EINVAL;
}

static int parse_line(struct sim_trace *t, const char *line,
		      unsigned long lineno, const char *path)
{
	unsigned long long t_ms;
	unsigned int node, arg = 0;
	char op[32];
	uint32_t o;
	int n;

	n = sscanf(line, "%llu %u %31s %u", &t_ms, &node, op, &arg);
	if (n < 3 || parse_op(op, &o) ||
	    (n < 4 && o != OP_LEAVE && o != OP_DIE) ||
	    (t->n && t_ms < t->ev[t->n - 1].t_ms)) {
		fprintf(stderr,
			"cmp-sim: %s:%lu: not an event in time order "
			"(T_MS NODE OP [ARG])\n",
			path, lineno);
		return -EINVAL;
	}
	return add(t, t_ms, node, o, arg);
}

int sim_trace_read(const char *path, struct sim_trace *t)
{
	unsigned long lineno = 0;
	char line[256];
	FILE *f = fopen(path, "r");
	int ret = 0;

	memset(t, 0, sizeof(*t));
	if (!f) {
		ret = -errno;
		fprintf(stderr, "cmp-sim: %s: %s\n", path, strerror(errno));
		return ret;
	}
	while (!ret && fgets(line, sizeof(line), f)) {
		char *s = line + strspn(line, " \t");

		lineno++;
		if (*s == '#' || *s == '\n' || !*s)
			continue;
		ret = parse_line(t, s, lineno, path);
	}
	fclose(f);
	if (ret)
		sim_trace_finish(t);
	return ret;
}

int sim_trace_write(const char *path, const struct sim_trace *t,
		    const char *note)
{
	FILE *f = fopen(path, "w");

	if (!f) {
		fprintf(stderr, "cmp-sim: %s: %s\n", path, strerror(errno));
		return -errno;
	}
	fprintf(f, "# cmp-sim trace: T_MS NODE OP [ARG]\n# %s\n", note);
	for (size_t i = 0; i < t->n; i++) {
		const struct sim_event *e = &t->ev[i];

		if (e->op == OP_LEAVE || e->op == OP_DIE)
			fprintf(f, "%llu %u %s\n", (unsigned long long)e->t_ms,
				e->node, sim_op_name(e->op));
		else
			fprintf(f, "%llu %u %s %u\n",
				(unsigned long long)e->t_ms, e->node,
				sim_op_name(e->op), e->arg);
	}
	if (fclose(f)) {
		fprintf(stderr, "cmp-sim: %s: %s\n", path, strerror(errno));
		return -EIO;
	}
	return 0;
}
