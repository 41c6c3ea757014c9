/* SPDX-License-Identifier: MIT */
/*
 * The block contents of the pool tests: len bytes made from a seed (an
 * xorshift stream), so that a block read back can be checked byte for
 * byte and two seeds never give the same bytes.
 */
#ifndef CMP_TEST_PATTERN_H
#define CMP_TEST_PATTERN_H

#include <stddef.h>
#include <stdint.h>

static inline void pattern_fill(uint8_t *buf, size_t len, uint32_t seed)
{
	uint32_t x = seed * 2654435761u + 1;

	for (size_t i = 0; i < len; i++) {
		x ^= x << 13;
		x ^= x >> 17;
		x ^= x << 5;
		buf[i] = (uint8_t)x;
	}
}

#endif
