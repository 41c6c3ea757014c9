/* SPDX-License-Identifier: MIT */
/*
 * Cluster key and the connection handshake. Every connection between cmpfs,
 * cmp-manager, cmp-memserver and cmpctl starts with a mutual challenge-
 * response: each side sends a fresh random nonce (HELLO), each answers with
 * a keyed MAC (libsodium crypto_auth, HMAC-SHA512-256) over both nonces and
 * its role (AUTH), so each end proves it holds the key without sending it.
 * A peer with the wrong key, or a mismatch of secure/insecure mode, is
 * refused with -EACCES (and logged by the caller with the peer address).
 *
 * The key file holds 32 random bytes as 64 hex characters and a newline,
 * mode 0600. A key file readable or writable by group or others is refused.
 */
#ifndef CMP_AUTH_H
#define CMP_AUTH_H

#include <stdint.h>

struct conn;

#define AUTH_KEY_BYTES 32

struct auth_key {
	uint8_t bytes[AUTH_KEY_BYTES];
};

/* Writes a new random key to path (mode 0600, O_EXCL): -EEXIST if present. */
int auth_key_generate(const char *path);
/*
 * Loads a key file. -ENOENT, -EACCES (unreadable), -EPERM (group/other
 * may read or write it), -EINVAL (not 64 hex characters).
 */
int auth_key_load(const char *path, struct auth_key *key);

/*
 * Runs the handshake on a fresh connection; key NULL means insecure mode,
 * which only talks to peers that are insecure too. Returns 0, -EACCES when
 * the peer failed to prove the key (or modes differ), -EPROTO on garbage,
 * or the connection's -errno. Bounded by timeout_ms (<= 0: 5 s); the
 * connection's own timeout (conn_set_timeout()) is restored afterwards.
 * The reason for a refusal is logged at info level; callers log the error.
 */
int auth_client(struct conn *c, const struct auth_key *key, int timeout_ms);
int auth_server(struct conn *c, const struct auth_key *key, int timeout_ms);

#endif
