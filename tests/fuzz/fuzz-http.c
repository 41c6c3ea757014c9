// SPDX-License-Identifier: MIT
/*
 * Fuzz target for the metrics server's request decoder (connector/http.c):
 * every byte a stranger sends to a metrics port goes through
 * http_judge_request() before anything acts on it. Input: the bytes as
 * they arrive. Besides "does not crash or over-read", it checks what must
 * hold: the verdict is one of -EAGAIN, 200, 400, 404; a complete head lies
 * within the input and ends in a blank line; 200 only for a GET of the
 * path; and judging the input a byte at a time, as it may arrive, never
 * answers before the head is complete nor differently from the whole.
 */
#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "http.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static const char path[] = "/metrics";

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const char *buf = (const char *)data;
	size_t head, n = size < HTTP_MAX_REQUEST ? size : HTTP_MAX_REQUEST;
	int whole = http_judge_request(buf, n, path, &head), part;

	if (whole != -EAGAIN && whole != 200 && whole != 400 && whole != 404)
		abort();
	if (head > n || (whole == -EAGAIN && head))
		abort();
	if (head && (head < 2 || buf[head - 1] != '\n'))
		abort();
	if (whole == 200 && (head < 14 || memcmp(buf, "GET /metrics", 12)))
		abort();
	/* a prefix is never judged 200 or 404 unless the whole is */
	for (size_t k = 0; k < n; k++) {
		part = http_judge_request(buf, k, path, NULL);
		if (part != -EAGAIN && part != 400 && part != whole)
			abort();
		if (part == 400 && whole != 400)
			abort();
	}
	return 0;
}
