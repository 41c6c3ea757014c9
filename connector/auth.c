// SPDX-License-Identifier: MIT
/*
 * The cluster key file and the mutual challenge-response handshake of
 * include/cmp/auth.h (message sequence in auth-internal.h). Every byte a peer
 * sends during the handshake goes through the pure decoders below, which are
 * the fuzz target tests/fuzz/fuzz-auth.c. Secrets on the stack are wiped
 * with sodium_memzero() before returning.
 */
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <sodium.h>

#include "auth-internal.h"
#include "cmp/conn.h"
#include "conn-internal.h"
#include "cmp/log.h"
#include "cmp/util.h"

_Static_assert(crypto_auth_KEYBYTES == AUTH_KEY_BYTES, "key size");
_Static_assert(crypto_auth_BYTES == AUTH_MAC_BYTES, "MAC size");

#define AUTH_DEFAULT_TIMEOUT_MS 5000
#define AUTH_KEY_HEX (AUTH_KEY_BYTES * 2)
#define AUTH_LABEL "cmpfs-auth-v1"
/* Handshake frames carry id 1; replies must echo it. */
#define AUTH_FRAME_ID 1

static pthread_once_t sodium_once = PTHREAD_ONCE_INIT;
static int sodium_status;

static void sodium_setup(void)
{
	sodium_status = sodium_init();
}

static int crypto_ready(void)
{
	pthread_once(&sodium_once, sodium_setup);
	if (sodium_status < 0) {
		log_error("libsodium failed to initialize");
		return -EIO;
	}
	return 0;
}

/* ---- key file ---- */

