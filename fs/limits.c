// SPDX-License-Identifier: MIT
/*
 * What the machine allows before cmpfs mounts: how much memory can back
 * the pool, and whether the mount point already carries a cmpfs mount.
 * Both are refused at start-up with one line, while the terminal still
 * listens: a pool larger than its backing memory would mount and be
 * OOM-killed later (or, in a small memory cgroup, at once and silently),
 * and a mount on top of a cmpfs mount hides the one beneath, whose
 * memory stays locked. The parsers of /proc and cgroup text are pure, for
 * the unit tests; the readers around them touch the system.
 */
#include <errno.h>
#include <limits.h>
#include <linux/capability.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "cmp/log.h"
#include "cmp/util.h"
#include "fs.h"

/* ---- pure parsers ---- */

/* Undoes mountinfo's octal escapes (\040 for a space) in place. */
static void unescape(char *s)
{
	char *out = s;

	for (; *s; s++) {
		if (s[0] == '\\' && s[1] >= '0' && s[1] <= '3' && s[2] >= '0' &&
		    s[2] <= '7' && s[3] >= '0' && s[3] <= '7') {
			*out++ = (char)((s[1] - '0') << 6 | (s[2] - '0') << 3 |
					(s[3] - '0'));
			s += 3;
		} else {
			*out++ = *s;
		}
	}
	*out = '\0';
}

int fs_mountinfo_parse(char *line, struct fs_mount_entry *e)
{
	char *save = NULL, *f[6], *tok;
	int n = 0;

	line[strcspn(line, "\n")] = '\0';
	/* id parent maj:min root mountpoint options [optional...] - ... */
	for (tok = strtok_r(line, " ", &save); tok && n < 6;
	     tok = strtok_r(NULL, " ", &save))
		f[n++] = tok;
	if (n < 6 || sscanf(f[2], "%u:%u", &e->maj, &e->min) != 2)
		return -EINVAL;
	while (tok && strcmp(tok, "-"))
		tok = strtok_r(NULL, " ", &save);
	if (!tok)
		return -EINVAL;
	e->fstype = strtok_r(NULL, " ", &save);
	e->source = strtok_r(NULL, " ", &save);
	e->superopts = strtok_r(NULL, " ", &save);
	if (!e->fstype || !e->source || !e->superopts)
		return -EINVAL;
	e->root = f[3];
	e->mountpoint = f[4];
	unescape(e->root);
	unescape(e->mountpoint);
	unescape(e->source);
	return 0;
}

/* Is word one of the comma-separated items of list? */
static bool has_item(const char *list, const char *word)
{
	size_t n = strlen(word);

	for (const char *p = list; p; p = strchr(p, ',')) {
		if (*p == ',')
			p++;
		if (!strncmp(p, word, n) && (p[n] == ',' || !p[n]))
			return true;
	}
	return false;
}

int fs_meminfo_available(const char *text, uint64_t *bytes)
{
	const char *p = strstr(text, "MemAvailable:");
	unsigned long long kib;

	if (!p || sscanf(p + 13, "%llu kB", &kib) != 1)
		return -ENOENT;
	*bytes = (uint64_t)kib << 10;
	return 0;
}

int fs_psi_parse(const char *text, double *some_avg10)
{
	const char *p = strstr(text, "some ");

	if (!p || (p != text && p[-1] != '\n'))
		return -ENOENT;
	p = strstr(p, "avg10=");
	if (!p || sscanf(p + 6, "%lf", some_avg10) != 1 || *some_avg10 < 0)
		return -EINVAL;
	return 0;
}

int fs_cgroup_limit_parse(const char *text, uint64_t *bytes)
{
	unsigned long long v;
	char *end;

	if (!strncmp(text, "max", 3)) {
		*bytes = UINT64_MAX;
		return 0;
	}
	errno = 0;
	v = strtoull(text, &end, 10);
	if (errno || end == text || (*end && *end != '\n'))
		return -EINVAL;
	/* v1 shows "no limit" as the largest page-aligned value */
	*bytes = v >= (1ull << 62) ? UINT64_MAX : (uint64_t)v;
	return 0;
}

