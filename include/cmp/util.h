/* SPDX-License-Identifier: MIT */
/*
 * Small helpers shared by every program: size parsing and formatting, time,
 * iovec lengths.
 * All pure and thread-safe.
 */
#ifndef CMP_UTIL_H
#define CMP_UTIL_H

#include <stdbool.h>
#include <stddef.h>
#include <pthread.h>
#include <stdint.h>
#include <time.h>
#include <sys/uio.h>

#define CMP_VERSION "0.1.0"

#define ARRAY_SIZE(a) (sizeof(a) / sizeof((a)[0]))
#define MIN(a, b) ((a) < (b) ? (a) : (b))
#define MAX(a, b) ((a) > (b) ? (a) : (b))

/*
 * Parses "4096", "64K", "512M", "2G", "1T" (binary multiples, optional
 * trailing "iB"/"B"). Returns 0 and stores the value, or -EINVAL for
 * malformed text, -ERANGE on overflow.
 */
int cmp_parse_size(const char *text, uint64_t *out);

/* Formats bytes as "1.5 GiB" into buf; returns buf. */
char *cmp_format_size(uint64_t bytes, char *buf, size_t len);

/* Bytes in iov[0..iovcnt). */
size_t cmp_iov_total(const struct iovec *iov, int iovcnt);

/* Monotonic clock in nanoseconds (or the simulator's, below). */
uint64_t cmp_now_ns(void);

/* A condition variable whose timed waits count on the monotonic clock. */
void cmp_cond_init_monotonic(pthread_cond_t *cond);
/* The monotonic time ms from now, for pthread_cond_timedwait(). */
void cmp_deadline_ms(struct timespec *ts, uint64_t ms);

/*
 * This process's incarnation: a random nonzero number drawn once per
 * process start, sent in the handshake so that peers can tell a restarted
 * node from one that was merely unreachable.
 */
uint64_t cmp_incarnation(void);

/*
 * Daemon start-up in two steps, shared by every daemon. cmp_detach() forks
 * before any thread is started (threads do not survive a fork); the parent
 * waits and exits with the child's verdict, so a busy port or a refused
 * key shows on the exit code and, logged to stderr until then, on the
 * terminal. cmp_detach_done(0, log_fd) after start-up: stdio goes to
 * /dev/null (stderr to log_fd when >= 0, which it closes; else logging
 * moves to syslog). cmp_detach_done(status != 0) lets the parent exit with
 * status. Both are no-ops without a detached parent waiting.
 */
int cmp_detach(void);
void cmp_detach_done(int status, int log_fd);

/*
 * Makes a daemon fit to serve swap (it must keep running while the kernel
 * is short of memory): locks its memory (mlockall(MCL_CURRENT | MCL_FUTURE
 * | MCL_ONFAULT), skipped when lock_memory is false), exempts it from the
 * OOM killer (oom_score_adj -1000) and marks it an I/O flusher
 * (PR_SET_IO_FLUSHER, so its allocations do not recurse into the I/O it
 * serves). The flag is per thread and inherited by threads created later,
 * and locks do not survive fork(): call after cmp_detach(), before any
 * thread starts. Each step that fails (EPERM without the capability, an
 * old kernel) is one warning line; the daemon goes on.
 */
void cmp_daemon_protect(bool lock_memory);

/*
 * The simulator's hooks (tools/cmp-sim runs many nodes of the real
 * libraries in one process, on one thread). Both are set once, before any
 * library object is created, and never changed while one lives.
 *
 * cmp_set_clock(now, ctx): cmp_now_ns() returns now(ctx) from then on
 * (NULL: the monotonic clock again), so every timer of the libraries
 * (heartbeats, suspicion, leases, keepalives, retries, the log's rate
 * limits) runs on the caller's time. Deadlines of waits on condition
 * variables stay on the real clock: in stepped mode nothing waits.
 *
 * cmp_set_stepped(true): the libraries start no threads. mem:// streams
 * carry their bytes in memory, and a server (include/cmp/server.h) serves
 * each request on the thread that sent it, before the send returns, so a
 * reply is there when its caller reads; a read that finds its bytes not
 * there fails at once (-EAGAIN while the other end is open). The loops
 * that otherwise run on threads of their own (the pool's helper, the
 * remote keeper, the notifier, the peer's leases, the manager client's
 * registration and heartbeats, the manager's liveness) run only when
 * their owner's step is called: cluster_step() (include/cmp/pool.h),
 * mgr_client_step() (include/cmp/mgr.h), manager_step()
 * (manager/manager.h). Other transports keep their threads.
 */
void cmp_set_clock(uint64_t (*now)(void *ctx), void *ctx);
void cmp_set_stepped(bool stepped);
bool cmp_stepped(void);

static inline int cmp_is_pow2(uint64_t x)
{
	return x && !(x & (x - 1));
}

#endif
