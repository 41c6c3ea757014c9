// SPDX-License-Identifier: MIT
/*
 * The record AEAD of seal.h over libsodium. AES-256-GCM uses libsodium's
 * precomputed-key interface (the key schedule is expanded once per session,
 * not once per record); ChaCha20-Poly1305-IETF needs no precomputation.
 */
#include <endian.h>
#include <errno.h>
#include <pthread.h>
#include <string.h>

#include "cmp/log.h"
#include "seal.h"

_Static_assert(crypto_aead_aes256gcm_KEYBYTES == SEAL_KEY_BYTES, "AES key");
_Static_assert(crypto_aead_chacha20poly1305_ietf_KEYBYTES == SEAL_KEY_BYTES,
	       "ChaCha20 key");
_Static_assert(crypto_aead_aes256gcm_ABYTES == SEAL_TAG_BYTES, "AES tag");
_Static_assert(crypto_aead_chacha20poly1305_ietf_ABYTES == SEAL_TAG_BYTES,
	       "ChaCha20 tag");
_Static_assert(crypto_aead_aes256gcm_NPUBBYTES == 12, "AES nonce");
_Static_assert(crypto_aead_chacha20poly1305_ietf_NPUBBYTES == 12,
	       "ChaCha20 nonce");

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

int seal_key_init(struct seal_key *k, enum seal_cipher cipher,
		  const uint8_t key[SEAL_KEY_BYTES])
{
	int ret = seal_crypto_init();

	if (ret)
		return ret;
	switch (cipher) {
	case SEAL_AES256GCM:
		if (!seal_aes_available())
			return -EOPNOTSUPP;
		crypto_aead_aes256gcm_beforenm(&k->u.aes, key);
		break;
	case SEAL_CHACHA20POLY1305:
		memcpy(k->u.raw, key, SEAL_KEY_BYTES);
		break;
	default:
		return -EINVAL;
	}
	k->cipher = cipher;
	return 0;
}

void seal_key_wipe(struct seal_key *k)
{
	sodium_memzero(k, sizeof(*k));
}

/* 32 zero bits, then the record's sequence number, little-endian. */
static void make_nonce(uint64_t seq, uint8_t nonce[12])
{
	uint64_t le = htole64(seq);

	memset(nonce, 0, 4);
	memcpy(nonce + 4, &le, sizeof(le));
}

void seal_record(const struct seal_key *k, uint64_t seq, const void *ad,
		 size_t adlen, const uint8_t *in, size_t len, uint8_t *out,
		 uint8_t tag[SEAL_TAG_BYTES])
{
	uint8_t nonce[12];

	make_nonce(seq, nonce);
	if (k->cipher == SEAL_AES256GCM)
		crypto_aead_aes256gcm_encrypt_detached_afternm(
			out, tag, NULL, in, len, ad, adlen, NULL, nonce,
			&k->u.aes);
	else
		crypto_aead_chacha20poly1305_ietf_encrypt_detached(
			out, tag, NULL, in, len, ad, adlen, NULL, nonce,
			k->u.raw);
}

int seal_open(const struct seal_key *k, uint64_t seq, const void *ad,
	      size_t adlen, uint8_t *buf, size_t len,
	      const uint8_t tag[SEAL_TAG_BYTES])
{
	uint8_t nonce[12];
	int ret;

	make_nonce(seq, nonce);
	if (k->cipher == SEAL_AES256GCM)
		ret = crypto_aead_aes256gcm_decrypt_detached_afternm(
			buf, NULL, buf, len, tag, ad, adlen, nonce, &k->u.aes);
	else if (k->cipher == SEAL_CHACHA20POLY1305)
		ret = crypto_aead_chacha20poly1305_ietf_decrypt_detached(
			buf, NULL, buf, len, tag, ad, adlen, nonce, k->u.raw);
	else
		ret = -1;
	return ret ? -EBADMSG : 0;
}