int fs_proc_cgroup_path(const char *text, bool v2, char *out, size_t len)
{
	/* "N:controllers:path" per hierarchy; v2's is "0::path" */
	for (const char *line = text, *nl; *line;
	     line = (nl = strchr(line, '\n')) ? nl + 1 : "") {
		const char *c = strchr(line, ':'), *p;
		size_t cl, pl;
		char ctl[256];

		if (!c || !(p = strchr(c + 1, ':')))
			continue;
		cl = (size_t)(p - c - 1);
		pl = strcspn(p + 1, "\n");
		if (cl >= sizeof(ctl) || pl >= len)
			continue;
		memcpy(ctl, c + 1, cl);
		ctl[cl] = '\0';
		if (v2 ? !(cl == 0 && !strncmp(line, "0:", 2))
		       : !has_item(ctl, "memory"))
			continue;
		memcpy(out, p + 1, pl);
		out[pl] = '\0';
		return 0;
	}
	return -ENOENT;
}

uint64_t fs_pool_headroom(uint64_t limit)
{
	return MAX(FS_HEADROOM_MIN, limit / FS_HEADROOM_DIV);
}

void fs_mem_limit_offer(struct fs_mem_limit *l, uint64_t bytes, const char *fmt,
			...)
{
	va_list ap;

	if (bytes >= l->bytes)
		return;
	l->bytes = bytes;
	va_start(ap, fmt);
	vsnprintf(l->what, sizeof(l->what), fmt, ap);
	va_end(ap);
}

/* ---- readers ---- */

/* Reads a small file whole into buf (NUL-terminated); -errno. */
static int read_text(const char *path, char *buf, size_t len)
{
	FILE *f = fopen(path, "re");
	size_t n;

	if (!f)
		return -errno;
	n = fread(buf, 1, len - 1, f);
	fclose(f);
	buf[n] = '\0';
	return 0;
}

/*
 * The directory of this process's cgroup in its memory hierarchy (cgroup
 * v1 with the memory controller, or v2), and in *mnt_len the length of
 * the hierarchy's mount point at its start.
 */
static int cgroup_dir(bool v2, char *dir, size_t len, size_t *mnt_len)
{
	char text[4096], line[4096], cgpath[PATH_MAX];
	int ret = -ENOENT;
	FILE *f;

	if (read_text("/proc/self/cgroup", text, sizeof(text)) ||
	    fs_proc_cgroup_path(text, v2, cgpath, sizeof(cgpath)))
		return -ENOENT;
	f = fopen("/proc/self/mountinfo", "re");
	if (!f)
		return -errno;
	while (ret && fgets(line, sizeof(line), f)) {
		struct fs_mount_entry e;
		size_t rl;

		if (fs_mountinfo_parse(line, &e) ||
		    strcmp(e.fstype, v2 ? "cgroup2" : "cgroup") ||
		    (!v2 && !has_item(e.superopts, "memory")))
			continue;
		/* the mount shows the subtree under its root */
		rl = strcmp(e.root, "/") ? strlen(e.root) : 0;
		if (strncmp(cgpath, e.root, rl) ||
		    (cgpath[rl] && cgpath[rl] != '/'))
			continue;
		*mnt_len = strlen(e.mountpoint);
		if (snprintf(dir, len, "%s%s", e.mountpoint, cgpath + rl) <
		    (int)len)
			ret = 0;
	}
	fclose(f);
	return ret;
}

/* The limits of this cgroup and of its parents up to the mount's root. */
static void offer_cgroup(struct fs_mem_limit *l, bool v2)
{
	const char *file = v2 ? "memory.max" : "memory.limit_in_bytes";
	char dir[PATH_MAX], path[PATH_MAX + 32], text[64];
	size_t mnt_len = 0;

	if (cgroup_dir(v2, dir, sizeof(dir), &mnt_len))
		return;
	for (;;) {
		uint64_t v;

		snprintf(path, sizeof(path), "%s/%s", dir, file);
		if (!read_text(path, text, sizeof(text)) &&
		    !fs_cgroup_limit_parse(text, &v))
			fs_mem_limit_offer(l, v, "the memory cgroup limit %s",
					   path);
		if (strlen(dir) <= mnt_len)
			break;
		*strrchr(dir, '/') = '\0';
	}
}

