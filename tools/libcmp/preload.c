// SPDX-License-Identifier: MIT
/*
 * libcmp-preload.so: LD_PRELOAD=libcmp-preload.so puts a program's large
 * allocations in the cmpfs pool without changing it. malloc, calloc,
 * realloc, free, posix_memalign, aligned_alloc, memalign and
 * malloc_usable_size are ours: a request of at least CMP_PRELOAD_MIN
 * bytes (default 1 MiB; K, M, G suffixes) goes to cmp_malloc() in CMP_DIR
 * (default /cmp), anything smaller, or anything the pool cannot take (it
 * is full, CMP_DIR is not a cmpfs mount), to the next allocator in line
 * (the C library's), found with dlsym(RTLD_NEXT).
 *
 * Bootstrap: dlsym() itself may allocate (glibc's dlerror buffer) before
 * we know the next allocator; the thread that resolves it is served from
 * a small static arena meanwhile, and other threads wait for it
 * (pthread_once). Memory from that arena is never given back. Our own
 * pool code never allocates, and whatever the C library allocates on its
 * behalf (libcmp_busy()) goes to the next allocator, so nothing recurses.
 *
 * The cmpfs daemons themselves never use the pool, even when they inherit
 * LD_PRELOAD (from a shell through mount(8)): a FUSE daemon that faults
 * its own memory in through its own mount would wait on itself.
 */
#include <dlfcn.h>
#include <errno.h>
#include <malloc.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "cmp/libcmp.h"
#include "libcmp-internal.h"

#define EXPORT __attribute__((visibility("default")))
#define BOOT_SIZE (256 * 1024)
#define BOOT_ALIGN 16

static void *(*next_malloc)(size_t);
static void (*next_free)(void *);
static void *(*next_calloc)(size_t, size_t);
static void *(*next_realloc)(void *, size_t);
static int (*next_posix_memalign)(void **, size_t, size_t);
static void *(*next_aligned_alloc)(size_t, size_t);
static void *(*next_memalign)(size_t, size_t);
static size_t (*next_usable_size)(void *);

static pthread_once_t resolve_once = PTHREAD_ONCE_INIT;
static atomic_bool resolved;
static __thread bool resolving __attribute__((tls_model("initial-exec")));
static size_t threshold = 1u << 20;

static _Alignas(BOOT_ALIGN) char boot[BOOT_SIZE];
static atomic_size_t boot_used;

/* ---- the bootstrap arena: a size header, then the block ---- */

static void *boot_alloc(size_t size)
{
	size_t need = BOOT_ALIGN + ((size + BOOT_ALIGN - 1) & ~(size_t)15);
	size_t at = atomic_fetch_add(&boot_used, need);

	if (size > BOOT_SIZE || at + need > BOOT_SIZE) {
		errno = ENOMEM;
		return NULL;
	}
	*(size_t *)(boot + at) = size;
	return boot + at + BOOT_ALIGN; /* static memory: already zero */
}

static bool in_boot(const void *p)
{
	return (const char *)p >= boot && (const char *)p < boot + BOOT_SIZE;
}

static size_t boot_size(const void *p)
{
	return *(const size_t *)((const char *)p - BOOT_ALIGN);
}

/* ---- finding the next allocator ---- */

/* "1M", "64K", "1048576": bytes; 0 when not a size. */
static size_t parse_size(const char *s)
{
	char *end;
	unsigned long long v = strtoull(s, &end, 10);
	int shift = 0;

	if (end == s)
		return 0;
	switch (*end) {
	case 'k':
	case 'K':
		shift = 10;
		end++;
		break;
	case 'm':
	case 'M':
		shift = 20;
		end++;
		break;
	case 'g':
	case 'G':
		shift = 30;
		end++;
		break;
	}
	if (*end || v > (SIZE_MAX >> shift))
		return 0;
	return (size_t)(v << shift);
}

