// SPDX-License-Identifier: MIT
/*
 * cmpfs's command line: its table of options for the shared parser
 * (include/cmp/opts.h), and the glue to libfuse. The parser takes the
 * SOURCE and MOUNTPOINT the mount helper passes and the -o keys that are
 * ours; what is left (-f, -d, -o allow_other, ...) goes to libfuse, which is
 * asked here, before the daemon starts, whether it takes it, so that an
 * unknown option is refused like ours: one line, exit status 2.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cmp-config.h"
#include "cmp/mgr.h"
#include "cmp/opts.h"
#include "cmp/peer.h"
#include "cmp/pool.h"
#include "cmp/util.h"
#include "fs.h"

/* clang-format off */
#define F(m) OPT_FIELD(struct fs_options, m)
static const struct opt_def fs_opt_defs[] = {
	{.name = "local", .type = OPT_SIZE, F(local_bytes),
	 .min = POOL_MIN_BLOCK, .metavar = "SIZE", .def = "1G",
	 .help = "memory this node gives the pool; locked and pre-faulted at "
		 "mount; no more than the memory that can back it (above)"},
	{.name = "local_max", .type = OPT_SIZE, F(local_max),
	 .metavar = "SIZE",
	 .help = "the most cmpctl resize may grow the pool to while it "
		 "serves (address space only until then); default: local="},
	{.name = "lend_max", .type = OPT_SIZE, F(lend_max), .metavar = "SIZE",
	 .help = "the most of its memory this node lends to other nodes "
		 "(default: all it does not use)"},
	{.name = "borrow_max", .type = OPT_SIZE, F(borrow_max),
	 .metavar = "SIZE",
	 .help = "the most of this node's data kept on other nodes and "
		 "memservers; beyond it, once its own memory is full, writes "
		 "fail with ENOSPC (default: no cap)"},
	{.name = "psi", .type = OPT_UINT, F(psi), .min = 1, .max = 100,
	 .metavar = "PCT",
	 .help = "while the host's memory pressure (some avg10 of psi_file) "
		 "stays at PCT % or more for 5 samples, the pool shrinks by an "
		 "eighth of local= (lent blocks move away first), down to "
		 "psi_min; it grows back after 30 samples below PCT/2 (off by "
		 "default)"},
	{.name = "psi_min", .type = OPT_SIZE, F(psi_min), .metavar = "SIZE",
	 .help = "the least psi= shrinks the pool to (default: a quarter of "
		 "local=)"},
	{.name = "psi_file", .type = OPT_STR, F(psi_file), .metavar = "FILE",
	 .def = "/proc/pressure/memory",
	 .help = "where psi= reads the memory pressure"},
	{.name = "psi_interval", .type = OPT_MS, F(psi_interval_ms),
	 .min = 10, .max = 600000, .metavar = "TIME", .def = "1s",
	 .help = "time between two samples of psi_file"},
	{.name = "block", .type = OPT_SIZE, F(block_size),
	 .min = POOL_MIN_BLOCK, .max = POOL_MAX_BLOCK, .flags = OPT_POW2,
	 .metavar = "SIZE", .def = "1M",
	 .help = "block size; 1M is the largest FUSE request"},
	/* mmap faults only: 128K took mmap reads from 0.25 to 2.3 GB/s. */
	{.name = "readahead", .type = OPT_SIZE, F(readahead),
	 .max = 1u << 20, .metavar = "SIZE", .def = "128K",
	 .help = "kernel readahead for mmap page faults, 0 for one 4 KiB "
		 "request per fault; read() and write() are byte-range either "
		 "way (unless cached_reads)"},
	{.name = "tune_bdi", .type = OPT_FLAG, F(tune_bdi),
	 .help = "raise the mount's dirty-page limits, so that mmap writeback "
		 "is not capped at ~38 MiB"},
	{.name = "notune_bdi", .type = OPT_NOFLAG, F(tune_bdi),
	 .help = "leave the kernel's dirty-page limits alone"},
	{.name = "nolock", .type = OPT_NOFLAG, F(lock_memory),
	 .help = "do not lock the pool and the daemon in memory (never with "
		 "swap on cmpfs)"},
	{.name = "exchange", .type = OPT_FLAG, F(exchange),
	 .help = "a block of ours on another node that is read or written "
		 "again and again comes home, and the least recently used "
		 "block here goes out in its place"},
	{.name = "noexchange", .type = OPT_NOFLAG, F(exchange),
	 .help = "blocks elsewhere come home only when memory is freed here, "
		 "however often they are used"},
	{.name = "prefetch", .type = OPT_FLAG, F(prefetch),
	 .help = "a sequential reader's next blocks that are on other nodes "
		 "come home ahead of it, several at once, into free memory "
		 "here (and into blocks it has read already)"},
	{.name = "noprefetch", .type = OPT_NOFLAG, F(prefetch),
	 .help = "nothing is fetched ahead: every read of a block elsewhere "
		 "crosses the network when it is made"},
	{.name = "hashcompare", .type = OPT_FLAG, F(hash_compare),
	 .help = "a block that comes home keeps its loan elsewhere with the "
		 "XXH3 of its bytes, and writes to it are tracked per 4 KiB "
		 "page: when it goes out again unchanged nothing is sent, when "
		 "written only its dirty pages (replicas=1)"},
	{.name = "nohashcompare", .type = OPT_NOFLAG, F(hash_compare),
	 .help = "a block that comes home gives its loan back (a prefetched "
		 "one at its first write): when it goes out again all of it "
		 "is sent to a new loan"},
	{.name = "cached_reads", .type = OPT_FLAG, F(cached_reads),
	 .help = "read-only opens go through the page cache, with readahead: "
		 "small sequential reads (dd bs=512) cost a request per 128 "
		 "KiB, not per read; such reads are no longer byte-range, and "
		 "what they read is in memory twice"},
	{.name = "stack", .type = OPT_FLAG, F(stack),
	 .help = "mount even when MOUNTPOINT is a cmpfs mount already (the "
		 "new mount hides it); refused without this"},
	{.name = "debug_cmpfs", .type = OPT_FLAG, F(debug),
	 .help = "log every data request"},
	{.name = "log", .type = OPT_STR, F(log_path), .metavar = "FILE",
	 .help = "append every log line to FILE (default: stderr in the "
		 "foreground, syslog when daemonized); until the mount is up, "
		 "errors go to the terminal too"},
	{.name = "manager", .type = OPT_ADDR_LIST, F(manager),
	 .max = MGR_MAX_MANAGERS, .metavar = "ADDR[,ADDR...]",
	 .help = "join the cluster whose cmp-manager is at ADDR "
		 "(tcp://HOST:PORT); several managers in the cluster's order "
		 "(manager=tcp://A:7000,tcp://B:7000): this node registers "
		 "with the first that takes it, and moves to another when it "
		 "stops answering; needs listen= and key= (or insecure)"},
	{.name = "listen", .type = OPT_ADDR, F(listen), .metavar = "ADDR",
	 .help = "address other nodes reach this node at (tcp://HOST:PORT)"},
	{.name = "key", .type = OPT_STR, F(key_path), .metavar = "FILE",
	 .help = "cluster key file (cmpctl keygen; mode 0600)"},
	{.name = "insecure", .type = OPT_FLAG, F(insecure),
	 .help = "join a cluster without a key (trusted networks only)"},
	{.name = "lease", .type = OPT_MS, F(lease_ms),
	 .min = PEER_LEASE_OPT_MIN_MS, .metavar = "TIME",
	 .def = PEER_LEASE_OPT_DEFAULT, .help = PEER_LEASE_OPT_HELP},
	{.name = "node", .type = OPT_UINT, F(node_id), .min = 1,
	 .metavar = "N",
	 .help = "node id in the cluster, random when not given"},
	{.name = "replicas", .type = OPT_UINT, F(replicas), .min = 1,
	 .max = POOL_MAX_REPLICAS, .metavar = "N", .def = "1",
	 .help = "copies of each block kept on other nodes, each on a node "
		 "of its own, so that N-1 nodes may die without losing an "
		 "acknowledged byte; costs N times the cluster memory and the "
		 "network bytes written of every block elsewhere, and a write "
		 "there returns once every copy has it (needs manager=)"},
	{.name = "rebuild_after", .type = OPT_MS, F(rebuild_after_ms),
	 .min = 100, .metavar = "TIME", .def = "5s",
	 .help = "with replicas= over 1: how long a node holding copies may "
		 "stay unreachable before they are made again elsewhere (a "
		 "copy that missed a write is made again at once)"},
	{.name = "rebuild_rate", .type = OPT_SIZE, F(rebuild_rate),
	 .metavar = "SIZE", .def = "256M",
	 .help = "with replicas= over 1: bytes a second that making copies "
		 "again may copy at most, 0 for no limit"},
	{.name = "writepolicy", .type = OPT_STR, F(writepolicy),
	 .metavar = "none|through|back", .def = "none",
	 .help = "memserver copies of this node's blocks elsewhere, besides "
		 "their replicas= copies on compute nodes. through: every "
		 "block elsewhere also has a copy on a memserver, written with "
		 "the others (a write there returns once the memserver has it "
		 "too): losing every compute node loses nothing; costs a "
		 "block of memserver memory per block elsewhere, and the "
		 "memserver's bytes and round trip on every write there. back: "
		 "the memserver copy is written when a block goes out of this "
		 "node, and after a write to a block already elsewhere within "
		 "writeback_delay, off the write's path (and before this node "
		 "leaves): losing every compute node loses only what was "
		 "written since the last flush, and this node's own memory "
		 "is never covered; costs the memory, and the bytes once per "
		 "flush (needs manager= and a cmp-memserver)"},
	{.name = "writeback_delay", .type = OPT_MS, F(writeback_delay_ms),
	 .min = 1, .max = 60000, .metavar = "TIME", .def = "100ms",
	 .help = "with writepolicy=back: how long a memserver copy may stay "
		 "behind a write before it is flushed (a flush that fails is "
		 "tried again every second; cmpctl stats: wp_pending)"},
	OPTS_ROW_METRICS(struct fs_options, metrics),
	OPTS_ROWS_LIMITS(struct fs_options, limits),
};
#undef F
/* clang-format on */

