// SPDX-License-Identifier: MIT
/*
 * Writes the seed corpus of the connector's fuzz targets with the real
 * encoders, so valid frames carry valid checksums:
 *
 *   build/tests/fuzz/fuzz-gen-corpus tests/fuzz/corpus
 *
 * creates corpus/fuzz-frame/ and corpus/fuzz-auth/ with a few valid frames
 * and one example of each way a frame can be wrong. Deterministic: running
 * it again rewrites the same bytes.
 */
#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/uio.h>

#include "auth-internal.h"
#include "cmp/wire.h"

/* How to spoil a frame after encoding it. */
enum spoil {
	SPOIL_NONE,
	SPOIL_MAGIC,
	SPOIL_VERSION,
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

static void auth_corpus(void)
{
	const char *d = "fuzz-auth";
	struct auth_hello hello = {.mode = AUTH_MODE_SECURE};
	uint8_t buf[AUTH_HELLO_LEN + 8] = {0};
	uint8_t mac[AUTH_MAC_BYTES];
	struct auth_key key;
	uint8_t sn[AUTH_NONCE_BYTES];

	pattern(hello.nonce, sizeof(hello.nonce), 3);
	pattern(sn, sizeof(sn), 9);
	pattern(key.bytes, sizeof(key.bytes), 5);
	auth_hello_encode(&hello, buf);
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
	emit(d, "hello-reply-refused",
	     (struct wire_hdr){.op = WIRE_OP_HELLO,
			       .flags = WIRE_F_REPLY,
			       .status = WIRE_S_PERM,
			       .id = 1},
	     NULL, 0, SPOIL_NONE);
	hello.mode = AUTH_MODE_INSECURE;
	auth_hello_encode(&hello, buf);
	emit(d, "hello-insecure",
	     (struct wire_hdr){.op = WIRE_OP_HELLO, .id = 1}, buf,
	     AUTH_HELLO_LEN, SPOIL_NONE);
	buf[AUTH_NONCE_BYTES] = 7;
	emit(d, "hello-bad-mode",
	     (struct wire_hdr){.op = WIRE_OP_HELLO, .id = 1}, buf,
	     AUTH_HELLO_LEN, SPOIL_NONE);

	auth_mac_compute(&key, AUTH_ROLE_CLIENT, hello.nonce, sn, mac);
	emit(d, "auth-client", (struct wire_hdr){.op = WIRE_OP_AUTH, .id = 1},
	     mac, sizeof(mac), SPOIL_NONE);
	auth_mac_compute(&key, AUTH_ROLE_SERVER, hello.nonce, sn, mac);
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
	/* What a client says in a whole handshake (MAC for other nonces). */
	hello.mode = AUTH_MODE_SECURE;
	auth_hello_encode(&hello, buf);
	emit(d, "talk-client", (struct wire_hdr){.op = WIRE_OP_HELLO, .id = 1},
	     buf, AUTH_HELLO_LEN, SPOIL_NONE);
	auth_mac_compute(&key, AUTH_ROLE_CLIENT, hello.nonce, sn, mac);
	emit_more(d, "talk-client",
		  (struct wire_hdr){.op = WIRE_OP_AUTH, .id = 1}, mac,
		  sizeof(mac));
	/* ... and a server. */
	emit(d, "talk-server",
	     (struct wire_hdr){
		     .op = WIRE_OP_HELLO, .flags = WIRE_F_REPLY, .id = 1},
	     buf, AUTH_HELLO_LEN, SPOIL_NONE);
	auth_mac_compute(&key, AUTH_ROLE_SERVER, hello.nonce, sn, mac);
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
	emit(d, "auth-bad-checksum",
	     (struct wire_hdr){.op = WIRE_OP_AUTH, .id = 1}, mac, sizeof(mac),
	     SPOIL_CSUM);
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
	return 0;
}
