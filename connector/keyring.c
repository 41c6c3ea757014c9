// SPDX-License-Identifier: MIT
/*
 * Cluster key files and the keyring of include/cmp/auth.h. A key file is
 * small and read whole; every way it can be wrong ends in one log line
 * naming the file. Secrets on the stack are wiped with sodium_memzero()
 * before returning; keyrings live in memory the daemons lock.
 */
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <sodium.h>

#include "cmp/auth.h"
#include "cmp/log.h"
#include "cmp/util.h"
#include "seal.h"

#define KEY_HEX (AUTH_KEY_BYTES * 2)
/* one byte more than the largest valid file */
#define FILE_MAX ((KEY_HEX + 1) * AUTH_KEYRING_MAX + 1)
#define KEY_ID_LABEL "cmpfs key id"

struct auth_keyring {
	pthread_mutex_t lock; /* protects keys, ids and n */
	struct auth_key keys[AUTH_KEYRING_MAX];
	uint64_t ids[AUTH_KEYRING_MAX];
	unsigned int n;
	char *path; /* NULL: made in memory */
};

uint64_t auth_key_id(const struct auth_key *key)
{
	uint8_t out[crypto_generichash_BYTES_MIN];
	uint64_t id = 0;

	crypto_generichash(out, sizeof(out), (const uint8_t *)KEY_ID_LABEL,
			   sizeof(KEY_ID_LABEL) - 1, key->bytes,
			   sizeof(key->bytes));
	for (int i = 7; i >= 0; i--)
		id = (id << 8) | out[i];
	return id;
}

/* ---- key files ---- */

/*
 * 1..AUTH_KEYRING_MAX lines of 64 hex characters, each ending in a newline
 * (the last one may not), nothing else. Constant time per key: its digits
 * do not steer branches.
 */
static int parse_keys(const char *text, size_t len, struct auth_key *keys,
		      unsigned int *n)
{
	size_t bin_len;

	*n = 0;
	while (len) {
		if (*n == AUTH_KEYRING_MAX || len < KEY_HEX ||
		    (len > KEY_HEX && text[KEY_HEX] != '\n'))
			return -EINVAL;
		bin_len = 0;
		if (sodium_hex2bin(keys[*n].bytes, AUTH_KEY_BYTES, text,
				   KEY_HEX, NULL, &bin_len, NULL) ||
		    bin_len != AUTH_KEY_BYTES)
			return -EINVAL;
		(*n)++;
		text += MIN(len, (size_t)KEY_HEX + 1);
		len -= MIN(len, (size_t)KEY_HEX + 1);
	}
	return *n ? 0 : -EINVAL;
}

static ssize_t read_full(int fd, char *buf, size_t len)
{
	size_t done = 0;
	ssize_t n;

	while (done < len) {
		n = read(fd, buf + done, len - done);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			return -errno;
		if (n == 0)
			break;
		done += (size_t)n;
	}
	return (ssize_t)done;
}

static int check_key_file(int fd, char *why, size_t whylen)
{
	struct stat st;

	if (fstat(fd, &st)) {
		snprintf(why, whylen, "%s", strerror(errno));
		return -errno;
	}
	if (!S_ISREG(st.st_mode)) {
		snprintf(why, whylen, "not a regular file");
		return -EINVAL;
	}
	if (st.st_mode & (S_IRGRP | S_IWGRP | S_IROTH | S_IWOTH)) {
		snprintf(why, whylen,
			 "mode %04o lets group or others read or write it "
			 "(chmod 600 it)",
			 (unsigned int)(st.st_mode & 07777));
		return -EPERM;
	}
	return 0;
}

/* Reads path into keys; on failure fills why for the caller's one line. */
static int read_key_file(const char *path, struct auth_key *keys,
			 unsigned int *n, char *why, size_t whylen)
{
	char text[FILE_MAX];
	ssize_t len;
	int ret;
	int fd;

	ret = seal_crypto_init();
	if (ret) {
		snprintf(why, whylen, "libsodium failed to initialize");
		return ret;
	}
	fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY);
	if (fd < 0) {
		snprintf(why, whylen, "%s", strerror(errno));
		return -errno;
	}
	ret = check_key_file(fd, why, whylen);
	if (ret)
		goto out_close;
	len = read_full(fd, text, sizeof(text));
	if (len < 0) {
		ret = (int)len;
		snprintf(why, whylen, "%s", strerror(-ret));
		goto out_close;
	}
	ret = parse_keys(text, (size_t)len, keys, n);
	if (ret)
		snprintf(why, whylen,
			 "want 1 to %d lines of %d hex characters (a key "
			 "each, the preferred one first)",
			 AUTH_KEYRING_MAX, KEY_HEX);
out_close:
	sodium_memzero(text, sizeof(text));
	close(fd);
	return ret;
}

static int write_key(int fd, const char *text, size_t len)
{
	ssize_t n;

	while (len) {
		n = write(fd, text, len);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			return -errno;
		text += n;
		len -= (size_t)n;
	}
	return fsync(fd) ? -errno : 0;
}

