// SPDX-License-Identifier: MIT
/*
 * libcmp (include/cmp/libcmp.h): every allocation is an unlinked file of
 * a cmpfs mount, its blocks allocated up front and mapped MAP_SHARED. A
 * registry (an open-addressing hash table in memory of its own) maps each
 * address we returned to its length, so that free and realloc know our
 * pointers from the C library's. Nothing here calls malloc(): the same
 * code serves libcmp-preload.so, which runs inside malloc().
 *
 * Locks: reg_lock protects the registry; dir_lock (a rwlock) the pool
 * directory's fd, held for reading while a file is made in it. Never both.
 */
#include <errno.h>
#include <fcntl.h>
#include <linux/magic.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/vfs.h>
#include <unistd.h>

#include "cmp/libcmp.h"
#include "libcmp-internal.h"

#ifndef FUSE_SUPER_MAGIC
#define FUSE_SUPER_MAGIC 0x65735546
#endif

#define REG_BITS 18 /* up to 3/4 of 256Ki live allocations */
#define REG_SIZE (1ul << REG_BITS)
#define NAME_TRIES 8

struct entry {
	uintptr_t addr; /* 0: empty slot */
	size_t len;	/* bytes mapped, whole pages */
};

static pthread_mutex_t reg_lock = PTHREAD_MUTEX_INITIALIZER;
static struct entry *reg; /* REG_SIZE slots, reg_lock */
static size_t reg_count;  /* reg_lock */
static _Atomic uintptr_t reg_lo = UINTPTR_MAX, reg_hi; /* mapped range */

static pthread_rwlock_t dir_lock = PTHREAD_RWLOCK_INITIALIZER;
static int dir_fd = -1; /* dir_lock */

static pthread_once_t init_once = PTHREAD_ONCE_INIT;
static _Atomic unsigned long name_seq;
static size_t page_size = 4096;
/* initial-exec: no allocation on first use, even inside malloc() */
static __thread int busy __attribute__((tls_model("initial-exec")));

/* ---- messages: stderr, one line, no stdio (we may be inside malloc) ---- */

static void say(const char *a, const char *b, const char *c)
{
	char line[512];
	size_t n = 0;
	const char *parts[] = {"libcmp: ", a, b, c, "\n"};

	for (size_t i = 0; i < sizeof(parts) / sizeof(parts[0]); i++) {
		size_t len = parts[i] ? strlen(parts[i]) : 0;

		if (len > sizeof(line) - n - 1)
			len = sizeof(line) - n - 1;
		memcpy(line + n, parts[i], len);
		n += len;
	}
	if (write(STDERR_FILENO, line, n) < 0)
		return;
}

bool libcmp_busy(void)
{
	return busy > 0;
}

size_t libcmp_page_size(void)
{
	return page_size;
}

/* ---- the registry ---- */

static size_t slot_of(uintptr_t addr)
{
	return (size_t)(((uint64_t)(addr >> 12) * 0x9e3779b97f4a7c15ull) >>
			(64 - REG_BITS));
}

/* The slot of addr, or of the empty slot where it would go. */
static size_t find_locked(uintptr_t addr)
{
	size_t i = slot_of(addr);

	while (reg[i].addr && reg[i].addr != addr)
		i = (i + 1) & (REG_SIZE - 1);
	return i;
}

static int reg_insert(void *p, size_t len)
{
	uintptr_t a = (uintptr_t)p, lo, hi;
	int ret = 0;

	pthread_mutex_lock(&reg_lock);
	if (!reg) {
		reg = mmap(NULL, REG_SIZE * sizeof(*reg),
			   PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS,
			   -1, 0);
		if (reg == MAP_FAILED) {
			reg = NULL;
			ret = -ENOMEM;
			goto out_unlock;
		}
	}
	if (reg_count >= REG_SIZE / 4 * 3) {
		ret = -ENOMEM;
		goto out_unlock;
	}
	reg[find_locked(a)] = (struct entry){.addr = a, .len = len};
	reg_count++;
	lo = atomic_load(&reg_lo);
	hi = atomic_load(&reg_hi);
	if (a < lo)
		atomic_store(&reg_lo, a);
	if (a + len > hi)
		atomic_store(&reg_hi, a + len);
out_unlock:
	pthread_mutex_unlock(&reg_lock);
	return ret;
}

/* Linear probing deletes by moving later entries of the run back. */
static void remove_slot_locked(size_t i)
{
	size_t j = i;

	reg[i].addr = 0;
	for (;;) {
		size_t home;

		j = (j + 1) & (REG_SIZE - 1);
		if (!reg[j].addr)
			break;
		home = slot_of(reg[j].addr);
		/* May reg[j] move to the hole at i? Only if i is between its
		 * home and j, cyclically. */
		if ((j > i && (home <= i || home > j)) ||
		    (j < i && home <= i && home > j)) {
			reg[i] = reg[j];
			reg[j].addr = 0;
			i = j;
		}
	}
	reg_count--;
}

/* The length of ptr's mapping (and, with take, forget it), 0 if not ours. */
static size_t reg_lookup(const void *ptr, bool take)
{
	size_t i, len = 0;

	if (!libcmp_maybe_ours(ptr))
		return 0;
	pthread_mutex_lock(&reg_lock);
	if (reg && reg_count) {
		i = find_locked((uintptr_t)ptr);
		len = reg[i].addr ? reg[i].len : 0;
		if (len && take)
			remove_slot_locked(i);
	}
	pthread_mutex_unlock(&reg_lock);
	return len;
}

bool libcmp_maybe_ours(const void *ptr)
{
	uintptr_t a = (uintptr_t)ptr;

	return !(a & (page_size - 1)) && a >= atomic_load(&reg_lo) &&
	       a < atomic_load(&reg_hi);
}

