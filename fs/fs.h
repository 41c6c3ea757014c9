/* SPDX-License-Identifier: MIT */
/*
 * Internal interfaces of the cmpfs FUSE daemon: options, the in-memory
 * namespace, the FUSE operations, the counters and the libfuse compatibility
 * layer.
 *
 * Locking (outer to inner): fs.ns_lock (the namespace: directory entries,
 * link counts, lookup counts, inode lifetime) -> inode.data_lock (a file's
 * block map and size) -> inode.attr_lock (timestamps, mode, owners) ->
 * pool lock (inside pool/). No lock is held across a reply to the kernel
 * except data_lock held shared while a read reply points into pool memory.
 */
#ifndef CMP_FS_H
#define CMP_FS_H

#define FUSE_USE_VERSION 312
#include <fuse_lowlevel.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <sys/stat.h>

#include "blockmap.h"
#include "cmp/pool.h"
#include "cmp/server.h"

struct pool;
struct cluster;
struct auth_keyring;

/* ---- options (options.c) ---- */

struct metrics_server;

struct fs_options {
	uint64_t local_bytes;
	uint64_t local_max; /* the most cmpctl resize may grow it to */
	uint64_t lend_max, borrow_max; /* caps in bytes (0: none) */
	/* -o psi=PCT: shrink while memory pressure stays high (pressure.c) */
	uint32_t psi;
	uint64_t psi_min;
	char *psi_file;
	uint32_t psi_interval_ms;
	uint32_t block_size;
	uint64_t readahead;
	bool tune_bdi;
	bool lock_memory;
	bool stack;	   /* may mount on top of a cmpfs mount */
	bool cached_reads; /* read-only opens use the page cache */
	bool exchange;	   /* hot blocks elsewhere come home (pool.h) */
	bool prefetch;	   /* sequential readers' next blocks too */
	bool hash_compare; /* came home: loans kept, changes tracked */
	bool debug;
	char *source;
	char *mountpoint;
	char *log_path;
	/* cluster */
	char *manager;
	char *listen;
	char *key_path;
	bool insecure;
	uint32_t node_id;
	uint32_t lease_ms; /* our lease on the owners we lend to */
	uint32_t replicas; /* copies of each block elsewhere */
	uint32_t rebuild_after_ms;
	uint64_t rebuild_rate; /* bytes/s, 0: no limit */
	/* -o writepolicy=: memserver copies (include/cmp/pool.h) */
	char *writepolicy;
	enum pool_wpolicy wpolicy; /* parsed from writepolicy */
	uint32_t writeback_delay_ms;
	struct server_limits limits; /* of the block server */
	/* -o metrics=ADDR: serve counters for Prometheus (metrics.c) */
	char *metrics;
};

/*
 * Parses cmpfs's command line (args: argc/argv as main() got them) with the
 * table in options.c: SOURCE, MOUNTPOINT and cmpfs's options into o, the
 * rest left in args for libfuse, which has been asked whether it takes
 * them. Returns 0; OPTS_HELP or OPTS_VERSION; or -EINVAL or -ENOMEM after
 * printing one line. o holds nothing to free unless 0 is returned.
 */
int fs_options_parse(struct fuse_args *args, struct fs_options *o);
void fs_options_free(struct fs_options *o);
/*
 * After fs_options_parse() returned ret != 0: prints --help (with
 * libfuse's options) or --version as asked; returns the exit status.
 */
int fs_options_exit_status(int ret);

/* ---- what the machine allows (limits.c) ---- */

/*
 * The pool must fit in the smallest memory limit that applies to cmpfs
 * (MemAvailable, its memory cgroup's limit and its parents', and
 * RLIMIT_MEMLOCK when it locks memory without CAP_IPC_LOCK) minus a
 * headroom of max(FS_HEADROOM_MIN, limit / FS_HEADROOM_DIV), which keeps
 * room for the daemon's own buffers and threads and for the machine.
 */
#define FS_HEADROOM_MIN (64ull << 20)
#define FS_HEADROOM_DIV 16

