// SPDX-License-Identifier: MIT
/*
 * cmpfs: mounts the pool as a file system. Parses options, refuses a
 * mount point that is a cmpfs mount already and a pool larger than the
 * memory that can back it (limits.c), protects the daemon for serving
 * swap (locked memory, OOM immunity, I/O flusher) before any thread starts
 * (the cluster's keeper and helper threads, libfuse's workers and the
 * signal thread all inherit it), makes the pool and the per-worker read
 * buffers, mounts through libfuse's low-level API, tunes the mount's
 * dirty limits for mmap writeback, and runs the multi-threaded FUSE loop.
 * Signals are taken by a thread of their own (signals.c): SIGTERM and
 * SIGINT unmount unless the mount is busy, SIGHUP reloads the key file.
 */
#include <errno.h>
#include <limits.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "cmp-config.h"
#include "cmp/auth.h"
#include "cmp/log.h"
#include "cmp/mgr.h"
#include "cmp/opts.h"
#include "cmp/pool.h"
#include "cmp/util.h"
#include "fs.h"

__attribute__((format(printf, 2, 0))) static void
fuse_log_bridge(enum fuse_log_level level, const char *fmt, va_list ap)
{
	enum log_level l = level <= FUSE_LOG_ERR       ? LOG_LVL_ERROR
			   : level == FUSE_LOG_WARNING ? LOG_LVL_WARN
			   : level <= FUSE_LOG_INFO    ? LOG_LVL_INFO
						       : LOG_LVL_DEBUG;
	/*
	 * libfuse writes some messages in pieces ("fuse: unknown option(s):
	 * `", "-o bogus", "'\n"): collect them until the newline so that
	 * one message stays one log line.
	 */
	static __thread char buf[512];
	static __thread size_t n;

	vsnprintf(buf + n, sizeof(buf) - n, fmt, ap);
	n = strlen(buf);
	if (n && buf[n - 1] != '\n' && n < sizeof(buf) - 1)
		return;
	if (n && buf[n - 1] == '\n')
		buf[n - 1] = '\0';
	log_msg(l, "%s", buf);
	n = 0;
	buf[0] = '\0';
}

static int write_sysfs(const char *path, const char *val)
{
	int fd = open(path, O_WRONLY);
	ssize_t n;

	if (fd < 0)
		return -errno;
	n = write(fd, val, strlen(val));
	close(fd);
	return n < 0 ? -errno : 0;
}

/*
 * FUSE mounts default to max_ratio=1 and strict_limit, which caps dirty
 * mmap pages at ~38 MiB and halves mmap write throughput.
 */
static void tune_bdi(const char *mountpoint)
{
	struct fs_mount_top top;
	char path[128];
	/* from mountinfo: a stat() of the mount would call into us */
	int ret = fs_mount_top(mountpoint, &top);

	if (ret) {
		log_warn("cannot find %s in mountinfo: bdi not tuned",
			 mountpoint);
		return;
	}
	snprintf(path, sizeof(path), "/sys/class/bdi/%u:%u/max_ratio", top.maj,
		 top.min);
	ret = write_sysfs(path, "50");
	snprintf(path, sizeof(path), "/sys/class/bdi/%u:%u/strict_limit",
		 top.maj, top.min);
	if (!ret)
		ret = write_sysfs(path, "0");
	if (ret)
		log_warn("cannot tune %s: %s", path, strerror(-ret));
}

static int log_fd = -1;	 /* the -o log=FILE, until the mount is up */
static int term_fd = -1; /* the terminal, told errors until then */

/*
 * With -o log=FILE every line goes to FILE from here on (stderr becomes
 * it). Until the mount is up, error lines also go to the terminal that
 * started cmpfs, so that a refused start shows where it was typed (and
 * mount(8) passes it on) — unless stderr is FILE already.
 */
