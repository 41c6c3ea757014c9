// SPDX-License-Identifier: MIT
/*
 * Gives the fake fabric of fake-rdma.c one device from the start, so
 * cmp-rdma-selftest linked against it runs its whole loopback check (the
 * pattern checks, grants and revokes, latency and bandwidth code) on a
 * machine without RDMA. CMP_FAKE_RDMA_NO_MW=1 makes it a device without
 * memory windows, to run the self-test's fallback path.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>

#include "fake-rdma.h"

__attribute__((constructor)) static void one_fake_device(void)
{
	const char *no_mw = getenv("CMP_FAKE_RDMA_NO_MW");

	F.devices = 1;
	F.no_mw = no_mw && !strcmp(no_mw, "1");
}