struct fs_mem_limit {
	uint64_t bytes; /* UINT64_MAX when none was found */
	char what[512]; /* names it: "MemAvailable (/proc/meminfo)", ... */
};

/* Reads the limits that apply to this process into l (the smallest). */
void fs_mem_limit_read(bool lock_memory, struct fs_mem_limit *l);
/* Lowers l to bytes, named by fmt, if bytes is smaller. */
void fs_mem_limit_offer(struct fs_mem_limit *l, uint64_t bytes, const char *fmt,
			...) __attribute__((format(printf, 3, 4)));
uint64_t fs_pool_headroom(uint64_t limit);
/*
 * The most pool the machine can back now (the limit in *l, less the
 * headroom); UINT64_MAX when no limit was found.
 */
uint64_t fs_pool_room(bool lock_memory, struct fs_mem_limit *l);
/* 0 when local_bytes fits; else -ENOMEM after one error line. */
int fs_check_pool_fits(uint64_t local_bytes, bool lock_memory);

/* Pure parsers of /proc and cgroup text (0, or -ENOENT/-EINVAL). */
int fs_meminfo_available(const char *text, uint64_t *bytes);
/* memory.max or memory.limit_in_bytes; UINT64_MAX for no limit. */
int fs_cgroup_limit_parse(const char *text, uint64_t *bytes);
/* The memory hierarchy's path (v1), or the v2 path, of /proc/PID/cgroup. */
int fs_proc_cgroup_path(const char *text, bool v2, char *out, size_t len);

/* One /proc/PID/mountinfo line, split in place (fields point into it). */
struct fs_mount_entry {
	unsigned int maj, min;
	char *root, *mountpoint, *fstype, *source, *superopts;
};
int fs_mountinfo_parse(char *line, struct fs_mount_entry *e);

/* The newest mount on an absolute path (the one a lookup reaches). */
struct fs_mount_top {
	unsigned int maj, min;
	char fstype[64];
};
int fs_mount_top(const char *path, struct fs_mount_top *top);
/*
 * Refuses (-EBUSY after one error line) when the mount point already
 * carries a cmpfs mount, unless stack is set; prog is argv[0].
 */
int fs_check_mountpoint(const char *mountpoint, const char *prog, bool stack);

/* ---- signals (signals.c) ---- */

enum fs_state { FS_STARTING, FS_MOUNTED, FS_STOPPING };

/* The thread that takes SIGTERM, SIGINT and SIGHUP (see signals.c). */
struct fs_signals {
	pthread_t thread;
	pthread_mutex_t lock;	      /* held while it unmounts */
	struct auth_keyring *keyring; /* NULL: nothing to reload */
	const char *mountpoint;	      /* absolute */
	enum fs_state state;	      /* lock */
	unsigned int maj, min;	      /* our mount's device (mountinfo) */
	bool have_dev;
	atomic_bool stop;
	bool running;
};

/*
 * Blocks SIGTERM, SIGINT and SIGHUP in the calling thread and ignores
 * SIGPIPE. Call before any thread starts: they inherit the mask, so the
 * signal thread alone takes them.
 */
void fs_signals_block(void);
/* Starts the signal thread (state FS_STARTING); -errno after a line. */
int fs_signals_start(struct fs_signals *s, struct auth_keyring *keyring,
		     const char *mountpoint);
/*
 * fuse_session_mount() on the mount point, FS_MOUNTED after it: a stop
 * signal that comes meanwhile waits, then unmounts. -EIO (libfuse said
 * why) or 0.
 */
int fs_signals_mount(struct fs_signals *s, struct fuse_session *se);
/* FS_STOPPING once the mount is gone. */
void fs_signals_set_state(struct fs_signals *s, enum fs_state state);
/* Ends the thread; a struct that was never started is fine. */
void fs_signals_stop(struct fs_signals *s);

/* ---- counters (ops.c) ---- */

