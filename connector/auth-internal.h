/* SPDX-License-Identifier: MIT */
/*
 * The handshake's messages, for auth.c, its unit test and its fuzz target.
 *
 *   client                                   server
 *     HELLO  (nonce Nc, mode)          ->
 *                                      <-    HELLO reply (nonce Ns, mode)
 *        modes differ: both ends stop with -EACCES
 *        both insecure: done
 *     AUTH   MAC(key, CLIENT, Nc, Ns)  ->
 *                                      <-    AUTH reply MAC(key, SERVER, Nc,
 * Ns) or status PERM, no payload, when the client's MAC is wrong
 *
 * HELLO payload: 32-byte nonce, then one mode byte (0 insecure, 1 secure).
 * AUTH payload: the 32-byte crypto_auth MAC over a fixed label, the role of
 * the sender and both nonces; the role makes a reflected MAC useless.
 */
#ifndef CMP_AUTH_INTERNAL_H
#define CMP_AUTH_INTERNAL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "cmp/auth.h"
#include "cmp/wire.h"

#define AUTH_NONCE_BYTES 32
#define AUTH_MAC_BYTES 32
#define AUTH_HELLO_LEN (AUTH_NONCE_BYTES + 1)

enum auth_mode {
	AUTH_MODE_INSECURE = 0,
	AUTH_MODE_SECURE = 1,
};

enum auth_role {
	AUTH_ROLE_CLIENT = 1,
	AUTH_ROLE_SERVER = 2,
};

struct auth_hello {
	uint8_t nonce[AUTH_NONCE_BYTES];
	uint8_t mode; /* enum auth_mode */
};

void auth_hello_encode(const struct auth_hello *hello,
		       uint8_t out[AUTH_HELLO_LEN]);

/*
 * Pure decoders of a received HELLO or AUTH frame: h is the decoded header,
 * p/len the payload (len must equal h->len). reply says whether a reply is
 * expected. Returns 0, -EACCES for a reply with status PERM (the peer
 * refused us), or -EPROTO for anything else unexpected: wrong opcode, reply
 * flag, status, length or mode byte.
 */
int auth_hello_decode(const struct wire_hdr *h, bool reply, const uint8_t *p,
		      size_t len, struct auth_hello *out);
int auth_mac_decode(const struct wire_hdr *h, bool reply, const uint8_t *p,
		    size_t len, uint8_t mac[AUTH_MAC_BYTES]);

/* The MAC the given role sends for this pair of nonces. */
void auth_mac_compute(const struct auth_key *key, enum auth_role role,
		      const uint8_t client_nonce[AUTH_NONCE_BYTES],
		      const uint8_t server_nonce[AUTH_NONCE_BYTES],
		      uint8_t mac[AUTH_MAC_BYTES]);
/* Constant-time check of a MAC received from role. */
bool auth_mac_verify(const struct auth_key *key, enum auth_role role,
		     const uint8_t client_nonce[AUTH_NONCE_BYTES],
		     const uint8_t server_nonce[AUTH_NONCE_BYTES],
		     const uint8_t mac[AUTH_MAC_BYTES]);

#endif
