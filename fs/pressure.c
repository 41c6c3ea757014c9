// SPDX-License-Identifier: MIT
/*
 * Giving memory back when the host runs short (-o psi=PCT): a thread reads
 * the host's memory pressure (Linux PSI, /proc/pressure/memory: the share
 * of time some task waited for memory, over the last 10 s) every interval.
 * While it stays at or above PCT for PSI_SUSTAIN samples in a row, the
 * pool shrinks by an eighth of local= (fs_resize(): the blocks it lends
 * at the end move away first, then its own data, as for cmpctl resize),
 * never below psi_min=; once it has stayed below half of PCT for
 * PSI_RECOVER samples, it grows back by the same step, up to local=.
 * Each change starts a new count, so one spell of pressure costs one step.
 */
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "cmp/log.h"
#include "cmp/pool.h"
#include "cmp/util.h"
#include "fs.h"

#define PSI_SUSTAIN 5  /* samples at or above the threshold: shrink */
#define PSI_RECOVER 30 /* samples below half of it: grow back */

struct fs_pressure {
	struct fs *fs;
	pthread_t thread;
	pthread_mutex_t lock;
	pthread_cond_t wake;
	bool stop;
	unsigned int high, low; /* samples in a row above, below */
	bool said_unreadable;
};

static int read_psi(const char *path, double *pct)
{
	char buf[512];
	ssize_t n;
	int fd = open(path, O_RDONLY | O_CLOEXEC);

	if (fd < 0)
		return -errno;
	n = read(fd, buf, sizeof(buf) - 1);
	close(fd);
	if (n < 0)
		return -errno;
	buf[n] = '\0';
	return fs_psi_parse(buf, pct);
}

static uint64_t local_now(struct fs *fs)
{
	struct pool_counts pc;

	pool_get_counts(fs->pool, &pc);
	return pc.local_blocks << fs->block_shift;
}

/* One step of an eighth of local=, in whole blocks (at least one). */
static uint64_t step_bytes(struct fs *fs)
{
	uint64_t step = fs->opts->local_bytes / 8;

	step &= ~((uint64_t)fs->block_size - 1);
	return MAX(step, fs->block_size);
}

static void act(struct fs_pressure *ps, double pct)
{
	struct fs *fs = ps->fs;
	uint64_t now = local_now(fs), floor = fs->opts->psi_min, to;
	char a[32], b[32];

	if (ps->high >= PSI_SUSTAIN && now > floor) {
		to = now - MIN(step_bytes(fs), now - floor);
		log_warn("memory pressure %.1f%% for %u samples (psi=%u): "
			 "shrinking the pool from %s to %s",
			 pct, ps->high, fs->opts->psi,
			 cmp_format_size(now, a, sizeof(a)),
			 cmp_format_size(to, b, sizeof(b)));
		ps->high = 0;
		fs_resize(fs, to);
	} else if (ps->low >= PSI_RECOVER && now < fs->opts->local_bytes) {
		to = MIN(now + step_bytes(fs), fs->opts->local_bytes);
		log_info("memory pressure %.1f%% for %u samples: growing the "
			 "pool back from %s to %s",
			 pct, ps->low, cmp_format_size(now, a, sizeof(a)),
			 cmp_format_size(to, b, sizeof(b)));
		ps->low = 0;
		fs_resize(fs, to);
	}
}

static void sample(struct fs_pressure *ps)
{
	const struct fs_options *o = ps->fs->opts;
	double pct;
	int ret = read_psi(o->psi_file, &pct);

	atomic_fetch_add(&ps->fs->stats.psi_samples, 1);
	if (ret) {
		if (!ps->said_unreadable)
			log_warn("psi: cannot read %s: %s (the pool keeps its "
				 "size)",
				 o->psi_file, strerror(-ret));
		ps->said_unreadable = true;
		ps->high = ps->low = 0;
		return;
	}
	ps->said_unreadable = false;
	if (pct >= o->psi) {
		ps->high++;
		ps->low = 0;
	} else if (pct < o->psi / 2.0) {
		ps->low++;
		ps->high = 0;
	} else {
		ps->high = ps->low = 0;
	}
	act(ps, pct);
}

static void *pressure_main(void *arg)
{
	struct fs_pressure *ps = arg;
	struct timespec dl;

	pthread_mutex_lock(&ps->lock);
	while (!ps->stop) {
		cmp_deadline_ms(&dl, (int)ps->fs->opts->psi_interval_ms);
		pthread_cond_timedwait(&ps->wake, &ps->lock, &dl);
		if (ps->stop)
			break;
		pthread_mutex_unlock(&ps->lock);
		sample(ps);
		pthread_mutex_lock(&ps->lock);
	}
	pthread_mutex_unlock(&ps->lock);
	return NULL;
}

int fs_pressure_start(struct fs *fs)
{
	struct fs_pressure *ps;
	int ret;

	if (!fs->opts->psi)
		return 0;
	ps = calloc(1, sizeof(*ps));
	if (!ps)
		return -ENOMEM;
	ps->fs = fs;
	pthread_mutex_init(&ps->lock, NULL);
	cmp_cond_init_monotonic(&ps->wake);
	ret = -pthread_create(&ps->thread, NULL, pressure_main, ps);
	if (ret) {
		log_error("psi: cannot start its thread: %s", strerror(-ret));
		pthread_cond_destroy(&ps->wake);
		pthread_mutex_destroy(&ps->lock);
		free(ps);
		return ret;
	}
	fs->pressure = ps;
	log_info("psi: the pool shrinks while %s shows %u%% or more for %u "
		 "samples of %u ms, down to psi_min",
		 fs->opts->psi_file, fs->opts->psi, PSI_SUSTAIN,
		 fs->opts->psi_interval_ms);
	return 0;
}

void fs_pressure_stop(struct fs *fs)
{
	struct fs_pressure *ps = fs->pressure;

	if (!ps)
		return;
	pthread_mutex_lock(&ps->lock);
	ps->stop = true;
	pthread_cond_signal(&ps->wake);
	pthread_mutex_unlock(&ps->lock);
	pthread_join(ps->thread, NULL);
	pthread_cond_destroy(&ps->wake);
	pthread_mutex_destroy(&ps->lock);
	free(ps);
	fs->pressure = NULL;
}
