// SPDX-License-Identifier: MIT
/*
 * Writes the seed corpus of the connector's fuzz targets with the real
 * encoders, so valid frames carry valid checksums:
 *
 *   build/tests/fuzz/fuzz-gen-corpus tests/fuzz/corpus
 *
 * creates corpus/fuzz-frame/, corpus/fuzz-auth/ and corpus/fuzz-seal/ with
 * a few valid frames and one example of each way a frame can be wrong. The
 * sealed streams are sealed for real, over a mem:// pair, with the key the
 * fuzz-seal target knows. Deterministic: running it again rewrites the
 * same bytes (record counters, not random nonces).
 */
#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/uio.h>

#include "auth-internal.h"
#include "cmp/conn.h"
#include "cmp/util.h"
#include "cmp/wire.h"
#include "wire-internal.h"

/* How to spoil a frame after encoding it. */
enum spoil {
	SPOIL_NONE,
	SPOIL_MAGIC,
	SPOIL_VERSION,
	SPOIL_OLD_VERSION, /* a version 1 header */
	SPOIL_CSUM,
	SPOIL_TRUNCATE, /* header only, payload missing */
};

static const char *outdir;

/* Writes one frame to dir/name, replacing the file or (more) appending. */
static void write_frame(bool more, const char *dir, const char *name,
			struct wire_hdr h, const void *payload, size_t len,
			enum spoil spoil)
{
	struct iovec iov = {.iov_base = (void *)payload, .iov_len = len};
	uint8_t hdr[WIRE_HDR_SIZE];
	char path[4096];
	FILE *f;

	if (!h.len)
		h.len = (uint32_t)len;
	h.csum = wire_csum(&iov, 1);
	if (spoil == SPOIL_CSUM)
		h.csum ^= 1;
	wire_hdr_encode(&h, hdr);
	if (spoil == SPOIL_MAGIC)
		hdr[0] ^= 0xff;
	if (spoil == SPOIL_VERSION)
		hdr[4] = WIRE_VERSION + 1;
	if (spoil == SPOIL_OLD_VERSION)
		hdr[4] = 1;
	snprintf(path, sizeof(path), "%s/%s", outdir, dir);
	if (mkdir(path, 0755) && errno != EEXIST) {
		perror(path);
		exit(1);
	}
	snprintf(path, sizeof(path), "%s/%s/%s", outdir, dir, name);
	f = fopen(path, more ? "ab" : "wb");
	if (!f || fwrite(hdr, 1, sizeof(hdr), f) != sizeof(hdr) ||
	    (spoil != SPOIL_TRUNCATE && len &&
	     fwrite(payload, 1, len, f) != len)) {
		perror(path);
		exit(1);
	}
	fclose(f);
}

static void emit(const char *dir, const char *name, struct wire_hdr h,
		 const void *payload, size_t len, enum spoil spoil)
{
	write_frame(false, dir, name, h, payload, len, spoil);
}

/* Appends a frame: files holding a conversation, as one peer says it. */
static void emit_more(const char *dir, const char *name, struct wire_hdr h,
		      const void *payload, size_t len)
{
	write_frame(true, dir, name, h, payload, len, SPOIL_NONE);
}

static void pattern(uint8_t *buf, size_t len, uint8_t seed)
{
	size_t i;

	for (i = 0; i < len; i++)
		buf[i] = (uint8_t)(seed + i * 7);
}

