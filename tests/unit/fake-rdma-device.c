// SPDX-License-Identifier: MIT
/*
 * Gives the fake fabric of fake-rdma.c one device from the start, so
 * cmp-rdma-selftest linked against it runs its whole loopback check (the
 * pattern checks, latency and bandwidth code) on a machine without RDMA.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>

#include "fake-rdma.h"

__attribute__((constructor)) static void one_fake_device(void)
{
	F.devices = 1;
}
