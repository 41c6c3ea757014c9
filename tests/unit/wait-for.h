/* SPDX-License-Identifier: MIT */
/*
 * For unit tests that wait on other threads: wait_for() polls a condition
 * every 2 ms until it holds or the deadline passes, so a test never sleeps
 * blindly and never hangs.
 */
#ifndef CMP_TEST_WAIT_FOR_H
#define CMP_TEST_WAIT_FOR_H

#include <stdbool.h>
#include <stdint.h>
#include <time.h>

#include "cmp/util.h"

/* True once cond(arg) holds; false when deadline_ms passed first. */
static inline bool wait_for(bool (*cond)(void *), void *arg, int deadline_ms)
{
	uint64_t end = cmp_now_ns() + (uint64_t)deadline_ms * 1000000ull;
	struct timespec ts = {0, 2000000};

	while (!cond(arg)) {
		if (cmp_now_ns() > end)
			return false;
		nanosleep(&ts, NULL);
	}
	return true;
}

#endif