static int setup_log(struct fs_options *o)
{
	struct stat a, b;

	if (o->debug)
		log_set_level(LOG_LVL_DEBUG);
	fuse_set_log_func(fuse_log_bridge);
	if (!o->log_path)
		return 0;
	log_fd = open(o->log_path, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC,
		      0640);
	if (log_fd < 0) {
		fprintf(stderr, "cmpfs: cannot open log file %s: %s\n",
			o->log_path, strerror(errno));
		return -errno;
	}
	if (fstat(STDERR_FILENO, &a) || fstat(log_fd, &b) ||
	    a.st_dev != b.st_dev || a.st_ino != b.st_ino) {
		term_fd = fcntl(STDERR_FILENO, F_DUPFD_CLOEXEC, 3);
		log_echo_errors(term_fd);
	}
	dup2(log_fd, STDERR_FILENO);
	return 0;
}

/* The mount is up: the terminal hears no more, a daemon's parent exits. */
static void started(bool foreground)
{
	log_echo_errors(-1);
	if (term_fd >= 0)
		close(term_fd);
	term_fd = -1;
	if (foreground && log_fd >= 0)
		close(log_fd); /* stderr is the file already */
	else
		cmp_detach_done(0, log_fd); /* closes log_fd */
	log_fd = -1;
}

/* Joins the cluster named by -o manager= (before mounting). */
static int join_cluster(struct fs *fs, struct fs_options *o,
			struct auth_keyring *kr)
{
	int ret;

	fs->cluster = cluster_create(&(struct cluster_config){
		.pool = fs->pool,
		.manager_addr = o->manager,
		.listen_addr = o->listen,
		.keyring = kr,
		.node_id = o->node_id,
		.lease_ms = o->lease_ms,
		.limits = &o->limits,
		.io_bytes = fs_io_bytes,
		.io_ctx = fs,
	});
	if (!fs->cluster)
		return -errno;
	ret = cluster_wait_registered(fs->cluster, 5000);
	if (ret == -EACCES || ret == -EINVAL) {
		/* A wrong key or block size will not fix itself. */
		log_error("the manager at %s refused this node: %s", o->manager,
			  ret == -EACCES ? "wrong cluster key (or secure and "
					   "insecure mixed)"
					 : "block size differs from the "
					   "cluster's");
		cluster_destroy(fs->cluster);
		fs->cluster = NULL;
		return ret;
	}
	if (ret)
		log_warn("no manager at %s (%s): mounting with this node's "
			 "memory only; it lends and borrows once registered "
			 "(retrying every 2 s)",
			 o->manager, mgr_strerror(ret));
	return 0;
}

/*
 * Before any thread starts: load the key file (its one line says what is
 * wrong with it), protect the daemon and hand the signals to their thread.
 */
static int prepare(struct fs_options *o, const char *mountpoint,
		   struct auth_keyring **kr, struct fs_signals *sigs)
{
	*kr = NULL;
	if (o->manager && o->key_path) {
		*kr = auth_keyring_load(o->key_path);
		if (!*kr)
			return -errno;
	}
	cmp_daemon_protect(o->lock_memory);
	fs_signals_block();
	if (fs_signals_start(sigs, *kr, mountpoint)) {
		auth_keyring_destroy(*kr);
		*kr = NULL;
		return -EAGAIN;
	}
	return 0;
}

/* Threads that may serve requests at once (libfuse's max_threads). */
static unsigned int worker_threads(const struct fuse_cmdline_opts *co)
{
	if (co->singlethread)
		return 1;
	/* libfuse's default when unset (FUSE_LOOP_MT_DEF_MAX_THREADS) */
	if (!co->max_threads || co->max_threads > 100000)
		return 10;
	return co->max_threads;
}

/*
 * Serves requests until the mount is gone; 0 or 1. Our loop (loop.c)
 * unless -s (libfuse's single thread) or -o clone_fd (libfuse's loop_mt,
 * which alone gives each thread its own /dev/fuse).
 */