/* clang-format off: it does not settle on this macro's layout */
#define FS_OPS(X)          \
	X(lookup)          \
	X(forget)          \
	X(getattr)         \
	X(setattr)         \
	X(readlink)        \
	X(mknod)           \
	X(mkdir)           \
	X(unlink)          \
	X(rmdir)           \
	X(symlink)         \
	X(rename)          \
	X(link)            \
	X(open)            \
	X(read)            \
	X(write)           \
	X(flush)           \
	X(release)         \
	X(fsync)           \
	X(opendir)         \
	X(readdir)         \
	X(releasedir)      \
	X(statfs)          \
	X(getxattr)        \
	X(setxattr)        \
	X(create)          \
	X(fallocate)       \
	X(copy_file_range) \
	X(lseek)           \
	X(other)
/* clang-format on */

enum fs_op {
#define FS_OP_ENUM(n) FS_OP_##n,
	FS_OPS(FS_OP_ENUM)
#undef FS_OP_ENUM
		FS_OP_COUNT
};

struct fs_stats {
	atomic_uint_fast64_t ops[FS_OP_COUNT];
	atomic_uint_fast64_t read_bytes;
	atomic_uint_fast64_t write_bytes;
	atomic_uint_fast64_t read_remote_bytes;
	atomic_uint_fast64_t enospc;
	atomic_uint_fast64_t last_read_size;
	atomic_uint_fast64_t last_write_size;
	/* files with lost blocks, with unreachable ones (lost.c) */
	atomic_uint_fast64_t files_lost, files_unreachable;
	/* -o psi=: samples of the memory pressure taken (pressure.c) */
	atomic_uint_fast64_t psi_samples;
};

/* ---- namespace (inode.c) ---- */

#define FS_NAME_MAX 255 /* bytes in a name (NAME_MAX) */

struct dentry;

struct inode {
	fuse_ino_t fuse_ino; /* what the kernel calls it (pointer or 1) */
	uint64_t st_ino;     /* what stat() shows */
	/* ns_lock: */
	uint64_t nlookup;
	uint32_t nlink;
	uint32_t nopen;
	struct inode *hnext; /* unused: kept for a future ino hash */
	/* attr_lock (mode's type bits never change): */
	pthread_mutex_t attr_lock;
	mode_t mode;
	uid_t uid;
	gid_t gid;
	dev_t rdev;
	struct timespec atime, mtime, ctime;
	/* data_lock: */
	pthread_rwlock_t data_lock;
	uint64_t size;
	struct blockmap map;
	/*
	 * Sticky: a write, zeroing or copy into this file failed (-EIO); the
	 * next flush or fsync reports it once (atomic, any lock).
	 */
	atomic_int err;
	/* pool_lost_gen() when its blocks were last found healthy */
	atomic_uint_fast64_t healthy_gen;
	/*
	 * The read stream (data.c, a hint: racing readers only make it
	 * guess wrong): where the next sequential read starts, and the
	 * block up to which the pool was asked to prefetch (+1; 0: none).
	 */
	atomic_uint_fast64_t ra_next, ra_until;
	/* directories (ns_lock): ordered by cookie for readdir */
	struct dentry *first, *last;
	uint64_t next_cookie;
	uint64_t nchildren;
	struct inode *parent;
	/* symlinks (immutable once made) */
	char *target;
};

struct dentry {
	struct dentry *hnext;	    /* hash chain */
	struct dentry *prev, *next; /* the directory's list */
	struct inode *dir;
	struct inode *inode;
	uint64_t cookie;
	uint32_t hash;
	char name[];
};

struct fs {
	struct pool *pool;
	struct cluster *cluster; /* NULL when standalone */
	struct fs_options *opts;
	struct fuse_session *se;
	pthread_mutex_t ns_lock;
	struct inode *root;
	struct dentry **htab; /* (dir, name) -> dentry */
	uint64_t hsize, hcount;
	uint64_t next_ino;
	uint64_t inodes;
	struct fs_stats stats;
	struct fs_bounce *bounce; /* staging for remote blocks (bounce.c) */
	bool direct_io; /* false when the kernel cannot mmap direct_io files */
	uint32_t block_size;
	uint32_t block_shift;
	struct metrics_server *metrics; /* NULL unless -o metrics= */
	/* files that lost blocks (lost.c) */
	pthread_t lost_thread;
	atomic_bool lost_stop;
	bool lost_running;
	pthread_mutex_t lost_lock;    /* lost_report */
	char *lost_report;	      /* user.cmpfs.lost's text, or NULL */
	struct fs_pressure *pressure; /* NULL unless -o psi= */
};

