// SPDX-License-Identifier: MIT
/*
 * The connection handshake of include/cmp/auth.h (message sequence in
 * auth-internal.h). Every byte a peer sends during the handshake goes
 * through the pure decoders below, which are the fuzz target
 * tests/fuzz/fuzz-auth.c. Secrets on the stack (the key in use, the
 * session keys) are wiped with sodium_memzero() before returning.
 */
#include <endian.h>
#include <errno.h>
#include <string.h>

#include <sodium.h>

#include "auth-internal.h"
#include "cmp/conn.h"
#include "conn-internal.h"
#include "cmp/log.h"
#include "cmp/util.h"
#include "wire-internal.h"

_Static_assert(AUTH_KEY_BYTES == SEAL_KEY_BYTES, "key size");
_Static_assert(crypto_generichash_KEYBYTES_MAX >= AUTH_KEY_BYTES, "key");

#define AUTH_DEFAULT_TIMEOUT_MS 5000
#define LABEL_TRANSCRIPT "cmpfs-v2 transcript"
#define LABEL_CLIENT "cmpfs-v2 client"
#define LABEL_SERVER "cmpfs-v2 server"
#define LABEL_C2S "cmpfs-v2 c2s"
#define LABEL_S2C "cmpfs-v2 s2c"
/* Handshake frames carry id 1; replies must echo it. */
#define AUTH_FRAME_ID 1

/* ---- messages ---- */

void auth_hello_encode(const struct auth_hello *hello,
		       uint8_t out[AUTH_HELLO_LEN])
{
	uint64_t key_id = htole64(hello->key_id);
	uint32_t node = htole32(hello->node);
	uint64_t inc = htole64(hello->incarnation);
	uint8_t *p = out;

	memcpy(p, hello->nonce, AUTH_NONCE_BYTES);
	p += AUTH_NONCE_BYTES;
	*p++ = hello->mode;
	*p++ = hello->caps;
	memcpy(p, &key_id, 8);
	memcpy(p + 8, &node, 4);
	memcpy(p + 12, &inc, 8);
}

/* Checks what HELLO and AUTH frames have in common. */
static int check_frame(const struct wire_hdr *h, uint8_t op, bool reply,
		       size_t len)
{
	if (h->op != op || !(h->flags & WIRE_F_REPLY) != !reply ||
	    h->len != len)
		return -EPROTO;
	/* a refusal: either side in AUTH, the server in HELLO */
	if (h->status == WIRE_S_PERM && !len && (reply || op == WIRE_OP_AUTH))
		return -EACCES;
	if (h->status != WIRE_S_OK)
		return -EPROTO;
	return 0;
}

