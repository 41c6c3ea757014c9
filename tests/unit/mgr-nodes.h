/* SPDX-License-Identifier: MIT */
/*
 * The fake nodes of the manager tests (test-mgrclient.c, test-mgrstate.c):
 * a real manager client per node whose counts the test sets, which records
 * every NODE_STATE push it hears, and a real manager, all over mem://
 * addresses unique to the test process. Include after <cmocka.h>.
 */
#ifndef CMP_TEST_MGR_NODES_H
#define CMP_TEST_MGR_NODES_H

#include <pthread.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "cmp/auth.h"
#include "cmp/mgr.h"
#include "manager.h"

#define HB_MS 50
/* 5 s: no test node is that silent by accident, even on a loaded machine */
#define SUSPECT_AFTER 100
/* 250 ms: for the tests of silence */
#define SUSPECT_AFTER_QUICK 5
#define DEADLINE_MS 5000
#define BS 65536

/* One NODE_STATE push as a node heard it. */
struct heard {
	uint32_t node;
	uint8_t state;
	char addr[PROTO_MGR_ADDR_LEN];
};

/* What one fake node reports and what it heard. */
struct node {
	uint32_t id;
	pthread_mutex_t lock;
	pthread_cond_t cond;
	struct proto_mgr_counts counts;
	struct proto_mgr_traffic traffic;
	bool hold; /* counts() blocks while set: the node goes silent */
	struct heard heard[64];
	size_t nheard;
	struct mgr_client *c;
	char listen[64];
};

/* The manager address of the current test (next_addr() makes a new one). */
extern char mgr_addr[64];
void next_addr(void);

struct mgr_client *start_client(struct node *n, uint32_t id, unsigned int kind,
				uint64_t free, struct auth_keyring *kr);
/* Destroys the client without LEAVE: to the manager, a crash. */
void stop_client(struct node *n);
/* A clean shutdown: LEAVE (its result returned), then destroy. */
int leave_client(struct node *n);
void set_counts(struct node *n, const struct proto_mgr_counts *counts);
void set_traffic(struct node *n, const struct proto_mgr_traffic *traffic);
/* Stalls (or lets go of) the node's heartbeat thread in its callback. */
void hold_node(struct node *n, bool hold);

/* A manager at mgr_addr: patient (SUSPECT_AFTER) or quick to suspect. */
struct manager *start_manager(struct auth_keyring *kr);
struct manager *start_manager_quick(void);
/* One whose nodes heartbeat once a minute: only snapshots are fresh. */
struct manager *start_manager_slow(void);

/* The manager's view of one node, through a client's NODES query. */
bool lookup(struct mgr_client *c, uint32_t id, struct mgr_node_info *o);

/* wait_for() conditions. */
struct expect {
	struct mgr_client *via;
	uint32_t id;
	uint8_t state;
	uint64_t lll;
};
bool node_is(void *expect);    /* state and lll as expected */
bool registered(void *client); /* mgr_client_registered() */
struct hear {
	struct node *n;
	uint32_t id;
	uint8_t state;
};
bool has_heard(void *hear); /* n heard id go to state */

/* Pushes n heard about id (any state, state 0) or to state. */
size_t heard_count(struct node *n, uint32_t id, uint8_t state);

#endif