/* 64 hex characters and an optional newline, nothing else. */
static int parse_key(const char *text, size_t len, struct auth_key *key)
{
	size_t bin_len = 0;

	if (len != AUTH_KEY_HEX &&
	    !(len == AUTH_KEY_HEX + 1 && text[AUTH_KEY_HEX] == '\n'))
		return -EINVAL;
	/* Constant time: the key's digits do not steer branches. */
	if (sodium_hex2bin(key->bytes, sizeof(key->bytes), text, AUTH_KEY_HEX,
			   NULL, &bin_len, NULL) ||
	    bin_len != sizeof(key->bytes))
		return -EINVAL;
	return 0;
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

static int check_key_file(int fd, const char *path)
{
	struct stat st;

	if (fstat(fd, &st)) {
		log_error("key file %s: %s", path, strerror(errno));
		return -errno;
	}
	if (!S_ISREG(st.st_mode)) {
		log_error("key file %s: not a regular file", path);
		return -EINVAL;
	}
	if (st.st_mode & (S_IRGRP | S_IWGRP | S_IROTH | S_IWOTH)) {
		log_error("key file %s: mode %04o lets group or others read or "
			  "write it (chmod 600 it)",
			  path, (unsigned int)(st.st_mode & 07777));
		return -EPERM;
	}
	return 0;
}

int auth_key_load(const char *path, struct auth_key *key)
{
	char text[AUTH_KEY_HEX + 2]; /* one byte more than a valid file */
	struct auth_key tmp;
	ssize_t n;
	int ret;
	int fd;

	ret = crypto_ready();
	if (ret)
		return ret;
	fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY);
	if (fd < 0) {
		ret = -errno;
		log_error("key file %s: %s", path, strerror(errno));
		return ret;
	}
	ret = check_key_file(fd, path);
	if (ret)
		goto out_close;
	n = read_full(fd, text, sizeof(text));
	if (n < 0) {
		ret = (int)n;
		log_error("key file %s: %s", path, strerror(-ret));
		goto out_close;
	}
	ret = parse_key(text, (size_t)n, &tmp);
	if (ret) {
		log_error("key file %s: want %d hex characters and a newline",
			  path, AUTH_KEY_HEX);
		goto out_close;
	}
	*key = tmp;
out_close:
	sodium_memzero(text, sizeof(text));
	sodium_memzero(&tmp, sizeof(tmp));
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
	char text[AUTH_KEY_HEX + 2];
	int ret;
	int fd;

	ret = crypto_ready();
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
	text[AUTH_KEY_HEX] = '\n';
	ret = write_key(fd, text, AUTH_KEY_HEX + 1);
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

/* ---- messages ---- */

void auth_hello_encode(const struct auth_hello *hello,
		       uint8_t out[AUTH_HELLO_LEN])
{
	memcpy(out, hello->nonce, AUTH_NONCE_BYTES);
	out[AUTH_NONCE_BYTES] = hello->mode;
}

/* Checks what HELLO and AUTH frames have in common. */
static int check_frame(const struct wire_hdr *h, uint8_t op, bool reply,
		       size_t len)
{
	if (h->op != op || !(h->flags & WIRE_F_REPLY) != !reply ||
	    h->len != len)
		return -EPROTO;
	if (h->status == WIRE_S_PERM && reply)
		return -EACCES;
	if (h->status != WIRE_S_OK)
		return -EPROTO;
	return 0;
}

int auth_hello_decode(const struct wire_hdr *h, bool reply, const uint8_t *p,
		      size_t len, struct auth_hello *out)
{
	int ret = check_frame(h, WIRE_OP_HELLO, reply, len);

	if (ret)
		return ret;
	if (len != AUTH_HELLO_LEN)
		return -EPROTO;
	if (p[AUTH_NONCE_BYTES] != AUTH_MODE_INSECURE &&
	    p[AUTH_NONCE_BYTES] != AUTH_MODE_SECURE)
		return -EPROTO;
	memcpy(out->nonce, p, AUTH_NONCE_BYTES);
	out->mode = p[AUTH_NONCE_BYTES];
	return 0;
}

int auth_mac_decode(const struct wire_hdr *h, bool reply, const uint8_t *p,
		    size_t len, uint8_t mac[AUTH_MAC_BYTES])
{
	int ret = check_frame(h, WIRE_OP_AUTH, reply, len);

	if (ret)
		return ret;
	if (len != AUTH_MAC_BYTES)
		return -EPROTO;
	memcpy(mac, p, AUTH_MAC_BYTES);
	return 0;
}

/* label | role | client nonce | server nonce */
#define MAC_INPUT_LEN (sizeof(AUTH_LABEL) + 1 + 2 * AUTH_NONCE_BYTES)

static void mac_input(enum auth_role role, const uint8_t *cn, const uint8_t *sn,
		      uint8_t in[MAC_INPUT_LEN])
{
	memcpy(in, AUTH_LABEL, sizeof(AUTH_LABEL));
	in[sizeof(AUTH_LABEL)] = (uint8_t)role;
	memcpy(in + sizeof(AUTH_LABEL) + 1, cn, AUTH_NONCE_BYTES);
	memcpy(in + sizeof(AUTH_LABEL) + 1 + AUTH_NONCE_BYTES, sn,
	       AUTH_NONCE_BYTES);
}

void auth_mac_compute(const struct auth_key *key, enum auth_role role,
		      const uint8_t client_nonce[AUTH_NONCE_BYTES],
		      const uint8_t server_nonce[AUTH_NONCE_BYTES],
		      uint8_t mac[AUTH_MAC_BYTES])
{
	uint8_t in[MAC_INPUT_LEN];

	mac_input(role, client_nonce, server_nonce, in);
	crypto_auth(mac, in, sizeof(in), key->bytes);
}

bool auth_mac_verify(const struct auth_key *key, enum auth_role role,
		     const uint8_t client_nonce[AUTH_NONCE_BYTES],
		     const uint8_t server_nonce[AUTH_NONCE_BYTES],
		     const uint8_t mac[AUTH_MAC_BYTES])
{
	uint8_t in[MAC_INPUT_LEN];

	mac_input(role, client_nonce, server_nonce, in);
	return crypto_auth_verify(mac, in, sizeof(in), key->bytes) == 0;
}

/* ---- handshake ---- */

/* One handshake in progress: the connection and the overall deadline. */
struct hs {
	struct conn *c;
	uint64_t deadline;
	const char *role;
};

/* Gives the next I/O call the time left. */
static int hs_arm(struct hs *hs)
{
	uint64_t now = cmp_now_ns();
	uint64_t left_ms;

	if (now >= hs->deadline) {
		log_warn("%s: %s handshake timed out", conn_peer(hs->c),
			 hs->role);
		return -ETIMEDOUT;
	}
	left_ms = (hs->deadline - now + 999999) / 1000000;
	return conn_set_timeout(hs->c, (int)MIN(left_ms, (uint64_t)INT32_MAX));
}

static int hs_send(struct hs *hs, uint8_t op, bool reply, uint32_t status,
		   const void *payload, size_t len)
{
	struct wire_hdr h = {
		.op = op,
		.flags = reply ? WIRE_F_REPLY : 0,
		.status = status,
		.id = AUTH_FRAME_ID,
	};
	struct iovec iov = {.iov_base = (void *)payload, .iov_len = len};
	int ret = hs_arm(hs);

	if (ret)
		return ret;
	return wire_send(hs->c, &h, &iov, len ? 1 : 0);
}

/* Receives one small frame; frame-level garbage becomes -EPROTO. */
static int hs_recv(struct hs *hs, struct wire_hdr *h, uint8_t *buf, size_t size)
{
	struct iovec iov = {.iov_base = buf, .iov_len = size};
	int ret = hs_arm(hs);

	if (ret)
		return ret;
	ret = wire_recv_hdr(hs->c, h);
	if (ret == -EBADMSG || ret == -EMSGSIZE)
		return -EPROTO;
	if (ret)
		return ret;
	if (h->len > size || h->id != AUTH_FRAME_ID) {
		log_warn("%s: %s handshake: unexpected %s frame (len %u, id "
			 "%llu)",
			 conn_peer(hs->c), hs->role, wire_op_name(h->op),
			 h->len, (unsigned long long)h->id);
		return -EPROTO;
	}
	ret = hs_arm(hs);
	if (!ret)
		ret = wire_recv_payload(hs->c, h, &iov, 1);
	if (ret == -EBADMSG) {
		log_warn("%s: %s handshake: payload checksum mismatch",
			 conn_peer(hs->c), hs->role);
		return -EPROTO;
	}
	return ret;
}

/* Logs a decoder's refusal; -EACCES is the caller's to report. */
static int hs_refused(struct hs *hs, int ret, const char *what)
{
	if (ret == -EACCES)
		log_info("%s: %s handshake: peer refused our %s",
			 conn_peer(hs->c), hs->role, what);
	else if (ret == -EPROTO)
		log_warn("%s: %s handshake: malformed %s", conn_peer(hs->c),
			 hs->role, what);
	return ret;
}

static int hs_mode_check(struct hs *hs, uint8_t ours, uint8_t theirs)
{
	if (ours == theirs)
		return 0;
	log_info("%s: %s handshake: peer is %s, we are %s", conn_peer(hs->c),
		 hs->role, theirs == AUTH_MODE_SECURE ? "secure" : "insecure",
		 ours == AUTH_MODE_SECURE ? "secure" : "insecure");
	return -EACCES;
}

static int client_run(struct hs *hs, const struct auth_key *key)
{
	struct auth_hello mine = {.mode = key ? AUTH_MODE_SECURE
					      : AUTH_MODE_INSECURE};
	struct auth_hello theirs;
	uint8_t buf[AUTH_HELLO_LEN];
	uint8_t mac[AUTH_MAC_BYTES];
	struct wire_hdr h;
	int ret;

	randombytes_buf(mine.nonce, sizeof(mine.nonce));
	auth_hello_encode(&mine, buf);
	ret = hs_send(hs, WIRE_OP_HELLO, false, WIRE_S_OK, buf, sizeof(buf));
	if (!ret)
		ret = hs_recv(hs, &h, buf, sizeof(buf));
	if (ret)
		return ret;
	ret = auth_hello_decode(&h, true, buf, h.len, &theirs);
	if (ret)
		return hs_refused(hs, ret, "HELLO");
	ret = hs_mode_check(hs, mine.mode, theirs.mode);
	if (ret || !key)
		return ret;

	auth_mac_compute(key, AUTH_ROLE_CLIENT, mine.nonce, theirs.nonce, mac);
	ret = hs_send(hs, WIRE_OP_AUTH, false, WIRE_S_OK, mac, sizeof(mac));
	if (!ret)
		ret = hs_recv(hs, &h, buf, sizeof(buf));
	if (ret)
		return ret;
	ret = auth_mac_decode(&h, true, buf, h.len, mac);
	if (ret)
		return hs_refused(hs, ret, "key");
	if (!auth_mac_verify(key, AUTH_ROLE_SERVER, mine.nonce, theirs.nonce,
			     mac)) {
		log_info("%s: client handshake: server does not hold our key",
			 conn_peer(hs->c));
		return -EACCES;
	}
	return 0;
}

static int server_run(struct hs *hs, const struct auth_key *key)
{
	struct auth_hello mine = {.mode = key ? AUTH_MODE_SECURE
					      : AUTH_MODE_INSECURE};
	struct auth_hello theirs;
	uint8_t buf[AUTH_HELLO_LEN];
	uint8_t mac[AUTH_MAC_BYTES];
	struct wire_hdr h;
	int ret;

	ret = hs_recv(hs, &h, buf, sizeof(buf));
	if (ret)
		return ret;
	ret = auth_hello_decode(&h, false, buf, h.len, &theirs);
	if (ret)
		return hs_refused(hs, ret, "HELLO");
	/* Answer even when modes differ, so the client can tell why. */
	randombytes_buf(mine.nonce, sizeof(mine.nonce));
	auth_hello_encode(&mine, buf);
	ret = hs_send(hs, WIRE_OP_HELLO, true, WIRE_S_OK, buf, sizeof(buf));
	if (!ret)
		ret = hs_mode_check(hs, mine.mode, theirs.mode);
	if (ret || !key)
		return ret;

	ret = hs_recv(hs, &h, buf, sizeof(buf));
	if (ret)
		return ret;
	ret = auth_mac_decode(&h, false, buf, h.len, mac);
	if (ret)
		return hs_refused(hs, ret, "AUTH");
	if (!auth_mac_verify(key, AUTH_ROLE_CLIENT, theirs.nonce, mine.nonce,
			     mac)) {
		log_info("%s: server handshake: client does not hold our key",
			 conn_peer(hs->c));
		/* Tell the client; its own error is what matters here. */
		hs_send(hs, WIRE_OP_AUTH, true, WIRE_S_PERM, NULL, 0);
		return -EACCES;
	}
	auth_mac_compute(key, AUTH_ROLE_SERVER, theirs.nonce, mine.nonce, mac);
	return hs_send(hs, WIRE_OP_AUTH, true, WIRE_S_OK, mac, sizeof(mac));
}

static int handshake(struct conn *c, const struct auth_key *key, int timeout_ms,
		     bool client)
{
	struct hs hs = {
		.c = c,
		.deadline =
			cmp_now_ns() +
			(uint64_t)(timeout_ms > 0 ? timeout_ms
						  : AUTH_DEFAULT_TIMEOUT_MS) *
				1000000u,
		.role = client ? "client" : "server",
	};
	int saved = conn_get_timeout(c);
	int ret;

	ret = crypto_ready();
	if (ret)
		return ret;
	ret = client ? client_run(&hs, key) : server_run(&hs, key);
	conn_set_timeout(c, saved);
	/* Only now may the transport spend more on this peer (RDMA). */
	if (!ret)
		ret = conn_authenticated(c);
	return ret;
}

int auth_client(struct conn *c, const struct auth_key *key, int timeout_ms)
{
	return handshake(c, key, timeout_ms, true);
}

int auth_server(struct conn *c, const struct auth_key *key, int timeout_ms)
{
	return handshake(c, key, timeout_ms, false);
}