static const struct opts_spec fs_opts_spec = {
	.prog = "cmpfs",
	.usage = "cmpfs [SOURCE] MOUNTPOINT [-f] [-s] [-d] [-o "
		 "OPTION[,OPTION...]]\n"
		 "mount -t fuse.cmpfs none MOUNTPOINT -o local=2G",
	.about = "Mounts a pool of memory as a file system. Each file is a "
		 "growable region of pool blocks; reads and writes are "
		 "byte-range direct I/O, MAP_SHARED mmap pages at 4 KiB, and a "
		 "loop device on a file can carry swap. SOURCE is ignored (use "
		 "'none' or 'cmpfs'). cmpfs goes to the background unless -f "
		 "or -d is given.\nA pool larger than the memory that can "
		 "back it is refused at mount: local= may be at most L less "
		 "max(64M, L/16) of headroom, where L is the smallest of "
		 "MemAvailable, the limit of cmpfs's memory cgroup and its "
		 "parents (v1 memory.limit_in_bytes, v2 memory.max) and, "
		 "when it locks memory without CAP_IPC_LOCK, RLIMIT_MEMLOCK."
		 "\nSIGTERM and SIGINT unmount, unless the mount is busy (then "
		 "one line says why, and cmpfs goes on); SIGHUP reloads the "
		 "key file.\nCounters: cmpctl stats MOUNTPOINT (or "
		 "getfattr -n user.cmpfs.stats MOUNTPOINT).",
	.opts = fs_opt_defs,
	.nopts = ARRAY_SIZE(fs_opt_defs),
	.mount_style = true,
};