/* ---- the pool directory ---- */

int cmp_init(const char *dir)
{
	struct statfs sf;
	int fd, old, err;

	if (!dir)
		dir = getenv("CMP_DIR");
	if (!dir || !*dir)
		dir = "/cmp";
	fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (fd < 0) {
		err = -errno;
		say(dir, ": ", strerror(-err));
		return err;
	}
	if (fstatfs(fd, &sf) || sf.f_type != FUSE_SUPER_MAGIC) {
		say(dir, " is not on a cmpfs mount", " (set CMP_DIR)");
		close(fd);
		return -ENOTSUP;
	}
	pthread_rwlock_wrlock(&dir_lock);
	old = dir_fd;
	dir_fd = fd;
	pthread_rwlock_unlock(&dir_lock);
	if (old >= 0)
		close(old);
	return 0;
}

/* The lock is held across fork(), so a child never inherits it held. */
static void fork_prepare(void)
{
	pthread_mutex_lock(&reg_lock);
}

static void fork_done(void)
{
	pthread_mutex_unlock(&reg_lock);
}

/* Once, before the first allocation: cmp_init(NULL) unless it was called. */
static void init_default(void)
{
	long ps = sysconf(_SC_PAGESIZE);
	bool have_dir;

	if (ps > 0)
		page_size = (size_t)ps;
	pthread_atfork(fork_prepare, fork_done, fork_done);
	pthread_rwlock_rdlock(&dir_lock);
	have_dir = dir_fd >= 0;
	pthread_rwlock_unlock(&dir_lock);
	if (!have_dir)
		cmp_init(NULL);
}

/* "libcmp-PID-SEQ": unique within the directory while we hold it open. */
static void file_name(char *buf, unsigned long pid, unsigned long seq)
{
	char digits[48];
	size_t n = 0, k;

	memcpy(buf, "libcmp-", 7);
	k = 7;
	do
		digits[n++] = (char)('0' + pid % 10);
	while (pid /= 10);
	while (n)
		buf[k++] = digits[--n];
	buf[k++] = '-';
	do
		digits[n++] = (char)('0' + seq % 10);
	while (seq /= 10);
	while (n)
		buf[k++] = digits[--n];
	buf[k] = '\0';
}

/* An unlinked file of len bytes in the pool directory, its blocks made. */
static int make_file(size_t len)
{
	char name[64];
	int fd = -1, err = 0;

	pthread_rwlock_rdlock(&dir_lock);
	if (dir_fd < 0) {
		/* cmp_init() said why, once */
		pthread_rwlock_unlock(&dir_lock);
		return -ENOTSUP;
	}
	for (int i = 0; i < NAME_TRIES && fd < 0; i++) {
		file_name(name, (unsigned long)getpid(),
			  atomic_fetch_add(&name_seq, 1));
		fd = openat(dir_fd, name,
			    O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW,
			    0600);
		err = fd < 0 ? errno : 0;
		if (fd < 0 && err != EEXIST)
			break;
	}
	if (fd >= 0)
		unlinkat(dir_fd, name, 0);
	pthread_rwlock_unlock(&dir_lock);
	if (fd < 0)
		return -err;
	/* Blocks now: a full pool fails here, not with SIGBUS on a store. */
	if (fallocate(fd, 0, 0, (off_t)len)) {
		err = errno == ENOSPC ? ENOMEM : errno;
		close(fd);
		return -err;
	}
	return fd;
}

static void *pool_map(size_t size)
{
	size_t len;
	void *p = NULL;
	int fd, err;

	busy++;
	pthread_once(&init_once, init_default);
	busy--;
	if (!size)
		size = 1;
	if (size > SIZE_MAX - page_size) {
		errno = ENOMEM;
		return NULL;
	}
	len = (size + page_size - 1) & ~(page_size - 1);
	busy++;
	fd = make_file(len);
	if (fd < 0) {
		err = -fd;
		goto out;
	}
	p = mmap(NULL, len, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
	err = p == MAP_FAILED ? errno : 0;
	close(fd);
	if (p == MAP_FAILED) {
		p = NULL;
		goto out;
	}
	/* A child would write through a shared mapping into our data. */
	madvise(p, len, MADV_DONTFORK);
	err = -reg_insert(p, len);
	if (err) {
		munmap(p, len);
		p = NULL;
	}
out:
	busy--;
	if (!p)
		errno = err;
	return p;
}

/* ---- the calls ---- */

void *cmp_malloc(size_t size)
{
	return pool_map(size);
}

void *cmp_calloc(size_t nmemb, size_t size)
{
	if (size && nmemb > SIZE_MAX / size) {
		errno = ENOMEM;
		return NULL;
	}
	/* Blocks fresh from fallocate read as zeros. */
	return pool_map(nmemb * size);
}

bool libcmp_release(void *ptr)
{
	size_t len = reg_lookup(ptr, true);

	if (!len)
		return false;
	munmap(ptr, len);
	return true;
}

void cmp_free(void *ptr)
{
	if (ptr)
		libcmp_release(ptr);
}

void *cmp_realloc(void *ptr, size_t size)
{
	size_t len;
	void *q;

	if (!ptr)
		return cmp_malloc(size);
	if (!size) {
		cmp_free(ptr);
		return NULL;
	}
	len = reg_lookup(ptr, false);
	if (!len) {
		errno = EINVAL;
		return NULL;
	}
	if (size <= len)
		return ptr;
	q = cmp_malloc(size);
	if (!q)
		return NULL;
	memcpy(q, ptr, len);
	cmp_free(ptr);
	return q;
}

bool cmp_owns(const void *ptr)
{
	return reg_lookup(ptr, false) != 0;
}

size_t cmp_usable_size(const void *ptr)
{
	return reg_lookup(ptr, false);
}
