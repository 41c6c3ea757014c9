// SPDX-License-Identifier: MIT
/*
 * cmpfs: mounts the pool as a file system. Parses options, protects the
 * daemon for serving swap (locked memory, OOM immunity, I/O flusher) before
 * any thread starts (the cluster's keeper and helper threads, libfuse's
 * workers and the key reloader all inherit it), makes the pool and the
 * per-worker read buffers, mounts through libfuse's low-level
 * API, tunes the mount's dirty limits for mmap writeback, and runs the
 * multi-threaded FUSE loop. SIGHUP reloads the cluster key file (a small
 * thread waits for it; every other thread blocks it).
 */
#include <errno.h>
#include <limits.h>
#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cmp-config.h"
#include "cmp/auth.h"
#include "cmp/log.h"
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

/*
 * The key reloader: SIGHUP is blocked in every thread (the mask is set
 * before any thread starts, and libfuse's workers block all signals), so
 * it is this thread's to take with sigwait(), and libfuse's own SIGHUP
 * handler (unmount) never runs.
 */
struct reloader {
	pthread_t thread;
	struct auth_keyring *keyring;
	volatile sig_atomic_t stop;
};

static void *reloader_main(void *arg)
{
	struct reloader *r = arg;
	sigset_t set;
	int sig;

	sigemptyset(&set);
	sigaddset(&set, SIGHUP);
	for (;;) {
		if (sigwait(&set, &sig))
			continue;
		if (r->stop)
			return NULL;
		auth_keyring_reload(r->keyring); /* logs one line */
	}
}

static int reloader_start(struct reloader *r, struct auth_keyring *kr)
{
	int ret;

	r->keyring = kr;
	r->stop = 0;
	ret = -pthread_create(&r->thread, NULL, reloader_main, r);
	if (ret)
		log_error("cannot start the key reloader: %s", strerror(-ret));
	return ret;
}

static void reloader_stop(struct reloader *r)
{
	if (!r->keyring)
		return;
	r->stop = 1;
	pthread_kill(r->thread, SIGHUP);
	pthread_join(r->thread, NULL);
	r->keyring = NULL;
}

/* The mount's major:minor from mountinfo (a stat() would call into us). */
static int mount_devno(const char *mountpoint, unsigned int *maj,
		       unsigned int *min)
{
	char line[4096], path[4096];
	int ret = -ENOENT;
	FILE *f = fopen("/proc/self/mountinfo", "r");

	if (!f)
		return -errno;
	if (!realpath(mountpoint, path))
		snprintf(path, sizeof(path), "%s", mountpoint);
	while (fgets(line, sizeof(line), f)) {
		unsigned int a, b;
		char mp[4096];

		/* id parent maj:min root mountpoint ... */
		if (sscanf(line, "%*u %*u %u:%u %*s %4095s", &a, &b, mp) != 3)
			continue;
		if (strcmp(mp, path))
			continue;
		*maj = a;
		*min = b;
		ret = 0; /* the last match is the newest mount */
	}
	fclose(f);
	return ret;
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
	unsigned int maj, min;
	char path[128];
	int ret = mount_devno(mountpoint, &maj, &min);

	if (ret) {
		log_warn("cannot find %s in mountinfo: bdi not tuned",
			 mountpoint);
		return;
	}
	snprintf(path, sizeof(path), "/sys/class/bdi/%u:%u/max_ratio", maj,
		 min);
	ret = write_sysfs(path, "50");
	snprintf(path, sizeof(path), "/sys/class/bdi/%u:%u/strict_limit", maj,
		 min);
	if (!ret)
		ret = write_sysfs(path, "0");
	if (ret)
		log_warn("cannot tune %s: %s", path, strerror(-ret));
}

static int log_fd = -1; /* -o log=FILE, until it replaces stderr */

static int setup_log(struct fs_options *o, bool foreground)
{
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
	/* A daemon keeps the terminal for errors until it is ready. */
	if (foreground) {
		dup2(log_fd, STDERR_FILENO);
		close(log_fd);
		log_fd = -1;
	}
	return 0;
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
			 o->manager, strerror(-ret));
	return 0;
}

/*
 * Before any thread starts: load the key file (its one line says what is
 * wrong with it), protect the daemon and hand SIGHUP to the reloader.
 */
static int prepare(struct fs_options *o, struct auth_keyring **kr,
		   struct reloader *rl)
{
	sigset_t set;