static void frame_corpus(void)
{
	const char *d = "fuzz-frame";
	uint8_t pay[512];
	struct wire_hdr h;

	pattern(pay, sizeof(pay), 1);
	emit(d, "ping", (struct wire_hdr){.op = WIRE_OP_PING, .id = 1}, NULL, 0,
	     SPOIL_NONE);
	emit(d, "read-request", (struct wire_hdr){.op = WIRE_OP_READ, .id = 2},
	     pay, 24, SPOIL_NONE);
	emit(d, "write-request",
	     (struct wire_hdr){.op = WIRE_OP_WRITE, .id = 3}, pay, sizeof(pay),
	     SPOIL_NONE);
	emit(d, "read-reply",
	     (struct wire_hdr){
		     .op = WIRE_OP_READ, .flags = WIRE_F_REPLY, .id = 2},
	     pay, 64, SPOIL_NONE);
	emit(d, "moved-reply",
	     (struct wire_hdr){.op = WIRE_OP_READ,
			       .flags = WIRE_F_REPLY,
			       .status = WIRE_S_MOVED,
			       .id = 4},
	     pay, 16, SPOIL_NONE);
	emit(d, "unknown-status-reply",
	     (struct wire_hdr){.op = WIRE_OP_FREE,
			       .flags = WIRE_F_REPLY,
			       .status = 999,
			       .id = 5},
	     NULL, 0, SPOIL_NONE);
	emit(d, "heartbeat-max-id",
	     (struct wire_hdr){.op = WIRE_OP_HEARTBEAT, .id = UINT64_MAX}, pay,
	     8, SPOIL_NONE);
	emit(d, "bad-magic", (struct wire_hdr){.op = WIRE_OP_PING}, NULL, 0,
	     SPOIL_MAGIC);
	emit(d, "bad-version", (struct wire_hdr){.op = WIRE_OP_PING}, NULL, 0,
	     SPOIL_VERSION);
	emit(d, "old-version", (struct wire_hdr){.op = WIRE_OP_PING}, NULL, 0,
	     SPOIL_OLD_VERSION);
	emit(d, "bad-op", (struct wire_hdr){.op = 63}, NULL, 0, SPOIL_NONE);
	emit(d, "bad-flags",
	     (struct wire_hdr){.op = WIRE_OP_PING, .flags = 0x8000}, NULL, 0,
	     SPOIL_NONE);
	h = (struct wire_hdr){.op = WIRE_OP_WRITE_BATCH,
			      .len = WIRE_MAX_PAYLOAD + 1};
	emit(d, "oversized", h, NULL, 0, SPOIL_NONE);
	h.len = WIRE_MAX_PAYLOAD;
	emit(d, "max-len-no-payload", h, NULL, 0, SPOIL_TRUNCATE);
	emit(d, "bad-checksum", (struct wire_hdr){.op = WIRE_OP_WRITE, .id = 6},
	     pay, 100, SPOIL_CSUM);
	/* A stream: a request, a corrupted one, then a ping. */
	emit(d, "stream", (struct wire_hdr){.op = WIRE_OP_WRITE, .id = 7}, pay,
	     300, SPOIL_NONE);
	write_frame(true, d, "stream",
		    (struct wire_hdr){.op = WIRE_OP_WRITE, .id = 8}, pay, 200,
		    SPOIL_CSUM);
	emit_more(d, "stream", (struct wire_hdr){.op = WIRE_OP_PING, .id = 9},
		  NULL, 0);
	emit(d, "short-payload",
	     (struct wire_hdr){.op = WIRE_OP_READ_BATCH, .len = 200}, pay, 50,
	     SPOIL_NONE);
}

/* The keys fuzz-auth's keyring holds: {0x42, 0...} and {0x43, 0...}. */
static void fuzz_auth_key(struct auth_key *key, uint8_t first)
{
	memset(key, 0, sizeof(*key));
	key->bytes[0] = first;
}

