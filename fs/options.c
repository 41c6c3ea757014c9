// SPDX-License-Identifier: MIT
/*
 * cmpfs's own command line: the SOURCE argument the mount helper passes and
 * the -o keys that are ours, taken out before libfuse sees the rest. One
 * table row per key, so --help and the parser cannot drift apart.
 */
#include <errno.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cmp/pool.h"
#include "cmp/util.h"
#include "fs.h"

enum opt_kind {
	OPT_SIZE,
	OPT_SIZE0,
	OPT_BLOCK,
	OPT_FLAG,
	OPT_NOFLAG,
	OPT_STR,
	OPT_U32
};

struct opt_row {
	const char *key; /* "local" matches "local=..."; flags match exactly */
	enum opt_kind kind;
	size_t field; /* offsetof in struct fs_options */
	const char *help;
};

#define F(f) offsetof(struct fs_options, f)
static const struct opt_row rows[] = {
	{"local", OPT_SIZE, F(local_bytes),
	 "memory this node gives the pool (default 1G)"},
	{"block", OPT_BLOCK, F(block_size),
	 "block size, power of two 4K..4M (default 1M)"},
	{"readahead", OPT_SIZE0, F(readahead),
	 "kernel readahead for mmap page faults, 0..1M (default 128K; 0: a "
	 "fault moves one page; read() is byte-range either way)"},
	{"tune_bdi", OPT_FLAG, F(tune_bdi),
	 "raise the mount's dirty-page limits for mmap writeback (default)"},
	{"notune_bdi", OPT_NOFLAG, F(tune_bdi),
	 "leave the kernel's dirty-page limits alone"},
	{"nolock", OPT_NOFLAG, F(lock_memory),
	 "do not mlock the pool (NOT safe for swap)"},
	{"debug_cmpfs", OPT_FLAG, F(debug), "log every data request"},
	{"log", OPT_STR, F(log_path),
	 "append log lines to this file (default: stderr, syslog when "
	 "daemonized)"},
	{"manager", OPT_STR, F(manager),
	 "join the cluster whose cmp-manager is at tcp://HOST:PORT"},
	{"listen", OPT_STR, F(listen),
	 "address other nodes reach this node at (tcp://HOST:PORT)"},
	{"key", OPT_STR, F(key_path), "cluster key file (cmpctl keygen)"},
	{"insecure", OPT_FLAG, F(insecure),
	 "join a cluster without a key (trusted networks only)"},
	{"node", OPT_U32, F(node_id), "node id (default: random)"},
};
#undef F

static int set_value(const struct opt_row *r, const char *val,
		     struct fs_options *o)
{
	char *field = (char *)o + r->field;
	uint64_t v;
	char *end;

	switch (r->kind) {
	case OPT_FLAG:
	case OPT_NOFLAG:
		if (val)
			goto bad;
		*(bool *)field = r->kind == OPT_FLAG;
		return 0;
	case OPT_STR:
		if (!val || !*val)
			goto bad;
		free(*(char **)field);
		*(char **)field = strdup(val);
		return *(char **)field ? 0 : -ENOMEM;
	case OPT_U32:
		if (!val || !*val)
			goto bad;
		errno = 0;
		v = strtoull(val, &end, 0);
		if (*end || errno || v == 0 || v > UINT32_MAX)
			goto bad;
		*(uint32_t *)field = (uint32_t)v;
		return 0;
	case OPT_SIZE:
		if (!val || cmp_parse_size(val, &v) || v == 0)
			goto bad;
		*(uint64_t *)field = v;
		return 0;
	case OPT_SIZE0:
		if (!val || cmp_parse_size(val, &v) || v > (1u << 20))
			goto bad;
		*(uint64_t *)field = v;
		return 0;
	case OPT_BLOCK:
		if (!val || cmp_parse_size(val, &v) || !cmp_is_pow2(v) ||
		    v < POOL_MIN_BLOCK || v > POOL_MAX_BLOCK)
			goto bad;
		*(uint32_t *)field = (uint32_t)v;
		return 0;
	}
bad:
	fprintf(stderr, "cmpfs: bad option -o %s%s%s: %s\n", r->key,
		val ? "=" : "", val ? val : "", r->help);
	return -EINVAL;
}