	*kr = NULL;
	if (o->manager && o->key_path) {
		*kr = auth_keyring_load(o->key_path);
		if (!*kr)
			return -errno;
	}
	cmp_daemon_protect(o->lock_memory);
	if (!*kr)
		return 0;
	sigemptyset(&set);
	sigaddset(&set, SIGHUP);
	pthread_sigmask(SIG_BLOCK, &set, NULL);
	if (reloader_start(rl, *kr)) {
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

static int run(struct fs_options *o, struct fuse_args *args,
	       struct fuse_cmdline_opts *co)
{
	struct pool_config pc = {
		.local_bytes = o->local_bytes,
		.block_size = o->block_size,
		.lock_memory = o->lock_memory,
	};
	struct fs fs = {.opts = o, .block_size = o->block_size};
	struct auth_keyring *kr = NULL;
	struct reloader rl = {0};
	struct fuse_loop_config *lc;
	char sz[32];
	int ret = 1;

	fs.block_shift = (uint32_t)__builtin_ctz(o->block_size);
	/* libfuse's options first: a bad one fails before the pool is made. */
	fs.se = fuse_session_new(args, &fs_ops, sizeof(fs_ops), &fs);
	if (!fs.se)
		goto err_out;
	if (prepare(o, &kr, &rl))
		goto err_session;
	fs.pool = pool_create(&pc);
	if (!fs.pool) {
		log_error("cannot create a pool of %s in %u-byte blocks: %s",
			  cmp_format_size(o->local_bytes, sz, sizeof(sz)),
			  o->block_size, strerror(errno));
		goto err_keyring;
	}
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
	if (fs_metrics_start(&fs))
		goto err_ns;
	if (fuse_set_signal_handlers(fs.se))
		goto err_ns;
	if (fuse_session_mount(fs.se, co->mountpoint))
		goto err_signals;
	if (fs_compat_install(fs.se))
		goto err_unmount;
	if (o->tune_bdi)
		tune_bdi(co->mountpoint);
	log_info("mounted %s: pool %s in %u KiB blocks, version %s",
		 co->mountpoint,
		 cmp_format_size(o->local_bytes, sz, sizeof(sz)),
		 o->block_size >> 10, CMP_VERSION_STRING);
	cmp_detach_done(0, log_fd);
	log_fd = -1;

	if (co->singlethread) {
		ret = fuse_session_loop(fs.se);
	} else {
		lc = fuse_loop_cfg_create();
		fuse_loop_cfg_set_clone_fd(lc, (unsigned int)co->clone_fd);
		/* libfuse leaves unset values at UINT_MAX. */
		if (co->max_idle_threads != UINT_MAX)
			fuse_loop_cfg_set_idle_threads(lc,
						       co->max_idle_threads);
		if (co->max_threads && co->max_threads <= 100000)
			fuse_loop_cfg_set_max_threads(lc, co->max_threads);
		ret = fuse_session_loop_mt(fs.se, lc);
		fuse_loop_cfg_destroy(lc);
	}
	log_info("unmounting %s", co->mountpoint);
	ret = ret ? 1 : 0;
err_unmount:
	fuse_session_unmount(fs.se);
err_signals:
	fuse_remove_signal_handlers(fs.se);
err_ns:
	fs_metrics_stop(&fs);
	/*
	 * Leave the cluster first (LEAVE: the manager shows us as left, not
	 * suspect), so releasing our remote blocks below sends no FREE per
	 * block (which a partitioned provider would make wait): providers
	 * free them on our goodbye, or when their lease on us runs out.
	 */
	cluster_destroy(fs.cluster);
	fs.cluster = NULL;
	fs_ns_finish(&fs);
err_cluster:
	cluster_destroy(fs.cluster);
err_bounce:
	fs_bounce_destroy(fs.bounce);
err_pool:
	pool_destroy(fs.pool);
err_keyring:
	reloader_stop(&rl);
	auth_keyring_destroy(kr);
err_session:
	fuse_session_destroy(fs.se);
err_out:
	cmp_detach_done(1, -1); /* no-op once ready */
	return ret;
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
	if (setup_log(&o, co.foreground))
		goto out_opts;
	/* The daemon runs in /: make a relative key path absolute now. */
	if (o.key_path) {
		char *abs = realpath(o.key_path, NULL);

		if (!abs) {
			fprintf(stderr, "cmpfs: key file %s: %s\n", o.key_path,
				strerror(errno));
			goto out_opts;
		}
		free(o.key_path);
		o.key_path = abs;
	}
	/* Before any thread starts: threads do not survive a fork. */
	if (!co.foreground && (ret = cmp_detach())) {
		fprintf(stderr, "cmpfs: cannot detach: %s\n", strerror(-ret));
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