/* ---- files that lost blocks (lost.c) ---- */

/*
 * The thread that, whenever blocks are lost, logs which files lost them
 * and keeps their list (after fs_ns_init(); stopped before
 * fs_ns_finish()). 0 or -errno (logged).
 */
int fs_lost_start(struct fs *fs);
void fs_lost_stop(struct fs *fs);
/*
 * The last list, one "INODE LOST UNREACHABLE BLOCKS PATH" line per file
 * (at most 64, then "... N more files"), into buf; returns its length
 * (0: none).
 */
size_t fs_lost_format(struct fs *fs, char *buf, size_t cap);

/* ---- counters for Prometheus and the manager (metrics.c) ---- */

/* -o metrics=ADDR: serve the counters; 0, or -errno (logged). */
int fs_metrics_start(struct fs *fs);
void fs_metrics_stop(struct fs *fs);
/* File bytes read and written so far (cluster_config.io_bytes). */
void fs_io_bytes(void *ctx, uint64_t *read, uint64_t *written);

int fs_ns_init(struct fs *fs);
void fs_ns_finish(struct fs *fs);
struct inode *fs_inode(struct fs *fs, fuse_ino_t ino);
/* All _locked: caller holds fs->ns_lock. */
struct dentry *fs_dentry_lookup_locked(struct fs *fs, struct inode *dir,
				       const char *name);
int fs_dentry_add_locked(struct fs *fs, struct inode *dir, const char *name,
			 struct inode *inode);
void fs_dentry_remove_locked(struct fs *fs, struct dentry *d);
struct inode *fs_inode_new_locked(struct fs *fs, mode_t mode, uid_t uid,
				  gid_t gid, dev_t rdev);
/* Frees the inode when no name, lookup or open refers to it any more. */
void fs_inode_maybe_free_locked(struct fs *fs, struct inode *inode);
void fs_inode_fill_stat(struct fs *fs, struct inode *inode, struct stat *st);
void fs_touch(struct inode *inode, bool atime, bool mtime, bool ctime);

/* ---- FUSE operations (ops.c) and file data (data.c) ---- */

extern const struct fuse_lowlevel_ops fs_ops;
void fs_op_read(fuse_req_t req, fuse_ino_t ino, size_t size, off_t off,
		struct fuse_file_info *fi);
void fs_op_write(fuse_req_t req, fuse_ino_t ino, const char *buf, size_t size,
		 off_t off, struct fuse_file_info *fi);
void fs_op_fallocate(fuse_req_t req, fuse_ino_t ino, int mode, off_t off,
		     off_t len, struct fuse_file_info *fi);
void fs_op_copy_file_range(fuse_req_t req, fuse_ino_t ino_in, off_t off_in,
			   struct fuse_file_info *fi_in, fuse_ino_t ino_out,
			   off_t off_out, struct fuse_file_info *fi_out,
			   size_t len, int flags);
void fs_op_lseek(fuse_req_t req, fuse_ino_t ino, off_t off, int whence,
		 struct fuse_file_info *fi);
/*
 * Whether a file's data is all there, for flush and fsync: its sticky
 * error once (then cleared), else -EIO while one of its blocks is lost or
 * on an unreachable provider (as a failing disk would), else 0.
 */
int fs_data_check(struct fs *fs, struct inode *inode);
/*
 * What the kernel does when a caller without CAP_FSETID writes to or
 * truncates a file, which it leaves to us with direct I/O and atomic
 * O_TRUNC (root is the caller that has CAP_FSETID): setuid goes, and
 * setgid when group members may execute the file or the caller is not in
 * its group (as tmpfs does on Linux 6.x); the kernel's cached attributes
 * are dropped then. Takes attr_lock.
 */
