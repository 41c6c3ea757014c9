/* SPDX-License-Identifier: MIT */
/*
 * libcmp: malloc-like calls that put the memory they return in the cmpfs
 * pool (the paper's "malloc-like mapper" interface), for programs that
 * choose which of their data lives there. Link with -lcmp; or, without
 * changing a program, LD_PRELOAD=libcmp-preload.so sends every allocation
 * of at least CMP_PRELOAD_MIN bytes (default 1 MiB) to the pool and the
 * rest to the C library's allocator.
 *
 * Each allocation is a file of its own in a directory on a cmpfs mount,
 * unlinked as soon as it is made (nothing is left behind when the program
 * dies), with its blocks allocated up front (fallocate: a full pool fails
 * the call instead of raising SIGBUS later) and mapped MAP_SHARED; its
 * pages fault in from the pool and are written back to it. cmp_free()
 * unmaps it, and cmpfs frees the blocks. Every allocation takes whole pool
 * blocks (the mount's block= size, 1 MiB by default): use it for large
 * objects, not for many small ones.
 *
 * Memory: what cmp_malloc() and friends return is the caller's until
 * cmp_free() (or cmp_realloc()); pointers from the C library must not be
 * given to cmp_free() or cmp_realloc(), nor ours to free().
 * After fork() a child does not have its parent's pool allocations
 * (MADV_DONTFORK: they are shared mappings, which a child would otherwise
 * write through into its parent's data); fork() then exec() is fine.
 *
 * Thread-safety: every call is thread-safe. Errors: the allocators return
 * NULL with errno set (ENOMEM when the pool is full); cmp_init() returns 0
 * or -errno.
 */
#ifndef CMP_LIBCMP_H
#define CMP_LIBCMP_H

#include <stdbool.h>
#include <stddef.h>

#ifdef __cplusplus
extern "C" {
#endif

/*
 * Where allocations go: dir, a directory on a cmpfs mount. With dir NULL,
 * the environment variable CMP_DIR, else /cmp. Refuses (-ENOTSUP) a
 * directory that is not on a FUSE file system, and says why on stderr
 * once. Optional: the first allocation calls cmp_init(NULL). Calling it
 * again changes where later allocations go; earlier ones stay valid.
 */
int cmp_init(const char *dir);

/* As malloc(3), calloc(3), realloc(3) and free(3), for pool memory. */
void *cmp_malloc(size_t size);
void *cmp_calloc(size_t nmemb, size_t size);
/*
 * Grows in place while size fits the pages already mapped, else moves the
 * data to a new allocation. cmp_realloc(NULL, n) is cmp_malloc(n);
 * cmp_realloc(p, 0) frees p and returns NULL.
 */
void *cmp_realloc(void *ptr, size_t size);
void cmp_free(void *ptr);

/* Whether ptr is an allocation of ours (not freed yet). */
bool cmp_owns(const void *ptr);
/* Bytes usable at ptr (whole pages), 0 for a pointer that is not ours. */
size_t cmp_usable_size(const void *ptr);

#ifdef __cplusplus
}
#endif

#endif