static int no_memory(void)
{
	fprintf(stderr, "cmpfs: out of memory\n");
	return -ENOMEM;
}

/* ---- asking libfuse about the options that are not ours ---- */

static char fuse_said[256]; /* what libfuse logged while being asked */

__attribute__((format(printf, 2, 0))) static void
capture_log(enum fuse_log_level level, const char *fmt, va_list ap)
{
	size_t n = strlen(fuse_said);

	if (level <= FUSE_LOG_ERR && n < sizeof(fuse_said) - 1)
		vsnprintf(fuse_said + n, sizeof(fuse_said) - n, fmt, ap);
}

/*
 * Whether libfuse takes args as main() will give them to it: the same
 * fuse_parse_cmdline() and fuse_session_new() on a copy, with libfuse's
 * messages caught in fuse_said. A session that is never mounted costs
 * an allocation.
 */
static bool fuse_takes(int argc, char *const *argv)
{
	static const struct fuse_lowlevel_ops no_ops;
	struct fuse_args copy = FUSE_ARGS_INIT(0, NULL);
	struct fuse_cmdline_opts co = {0};
	struct fuse_session *se = NULL;
	bool ok = true;

	fuse_said[0] = '\0';
	for (int i = 0; ok && i < argc; i++)
		ok = !fuse_opt_add_arg(&copy, argv[i]);
	fuse_set_log_func(capture_log);
	if (ok && !fuse_parse_cmdline(&copy, &co))
		se = fuse_session_new(&copy, &no_ops, sizeof(no_ops), NULL);
	fuse_set_log_func(NULL); /* libfuse's own, until main() sets one */
	free(co.mountpoint);
	fuse_opt_free_args(&copy);
	if (!se)
		return false;
	fuse_session_destroy(se);
	return true;
}

