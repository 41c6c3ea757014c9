// SPDX-License-Identifier: MIT
/*
 * Fuzz target for the handshake decoders (connector/auth.c): HELLO and AUTH
 * frames arrive from peers that have not proven anything yet. Input: a
 * 32-byte frame header, then the payload. Both decoders run in both
 * directions (request and reply); whatever they accept must be well formed
 * and re-encode to the same bytes.
 *
 * Then both ends of a real handshake (keyring of two keys, the seeds name
 * one of them) hear the input as everything their peer says. Neither may
 * crash, and neither may accept: the input cannot hold a MAC over a
 * transcript with our fresh nonce in it.
 */
#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "auth-internal.h"
#include "cmp/log.h"
#include "cmp/util.h"
#include "cmp/wire.h"
#include "stream.h"

int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	/* Refusals and garbage are logged below error level: expected here. */
	log_set_level(LOG_LVL_ERROR);
	return 0;
}

static void handshake(const uint8_t *data, size_t size, bool server)
{
	static const struct auth_key keys[2] = {{{0x42}}, {{0x43}}};
	static struct auth_keyring *kr;
	struct fuzz_stream s;
	int ret;

	if (!kr)
		kr = auth_keyring_create(keys, 2);
	if (!kr)
		abort();
	if (!fuzz_stream_open(&s, data, size))
		return;
	ret = server ? auth_server(s.us, kr, 1, 1, 1000)
		     : auth_client(s.us, kr, 2, 2, 1000);
	if (!ret)
		abort();
	fuzz_stream_close(&s);
}

static void check_hello(const struct wire_hdr *h, bool reply, const uint8_t *p,
			size_t len)
{
	uint8_t again[AUTH_HELLO_LEN];
	struct auth_hello hello;
	int ret;

	ret = auth_hello_decode(h, reply, p, len, &hello);
	if (ret && ret != -EPROTO && ret != -EACCES)
		abort();
	if (ret)
		return;
	if (len != AUTH_HELLO_LEN || hello.mode > AUTH_MODE_SECURE)
		abort();
	/* every field, reserved caps bits included, survives the trip */
	auth_hello_encode(&hello, again);
	if (memcmp(again, p, AUTH_HELLO_LEN))
		abort();
}

static void check_mac(const struct wire_hdr *h, bool reply, const uint8_t *p,
		      size_t len)
{
	uint8_t mac[AUTH_MAC_BYTES];
	int ret;

	ret = auth_mac_decode(h, reply, p, len, mac);
	if (ret && ret != -EPROTO && ret != -EACCES)
		abort();
	if (!ret && (len != AUTH_MAC_BYTES || memcmp(mac, p, len)))
		abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const uint8_t *p = data + WIRE_HDR_SIZE;
	struct wire_hdr h;
	size_t len;

	handshake(data, size, true);
	handshake(data, size, false);
	if (size < WIRE_HDR_SIZE || wire_hdr_decode(data, &h))
		return 0;
	/* A receiver reads h.len bytes; pass what arrived of them. */
	len = MIN(size - WIRE_HDR_SIZE, (size_t)h.len);
	check_hello(&h, false, p, len);
	check_hello(&h, true, p, len);
	check_mac(&h, false, p, len);
	check_mac(&h, true, p, len);
	return 0;
}
