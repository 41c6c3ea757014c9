/* SPDX-License-Identifier: MIT */
/*
 * The handshake's messages, for auth.c, its unit test and its fuzz target.
 * Every frame here is a plain (unsealed) wire version 2 frame with id 1.
 *
 *   client                                      server
 *     HELLO {Nc, mode, caps, key_id, node, incarnation}  ->
 *                        <-  HELLO reply {Ns, mode, caps, key_id, node, inc}
 *        modes differ: both ends stop with -EACCES
 *        both insecure: done, frames stay plain
 *        client lacks the server's key_id: AUTH with status PERM, -EACCES
 *     AUTH   MAC(k, CLIENT, T)          ->
 *                        <-  AUTH reply MAC(k, SERVER, T), or status PERM
 *                            and no payload when the client's MAC is wrong
 *     both: c2s = BLAKE2b-256(key k, "cmpfs-v2 c2s" || T), s2c likewise;
 *           every later frame is sealed (AES-256-GCM when both caps say
 *           AES-NI, else ChaCha20-Poly1305)
 *
 *   A header of another wire version from the client is answered with a
 *   header-only HELLO reply of ours (status NOTSUP), so the client can name
 *   our version too, and -EPROTONOSUPPORT.
 *
 * T, the transcript, is BLAKE2b-256("cmpfs-v2 transcript" || client HELLO
 * payload || server HELLO payload): every field of both HELLOs, node ids
 * and incarnations included, is bound to the MACs and the session keys.
 * The server's key_id is the client's when the server holds that key, else
 * the server's preferred key; k is the key both then use.
 *
 * HELLO payload (54 bytes, little-endian): nonce[32], mode u8 (0 insecure,
 * 1 secure), caps u8 (bit 0: AES-NI; other bits reserved, carried),
 * key_id u64 (0 in insecure mode), node u32, incarnation u64.
 * AUTH payload: the 32-byte MAC, BLAKE2b-256 keyed with k over a label
 * naming the sender's role and T; the role makes a reflected MAC useless.
 */
#ifndef CMP_AUTH_INTERNAL_H
#define CMP_AUTH_INTERNAL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "cmp/auth.h"
#include "cmp/wire.h"
#include "seal.h"

#define AUTH_NONCE_BYTES 32
#define AUTH_MAC_BYTES 32
#define AUTH_HASH_BYTES 32
#define AUTH_HELLO_LEN (AUTH_NONCE_BYTES + 1 + 1 + 8 + 4 + 8)

enum auth_mode {
	AUTH_MODE_INSECURE = 0,
	AUTH_MODE_SECURE = 1,
};

enum auth_caps {
	AUTH_CAP_AESNI = 1 << 0,
};

enum auth_role {
	AUTH_ROLE_CLIENT = 1,
	AUTH_ROLE_SERVER = 2,
};

struct auth_hello {
	uint8_t nonce[AUTH_NONCE_BYTES];
	uint8_t mode; /* enum auth_mode */
	uint8_t caps; /* enum auth_caps bits */
	uint64_t key_id;
	uint32_t node;
	uint64_t incarnation;
};

void auth_hello_encode(const struct auth_hello *hello,
		       uint8_t out[AUTH_HELLO_LEN]);

/*
 * Pure decoders of a received HELLO or AUTH frame: h is the decoded header,
 * p/len the payload (len must equal h->len). reply says whether a reply is
 * expected. Returns 0, -EACCES for a refusal (status PERM, no payload: the
 * peer refused us; either side may send one in AUTH, only the server in
 * HELLO), or -EPROTO for anything else unexpected: wrong opcode, reply
 * flag, status, length or mode byte.
 */
int auth_hello_decode(const struct wire_hdr *h, bool reply, const uint8_t *p,
		      size_t len, struct auth_hello *out);
int auth_mac_decode(const struct wire_hdr *h, bool reply, const uint8_t *p,
		    size_t len, uint8_t mac[AUTH_MAC_BYTES]);

/* T over both HELLO payloads as they went over the wire. */
void auth_transcript(const uint8_t client_hello[AUTH_HELLO_LEN],
		     const uint8_t server_hello[AUTH_HELLO_LEN],
		     uint8_t t[AUTH_HASH_BYTES]);
/* The MAC the given role sends for transcript t. */
void auth_mac_compute(const struct auth_key *key, enum auth_role role,
		      const uint8_t t[AUTH_HASH_BYTES],
		      uint8_t mac[AUTH_MAC_BYTES]);
/* Constant-time check of a MAC received from role. */
bool auth_mac_verify(const struct auth_key *key, enum auth_role role,
		     const uint8_t t[AUTH_HASH_BYTES],
		     const uint8_t mac[AUTH_MAC_BYTES]);
/* The session keys: client to server and server to client. */
void auth_session_keys(const struct auth_key *key,
		       const uint8_t t[AUTH_HASH_BYTES],
		       uint8_t c2s[SEAL_KEY_BYTES],
		       uint8_t s2c[SEAL_KEY_BYTES]);
/* The AEAD two ends with these caps agree on. */
enum seal_cipher auth_cipher(uint8_t client_caps, uint8_t server_caps);
/* This CPU's caps. */
uint8_t auth_local_caps(void);

#endif
