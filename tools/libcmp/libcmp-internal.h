/* SPDX-License-Identifier: MIT */
/*
 * What libcmp.c gives the LD_PRELOAD wrappers (preload.c) besides the
 * public calls of include/cmp/libcmp.h. Thread-safe; none of these calls
 * the C library's allocator, so the wrappers may call them from inside
 * malloc().
 */
#ifndef CMP_LIBCMP_INTERNAL_H
#define CMP_LIBCMP_INTERNAL_H

#include <stdbool.h>
#include <stddef.h>

#define LIBCMP_HIDDEN __attribute__((visibility("hidden")))

/*
 * True while this thread is inside libcmp (making a pool file): an
 * allocation the C library makes on our behalf then must not come back
 * to the pool.
 */
LIBCMP_HIDDEN bool libcmp_busy(void);

/*
 * Whether ptr may be ours, without taking the lock: false for a pointer
 * that is not page-aligned or lies outside every mapping made so far.
 */
LIBCMP_HIDDEN bool libcmp_maybe_ours(const void *ptr);

/* Unmaps ptr if it is ours and returns true; false (nothing done) if not. */
LIBCMP_HIDDEN bool libcmp_release(void *ptr);

/* The page size, known without a call once libcmp has started. */
LIBCMP_HIDDEN size_t libcmp_page_size(void);

#endif
