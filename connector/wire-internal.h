/* SPDX-License-Identifier: MIT */
/*
 * What the connector's own files (and its tests and benchmark) need from
 * the frame layer beyond include/cmp/wire.h: setting up and tearing down a
 * connection's frame state (conn.c) and sealing a session once the
 * handshake has agreed on a cipher and derived keys (auth.c).
 */
#ifndef CMP_WIRE_INTERNAL_H
#define CMP_WIRE_INTERNAL_H

#include <stddef.h>
#include <stdint.h>
#include <sys/uio.h>

#include "cmp/wire.h"
#include "conn-internal.h"
#include "seal.h"

/* Plain frames until sealed. 0 or -ENOMEM. conn_connect/accept only. */
int wire_conn_init(struct conn *c);
/* Wipes the keys and frees what wire_conn_init/wire_seal_start took. */
void wire_conn_finish(struct conn *c);

/*
 * From now on every frame on c is sealed with cipher: tx_key for what this
 * end sends, rx_key for what it receives; both record counters start at 0.
 * Allocates the two staging buffers. Call between frames, before either
 * end sends a sealed one. 0, -EALREADY when already sealed, -ENOMEM, or
 * seal_key_init()'s error.
 */
int wire_seal_start(struct conn *c, enum seal_cipher cipher,
		    const uint8_t tx_key[SEAL_KEY_BYTES],
		    const uint8_t rx_key[SEAL_KEY_BYTES]);
/* The session's cipher (SEAL_NONE while plain). */
enum seal_cipher wire_cipher(const struct conn *c);

/* XXH3-64 of the first len bytes of the iovecs (frame.c). */
uint64_t wire_csum_prefix(const struct iovec *iov, int iovcnt, size_t len);

#endif
