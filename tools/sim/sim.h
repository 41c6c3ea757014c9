/* SPDX-License-Identifier: MIT */
/*
 * cmp-sim: many cmpfs nodes, memservers and a manager in one process, on
 * the real libraries (pool/, the peer service, the manager and its
 * client) in stepped mode (include/cmp/util.h): one thread, mem://
 * streams in memory, every server serving on the caller's thread, every
 * background loop run by its step each tick, time the simulator's own.
 * Pools keep no block contents (pool_config.no_contents). A workload
 * trace (trace.c: generated from a seed, or read from a file) drives the
 * nodes; report.c samples what the issue asks for into a CSV and checks
 * the invariants at the end.
 *
 * Everything here runs on the one thread; nothing is locked.
 */
#ifndef CMP_SIM_H
#define CMP_SIM_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#define SIM_BS 4096u /* the cluster's block size: the smallest */
#define SIM_MS 1000000ull

/* ---- the workload (trace.c) ---- */

enum sim_op {
	OP_JOIN,    /* arg: local blocks (compute) */
	OP_JOIN_MS, /* arg: blocks (a memserver) */
	OP_ALLOC,   /* arg: blocks to allocate */
	OP_FREE,    /* arg: blocks to free (random ones of the node's) */
	OP_READ,    /* arg: random blocks to read 512 bytes of */
	OP_LEAVE,   /* a clean leave: drain, then goodbye */
	OP_DIE,	    /* a crash: nobody is told */
	OP_NOPS
};

struct sim_event {
	uint64_t t_ms;
	uint32_t node; /* index, 0-based; node id = index + 1 */
	uint32_t op;   /* enum sim_op */
	uint32_t arg;
};

struct sim_gen {
	uint32_t nodes;	     /* compute nodes */
	uint32_t memservers; /* 0: nodes / 50, at least 1 */
	uint64_t blocks;     /* capacity in all (compute + memservers) */
	uint32_t seconds;    /* workload length */
	uint64_t seed;
	uint32_t joins, leaves, deaths; /* percent of the compute nodes */
	uint32_t load; /* percent: scales every node's demand (100: as is) */
};

struct sim_trace {
	struct sim_event *ev;
	size_t n, cap;
	uint32_t nodes;	 /* indexes used: 0 .. nodes-1 */
	uint64_t end_ms; /* the last event's time */
};

const char *sim_op_name(uint32_t op);
/* A workload from g (see trace.c for its shape). 0 or -errno. */
int sim_trace_generate(const struct sim_gen *g, struct sim_trace *t);
/* Reads or writes the text form ("T_MS NODE OP [ARG]" a line, # notes). */
int sim_trace_read(const char *path, struct sim_trace *t);
int sim_trace_write(const char *path, const struct sim_trace *t,
		    const char *note);
void sim_trace_finish(struct sim_trace *t);

/* ---- the simulated cluster (world.c) ---- */

enum sim_state {
	NODE_ABSENT, /* not joined yet */
	NODE_ALIVE,
	NODE_LEAVING, /* draining what it holds for others */
	NODE_LEFT,
	NODE_DEAD,
};

struct cluster;
struct manager;
struct ms_store;
struct mgr_client;
struct peer;
struct pool;

struct sim_node {
	uint32_t id;
	bool memserver;
	enum sim_state state;
	uint32_t local; /* blocks it contributes */
	struct pool *pool;
	struct cluster *cl;
	struct peer *peer; /* the cluster's, or the memserver's own */
	/* a memserver's */
	struct ms_store *store;
	struct mgr_client *mgr;
	/* the handles of its data (compute) */
	uint32_t *h;
	size_t nh, caph;
	uint64_t lease_at; /* memserver: its next lease check */
	bool debt_lending; /* at the last step: lends while it borrows */
};

/* What the nodes did, beyond the pools' own counters. */
struct sim_totals {
	uint64_t allocs, alloc_fail, frees, reads, read_fail;
	uint64_t joins, leaves, deaths;
	/* data that went with nodes that left or died (theirs to lose) */
	uint64_t gone_with_owner;
	/*
	 * Lending while in debt, looked at after every step of every node:
	 * the times a node began to (incidents), the node-ticks it did.
	 */
	uint64_t debt_incidents, debt_ticks;
};

/* The moves counted by pools that are gone (left, died). */
struct sim_retired {
	uint64_t evictions, homecomings, lent_moved, followed;
};

struct sim_world {
	struct sim_node *node;
	uint32_t nnodes;
	struct manager *mgr;
	uint64_t now_ns; /* the clock of every library (cmp_set_clock) */
	uint32_t lease_ms, heartbeat_ms;
	uint64_t rng;
	struct sim_totals tot;
	struct sim_retired retired;
};

int sim_world_init(struct sim_world *w, uint32_t nnodes, uint32_t lease_ms,
		   uint32_t heartbeat_ms, uint64_t seed);
/* One event at the world's time; failures are counted, not fatal. */
void sim_world_apply(struct sim_world *w, const struct sim_event *e);
/* The manager's and every node's steps, and the leaves under way. */
void sim_world_step(struct sim_world *w);
void sim_world_finish(struct sim_world *w);
uint64_t sim_rand(struct sim_world *w);

/* ---- what is measured (report.c) ---- */

struct sim_sample {
	double t_s, wall_s;
	uint32_t compute, memservers;
	uint64_t data, lll, lrl, rll, ms_lent, free, rrl;
	uint64_t capacity;
	uint64_t allocs, alloc_fail;
	uint64_t mgr_msgs, find_free, heartbeats, registers, nodes_queries;
	uint64_t could_be_local;
	uint64_t evictions, homecomings, lent_moved, followed, lost;
	uint32_t debt_nodes; /* lending (RLL) while borrowing (LRL) */
	uint64_t meta_bytes, heap_bytes;
	/* meta_bytes by part: the pools', the loan tables', the providers' */
	uint64_t meta_pool, meta_loans, meta_remote;
	uint64_t conns;
};

void sim_sample(struct sim_world *w, double wall_s, struct sim_sample *s);
void sim_csv_header(FILE *f);
/* A row; prev (NULL for the first) gives the interval's rates. */
void sim_csv_row(FILE *f, const struct sim_sample *s,
		 const struct sim_sample *prev);

/*
 * The invariants (after the workload settled): every live node's lists
 * add up; every loan an owner holds is held for it by its provider and no
 * provider holds one nobody claims (per owner and provider); no block was
 * lost; no node lends while it borrows; no forwarding record is left.
 * Prints what fails to out; returns how many failed.
 */
int sim_check(struct sim_world *w, FILE *out);

#endif
