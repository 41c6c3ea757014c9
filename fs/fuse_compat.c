// SPDX-License-Identifier: MIT
/*
 * What libfuse 3.14 cannot ask the kernel for. MAP_SHARED mmap of a file
 * opened with direct_io needs FUSE_DIRECT_IO_ALLOW_MMAP in the INIT reply's
 * flags2, which libfuse < 3.17 never sets. We sit between libfuse and
 * /dev/fuse (fuse_session_custom_io): remember the INIT request's unique id
 * and whether the kernel offered the flag, and add it to the reply. With
 * libfuse >= 3.17 the official capability is used instead.
 */
#include <errno.h>
#include <fcntl.h>
#include <linux/fuse.h>
#include <string.h>
#include <unistd.h>

#include "cmp-config.h"
#include "cmp/log.h"
#include "fs.h"

#ifndef FUSE_DIRECT_IO_ALLOW_MMAP
#define FUSE_DIRECT_IO_ALLOW_MMAP (1ULL << 36)
#endif
#define ALLOW_MMAP_FLAGS2 ((uint32_t)(FUSE_DIRECT_IO_ALLOW_MMAP >> 32))

static uint64_t init_unique;
static bool kernel_offers_mmap;

static ssize_t compat_read(int fd, void *buf, size_t len, void *ud)
{
	ssize_t n = read(fd, buf, len);
	const struct fuse_in_header *in = buf;

	/* libfuse reads errno after a -1, as after read(2). */
	if (n < 0)
		return n;
	if (!init_unique && (size_t)n >= sizeof(*in) &&
	    in->opcode == FUSE_INIT &&
	    (size_t)n >= sizeof(*in) + sizeof(struct fuse_init_in)) {
		const struct fuse_init_in *ii = (const void *)(in + 1);

		init_unique = in->unique;
		kernel_offers_mmap = (ii->flags & FUSE_INIT_EXT) &&
				     (ii->flags2 & ALLOW_MMAP_FLAGS2);
	}
	(void)ud;
	return n;
}

static ssize_t compat_writev(int fd, struct iovec *iov, int count, void *ud)
{
	struct fuse_init_out patched;
	ssize_t n;

	if (init_unique && count >= 2 &&
	    iov[0].iov_len >= sizeof(struct fuse_out_header)) {
		const struct fuse_out_header *out = iov[0].iov_base;

		if (out->unique == init_unique && !out->error &&
		    iov[1].iov_len >= sizeof(patched) && kernel_offers_mmap) {
			/* Patch a copy: libfuse's buffer stays untouched. */
			memcpy(&patched, iov[1].iov_base, sizeof(patched));
			patched.flags |= FUSE_INIT_EXT;
			patched.flags2 |= ALLOW_MMAP_FLAGS2;
			iov[1].iov_base = &patched;
		}
		if (out->unique == init_unique)
			init_unique = UINT64_MAX; /* done: never matches */
	}
	n = writev(fd, iov, count);
	(void)ud;
	return n;
}

static ssize_t compat_splice_receive(int fdin, off_t *offin, int fdout,
				     off_t *offout, size_t len,
				     unsigned int flags, void *ud)
{
	(void)ud;
	return splice(fdin, offin, fdout, offout, len, flags);
}

static ssize_t compat_splice_send(int fdin, off_t *offin, int fdout,
				  off_t *offout, size_t len, unsigned int flags,
				  void *ud)
{
	(void)ud;
	return splice(fdin, offin, fdout, offout, len, flags);
}

static const struct fuse_custom_io compat_io = {
	.read = compat_read,
	.writev = compat_writev,
	.splice_receive = compat_splice_receive,
	.splice_send = compat_splice_send,
};

int fs_compat_install(struct fuse_session *se)
{
	int ret = fuse_session_custom_io(se, &compat_io, fuse_session_fd(se));

	if (ret)
		log_error("cannot install the /dev/fuse I/O hooks: %s",
			  strerror(-ret));
	return ret;
}

bool fs_compat_direct_io_mmap(void)
{
	/* Read during INIT, before the reply that carries the flag. */
	return kernel_offers_mmap;
}