/* One argument libfuse refused: one line naming it, as opts_error() does. */
static int fuse_refused(const char *name)
{
	char *said = fuse_said;
	size_t n;

	if (!strncmp(said, "fuse: ", 6))
		said += 6;
	n = strcspn(said, "\n");
	if (strstr(said, "unknown option"))
		return opts_error(&fs_opts_spec, name, "unknown (see --help)");
	return opts_error(&fs_opts_spec, name, "libfuse: %.*s", (int)n, said);
}

/* Tries each -o key of an escaped list alone; 1 when all are taken. */
static int find_refused_key(const char *argv0, const char *olist)
{
	char *buf = strdup(olist), *item = buf, *s = buf;
	int ret = 1;

	if (!buf)
		return no_memory();
	for (bool end = false; !end && ret > 0; s++) {
		end = !*s;
		if (*s == '\\' && s[1]) {
			s++;
			continue;
		}
		if (*s != ',' && !end)
			continue;
		*s = '\0';
		if (!fuse_takes(3, (char *[]){(char *)argv0, "-o", item})) {
			item[strcspn(item, "=")] = '\0';
			ret = fuse_refused(item);
		}
		item = s + 1;
	}
	free(buf);
	return ret;
}

/*
 * After the whole set failed, names the first argument libfuse refuses
 * on its own; -EINVAL after one line either way.
 */
static int name_refused(const char *argv0, const struct opts_rest *rest)
{
	char said[sizeof(fuse_said)];
	int ret = 1;

	memcpy(said, fuse_said, sizeof(said));
	for (int i = 0; i < rest->nopts; i++)
		if (!fuse_takes(2, (char *[]){(char *)argv0, rest->opts[i]}))
			return fuse_refused(rest->opts[i]);
	if (rest->olist)
		ret = find_refused_key(argv0, rest->olist);
	if (ret <= 0)
		return ret;
	said[strcspn(said, "\n")] = '\0';
	fprintf(stderr, "cmpfs: libfuse refused the options: %s\n", said);
	return -EINVAL;
}

/* ---- cmpfs's own rules ---- */

static int take_operands(const struct opts_rest *rest, struct fs_options *o)
{
	int mp = rest->nargs - 1;

	if (rest->nargs > 2) {
		fprintf(stderr,
			"cmpfs: unexpected argument '%s' (want [SOURCE] "
			"MOUNTPOINT)\n",
			rest->args[2]);
		return -EINVAL;
	}
	if (mp >= 0 && !(o->mountpoint = strdup(rest->args[mp])))
		return no_memory();
	if (mp == 1 && !(o->source = strdup(rest->args[0])))
		return no_memory();
	return 0;
}

