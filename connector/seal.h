/* SPDX-License-Identifier: MIT */
/*
 * The AEAD behind sealed frames (include/cmp/wire.h), kept behind this one
 * small interface so the cipher implementation can be swapped without
 * touching the frame code: today OpenSSL's (libcrypto) AES-256-GCM (only
 * where the CPU has AES-NI and PCLMUL) and ChaCha20-Poly1305-IETF, which
 * seal 64 KiB records 2.5 to 6 times faster than libsodium's on the
 * machines we measured (tools/bench/seal-bench.c); libsodium still does
 * the handshake's key derivation and randomness.
 *
 * A record is sealed under a per-direction key and a 64-bit sequence number;
 * the 96-bit nonce is 32 zero bits followed by the sequence number in
 * little-endian order, so a key must never seal two records with the same
 * number (frame.c counts records per direction from 0, and every session
 * has fresh keys). The tag is 16 bytes for both ciphers.
 *
 * Memory: struct seal_key holds two cipher contexts with the expanded key,
 * allocated by seal_key_init() (at the handshake, never per record) and
 * freed and wiped by seal_key_wipe(). Sealing and opening allocate
 * nothing. Thread safety: a key seals (or opens) on one thread at a time,
 * as each direction of a connection has its own key and its own lock.
 */
#ifndef CMP_SEAL_H
#define CMP_SEAL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define SEAL_KEY_BYTES 32
#define SEAL_TAG_BYTES 16

/* Cipher ids, as negotiated by the handshake (never sent on the wire). */
enum seal_cipher {
	SEAL_NONE = 0,
	SEAL_AES256GCM = 1,
	SEAL_CHACHA20POLY1305 = 2,
};

struct evp_cipher_ctx_st;

struct seal_key {
	enum seal_cipher cipher;
	struct evp_cipher_ctx_st *enc, *dec; /* EVP_CIPHER_CTX, keyed */
};

/*
 * Initializes libsodium once per process (thread-safe). 0, or -EIO when it
 * cannot (logged once).
 */
int seal_crypto_init(void);
/* True when this CPU can run the AES-256-GCM implementation. */
bool seal_aes_available(void);
/* "AES-256-GCM", "ChaCha20-Poly1305", or "none". */
const char *seal_cipher_name(enum seal_cipher cipher);

/*
 * Sets k up for cipher with the 32-byte key. -EINVAL for an unknown cipher,
 * -EOPNOTSUPP for AES-256-GCM on a CPU without AES-NI, -ENOMEM. On error k
 * holds nothing to wipe.
 */
int seal_key_init(struct seal_key *k, enum seal_cipher cipher,
		  const uint8_t key[SEAL_KEY_BYTES]);
void seal_key_wipe(struct seal_key *k);

/*
 * Encrypts len bytes of in to out (out may equal in) under sequence number
 * seq with associated data ad (adlen bytes, may be 0), and writes the tag.
 */
void seal_record(const struct seal_key *k, uint64_t seq, const void *ad,
		 size_t adlen, const uint8_t *in, size_t len, uint8_t *out,
		 uint8_t tag[SEAL_TAG_BYTES]);
/*
 * Verifies and decrypts buf (len bytes) in place. 0, or -EBADMSG when the
 * tag does not match key, sequence number, associated data and bytes: buf
 * is then zeroed.
 */
int seal_open(const struct seal_key *k, uint64_t seq, const void *ad,
	      size_t adlen, uint8_t *buf, size_t len,
	      const uint8_t tag[SEAL_TAG_BYTES]);

#endif
