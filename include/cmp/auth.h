/* SPDX-License-Identifier: MIT */
/*
 * Cluster keys and the connection handshake. Every connection between
 * cmpfs, cmp-manager, cmp-memserver and cmpctl starts with it (wire
 * version 2; messages drawn in connector/auth-internal.h): both ends send a
 * HELLO with a fresh nonce, their mode, the AEADs their CPU runs fast, the
 * id of the key they want, and who they are (node id and incarnation); in
 * secure mode each then proves it holds the key with a keyed MAC over both
 * HELLOs (so every field of both is authenticated, the node ids included),
 * and both derive per-direction session keys from the key and both HELLOs.
 * From then on every frame is sealed (include/cmp/wire.h). In insecure
 * mode (trusted networks only) the HELLOs are all there is: frames travel
 * in clear with a checksum, and the peer's node id is taken on trust.
 *
 * A peer with no key in common, a wrong key, or the other mode is refused
 * with -EACCES; a peer speaking another wire version with
 * -EPROTONOSUPPORT, after one log line naming both versions.
 *
 * Keys and rotation: a key file holds 1 to AUTH_KEYRING_MAX keys, one per
 * line as 64 hex characters, mode 0600; the first is the preferred one. A
 * client asks for its preferred key; the server uses that one if it holds
 * it, else its own preferred one, and says which; the client goes on if it
 * holds that one. So during a rotation every node can hold old and new key
 * and talk to nodes holding either (README: "Rotating the cluster key").
 *
 * Threads: a keyring may be used by any number of handshakes at once while
 * another thread reloads it (an internal mutex; the handshake copies the
 * key it needs). Sessions already sealed keep their keys across a reload.
 */
#ifndef CMP_AUTH_H
#define CMP_AUTH_H

#include <signal.h>
#include <stdint.h>

struct conn;
struct auth_keyring;

#define AUTH_KEY_BYTES 32
#define AUTH_KEYRING_MAX 4

struct auth_key {
	uint8_t bytes[AUTH_KEY_BYTES];
};

/* Writes a new random key to path (mode 0600, O_EXCL): -EEXIST if present. */
int auth_key_generate(const char *path);
/* The key's public id: 8 bytes of BLAKE2b keyed with it, little-endian. */
uint64_t auth_key_id(const struct auth_key *key);

/*
 * Loads a key file into a new keyring. NULL with errno ENOENT, EACCES
 * (unreadable), EPERM (group or others may read or write it), EINVAL (not
 * 1..4 lines of 64 hex characters) or ENOMEM; the reason is logged as
 * exactly one line naming the file.
 */
struct auth_keyring *auth_keyring_load(const char *path);
/* A keyring of keys[0..n) (1..4), not backed by a file: tests and tools. */
struct auth_keyring *auth_keyring_create(const struct auth_key *keys,
					 unsigned int n);
/*
 * Reads the keyring's file again and swaps the keys in. Logs one line:
 * "key file reloaded: N keys (PATH)" or why not, keeping the old keys.
 * Returns the number of keys, or -errno (-EINVAL for a keyring without a
 * file).
 */
int auth_keyring_reload(struct auth_keyring *kr);
/*
 * A daemon's main thread, once its work runs on other threads: waits for
 * the signals in set (blocked by the caller); SIGHUP reloads kr, or logs
 * that there is no key file to reload (kr NULL: insecure); returns the
 * first other signal.
 */
int auth_wait_for_stop(const sigset_t *set, struct auth_keyring *kr);
unsigned int auth_keyring_count(struct auth_keyring *kr);
/* Copies the preferred key and writes its id. */
void auth_keyring_preferred(struct auth_keyring *kr, struct auth_key *key,
			    uint64_t *id);
/* Copies the key with this id: 0, or -ENOENT when kr does not hold it. */
int auth_keyring_lookup(struct auth_keyring *kr, uint64_t id,
			struct auth_key *key);
/* Wipes the keys and frees kr. NULL is ok. */
void auth_keyring_destroy(struct auth_keyring *kr);

/*
 * Runs the handshake on a fresh connection. kr NULL means insecure mode,
 * which only talks to peers that are insecure too. self_node and
 * self_incarnation tell the peer who we are (0 and 0 for a tool); the
 * peer's own are conn_peer_node() and conn_peer_incarnation() afterwards.
 * Returns 0 (secure: the connection is sealed), -EACCES when the peer
 * failed to prove a key we hold (or modes differ), -EPROTONOSUPPORT for
 * another wire version, -EPROTO on garbage, or the connection's -errno.
 * Bounded by timeout_ms (<= 0: 5 s); the connection's own timeout
 * (conn_set_timeout()) is restored afterwards. The reason for a refusal is
 * logged at info level (a version mismatch at warning level); callers log
 * the error itself, except -EPROTONOSUPPORT, already said.
 */
int auth_client(struct conn *c, struct auth_keyring *kr, uint32_t self_node,
		uint64_t self_incarnation, int timeout_ms);
int auth_server(struct conn *c, struct auth_keyring *kr, uint32_t self_node,
		uint64_t self_incarnation, int timeout_ms);

#endif