/* writepolicy= names one policy; it needs the cluster. */
static int parse_wpolicy(struct fs_options *o)
{
	if (pool_wpolicy_parse(o->writepolicy, &o->wpolicy))
		return opts_error(&fs_opts_spec, "writepolicy",
				  "'%s' is none, through or back",
				  o->writepolicy);
	if (o->wpolicy != POOL_WP_NONE && !o->manager)
		return opts_error(&fs_opts_spec, "writepolicy",
				  "needs -o manager= (the copies live on "
				  "memservers)");
	return 0;
}

/* Rules between options; one line for the first one broken. */
static int check_rules(const struct fs_options *o)
{
	char sz[32];

	if (o->local_bytes < o->block_size)
		return opts_error(
			&fs_opts_spec, "local",
			"%llu bytes is smaller than one block "
			"(block=%s)",
			(unsigned long long)o->local_bytes,
			cmp_format_size(o->block_size, sz, sizeof(sz)));
	if (!o->listen != !o->manager)
		return opts_error(&fs_opts_spec,
				  o->manager ? "manager" : "listen",
				  "needs -o %s= too (the cluster, and where it "
				  "reaches this node)",
				  o->manager ? "listen" : "manager");
	if (o->replicas > 1 && !o->manager)
		return opts_error(&fs_opts_spec, "replicas",
				  "needs -o manager= (copies live on other "
				  "nodes)");
	if (o->manager && !o->key_path && !o->insecure)
		return opts_error(&fs_opts_spec, "manager",
				  "needs -o key=FILE (or -o insecure on a "
				  "trusted network)");
	return 0;
}

/* args becomes argv[0], the options that are not ours, and "-o" theirs. */
static int rebuild_args(struct fuse_args *args, const struct opts_rest *rest)
{
	struct fuse_args out = FUSE_ARGS_INIT(0, NULL);
	int ret = fuse_opt_add_arg(&out, args->argv[0]);

	for (int i = 0; !ret && i < rest->nopts; i++)
		ret = fuse_opt_add_arg(&out, rest->opts[i]);
	if (!ret && rest->olist) {
		ret = fuse_opt_add_arg(&out, "-o");
		if (!ret)
			ret = fuse_opt_add_arg(&out, rest->olist);
	}
	if (ret) {
		fuse_opt_free_args(&out);
		return no_memory();
	}
	fuse_opt_free_args(args);
	*args = out;
	return 0;
}

int fs_options_parse(struct fuse_args *args, struct fs_options *o)
{
	struct opts_rest rest = {0};
	int ret;

	memset(o, 0, sizeof(*o));
	ret = opts_init(&fs_opts_spec, o);
	if (!ret)
		ret = opts_parse_argv(&fs_opts_spec, o, args->argc, args->argv,
				      &rest);
	if (!ret)
		ret = take_operands(&rest, o);
	if (!ret)
		ret = check_rules(o);
	if (!ret)
		ret = parse_wpolicy(o);
	if (!ret)
		ret = rebuild_args(args, &rest);
	if (!ret && !fuse_takes(args->argc, args->argv))
		ret = name_refused(args->argv[0], &rest);
	opts_rest_finish(&rest);
	if (ret)
		fs_options_free(o);
	return ret;
}

void fs_options_free(struct fs_options *o)
{
	opts_finish(&fs_opts_spec, o);
	free(o->source);
	free(o->mountpoint);
	memset(o, 0, sizeof(*o));
}

int fs_options_exit_status(int ret)
{
	if (ret == OPTS_HELP) {
		opts_help(&fs_opts_spec, stdout);
		printf("\nlibfuse's options, passed on to it (and its mount "
		       "options: ro, dev, suid, exec,\nnoatime, sync, "
		       "default_permissions, fsname=NAME, subtype=NAME, ...; "
		       "see fuse(8)):\n");
		fuse_cmdline_help();
		fuse_lowlevel_help();
	} else if (ret == OPTS_VERSION) {
		opts_version(&fs_opts_spec, stdout);
		printf("libfuse %s, RDMA %s\n", fuse_pkgversion(),
		       CMP_HAVE_RDMA ? "yes" : "no");
	}
	return ret > 0 ? 0 : OPTS_EXIT_USAGE;
}