static void auth_hellos(const char *d, struct auth_hello *hello, uint8_t *buf)
{
	emit(d, "hello-secure", (struct wire_hdr){.op = WIRE_OP_HELLO, .id = 1},
	     buf, AUTH_HELLO_LEN, SPOIL_NONE);
	emit(d, "hello-reply-secure",
	     (struct wire_hdr){
		     .op = WIRE_OP_HELLO, .flags = WIRE_F_REPLY, .id = 1},
	     buf, AUTH_HELLO_LEN, SPOIL_NONE);
	emit(d, "hello-short", (struct wire_hdr){.op = WIRE_OP_HELLO}, buf,
	     AUTH_HELLO_LEN - 1, SPOIL_NONE);
	emit(d, "hello-long", (struct wire_hdr){.op = WIRE_OP_HELLO}, buf,
	     AUTH_HELLO_LEN + 8, SPOIL_NONE);
	emit(d, "hello-status-on-request",
	     (struct wire_hdr){.op = WIRE_OP_HELLO, .status = WIRE_S_INVAL},
	     buf, AUTH_HELLO_LEN, SPOIL_NONE);
	emit(d, "hello-old-version",
	     (struct wire_hdr){.op = WIRE_OP_HELLO, .id = 1}, buf, 33,
	     SPOIL_OLD_VERSION);
	emit(d, "hello-reply-refused",
	     (struct wire_hdr){.op = WIRE_OP_HELLO,
			       .flags = WIRE_F_REPLY,
			       .status = WIRE_S_PERM,
			       .id = 1},
	     NULL, 0, SPOIL_NONE);
	emit(d, "hello-reply-not-supported",
	     (struct wire_hdr){.op = WIRE_OP_HELLO,
			       .flags = WIRE_F_REPLY,
			       .status = WIRE_S_NOTSUP,
			       .id = 1},
	     NULL, 0, SPOIL_NONE);
	hello->key_id = 0x1234;
	auth_hello_encode(hello, buf);
	emit(d, "hello-unknown-key",
	     (struct wire_hdr){.op = WIRE_OP_HELLO, .id = 1}, buf,
	     AUTH_HELLO_LEN, SPOIL_NONE);
	hello->mode = AUTH_MODE_INSECURE;
	hello->key_id = 0;
	auth_hello_encode(hello, buf);
	emit(d, "hello-insecure",
	     (struct wire_hdr){.op = WIRE_OP_HELLO, .id = 1}, buf,
	     AUTH_HELLO_LEN, SPOIL_NONE);
	buf[AUTH_NONCE_BYTES] = 7;
	emit(d, "hello-bad-mode",
	     (struct wire_hdr){.op = WIRE_OP_HELLO, .id = 1}, buf,
	     AUTH_HELLO_LEN, SPOIL_NONE);
}

static void auth_macs(const char *d, const struct auth_key *key,
		      const uint8_t *t)
{
	uint8_t mac[AUTH_MAC_BYTES];

	auth_mac_compute(key, AUTH_ROLE_CLIENT, t, mac);
	emit(d, "auth-client", (struct wire_hdr){.op = WIRE_OP_AUTH, .id = 1},
	     mac, sizeof(mac), SPOIL_NONE);
	emit(d, "auth-client-refusing",
	     (struct wire_hdr){
		     .op = WIRE_OP_AUTH, .status = WIRE_S_PERM, .id = 1},
	     NULL, 0, SPOIL_NONE);
	auth_mac_compute(key, AUTH_ROLE_SERVER, t, mac);
	emit(d, "auth-reply-server",
	     (struct wire_hdr){
		     .op = WIRE_OP_AUTH, .flags = WIRE_F_REPLY, .id = 1},
	     mac, sizeof(mac), SPOIL_NONE);
	emit(d, "auth-reply-refused",
	     (struct wire_hdr){.op = WIRE_OP_AUTH,
			       .flags = WIRE_F_REPLY,
			       .status = WIRE_S_PERM,
			       .id = 1},
	     NULL, 0, SPOIL_NONE);
	emit(d, "auth-short", (struct wire_hdr){.op = WIRE_OP_AUTH, .id = 1},
	     mac, 16, SPOIL_NONE);
	emit(d, "auth-as-ping", (struct wire_hdr){.op = WIRE_OP_PING, .id = 1},
	     mac, sizeof(mac), SPOIL_NONE);
	emit(d, "auth-bad-checksum",
	     (struct wire_hdr){.op = WIRE_OP_AUTH, .id = 1}, mac, sizeof(mac),
	     SPOIL_CSUM);
}

/* Whole conversations, as a client and as a server say them. */
static void auth_talks(const char *d, const struct auth_key *key,
		       const uint8_t *buf, const uint8_t *t)
{
	uint8_t mac[AUTH_MAC_BYTES];

	emit(d, "talk-client", (struct wire_hdr){.op = WIRE_OP_HELLO, .id = 1},
	     buf, AUTH_HELLO_LEN, SPOIL_NONE);
	auth_mac_compute(key, AUTH_ROLE_CLIENT, t, mac);
	emit_more(d, "talk-client",
		  (struct wire_hdr){.op = WIRE_OP_AUTH, .id = 1}, mac,
		  sizeof(mac));
	emit(d, "talk-server",
	     (struct wire_hdr){
		     .op = WIRE_OP_HELLO, .flags = WIRE_F_REPLY, .id = 1},
	     buf, AUTH_HELLO_LEN, SPOIL_NONE);
	auth_mac_compute(key, AUTH_ROLE_SERVER, t, mac);
	emit_more(d, "talk-server",
		  (struct wire_hdr){
			  .op = WIRE_OP_AUTH, .flags = WIRE_F_REPLY, .id = 1},
		  mac, sizeof(mac));
	/* A server that refuses the client's key. */
	emit(d, "talk-server-refusing",
	     (struct wire_hdr){
		     .op = WIRE_OP_HELLO, .flags = WIRE_F_REPLY, .id = 1},
	     buf, AUTH_HELLO_LEN, SPOIL_NONE);
	emit_more(d, "talk-server-refusing",
		  (struct wire_hdr){.op = WIRE_OP_AUTH,
				    .flags = WIRE_F_REPLY,
				    .status = WIRE_S_PERM,
				    .id = 1},
		  NULL, 0);
}