static void resolve(void)
{
	const char *min = getenv("CMP_PRELOAD_MIN");

	resolving = true;
	next_malloc = dlsym(RTLD_NEXT, "malloc");
	next_free = dlsym(RTLD_NEXT, "free");
	next_calloc = dlsym(RTLD_NEXT, "calloc");
	next_realloc = dlsym(RTLD_NEXT, "realloc");
	next_posix_memalign = dlsym(RTLD_NEXT, "posix_memalign");
	next_aligned_alloc = dlsym(RTLD_NEXT, "aligned_alloc");
	next_memalign = dlsym(RTLD_NEXT, "memalign");
	next_usable_size = dlsym(RTLD_NEXT, "malloc_usable_size");
	if (min && parse_size(min))
		threshold = parse_size(min);
	if (!strcmp(program_invocation_short_name, "cmpfs") ||
	    !strcmp(program_invocation_short_name, "cmp-manager") ||
	    !strcmp(program_invocation_short_name, "cmp-memserver"))
		threshold = SIZE_MAX;
	resolving = false;
	atomic_store(&resolved, true);
}

/* False while this thread is inside dlsym() (use the arena). */
static bool ready(void)
{
	if (atomic_load_explicit(&resolved, memory_order_acquire))
		return true;
	if (resolving)
		return false;
	pthread_once(&resolve_once, resolve);
	return next_malloc != NULL;
}

static bool to_pool(size_t size)
{
	return size >= threshold && !libcmp_busy();
}

/* ---- the allocator ---- */

EXPORT void *malloc(size_t size)
{
	void *p;

	if (!ready())
		return boot_alloc(size);
	if (to_pool(size) && (p = cmp_malloc(size)))
		return p;
	return next_malloc(size);
}

EXPORT void free(void *ptr)
{
	if (!ptr || in_boot(ptr))
		return;
	if (libcmp_maybe_ours(ptr) && libcmp_release(ptr))
		return;
	if (ready())
		next_free(ptr);
}

EXPORT void *calloc(size_t nmemb, size_t size)
{
	void *p;

	if (size && nmemb > SIZE_MAX / size) {
		errno = ENOMEM;
		return NULL;
	}
	if (!ready())
		return boot_alloc(nmemb * size);
	if (to_pool(nmemb * size) && (p = cmp_calloc(nmemb, size)))
		return p;
	return next_calloc(nmemb, size);
}

/* Moves ptr's first `keep` bytes to a new block of size, frees ptr. */
static void *move(void *ptr, size_t keep, size_t size)
{
	void *q = malloc(size);

	if (!q)
		return NULL;
	memcpy(q, ptr, keep < size ? keep : size);
	free(ptr);
	return q;
}

EXPORT void *realloc(void *ptr, size_t size)
{
	size_t have;

	if (!ptr)
		return malloc(size);
	if (in_boot(ptr))
		return move(ptr, boot_size(ptr), size);
	if (!size) {
		free(ptr);
		return NULL;
	}
	if (libcmp_maybe_ours(ptr) && (have = cmp_usable_size(ptr)))
		return size <= have ? ptr : move(ptr, have, size);
	if (!ready())
		return NULL;
	if (to_pool(size))
		return move(ptr, next_usable_size(ptr), size);
	return next_realloc(ptr, size);
}

/* Pool mappings are page-aligned: larger alignments go to the next. */
static bool pool_aligns(size_t align, size_t size)
{
	return to_pool(size) && align <= libcmp_page_size();
}

EXPORT int posix_memalign(void **out, size_t align, size_t size)
{
	void *p;

	if (!align || (align & (align - 1)) || align % sizeof(void *))
		return EINVAL;
	if (!ready())
		return ENOMEM; /* dlsym never asks for aligned memory */
	if (pool_aligns(align, size) && (p = cmp_malloc(size))) {
		*out = p;
		return 0;
	}
	return next_posix_memalign(out, align, size);
}

EXPORT void *aligned_alloc(size_t align, size_t size)
{
	void *p;

	if (!ready())
		return NULL;
	if (pool_aligns(align, size) && (p = cmp_malloc(size)))
		return p;
	return next_aligned_alloc(align, size);
}

EXPORT void *memalign(size_t align, size_t size)
{
	void *p;

	if (!ready())
		return NULL;
	if (pool_aligns(align, size) && (p = cmp_malloc(size)))
		return p;
	return next_memalign(align, size);
}

EXPORT size_t malloc_usable_size(void *ptr)
{
	size_t have;

	if (!ptr)
		return 0;
	if (in_boot(ptr))
		return boot_size(ptr);
	if (libcmp_maybe_ours(ptr) && (have = cmp_usable_size(ptr)))
		return have;
	return ready() ? next_usable_size(ptr) : 0;
}