int auth_hello_decode(const struct wire_hdr *h, bool reply, const uint8_t *p,
		      size_t len, struct auth_hello *out)
{
	int ret = check_frame(h, WIRE_OP_HELLO, reply, len);
	uint64_t key_id, inc;
	uint32_t node;

	if (ret)
		return ret;
	if (len != AUTH_HELLO_LEN)
		return -EPROTO;
	p += AUTH_NONCE_BYTES;
	if (p[0] != AUTH_MODE_INSECURE && p[0] != AUTH_MODE_SECURE)
		return -EPROTO;
	memcpy(out->nonce, p - AUTH_NONCE_BYTES, AUTH_NONCE_BYTES);
	out->mode = p[0];
	out->caps = p[1];
	memcpy(&key_id, p + 2, 8);
	memcpy(&node, p + 10, 4);
	memcpy(&inc, p + 14, 8);
	out->key_id = le64toh(key_id);
	out->node = le32toh(node);
	out->incarnation = le64toh(inc);
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

/* ---- the cryptography ---- */

void auth_transcript(const uint8_t client_hello[AUTH_HELLO_LEN],
		     const uint8_t server_hello[AUTH_HELLO_LEN],
		     uint8_t t[AUTH_HASH_BYTES])
{
	crypto_generichash_state st;

	crypto_generichash_init(&st, NULL, 0, AUTH_HASH_BYTES);
	crypto_generichash_update(&st, (const uint8_t *)LABEL_TRANSCRIPT,
				  sizeof(LABEL_TRANSCRIPT) - 1);
	crypto_generichash_update(&st, client_hello, AUTH_HELLO_LEN);
	crypto_generichash_update(&st, server_hello, AUTH_HELLO_LEN);
	crypto_generichash_final(&st, t, AUTH_HASH_BYTES);
}

/* BLAKE2b-256 keyed with key over label || t. */
static void keyed_hash(const struct auth_key *key, const char *label,
		       const uint8_t t[AUTH_HASH_BYTES], uint8_t out[32])
{
	crypto_generichash_state st;

	crypto_generichash_init(&st, key->bytes, AUTH_KEY_BYTES, 32);
	crypto_generichash_update(&st, (const uint8_t *)label, strlen(label));
	crypto_generichash_update(&st, t, AUTH_HASH_BYTES);
	crypto_generichash_final(&st, out, 32);
	sodium_memzero(&st, sizeof(st));
}

void auth_mac_compute(const struct auth_key *key, enum auth_role role,
		      const uint8_t t[AUTH_HASH_BYTES],
		      uint8_t mac[AUTH_MAC_BYTES])
{
	keyed_hash(key, role == AUTH_ROLE_CLIENT ? LABEL_CLIENT : LABEL_SERVER,
		   t, mac);
}

bool auth_mac_verify(const struct auth_key *key, enum auth_role role,
		     const uint8_t t[AUTH_HASH_BYTES],
		     const uint8_t mac[AUTH_MAC_BYTES])
{
	uint8_t want[AUTH_MAC_BYTES];
	bool ok;

	auth_mac_compute(key, role, t, want);
	ok = sodium_memcmp(want, mac, AUTH_MAC_BYTES) == 0;
	sodium_memzero(want, sizeof(want));
	return ok;
}

void auth_session_keys(const struct auth_key *key,
		       const uint8_t t[AUTH_HASH_BYTES],
		       uint8_t c2s[SEAL_KEY_BYTES], uint8_t s2c[SEAL_KEY_BYTES])
{
	keyed_hash(key, LABEL_C2S, t, c2s);
	keyed_hash(key, LABEL_S2C, t, s2c);
}

enum seal_cipher auth_cipher(uint8_t client_caps, uint8_t server_caps)
{
	return client_caps & server_caps & AUTH_CAP_AESNI
		       ? SEAL_AES256GCM
		       : SEAL_CHACHA20POLY1305;
}

uint8_t auth_local_caps(void)
{
	return seal_aes_available() ? AUTH_CAP_AESNI : 0;
}

/* ---- handshake ---- */

/* One handshake in progress. */
struct hs {
	struct conn *c;
	uint64_t deadline;
	const char *role;
	struct auth_keyring *kr;	/* NULL: insecure */
	struct auth_hello mine, theirs; /* decoded */
	uint8_t mine_raw[AUTH_HELLO_LEN], theirs_raw[AUTH_HELLO_LEN];
	struct auth_key key; /* the key in use (secure) */
};

/* Gives the next I/O call the time left. */
static int hs_arm(struct hs *hs)
{
	uint64_t now = cmp_now_ns();
	uint64_t left_ms;

	if (now >= hs->deadline) {
		log_warn_flood("%s: %s handshake timed out", conn_peer(hs->c),
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
		log_warn_flood(
			"%s: %s handshake: unexpected %s frame (len %u, id "
			"%llu)",
			conn_peer(hs->c), hs->role, wire_op_name(h->op), h->len,
			(unsigned long long)h->id);
		return -EPROTO;
	}
	ret = hs_arm(hs);
	if (!ret)
		ret = wire_recv_payload(hs->c, h, &iov, 1);
	if (ret == -EBADMSG) {
		log_warn_flood("%s: %s handshake: payload checksum mismatch",
			       conn_peer(hs->c), hs->role);
		return -EPROTO;
	}
	return ret;
}

/* Logs a decoder's refusal; -EACCES is the caller's to report. */
static int hs_refused(struct hs *hs, int ret, const char *what)
{
	if (ret == -EACCES)
		log_info_flood("%s: %s handshake: peer refused our %s",
			       conn_peer(hs->c), hs->role, what);
	else if (ret == -EPROTO)
		log_warn_flood("%s: %s handshake: malformed %s",
			       conn_peer(hs->c), hs->role, what);
	return ret;
}

static int hs_mode_check(struct hs *hs)
{
	uint8_t ours = hs->mine.mode, theirs = hs->theirs.mode;

	if (ours == theirs)
		return 0;
	log_info_flood("%s: %s handshake: peer is %s, we are %s",
		       conn_peer(hs->c), hs->role,
		       theirs == AUTH_MODE_SECURE ? "secure" : "insecure",
		       ours == AUTH_MODE_SECURE ? "secure" : "insecure");
	return -EACCES;
}

/* Our HELLO, with key_id already chosen. */
static void hs_make_hello(struct hs *hs)
{
	randombytes_buf(hs->mine.nonce, sizeof(hs->mine.nonce));
	hs->mine.mode = hs->kr ? AUTH_MODE_SECURE : AUTH_MODE_INSECURE;
	hs->mine.caps = auth_local_caps();
	auth_hello_encode(&hs->mine, hs->mine_raw);
}

/* Receives and decodes the peer's HELLO into theirs/theirs_raw. */
static int hs_recv_hello(struct hs *hs, bool reply)
{
	struct wire_hdr h;
	int ret;

	ret = hs_recv(hs, &h, hs->theirs_raw, sizeof(hs->theirs_raw));
	if (ret)
		return ret;
	ret = auth_hello_decode(&h, reply, hs->theirs_raw, h.len, &hs->theirs);
	return ret ? hs_refused(hs, ret, "HELLO") : 0;
}

/* Sends our MAC and checks theirs: the key proven both ways. */
static int hs_prove(struct hs *hs, bool client, const uint8_t t[32])
{
	enum auth_role me = client ? AUTH_ROLE_CLIENT : AUTH_ROLE_SERVER;
	enum auth_role peer = client ? AUTH_ROLE_SERVER : AUTH_ROLE_CLIENT;
	uint8_t mac[AUTH_MAC_BYTES];
	struct wire_hdr h;
	int ret;

	if (client) {
		auth_mac_compute(&hs->key, me, t, mac);
		ret = hs_send(hs, WIRE_OP_AUTH, false, WIRE_S_OK, mac,
			      sizeof(mac));
		if (ret)
			return ret;
	}
	ret = hs_recv(hs, &h, mac, sizeof(mac));
	if (ret)
		return ret;
	ret = auth_mac_decode(&h, client, mac, h.len, mac);
	if (ret == -EACCES && !client) {
		log_info_flood(
			"%s: server handshake: client has no key in common "
			"with us (we offered key %016llx)",
			conn_peer(hs->c), (unsigned long long)hs->mine.key_id);
		return ret;
	}
	if (ret)
		return hs_refused(hs, ret, client ? "key" : "AUTH");
	if (!auth_mac_verify(&hs->key, peer, t, mac)) {
		log_info_flood("%s: %s handshake: %s does not hold key %016llx",
			       conn_peer(hs->c), hs->role,
			       client ? "server" : "client",
			       (unsigned long long)hs->mine.key_id);
		/* Tell the client; its own error is what matters here. */
		if (!client)
			hs_send(hs, WIRE_OP_AUTH, true, WIRE_S_PERM, NULL, 0);
		return -EACCES;
	}
	if (client)
		return 0;
	auth_mac_compute(&hs->key, me, t, mac);
	return hs_send(hs, WIRE_OP_AUTH, true, WIRE_S_OK, mac, sizeof(mac));
}

/* Both ends proved the key: seal the session. */
static int hs_seal(struct hs *hs, bool client, const uint8_t t[32])
{
	uint8_t c2s[SEAL_KEY_BYTES], s2c[SEAL_KEY_BYTES];
	enum seal_cipher cipher;
	int ret;

	cipher = client ? auth_cipher(hs->mine.caps, hs->theirs.caps)
			: auth_cipher(hs->theirs.caps, hs->mine.caps);
	auth_session_keys(&hs->key, t, c2s, s2c);
	ret = wire_seal_start(hs->c, cipher, client ? c2s : s2c,
			      client ? s2c : c2s);
	sodium_memzero(c2s, sizeof(c2s));
	sodium_memzero(s2c, sizeof(s2c));
	if (ret)
		log_error("%s: %s handshake: cannot seal the session with "
			  "%s: %s",
			  conn_peer(hs->c), hs->role, seal_cipher_name(cipher),
			  strerror(-ret));
	return ret;
}

static int client_run(struct hs *hs)
{
	uint8_t t[AUTH_HASH_BYTES];
	int ret;

	if (hs->kr)
		auth_keyring_preferred(hs->kr, &hs->key, &hs->mine.key_id);
	hs_make_hello(hs);
	ret = hs_send(hs, WIRE_OP_HELLO, false, WIRE_S_OK, hs->mine_raw,
		      sizeof(hs->mine_raw));
	if (!ret)
		ret = hs_recv_hello(hs, true);
	if (!ret)
		ret = hs_mode_check(hs);
	if (ret || !hs->kr)
		return ret;
	if (hs->theirs.key_id != hs->mine.key_id &&
	    auth_keyring_lookup(hs->kr, hs->theirs.key_id, &hs->key)) {
		log_info_flood(
			"%s: client handshake: no key in common with the "
			"server (it uses key %016llx, we hold %u keys)",
			conn_peer(hs->c), (unsigned long long)hs->theirs.key_id,
			auth_keyring_count(hs->kr));
		hs_send(hs, WIRE_OP_AUTH, false, WIRE_S_PERM, NULL, 0);
		return -EACCES;
	}
	hs->mine.key_id = hs->theirs.key_id;
	auth_transcript(hs->mine_raw, hs->theirs_raw, t);
	ret = hs_prove(hs, true, t);
	if (!ret)
		ret = hs_seal(hs, true, t);
	sodium_memzero(t, sizeof(t));
	return ret;
}

/* The server's key: the client's choice if we hold it, else our own. */
static void server_pick_key(struct hs *hs)
{
	uint64_t want = hs->theirs.key_id;

	if (!auth_keyring_lookup(hs->kr, want, &hs->key)) {
		hs->mine.key_id = want;
		return;
	}
	auth_keyring_preferred(hs->kr, &hs->key, &hs->mine.key_id);
	log_info_flood(
		"%s: server handshake: client wants key %016llx, which we "
		"do not hold; offering ours, %016llx",
		conn_peer(hs->c), (unsigned long long)want,
		(unsigned long long)hs->mine.key_id);
}

static int server_run(struct hs *hs)
{
	uint8_t t[AUTH_HASH_BYTES];
	int ret;

	ret = hs_recv_hello(hs, false);
	if (ret == -EPROTONOSUPPORT) /* let it name our version too */
		hs_send(hs, WIRE_OP_HELLO, true, WIRE_S_NOTSUP, NULL, 0);
	if (ret)
		return ret;
	if (hs->kr && hs->theirs.mode == AUTH_MODE_SECURE)
		server_pick_key(hs);
	else if (hs->kr)
		auth_keyring_preferred(hs->kr, &hs->key, &hs->mine.key_id);
	hs_make_hello(hs);
	/* Answer even when modes differ, so the client can tell why. */
	ret = hs_send(hs, WIRE_OP_HELLO, true, WIRE_S_OK, hs->mine_raw,
		      sizeof(hs->mine_raw));
	if (!ret)
		ret = hs_mode_check(hs);
	if (ret || !hs->kr)
		return ret;
	auth_transcript(hs->theirs_raw, hs->mine_raw, t);
	ret = hs_prove(hs, false, t);
	if (!ret)
		ret = hs_seal(hs, false, t);
	sodium_memzero(t, sizeof(t));
	return ret;
}

/* conn_session_id(): the first 8 bytes of the transcript, both modes. */
static uint64_t session_id(const struct hs *hs, bool client)
{
	uint8_t t[AUTH_HASH_BYTES];
	uint64_t id;

	if (client)
		auth_transcript(hs->mine_raw, hs->theirs_raw, t);
	else
		auth_transcript(hs->theirs_raw, hs->mine_raw, t);
	memcpy(&id, t, sizeof(id));
	return le64toh(id);
}

static int handshake(struct conn *c, struct auth_keyring *kr, uint32_t node,
		     uint64_t incarnation, int timeout_ms, bool client)
{
	struct hs hs = {
		.c = c,
		.deadline =
			cmp_now_ns() +
			(uint64_t)(timeout_ms > 0 ? timeout_ms
						  : AUTH_DEFAULT_TIMEOUT_MS) *
				1000000u,
		.role = client ? "client" : "server",
		.kr = kr,
		.mine = {.node = node, .incarnation = incarnation},
	};
	int saved = conn_get_timeout(c);
	int ret;

	ret = seal_crypto_init();
	if (ret)
		return ret;
	if (wire_cipher(c) != SEAL_NONE)
		return -EALREADY;
	ret = client ? client_run(&hs) : server_run(&hs);
	if (!ret) {
		c->wire.peer_node = hs.theirs.node;
		c->wire.peer_incarnation = hs.theirs.incarnation;
		c->wire.session = session_id(&hs, client);
	}
	conn_set_timeout(c, saved);
	sodium_memzero(&hs.key, sizeof(hs.key));
	/* Only now may the transport spend more on this peer (RDMA). */
	if (!ret)
		ret = conn_authenticated(c);
	return ret;
}

int auth_client(struct conn *c, struct auth_keyring *kr, uint32_t self_node,
		uint64_t self_incarnation, int timeout_ms)
{
	return handshake(c, kr, self_node, self_incarnation, timeout_ms, true);
}

int auth_server(struct conn *c, struct auth_keyring *kr, uint32_t self_node,
		uint64_t self_incarnation, int timeout_ms)
{
	return handshake(c, kr, self_node, self_incarnation, timeout_ms, false);
}
