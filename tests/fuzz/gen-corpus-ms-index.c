// SPDX-License-Identifier: MIT
/*
 * Writes the seed corpus of fuzz-ms-index (run by hand, see README.md):
 * index files made with the real encoders, as a memserver leaves them
 * (new, with loans, stopped cleanly), and one of each damage the store
 * must refuse or tolerate (a torn entry, two, a bad header, cut short).
 * Usage: gen-corpus-ms-index DIR
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "index.h"

#define NB 8u

static uint8_t img[MS_INDEX_ENTRIES_OFF + NB * MS_INDEX_ENTRY_SIZE];

static void put(const char *dir, const char *name, size_t len)
{
	char path[512];
	FILE *f;

	snprintf(path, sizeof(path), "%s/%s", dir, name);
	f = fopen(path, "wb");
	if (!f || fwrite(img, 1, len, f) != len || fclose(f)) {
		perror(path);
		exit(1);
	}
}

static void entry(uint64_t seed, uint32_t block, uint32_t owner, uint32_t epoch,
		  uint32_t flags)
{
	ms_index_entry_encode(
		img + MS_INDEX_ENTRIES_OFF + block * MS_INDEX_ENTRY_SIZE, seed,
		&(struct peer_kept_loan){owner, block, epoch, flags});
}

int main(int argc, char **argv)
{
	struct ms_index_hdr h = {
		.block_size = 64u << 10,
		.nblocks = NB,
		.node_id = 21,
		.state = MS_INDEX_RUNNING,
		.incarnation = 0x1122334455667788ull,
		.seed = 0x0badc0ffee0ddf00ull,
		.store_ino = 4242,
		.boot = 0x7777,
	};

	if (argc != 2) {
		fprintf(stderr, "usage: %s DIR\n", argv[0]);
		return 2;
	}
	ms_index_hdr_encode(&h, img);
	put(argv[1], "new", sizeof(img));
	entry(h.seed, 0, 11, 100, 0);
	entry(h.seed, 1, 11, 101, 0);
	entry(h.seed, 5, 12, 7, PEER_KEPT_HANDED);
	put(argv[1], "loans", sizeof(img));
	h.state = MS_INDEX_CLEAN;
	ms_index_hdr_encode(&h, img);
	put(argv[1], "loans-clean", sizeof(img));
	img[MS_INDEX_ENTRIES_OFF + 5 * MS_INDEX_ENTRY_SIZE + 2] ^= 0x40;
	put(argv[1], "torn-one", sizeof(img));
	img[MS_INDEX_ENTRIES_OFF + 1 * MS_INDEX_ENTRY_SIZE + 9] = 0x02;
	put(argv[1], "torn-two", sizeof(img));
	put(argv[1], "cut-short", sizeof(img) - 7);
	put(argv[1], "header-only", MS_INDEX_HDR_SIZE);
	img[20] ^= 1; /* nblocks, checksum now wrong */
	put(argv[1], "bad-checksum", sizeof(img));
	return 0;
}
