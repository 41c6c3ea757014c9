// SPDX-License-Identifier: MIT
/*
 * Fuzz target for the index of a kept memserver store (memserver/index.c):
 * the input is an index file as cmp-memserver reads it from disk at its
 * start. It is scanned as it is, and again with its header's checksum
 * made right (so mutations reach the fields behind it and the entries).
 * Whatever the decoders accept must keep the promises the store relies
 * on: a header that encodes back to the same bytes, loans in block order
 * inside the store with an owner and an epoch, no more torn entries than
 * allowed, and entries that encode back to the same bytes; a broken
 * promise traps.
 */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <xxhash.h>

#include "index.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

struct seen {
	const uint8_t *img;
	const struct ms_index_hdr *hdr;
	uint32_t next; /* the lowest block the next loan may name */
	uint32_t loans;
};

static void loan(void *ctx, const struct peer_kept_loan *ln)
{
	struct seen *s = ctx;
	uint8_t e[MS_INDEX_ENTRY_SIZE];
	const uint8_t *at;

	if (ln->block < s->next || ln->block >= s->hdr->nblocks || !ln->owner ||
	    !ln->epoch || (ln->flags & ~PEER_KEPT_MASK))
		__builtin_trap();
	at = s->img + MS_INDEX_ENTRIES_OFF +
	     (size_t)ln->block * MS_INDEX_ENTRY_SIZE;
	ms_index_entry_encode(e, s->hdr->seed, ln);
	if (memcmp(e, at, sizeof(e)))
		__builtin_trap();
	s->next = ln->block + 1;
	s->loans++;
}

static void scan(const uint8_t *img, size_t size)
{
	uint8_t again[MS_INDEX_HDR_SIZE];
	struct ms_index_hdr hdr;
	struct ms_index_scan out;
	struct seen s = {.img = img, .hdr = &hdr};
	const char *why = NULL;
	int ret;

	ret = ms_index_scan(img, size, &hdr, loan, &s, &out, &why);
	if (ret < 0) {
		if (!why)
			__builtin_trap();
		return;
	}
	if (ret || size != ms_index_file_size(hdr.nblocks) ||
	    out.loans != s.loans || out.torn > MS_INDEX_TORN_MAX ||
	    out.loans + out.torn > hdr.nblocks)
		__builtin_trap();
	ms_index_hdr_encode(&hdr, again);
	if (memcmp(again, img, sizeof(again)))
		__builtin_trap();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	uint8_t *img;
	uint64_t check;

	scan(data, size);
	if (size < MS_INDEX_HDR_SIZE)
		return 0;
	img = malloc(size);
	if (!img)
		return 0;
	memcpy(img, data, size);
	check = XXH3_64bits(img, MS_INDEX_HDR_SIZE - 8);
	for (int i = 0; i < 8; i++)
		img[MS_INDEX_HDR_SIZE - 8 + i] = (uint8_t)(check >> (8 * i));
	scan(img, size);
	free(img);
	return 0;
}
