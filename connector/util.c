// SPDX-License-Identifier: MIT
/*
 * Size parsing/formatting, the clock, iovec lengths, the incarnation and
 * daemon start-up, shared by every program.
 */
#include <ctype.h>
#include <errno.h>
#include <stdatomic.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/random.h>
#include <time.h>
#include <unistd.h>

#include "cmp/log.h"
#include "cmp/util.h"

#ifndef PR_SET_IO_FLUSHER
#define PR_SET_IO_FLUSHER 57
#endif
#ifndef MCL_ONFAULT
#define MCL_ONFAULT 4
#endif

int cmp_parse_size(const char *text, uint64_t *out)
{
	unsigned long long v;
	unsigned int shift = 0;
	char *end;

	if (!text || !isdigit((unsigned char)*text))
		return -EINVAL;
	errno = 0;
	v = strtoull(text, &end, 10);
	if (errno == ERANGE)
		return -ERANGE;
	switch (toupper((unsigned char)*end)) {
	case 'K':
		shift = 10;
		break;
	case 'M':
		shift = 20;
		break;
	case 'G':
		shift = 30;
		break;
	case 'T':
		shift = 40;
		break;
	case '\0':
		break;
	default:
		return -EINVAL;
	}
	if (shift) {
		end++;
		if (!strcasecmp(end, "ib") || !strcasecmp(end, "b"))
			end += strlen(end);
	} else if (!strcasecmp(end, "b")) {
		end++;
	}
	if (*end)
		return -EINVAL;
	if (shift && v > (UINT64_MAX >> shift))
		return -ERANGE;
	*out = (uint64_t)v << shift;
	return 0;
}

char *cmp_format_size(uint64_t bytes, char *buf, size_t len)
{
	static const char *const unit[] = {"B", "KiB", "MiB", "GiB", "TiB"};
	double v = (double)bytes;
	unsigned int i = 0;

	while (v >= 1024 && i < ARRAY_SIZE(unit) - 1) {
		v /= 1024;
		i++;
	}
	if (i == 0)
		snprintf(buf, len, "%llu B", (unsigned long long)bytes);
	else
		snprintf(buf, len, "%.1f %s", v, unit[i]);
	return buf;
}

size_t cmp_iov_total(const struct iovec *iov, int iovcnt)
{
	size_t total = 0;

	for (int i = 0; i < iovcnt; i++)
		total += iov[i].iov_len;
	return total;
}

/* the simulator's clock and mode (set before any thread reads them) */
static _Atomic(uint64_t (*)(void *)) sim_now;
static void *_Atomic sim_now_ctx;
static atomic_bool stepped;

void cmp_set_clock(uint64_t (*now)(void *ctx), void *ctx)
{
	atomic_store(&sim_now_ctx, ctx);
	atomic_store(&sim_now, now);
}

void cmp_set_stepped(bool on)
{
	atomic_store(&stepped, on);
}

bool cmp_stepped(void)
{
	return atomic_load_explicit(&stepped, memory_order_relaxed);
}

uint64_t cmp_now_ns(void)
{
	uint64_t (*now)(void *) =
		atomic_load_explicit(&sim_now, memory_order_relaxed);
	struct timespec ts;

	if (now)
		return now(atomic_load_explicit(&sim_now_ctx,
						memory_order_relaxed));
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

void cmp_cond_init_monotonic(pthread_cond_t *cond)
{
	pthread_condattr_t ca;

	pthread_condattr_init(&ca);
	pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
	pthread_cond_init(cond, &ca);
	pthread_condattr_destroy(&ca);
}

void cmp_deadline_ms(struct timespec *ts, uint64_t ms)
{
	clock_gettime(CLOCK_MONOTONIC, ts);
	ts->tv_sec += (time_t)(ms / 1000);
	ts->tv_nsec += (long)(ms % 1000) * 1000000L;
	if (ts->tv_nsec >= 1000000000L) {
		ts->tv_sec++;
		ts->tv_nsec -= 1000000000L;
	}
}

static pthread_once_t incarnation_once = PTHREAD_ONCE_INIT;
static uint64_t incarnation;

static void draw_incarnation(void)
{
	while (!incarnation)
		if (getrandom(&incarnation, sizeof(incarnation), 0) !=
		    sizeof(incarnation))
			incarnation = cmp_now_ns() ^ ((uint64_t)getpid() << 32);
}

uint64_t cmp_incarnation(void)
{
	pthread_once(&incarnation_once, draw_incarnation);
	return incarnation;
}

static int ready_fd = -1; /* to the parent waiting in cmp_detach() */

int cmp_detach(void)
{
	int pfd[2];
	pid_t pid;
	char st = 1;

	if (pipe2(pfd, O_CLOEXEC) < 0)
		return -errno;
	pid = fork();
	if (pid < 0)
		return -errno;
	if (pid > 0) {
		close(pfd[1]);
		if (read(pfd[0], &st, 1) != 1)
			st = 1;
		_exit(st);
	}
	close(pfd[0]);
	if (setsid() < 0 || chdir("/") < 0)
		return -errno;
	ready_fd = pfd[1];
	return 0;
}

void cmp_detach_done(int status, int log_fd)
{
	char st = (char)status;
	int null;

	if (ready_fd < 0)
		return;
	if (!status) {
		null = open("/dev/null", O_RDWR | O_CLOEXEC);
		if (null >= 0) {
			dup2(null, STDIN_FILENO);
			dup2(null, STDOUT_FILENO);
			dup2(log_fd >= 0 ? log_fd : null, STDERR_FILENO);
			close(null);
		}
		if (log_fd >= 0)
			close(log_fd);
		else
			log_use_syslog();
	}
	/* a parent that is gone has nobody to tell */
	if (write(ready_fd, &st, 1) != 1)
		log_debug("the waiting parent is gone");
	close(ready_fd);
	ready_fd = -1;
}

void cmp_daemon_protect(bool lock_memory)
{
	int fd;

	if (lock_memory && mlockall(MCL_CURRENT | MCL_FUTURE | MCL_ONFAULT) < 0)
		log_warn("mlockall: %s (the daemon may be swapped out; serving "
			 "swap may deadlock)",
			 strerror(errno));
	fd = open("/proc/self/oom_score_adj", O_WRONLY | O_CLOEXEC);
	if (fd < 0 || write(fd, "-1000", 5) != 5)
		log_warn("cannot set oom_score_adj to -1000: %s",
			 strerror(errno));
	if (fd >= 0)
		close(fd);
	if (prctl(PR_SET_IO_FLUSHER, 1, 0, 0, 0) < 0)
		log_warn("PR_SET_IO_FLUSHER: %s (needs CAP_SYS_RESOURCE and "
			 "Linux 5.6; continuing)",
			 strerror(errno));
}