static void auth_corpus(void)
{
	const char *d = "fuzz-auth";
	struct auth_hello hello = {
		.mode = AUTH_MODE_SECURE,
		.caps = AUTH_CAP_AESNI,
		.node = 7,
		.incarnation = 0x0123456789abcdefull,
	};
	uint8_t buf[AUTH_HELLO_LEN + 8] = {0}, sbuf[AUTH_HELLO_LEN];
	uint8_t t[AUTH_HASH_BYTES];
	struct auth_key key;

	fuzz_auth_key(&key, 0x43);
	hello.key_id = auth_key_id(&key);
	pattern(hello.nonce, sizeof(hello.nonce), 3);
	auth_hello_encode(&hello, buf);
	pattern(sbuf, sizeof(sbuf), 9);
	/* a transcript with a made-up other half: the MACs cannot pass */
	auth_transcript(buf, sbuf, t);
	auth_talks(d, &key, buf, t);
	auth_macs(d, &key, t);
	auth_hellos(d, &hello, buf);
}

/* ---- sealed streams for fuzz-seal ---- */

#define FUZZ_SEAL_KEY 0x5a

struct sealer {
	struct conn_listener *l;
	struct conn *tx; /* sealed */
	struct conn *rx; /* plain: reads what went over the wire */
	uint8_t *bytes;
	size_t len;
};

static void sealer_open(struct sealer *s, enum seal_cipher cipher)
{
	uint8_t key[SEAL_KEY_BYTES];

	memset(key, FUZZ_SEAL_KEY, sizeof(key));
	memset(s, 0, sizeof(*s));
	if (conn_listen("mem://", &s->l) ||
	    conn_connect(conn_listener_addr(s->l), 0, &s->tx) ||
	    conn_accept(s->l, &s->rx) ||
	    wire_seal_start(s->tx, cipher, key, key)) {
		fprintf(stderr, "cannot seal a mem:// pair\n");
		exit(1);
	}
	s->bytes = malloc(1u << 20);
	if (!s->bytes)
		exit(1);
}

/* Seals one frame and appends its wire bytes. */
static size_t sealer_frame(struct sealer *s, uint8_t op, const void *payload,
			   size_t len)
{
	struct wire_hdr h = {.op = op, .id = s->len + 1};
	struct iovec iov = {(void *)payload, len};
	size_t records =
		len ? (len + WIRE_RECORD_SIZE - 1) / WIRE_RECORD_SIZE : 1;
	size_t wire = WIRE_HDR_SIZE + len + records * WIRE_TAG_SIZE;
	size_t at = s->len;

	if (s->len + wire > (1u << 20) ||
	    wire_send(s->tx, &h, &iov, len ? 1 : 0) ||
	    conn_read(s->rx, s->bytes + s->len, wire)) {
		fprintf(stderr, "cannot seal a frame of %zu bytes\n", len);
		exit(1);
	}
	s->len += wire;
	return at;
}

static void sealer_write(struct sealer *s, const char *name, uint8_t cipher,
			 uint8_t mode)
{
	char path[4096];
	FILE *f;

	snprintf(path, sizeof(path), "%s/fuzz-seal", outdir);
	if (mkdir(path, 0755) && errno != EEXIST) {
		perror(path);
		exit(1);
	}
	snprintf(path, sizeof(path), "%s/fuzz-seal/%s", outdir, name);
	f = fopen(path, "wb");
	if (!f || fputc(cipher, f) == EOF || fputc(mode, f) == EOF ||
	    fwrite(s->bytes, 1, s->len, f) != s->len) {
		perror(path);
		exit(1);
	}
	fclose(f);
}