static int serve(struct fs *fs, const struct fuse_cmdline_opts *co)
{
	struct fuse_loop_config *lc;
	int ret;

	if (co->singlethread)
		return fuse_session_loop(fs->se) ? 1 : 0;
	if (!co->clone_fd) {
		ret = fs_loop_run(fs->se, worker_threads(co));
		if (ret)
			log_error("FUSE request loop: %s", strerror(-ret));
		return ret ? 1 : 0;
	}
	lc = fuse_loop_cfg_create();
	fuse_loop_cfg_set_clone_fd(lc, (unsigned int)co->clone_fd);
	/* libfuse leaves unset values at UINT_MAX. */
	if (co->max_idle_threads != UINT_MAX)
		fuse_loop_cfg_set_idle_threads(lc, co->max_idle_threads);
	if (co->max_threads && co->max_threads <= 100000)
		fuse_loop_cfg_set_max_threads(lc, co->max_threads);
	ret = fuse_session_loop_mt(fs->se, lc);
	fuse_loop_cfg_destroy(lc);
	return ret ? 1 : 0;
}

/* Mounts, serves until unmounted (by umount(8) or a signal), unmounts. */
static int mount_and_serve(struct fs *fs, struct fs_signals *sigs,
			   const struct fuse_cmdline_opts *co)
{
	char sz[32];
	int ret = 1;

	if (fs_signals_mount(sigs, fs->se))
		return 1;
	if (fs_compat_install(fs->se))
		goto out_unmount;
	if (fs->opts->tune_bdi)
		tune_bdi(co->mountpoint);
	log_info("mounted %s: pool %s in %u KiB blocks, version %s",
		 co->mountpoint,
		 cmp_format_size(fs->opts->local_bytes, sz, sizeof(sz)),
		 fs->block_size >> 10, CMP_VERSION_STRING);
	started(co->foreground);
	ret = serve(fs, co);
	log_info("unmounting %s", co->mountpoint);
out_unmount:
	fs_signals_set_state(sigs, FS_STOPPING);
	/* nothing left to do when the mount is gone already (the rule) */
	fuse_session_unmount(fs->se);
	return ret;
}

static int run(struct fs_options *o, struct fuse_args *args,
	       struct fuse_cmdline_opts *co)
{
	struct pool_config pc = {
		.local_bytes = o->local_bytes,
		.block_size = o->block_size,
		.lock_memory = o->lock_memory,
		.replicas = o->replicas,
		.rebuild_after_ms = o->rebuild_after_ms,
		.rebuild_rate = o->rebuild_rate,
		.wpolicy = o->wpolicy,
		.wb_delay_ms = o->writeback_delay_ms,
		.max_bytes = o->local_max,
	};
	/* psi= never shrinks below this (a quarter of local= by default) */
	if (!o->psi_min || o->psi_min > o->local_bytes)
		o->psi_min = o->local_bytes / 4;
	struct fs fs = {.opts = o, .block_size = o->block_size};
	struct auth_keyring *kr = NULL;
	struct fs_signals sigs = {0};
	char sz[32];
	int ret = 1;

