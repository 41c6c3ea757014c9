// SPDX-License-Identifier: MIT
/*
 * fsop: the few file-system calls test-namespace.sh and test-posix.sh
 * need that coreutils (9.1 here) cannot make.
 *
 *   fsop rename noreplace|exchange OLD NEW
 *        renameat2(); prints nothing and exits 0, or prints the errno name
 *        (EEXIST, ENOENT, ...) and exits 1.
 *   fsop errno CALL PATH [PATH2]
 *        one call (stat, create, mkdir, mknod, symlink TARGET PATH, link
 *        OLD NEW, rename OLD NEW, unlink, rmdir); prints OK or the errno
 *        name and exits 0 either way (2 for a CALL it does not know).
 *   fsop unlinked MOUNT FILE SIZE
 *        writes SIZE bytes to FILE, unlinks it while open, then checks that
 *        the open file is still readable and writable, that st_nlink is 0,
 *        and that the mount's blocks_free counter did not go up while the
 *        file was open. The blocks may come back only after close.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/xattr.h>
#include <unistd.h>

static int die(const char *what)
{
	fprintf(stderr, "fsop: %s: %s\n", what, strerror(errno));
	return 1;
}

static const char *errname(int e)
{
	switch (e) {
	case EEXIST:
		return "EEXIST";
	case ENOENT:
		return "ENOENT";
	case EINVAL:
		return "EINVAL";
	case ENOTEMPTY:
		return "ENOTEMPTY";
	case EISDIR:
		return "EISDIR";
	case ENOTDIR:
		return "ENOTDIR";
	case EPERM:
		return "EPERM";
	case EACCES:
		return "EACCES";
	case EXDEV:
		return "EXDEV";
	case ENAMETOOLONG:
		return "ENAMETOOLONG";
	default:
		return strerror(e);
	}
}

static int cmd_rename(const char *how, const char *from, const char *to)
{
	unsigned int flags;

	if (!strcmp(how, "noreplace"))
		flags = RENAME_NOREPLACE;
	else if (!strcmp(how, "exchange"))
		flags = RENAME_EXCHANGE;
	else
		return 2;
	if (renameat2(AT_FDCWD, from, AT_FDCWD, to, flags)) {
		printf("%s\n", errname(errno));
		return 1;
	}
	return 0;
}

/* One call by name; -1 with errno, 0, or -2 for an unknown name. */
static int one_call(const char *call, const char *a, const char *b)
{
	struct stat st;
	int fd;

	if (!strcmp(call, "stat"))
		return stat(a, &st);
	if (!strcmp(call, "create")) {
		fd = open(a, O_CREAT | O_WRONLY, 0644);
		return fd < 0 ? -1 : close(fd);
	}
	if (!strcmp(call, "mkdir"))
		return mkdir(a, 0755);
	if (!strcmp(call, "mknod"))
		return mknod(a, S_IFIFO | 0644, 0);
	if (!strcmp(call, "unlink"))
		return unlink(a);
	if (!strcmp(call, "rmdir"))
		return rmdir(a);
	if (!b)
		return -2;
	if (!strcmp(call, "symlink"))
		return symlink(a, b);
	if (!strcmp(call, "link"))
		return link(a, b);
	if (!strcmp(call, "rename"))
		return rename(a, b);
	return -2;
}

static int cmd_errno(const char *call, const char *a, const char *b)
{
	int ret = one_call(call, a, b);

	if (ret == -2)
		return 2;
	printf("%s\n", ret ? errname(errno) : "OK");
	return 0;
}

static long long blocks_free(const char *mnt)
{
	char buf[8192], *p;
	ssize_t n = getxattr(mnt, "user.cmpfs.stats", buf, sizeof(buf) - 1);

	if (n < 0)
		return -1;
	buf[n] = '\0';
	p = strstr(buf, "\nblocks_free ");
	return p ? atoll(p + 13) : -1;
}

static int cmd_unlinked(const char *mnt, const char *file, size_t size)
{
	char *a = malloc(size), *b = malloc(size);
	long long before, after;
	struct stat st;
	int fd;

	if (!a || !b)
		return die("malloc");
	for (size_t i = 0; i < size; i++)
		a[i] = (char)(i * 7 + 3);
	fd = open(file, O_RDWR | O_CREAT | O_TRUNC, 0644);
	if (fd < 0)
		return die(file);
	if (pwrite(fd, a, size, 0) != (ssize_t)size)
		return die("pwrite");
	before = blocks_free(mnt);
	if (unlink(file))
		return die("unlink");
	if (access(file, F_OK) == 0 || errno != ENOENT) {
		fprintf(stderr, "fsop: %s still visible after unlink\n", file);
		return 1;
	}
	if (fstat(fd, &st))
		return die("fstat");
	if (st.st_nlink != 0 || (size_t)st.st_size != size) {
		fprintf(stderr, "fsop: unlinked file has nlink %lu size %lld\n",
			(unsigned long)st.st_nlink, (long long)st.st_size);
		return 1;
	}
	if (pread(fd, b, size, 0) != (ssize_t)size || memcmp(a, b, size)) {
		fprintf(stderr, "fsop: unlinked file reads back wrong\n");
		return 1;
	}
	/* Still writable, and growable. */
	if (pwrite(fd, a, size, (off_t)size) != (ssize_t)size)
		return die("pwrite after unlink");
	if (pread(fd, b, size, (off_t)size) != (ssize_t)size ||
	    memcmp(a, b, size)) {
		fprintf(stderr, "fsop: unlinked file's new data reads back "
				"wrong\n");
		return 1;
	}
	after = blocks_free(mnt);
	if (before < 0 || after < 0 || after > before) {
		fprintf(stderr,
			"fsop: blocks_free went %lld -> %lld while the "
			"unlinked file was open\n",
			before, after);
		return 1;
	}
	printf("blocks_free while open: %lld -> %lld\n", before, after);
	if (close(fd))
		return die("close");
	free(a);
	free(b);
	return 0;
}

int main(int argc, char **argv)
{
	if (argc == 5 && !strcmp(argv[1], "rename"))
		return cmd_rename(argv[2], argv[3], argv[4]);
	if ((argc == 4 || argc == 5) && !strcmp(argv[1], "errno"))
		return cmd_errno(argv[2], argv[3], argc == 5 ? argv[4] : NULL);
	if (argc == 5 && !strcmp(argv[1], "unlinked"))
		return cmd_unlinked(argv[2], argv[3],
				    (size_t)strtoull(argv[4], NULL, 0));
	fprintf(stderr, "usage: fsop rename noreplace|exchange OLD NEW\n"
			"       fsop errno CALL PATH [PATH2]\n"
			"       fsop unlinked MOUNT FILE SIZE\n");
	return 2;
}