static bool can_lock_without_limit(void)
{
	struct __user_cap_header_struct h = {
		.version = _LINUX_CAPABILITY_VERSION_3,
	};
	struct __user_cap_data_struct d[2] = {0};

	if (syscall(SYS_capget, &h, d))
		return false;
	return d[0].effective & (1u << CAP_IPC_LOCK);
}

void fs_mem_limit_read(bool lock_memory, struct fs_mem_limit *l)
{
	char text[8192];
	struct rlimit rl;
	uint64_t v;

	l->bytes = UINT64_MAX;
	l->what[0] = '\0';
	if (!read_text("/proc/meminfo", text, sizeof(text)) &&
	    !fs_meminfo_available(text, &v))
		fs_mem_limit_offer(l, v, "MemAvailable (/proc/meminfo)");
	offer_cgroup(l, false);
	offer_cgroup(l, true);
	/* mlockall(MCL_FUTURE) counts all of the daemon, not only the pool */
	if (lock_memory && !can_lock_without_limit() &&
	    !getrlimit(RLIMIT_MEMLOCK, &rl) && rl.rlim_cur != RLIM_INFINITY)
		fs_mem_limit_offer(l, rl.rlim_cur,
				   "RLIMIT_MEMLOCK (ulimit -l; or -o nolock)");
}

uint64_t fs_pool_room(bool lock_memory, struct fs_mem_limit *l)
{
	fs_mem_limit_read(lock_memory, l);
	if (l->bytes == UINT64_MAX)
		return UINT64_MAX;
	return l->bytes - MIN(l->bytes, fs_pool_headroom(l->bytes));
}

int fs_check_pool_fits(uint64_t local_bytes, bool lock_memory)
{
	char a[32], b[32], c[32], d[32];
	struct fs_mem_limit l;
	uint64_t room = fs_pool_room(lock_memory, &l);

	if (local_bytes <= room)
		return 0;
	log_error("local=%s is more than this machine can back: %s is %s, "
		  "and cmpfs keeps %s of it free, so the pool can be at most "
		  "%s",
		  cmp_format_size(local_bytes, a, sizeof(a)), l.what,
		  cmp_format_size(l.bytes, b, sizeof(b)),
		  cmp_format_size(l.bytes - room, c, sizeof(c)),
		  cmp_format_size(room, d, sizeof(d)));
	return -ENOMEM;
}

/* ---- the mount point ---- */

int fs_mount_top(const char *path, struct fs_mount_top *top)
{
	char line[4096];
	int ret = -ENOENT;
	FILE *f = fopen("/proc/self/mountinfo", "re");

	if (!f)
		return -errno;
	while (fgets(line, sizeof(line), f)) {
		struct fs_mount_entry e;

		if (fs_mountinfo_parse(line, &e) || strcmp(e.mountpoint, path))
			continue;
		/* later lines are mounts made on top of earlier ones */
		top->maj = e.maj;
		top->min = e.min;
		snprintf(top->fstype, sizeof(top->fstype), "%s", e.fstype);
		ret = 0;
	}
	fclose(f);
	return ret;
}

int fs_check_mountpoint(const char *mountpoint, const char *prog, bool stack)
{
	struct fs_mount_top top;
	char path[PATH_MAX], mine[64];
	const char *base = strrchr(prog, '/') ? strrchr(prog, '/') + 1 : prog;

	if (!realpath(mountpoint, path) || fs_mount_top(path, &top))
		return 0; /* not a mount point, or not one we can see */
	/* libfuse names the type after argv[0]: fuse.cmpfs, as a rule */
	snprintf(mine, sizeof(mine), "fuse.%s", base);
	if (strcmp(top.fstype, "fuse.cmpfs") && strcmp(top.fstype, mine))
		return 0;
	if (stack) {
		log_info("mounting on top of the cmpfs mount on %s (-o stack)",
			 path);
		return 0;
	}
	log_error("%s is a cmpfs mount already: unmount it first, or add "
		  "-o stack to mount another one on top of it",
		  path);
	return -EBUSY;
}