static const struct opt_row *find_row(const char *arg, const char **val)
{
	for (size_t i = 0; i < ARRAY_SIZE(rows); i++) {
		size_t n = strlen(rows[i].key);

		if (strncmp(arg, rows[i].key, n))
			continue;
		if (arg[n] == '=') {
			*val = arg + n + 1;
			return &rows[i];
		}
		if (!arg[n]) {
			*val = NULL;
			return &rows[i];
		}
	}
	return NULL;
}

struct parse_ctx {
	struct fs_options *o;
	int err;
	int npos;
	char *pos[2];
};

static int opt_proc(void *data, const char *arg, int key,
		    struct fuse_args *outargs)
{
	struct parse_ctx *ctx = data;
	const struct opt_row *r;
	const char *val;
	int ret;

	if (key == FUSE_OPT_KEY_NONOPT) {
		if (ctx->npos == 2) {
			fprintf(stderr, "cmpfs: too many arguments: '%s'\n",
				arg);
			ctx->err = -EINVAL;
			return -1;
		}
		ctx->pos[ctx->npos++] = strdup(arg);
		return 0;
	}
	if (key != FUSE_OPT_KEY_OPT)
		return 1;
	r = find_row(arg, &val);
	if (!r)
		return 1; /* libfuse's (or unknown: libfuse says so) */
	ret = set_value(r, val, ctx->o);
	if (ret) {
		ctx->err = ret;
		return -1;
	}
	return 0;
}

int fs_options_parse(struct fuse_args *args, struct fs_options *o)
{
	struct parse_ctx ctx = {.o = o};
	static const struct fuse_opt none[] = {FUSE_OPT_END};

	memset(o, 0, sizeof(*o));
	o->local_bytes = FS_DEFAULT_LOCAL;
	o->block_size = FS_DEFAULT_BLOCK;
	o->readahead = FS_DEFAULT_READAHEAD;
	o->tune_bdi = true;
	o->lock_memory = true;

	if (fuse_opt_parse(args, &ctx, none, opt_proc) == -1) {
		if (!ctx.err) {
			fprintf(stderr, "cmpfs: cannot parse the options\n");
			ctx.err = -EINVAL;
		}
		goto err;
	}
	if (ctx.npos == 2) {
		o->source = ctx.pos[0];
		o->mountpoint = ctx.pos[1];
	} else if (ctx.npos == 1) {
		o->mountpoint = ctx.pos[0];
	}
	if (o->local_bytes < o->block_size) {
		fprintf(stderr,
			"cmpfs: -o local=%llu is smaller than one block "
			"(%u bytes)\n",
			(unsigned long long)o->local_bytes, o->block_size);
		ctx.err = -EINVAL;
		goto err;
	}
	if (!o->listen != !o->manager) {
		fprintf(stderr, "cmpfs: -o manager= and -o listen= go "
				"together (the cluster and where it reaches "
				"this node)\n");
		ctx.err = -EINVAL;
		goto err;
	}
	if (o->manager && !o->key_path && !o->insecure) {
		fprintf(stderr, "cmpfs: -o manager= needs -o key=FILE (or "
				"-o insecure on a trusted network)\n");
		ctx.err = -EINVAL;
		goto err;
	}
	return 0;
err:
	for (int i = 0; i < ctx.npos; i++)
		if (ctx.pos[i] != o->source && ctx.pos[i] != o->mountpoint)
			free(ctx.pos[i]);
	fs_options_free(o);
	return ctx.err;
}

void fs_options_free(struct fs_options *o)
{
	free(o->source);
	free(o->mountpoint);
	free(o->log_path);
	free(o->manager);
	free(o->listen);
	free(o->key_path);
	memset(o, 0, sizeof(*o));
}

void fs_options_help(void)
{
	printf("cmpfs options (-o KEY[=VALUE],...):\n");
	for (size_t i = 0; i < ARRAY_SIZE(rows); i++) {
		const char *v =
			rows[i].kind == OPT_FLAG || rows[i].kind == OPT_NOFLAG
				? ""
				: "=VALUE";
		printf("    -o %s%-*s %s\n", rows[i].key,
		       (int)(16 - strlen(rows[i].key)), v, rows[i].help);
	}
}