	fs.block_shift = (uint32_t)__builtin_ctz(o->block_size);
	/* libfuse's options first: a bad one fails before the pool is made. */
	fs.se = fuse_session_new(args, &fs_ops, sizeof(fs_ops), &fs);
	if (!fs.se)
		goto err_out;
	if (prepare(o, co->mountpoint, &kr, &sigs))
		goto err_session;
	fs.pool = pool_create(&pc);
	if (!fs.pool) {
		log_error("cannot create a pool of %s in %u-byte blocks: %s",
			  cmp_format_size(o->local_bytes, sz, sizeof(sz)),
			  o->block_size, strerror(errno));
		goto err_signals;
	}
	pool_set_exchange(fs.pool, o->exchange);
	pool_set_prefetch(fs.pool, o->prefetch);
	pool_set_hash_compare(fs.pool, o->hash_compare);
	pool_set_caps(fs.pool, (uint32_t)(o->lend_max >> fs.block_shift),
		      (uint32_t)(o->borrow_max >> fs.block_shift));
	/* one staging buffer per FUSE worker, before any request comes */
	fs.bounce = fs_bounce_create(worker_threads(co) + 1, FS_MAX_IO);
	if (!fs.bounce) {
		log_error("cannot make the read buffers: %s", strerror(errno));
		goto err_pool;
	}
	if (o->manager && join_cluster(&fs, o, kr))
		goto err_bounce;
	if (fs_ns_init(&fs))
		goto err_cluster;
	if (fs_lost_start(&fs))
		goto err_ns;
	if (fs_metrics_start(&fs))
		goto err_lost;
	if (fs_pressure_start(&fs))
		goto err_metrics;
	ret = mount_and_serve(&fs, &sigs, co);
	fs_pressure_stop(&fs);
	/*
	 * What we hold for other nodes goes elsewhere before we go; until it
	 * has, we keep serving it (and the metrics show how far it is). A
	 * SIGTERM or SIGINT cannot end that: the signal thread only logs it
	 * once the mount is gone (fs/signals.c).
	 */
	cluster_leave(fs.cluster);
err_metrics:
	fs_metrics_stop(&fs);
	/*
	 * Leave the cluster first (LEAVE: the manager shows us as left, not
	 * suspect), so releasing our remote blocks below sends no FREE per
	 * block (which a partitioned provider would make wait): providers
	 * free them on our goodbye, or when their lease on us runs out.
	 */
	cluster_destroy(fs.cluster);
	fs.cluster = NULL;
err_lost:
	fs_lost_stop(&fs);
err_ns:
	fs_ns_finish(&fs);
err_cluster:
	cluster_destroy(fs.cluster);
err_bounce:
	fs_bounce_destroy(fs.bounce);
err_pool:
	pool_destroy(fs.pool);
err_signals:
	fs_signals_stop(&sigs);
	auth_keyring_destroy(kr);
err_session:
	fuse_session_destroy(fs.se);
err_out:
	cmp_detach_done(1, -1); /* no-op once ready */
	return ret;
}

/* The daemon runs in /: a relative key path becomes absolute now. */
static int absolute_key_path(struct fs_options *o)
{
	char *abs;

	if (!o->key_path)
		return 0;
	abs = realpath(o->key_path, NULL);
	if (!abs) {
		fprintf(stderr, "cmpfs: key file %s: %s\n", o->key_path,
			strerror(errno));
		return -ENOENT;
	}
	free(o->key_path);
	o->key_path = abs;
	return 0;
}

int main(int argc, char *argv[])
{
	struct fuse_args args = FUSE_ARGS_INIT(argc, argv);
	struct fuse_cmdline_opts co = {0};
	struct fs_options o;
	int ret;

	log_init("cmpfs", LOG_LVL_INFO);
	ret = fs_options_parse(&args, &o);
	if (ret) {
		ret = fs_options_exit_status(ret);
		goto out_args;
	}
	ret = OPTS_EXIT_USAGE;
	if (!o.mountpoint) {
		fprintf(stderr, "cmpfs: no mount point given (see --help)\n");
		goto out_opts;
	}
	/* libfuse would say it too, but not in our words */
	if (access(o.mountpoint, F_OK)) {
		fprintf(stderr, "cmpfs: mount point %s: %s\n", o.mountpoint,
			strerror(errno));
		goto out_opts;
	}
	/* libfuse's options were checked by fs_options_parse() */
	if (fuse_opt_add_arg(&args, o.mountpoint) ||
	    fuse_parse_cmdline(&args, &co) != 0)
		goto out_opts;
	/* from here on a failure is not a usage error */
	ret = 1;
	/* Kernel-side permission checks, and other users may use the pool. */
	fuse_opt_add_arg(&args, "-odefault_permissions");
	if (geteuid() == 0)
		fuse_opt_add_arg(&args, "-oallow_other");
	if (absolute_key_path(&o) || setup_log(&o))
		goto out_opts;
	/* Refusals that need no thread: the terminal still listens. */
	if (fs_check_mountpoint(co.mountpoint, argv[0], o.stack) ||
	    fs_check_pool_fits(o.local_bytes, o.lock_memory))
		goto out_opts;
	/* Before any thread starts: threads do not survive a fork. */
	if (!co.foreground && (ret = cmp_detach())) {
		log_error("cannot detach: %s", strerror(-ret));
		ret = 1;
		goto out_opts;
	}
	ret = run(&o, &args, &co);
out_opts:
	free(co.mountpoint);
	fs_options_free(&o);
out_args:
	fuse_opt_free_args(&args);
	return ret;
}