int auth_key_generate(const char *path)
{
	uint8_t raw[AUTH_KEY_BYTES];
	char text[KEY_HEX + 2];
	int ret;
	int fd;

	ret = seal_crypto_init();
	if (ret)
		return ret;
	fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW,
		  0600);
	if (fd < 0) {
		ret = -errno;
		log_error("key file %s: %s%s", path, strerror(errno),
			  ret == -EEXIST ? " (not overwriting it)" : "");
		return ret;
	}
	randombytes_buf(raw, sizeof(raw));
	sodium_bin2hex(text, sizeof(text), raw, sizeof(raw));
	text[KEY_HEX] = '\n';
	ret = write_key(fd, text, KEY_HEX + 1);
	if (close(fd) && !ret)
		ret = -errno;
	if (ret) {
		log_error("key file %s: %s", path, strerror(-ret));
		unlink(path);
	}
	sodium_memzero(raw, sizeof(raw));
	sodium_memzero(text, sizeof(text));
	return ret;
}

/* ---- keyrings ---- */

static void set_keys_locked(struct auth_keyring *kr,
			    const struct auth_key *keys, unsigned int n)
{
	sodium_memzero(kr->keys, sizeof(kr->keys));
	memcpy(kr->keys, keys, n * sizeof(*keys));
	for (unsigned int i = 0; i < n; i++)
		kr->ids[i] = auth_key_id(&keys[i]);
	kr->n = n;
}

static struct auth_keyring *keyring_new(const struct auth_key *keys,
					unsigned int n)
{
	struct auth_keyring *kr = calloc(1, sizeof(*kr));

	if (!kr)
		return NULL;
	pthread_mutex_init(&kr->lock, NULL);
	set_keys_locked(kr, keys, n);
	return kr;
}

struct auth_keyring *auth_keyring_create(const struct auth_key *keys,
					 unsigned int n)
{
	if (!keys || !n || n > AUTH_KEYRING_MAX || seal_crypto_init()) {
		errno = EINVAL;
		return NULL;
	}
	return keyring_new(keys, n);
}

struct auth_keyring *auth_keyring_load(const char *path)
{
	struct auth_key keys[AUTH_KEYRING_MAX];
	struct auth_keyring *kr = NULL;
	char why[160];
	unsigned int n;
	int ret;

	ret = read_key_file(path, keys, &n, why, sizeof(why));
	if (ret) {
		log_error("key file %s: %s", path, why);
		goto out_wipe;
	}
	kr = keyring_new(keys, n);
	if (kr)
		kr->path = strdup(path);
	if (!kr || !kr->path) {
		ret = -ENOMEM;
		log_error("key file %s: %s", path, strerror(ENOMEM));
		auth_keyring_destroy(kr);
		kr = NULL;
	}
out_wipe:
	sodium_memzero(keys, sizeof(keys));
	if (!kr)
		errno = -ret;
	return kr;
}

int auth_keyring_reload(struct auth_keyring *kr)
{
	struct auth_key keys[AUTH_KEYRING_MAX];
	char why[160];
	unsigned int n;
	int ret;

	if (!kr->path)
		return -EINVAL;
	ret = read_key_file(kr->path, keys, &n, why, sizeof(why));
	if (ret) {
		log_error("key file %s: %s; keeping the %u keys loaded before",
			  kr->path, why, auth_keyring_count(kr));
	} else {
		pthread_mutex_lock(&kr->lock);
		set_keys_locked(kr, keys, n);
		pthread_mutex_unlock(&kr->lock);
		log_info("key file reloaded: %u keys (%s)", n, kr->path);
		ret = (int)n;
	}
	sodium_memzero(keys, sizeof(keys));
	return ret;
}

unsigned int auth_keyring_count(struct auth_keyring *kr)
{
	unsigned int n;

	pthread_mutex_lock(&kr->lock);
	n = kr->n;
	pthread_mutex_unlock(&kr->lock);
	return n;
}

void auth_keyring_preferred(struct auth_keyring *kr, struct auth_key *key,
			    uint64_t *id)
{
	pthread_mutex_lock(&kr->lock);
	*key = kr->keys[0];
	*id = kr->ids[0];
	pthread_mutex_unlock(&kr->lock);
}

int auth_keyring_lookup(struct auth_keyring *kr, uint64_t id,
			struct auth_key *key)
{
	int ret = -ENOENT;

	pthread_mutex_lock(&kr->lock);
	for (unsigned int i = 0; i < kr->n; i++) {
		if (kr->ids[i] == id) {
			*key = kr->keys[i];
			ret = 0;
			break;
		}
	}
	pthread_mutex_unlock(&kr->lock);
	return ret;
}

void auth_keyring_destroy(struct auth_keyring *kr)
{
	if (!kr)
		return;
	sodium_memzero(kr->keys, sizeof(kr->keys));
	pthread_mutex_destroy(&kr->lock);
	free(kr->path);
	free(kr);
}

int auth_wait_for_stop(const sigset_t *set, struct auth_keyring *kr)
{
	int sig;

	for (;;) {
		if (sigwait(set, &sig))
			continue;
		if (sig != SIGHUP)
			return sig;
		if (kr)
			auth_keyring_reload(kr); /* logs one line */
		else
			log_info("SIGHUP: insecure, no key file to reload");
	}
}