static void sealer_close(struct sealer *s)
{
	conn_destroy(s->tx);
	conn_destroy(s->rx);
	conn_listener_destroy(s->l);
	free(s->bytes);
}

/* Small frames (0, 1, 100 bytes), each way of spoiling them. */
static void seal_small(uint8_t cipher, const char *prefix)
{
	static const struct {
		const char *name;
		uint8_t mode;
	} modes[] = {{"whole", 0}, {"skip", 1}, {"pieces-7", 7}};
	uint8_t pay[100];
	struct sealer s;
	size_t second;
	char name[64];

	pattern(pay, sizeof(pay), 11);
	sealer_open(&s, cipher & 1 ? SEAL_AES256GCM : SEAL_CHACHA20POLY1305);
	sealer_frame(&s, WIRE_OP_PING, NULL, 0);
	second = sealer_frame(&s, WIRE_OP_WRITE, pay, 1);
	sealer_frame(&s, WIRE_OP_WRITE, pay, sizeof(pay));
	for (size_t i = 0; i < ARRAY_SIZE(modes); i++) {
		snprintf(name, sizeof(name), "%s-%s", prefix, modes[i].name);
		sealer_write(&s, name, cipher, modes[i].mode);
	}
	/* tampered: a header byte, a payload byte, a tag byte */
	s.bytes[second + 16] ^= 1;
	snprintf(name, sizeof(name), "%s-tampered-header", prefix);
	sealer_write(&s, name, cipher, 0);
	s.bytes[second + 16] ^= 1;
	s.bytes[second + WIRE_HDR_SIZE] ^= 0x80;
	snprintf(name, sizeof(name), "%s-tampered-payload", prefix);
	sealer_write(&s, name, cipher, 7);
	s.bytes[second + WIRE_HDR_SIZE] ^= 0x80;
	s.bytes[second + WIRE_HDR_SIZE + 1 + 3] ^= 0x01;
	snprintf(name, sizeof(name), "%s-tampered-tag", prefix);
	sealer_write(&s, name, cipher, 0);
	s.bytes[second + WIRE_HDR_SIZE + 1 + 3] ^= 0x01;
	/* truncated inside the last record */
	s.len -= 5;
	snprintf(name, sizeof(name), "%s-truncated", prefix);
	sealer_write(&s, name, cipher, 7);
	/* the first frame again at the end: a replay */
	s.len += 5;
	memcpy(s.bytes + s.len, s.bytes, WIRE_HDR_SIZE + WIRE_TAG_SIZE);
	s.len += WIRE_HDR_SIZE + WIRE_TAG_SIZE;
	snprintf(name, sizeof(name), "%s-replayed", prefix);
	sealer_write(&s, name, cipher, 0);
	sealer_close(&s);
}

/* One frame of two records (the cursor crosses a record boundary). */
static void seal_two_records(uint8_t cipher, const char *prefix)
{
	static uint8_t pay[WIRE_RECORD_SIZE + 10];
	struct sealer s;
	char name[64];

	pattern(pay, sizeof(pay), 13);
	sealer_open(&s, cipher & 1 ? SEAL_AES256GCM : SEAL_CHACHA20POLY1305);
	sealer_frame(&s, WIRE_OP_WRITE_BATCH, pay, sizeof(pay));
	snprintf(name, sizeof(name), "%s-two-records", prefix);
	sealer_write(&s, name, cipher, 200);
	sealer_close(&s);
}

static void seal_stream(uint8_t cipher, const char *prefix)
{
	seal_small(cipher, prefix);
	seal_two_records(cipher, prefix);
}

static void seal_corpus(void)
{
	seal_stream(0, "chacha20");
	if (seal_aes_available())
		seal_stream(1, "aes256gcm");
	else
		fprintf(stderr, "no AES-NI here: no AES-256-GCM seeds\n");
}

int main(int argc, char **argv)
{
	if (argc != 2) {
		fprintf(stderr, "usage: %s CORPUS-DIR\n", argv[0]);
		return 2;
	}
	outdir = argv[1];
	if (mkdir(outdir, 0755) && errno != EEXIST) {
		perror(outdir);
		return 1;
	}
	frame_corpus();
	auth_corpus();
	seal_corpus();
	return 0;
}
