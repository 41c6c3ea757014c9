// SPDX-License-Identifier: MIT
/*
 * Fuzz target for the handshake decoders (connector/auth.c): HELLO and AUTH
 * frames arrive from peers that have not proven anything yet. Input: a
 * 32-byte frame header, then the payload. Both decoders run in both
 * directions (request and reply); whatever they accept must be well formed.
 */
#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "auth-internal.h"
#include "cmp/util.h"
#include "cmp/wire.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

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