void fs_drop_privs(fuse_req_t req, struct inode *inode);
/* Sets a file's size (truncate); caller holds data_lock exclusively. */
int fs_set_size_locked(struct fs *fs, struct inode *inode, uint64_t size);
/* Frees a file's blocks (last reference gone). */
void fs_data_free(struct fs *fs, struct inode *inode);
/* Formats the counters as "name value\n" lines; returns length. */
size_t fs_stats_format(struct fs *fs, char *buf, size_t cap);
/* The counters as the root's user.cmpfs.stats attribute (stats.c). */
void fs_op_getxattr(fuse_req_t req, fuse_ino_t ino, const char *name,
		    size_t size);
void fs_op_listxattr(fuse_req_t req, fuse_ino_t ino, size_t size);

/* ---- the mount's controls, resizing (control.c) ---- */

/*
 * Gives the pool bytes (rounded down to blocks) while serving: 0, or
 * -EINVAL (not 1 block .. local_max), -ENOMEM (the machine cannot back
 * it), -EBUSY (a resize under way), or pool_resize()'s errors; logged.
 */
int fs_resize(struct fs *fs, uint64_t bytes);
/*
 * -o psi=PCT: a thread that shrinks the pool while the host's memory
 * pressure stays high, and grows it back once it is low (pressure.c).
 * Start after the cluster is joined, stop before it is left. 0 or -errno.
 */
struct fs_pressure;
int fs_pressure_start(struct fs *fs);
void fs_pressure_stop(struct fs *fs);
/* "some avg10=" of a PSI file's text (pure): 0, -ENOENT or -EINVAL. */
int fs_psi_parse(const char *text, double *some_avg10);
/*
 * The controls: `cmpctl resize` sets the root's user.cmpfs.local to SIZE;
 * user.cmpfs.exchange = on|off.
 */
void fs_op_setxattr(fuse_req_t req, fuse_ino_t ino, const char *name,
		    const char *value, size_t size, int flags);

static inline struct fs *fs_from_req(fuse_req_t req)
{
	return fuse_req_userdata(req);
}

/* One more request of type op (any thread). */
static inline void fs_count(struct fs *fs, enum fs_op op)
{
	atomic_fetch_add_explicit(&fs->stats.ops[op], 1, memory_order_relaxed);
}

/* ---- staging buffers for remote blocks (bounce.c) ---- */

/* Largest request the kernel sends (FUSE_MAX_MAX_PAGES * 4 KiB). */
#define FS_MAX_IO (1u << 20)

struct fs_bounce;
/* n buffers of size bytes, made and faulted in now. NULL + errno. */
struct fs_bounce *fs_bounce_create(unsigned int n, size_t size);
void fs_bounce_destroy(struct fs_bounce *b);
/* Takes a buffer (waits only if more threads ask than were counted). */
uint8_t *fs_bounce_get(struct fs_bounce *b);
/* Gives it back (NULL is ok). */
void fs_bounce_put(struct fs_bounce *b, uint8_t *buf);

/* ---- the request loop (loop.c) ---- */

/*
 * Serves se's requests on nworkers threads until the mount is gone, the
 * one that served the last request reading the next. 0 when unmounted,
 * or -errno (the first read error, or a thread that did not start).
 */
int fs_loop_run(struct fuse_session *se, unsigned int nworkers);
/*
 * Called by a request about to wait for another node (or anything slow):
 * another worker reads the next requests meanwhile. Any thread; a no-op
 * outside fs_loop_run()'s workers.
 */
void fs_loop_may_block(void);

/*
 * Before a request that may reach another node's memory (a write, an
 * allocation that may evict, a check of the blocks): in a cluster, let
 * another worker read on. Standalone, every block is local.
 */
static inline void fs_may_wait_remote(const struct fs *fs)
{
	if (fs->cluster)
		fs_loop_may_block();
}

/* ---- libfuse compatibility (fuse_compat.c) ---- */

/*
 * Installs the /dev/fuse I/O hooks that ask the kernel for
 * FUSE_DIRECT_IO_ALLOW_MMAP in the INIT reply (libfuse 3.14 cannot).
 * Call right after fuse_session_mount().
 */
int fs_compat_install(struct fuse_session *se);
/* After INIT: did the kernel grant mmap on direct_io files? */
bool fs_compat_direct_io_mmap(void);

#endif
