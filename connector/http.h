/* SPDX-License-Identifier: MIT */
/*
 * The little HTTP the metrics server speaks (metrics.c): one GET per
 * connection, answered and closed. http_judge_request() is the pure
 * decoder of the bytes a stranger sends, and the fuzz target's subject
 * (tests/fuzz/fuzz-http.c). Private to the connector.
 */
#ifndef CMP_CONNECTOR_HTTP_H
#define CMP_CONNECTOR_HTTP_H

#include <stddef.h>

/* The longest request head read (request line and headers). */
#define HTTP_MAX_REQUEST 4096

/*
 * Judges the request head in buf[0..len) (not NUL-terminated; len <=
 * HTTP_MAX_REQUEST). Returns -EAGAIN when it is not complete yet and may
 * still be; else the status to answer with: 200 for "GET path" (a query
 * string after path is ignored) in HTTP/1.0 or 1.1, 404 for a GET of
 * another absolute path, 400 for anything else: another method or
 * version, a malformed request or header line, bytes that are neither
 * printable ASCII nor CR, LF or tab, or a head that does not end within
 * HTTP_MAX_REQUEST bytes. *head_len (unless NULL) is set to the head's
 * length, blank line included, when a status is returned for a complete
 * head, else to 0.
 */
int http_judge_request(const char *buf, size_t len, const char *path,
		       size_t *head_len);

/* "OK", "Not Found", "Bad Request", ...: the reason phrase of status. */
const char *http_reason(int status);

#endif
