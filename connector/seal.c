// SPDX-License-Identifier: MIT
/*
 * The record AEAD of seal.h over OpenSSL's EVP interface. Each key keeps
 * one context keyed for sealing and one for opening, so the key schedule
 * (and GHASH tables) are expanded once per session; a record only sets
 * its nonce. libsodium is initialized here for the rest of the connector
 * (key derivation, randomness) and tells whether the CPU has AES-NI.
 */
#include <endian.h>
#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/evp.h>
#include <sodium.h>

#include "cmp/log.h"
#include "seal.h"

#define NONCE_BYTES 12

static pthread_once_t sodium_once = PTHREAD_ONCE_INIT;
static int sodium_status;

static void sodium_setup(void)
{
	sodium_status = sodium_init();
	if (sodium_status < 0)
		log_error("libsodium failed to initialize");
}

int seal_crypto_init(void)
{
	pthread_once(&sodium_once, sodium_setup);
	return sodium_status < 0 ? -EIO : 0;
}

bool seal_aes_available(void)
{
	/* the fast AES-GCM needs AES-NI and PCLMUL, as libsodium's does */
	return seal_crypto_init() == 0 &&
	       crypto_aead_aes256gcm_is_available() == 1;
}

const char *seal_cipher_name(enum seal_cipher cipher)
{
	switch (cipher) {
	case SEAL_AES256GCM:
		return "AES-256-GCM";
	case SEAL_CHACHA20POLY1305:
		return "ChaCha20-Poly1305";
	default:
		return "none";
	}
}

/* A context keyed for one direction (enc 1: seal, 0: open), or NULL. */
static EVP_CIPHER_CTX *keyed_ctx(const EVP_CIPHER *evp,
				 const uint8_t key[SEAL_KEY_BYTES], int enc)
{
	EVP_CIPHER_CTX *ctx = EVP_CIPHER_CTX_new();

	if (!ctx)
		return NULL;
	if (EVP_CipherInit_ex(ctx, evp, NULL, NULL, NULL, enc) != 1 ||
	    EVP_CIPHER_CTX_ctrl(ctx, EVP_CTRL_AEAD_SET_IVLEN, NONCE_BYTES,
				NULL) != 1 ||
	    EVP_CipherInit_ex(ctx, NULL, NULL, key, NULL, enc) != 1) {
		EVP_CIPHER_CTX_free(ctx);
		return NULL;
	}
	return ctx;
}

int seal_key_init(struct seal_key *k, enum seal_cipher cipher,
		  const uint8_t key[SEAL_KEY_BYTES])
{
	const EVP_CIPHER *evp;
	int ret = seal_crypto_init();

	memset(k, 0, sizeof(*k));
	if (ret)
		return ret;
	switch (cipher) {
	case SEAL_AES256GCM:
		if (!seal_aes_available())
			return -EOPNOTSUPP;
		evp = EVP_aes_256_gcm();
		break;
	case SEAL_CHACHA20POLY1305:
		evp = EVP_chacha20_poly1305();
		break;
	default:
		return -EINVAL;
	}
	k->enc = keyed_ctx(evp, key, 1);
	k->dec = k->enc ? keyed_ctx(evp, key, 0) : NULL;
	if (!k->dec) {
		seal_key_wipe(k);
		log_error("cannot set up %s: out of memory or unsupported by "
			  "libcrypto",
			  seal_cipher_name(cipher));
		return -ENOMEM;
	}
	k->cipher = cipher;
	return 0;
}

void seal_key_wipe(struct seal_key *k)
{
	/* EVP_CIPHER_CTX_free() clears the key schedule it held */
	EVP_CIPHER_CTX_free(k->enc);
	EVP_CIPHER_CTX_free(k->dec);
	memset(k, 0, sizeof(*k));
}

/* 32 zero bits, then the record's sequence number, little-endian. */
static void make_nonce(uint64_t seq, uint8_t nonce[NONCE_BYTES])
{
	uint64_t le = htole64(seq);

	memset(nonce, 0, 4);
	memcpy(nonce + 4, &le, sizeof(le));
}

/* Nonce, associated data and bytes through ctx; 0 or -1. */
static int run(EVP_CIPHER_CTX *ctx, int enc, uint64_t seq, const void *ad,
	       size_t adlen, const uint8_t *in, size_t len, uint8_t *out)
{
	uint8_t nonce[NONCE_BYTES];
	int n;

	make_nonce(seq, nonce);
	if (EVP_CipherInit_ex(ctx, NULL, NULL, NULL, nonce, enc) != 1)
		return -1;
	if (adlen && EVP_CipherUpdate(ctx, NULL, &n, ad, (int)adlen) != 1)
		return -1;
	if (len && EVP_CipherUpdate(ctx, out, &n, in, (int)len) != 1)
		return -1;
	return 0;
}

void seal_record(const struct seal_key *k, uint64_t seq, const void *ad,
		 size_t adlen, const uint8_t *in, size_t len, uint8_t *out,
		 uint8_t tag[SEAL_TAG_BYTES])
{
	int n;

	/* a keyed context only fails on bad arguments: a bug, not input */
	if (run(k->enc, 1, seq, ad, adlen, in, len, out) ||
	    EVP_CipherFinal_ex(k->enc, out + len, &n) != 1 ||
	    EVP_CIPHER_CTX_ctrl(k->enc, EVP_CTRL_AEAD_GET_TAG, SEAL_TAG_BYTES,
				tag) != 1) {
		log_error("%s: sealing a record failed",
			  seal_cipher_name(k->cipher));
		abort();
	}
}

int seal_open(const struct seal_key *k, uint64_t seq, const void *ad,
	      size_t adlen, uint8_t *buf, size_t len,
	      const uint8_t tag[SEAL_TAG_BYTES])
{
	int n;

	if (!k->dec || run(k->dec, 0, seq, ad, adlen, buf, len, buf) ||
	    EVP_CIPHER_CTX_ctrl(k->dec, EVP_CTRL_AEAD_SET_TAG, SEAL_TAG_BYTES,
				(void *)tag) != 1 ||
	    EVP_CipherFinal_ex(k->dec, buf + len, &n) != 1) {
		/* never leave unverified plaintext behind */
		memset(buf, 0, len);
		return -EBADMSG;
	}
	return 0;
}
