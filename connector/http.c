// SPDX-License-Identifier: MIT
/*
 * A request head judged without allocating or copying (http.h): the
 * metrics port is open to anyone who can connect, so every byte is
 * checked against the little that is allowed, and anything else is a 400
 * rather than a guess.
 */
#include <errno.h>
#include <stdbool.h>
#include <string.h>

#include "http.h"

static bool allowed_byte(unsigned char c)
{
	return (c >= ' ' && c <= '~') || c == '\r' || c == '\n' || c == '\t';
}

/* A token character of RFC 9110 (header names, methods). */
static bool tchar(unsigned char c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
	       (c >= '0' && c <= '9') || (c && strchr("!#$%&'*+-.^_`|~", c));
}

/* The end of the line at p (before its CR LF or LF) and where the next
 * starts; false when no LF follows within end. */
static bool line(const char *p, const char *end, const char **eol,
		 const char **next)
{
	const char *lf = memchr(p, '\n', (size_t)(end - p));

	if (!lf)
		return false;
	*next = lf + 1;
	*eol = lf > p && lf[-1] == '\r' ? lf - 1 : lf;
	return true;
}

/* "Name: value": a non-empty token, a colon, no CR inside. */
static bool header_ok(const char *p, const char *eol)
{
	const char *q = p;

	while (q < eol && tchar((unsigned char)*q))
		q++;
	if (q == p || q == eol || *q != ':')
		return false;
	return !memchr(q, '\r', (size_t)(eol - q));
}

static bool starts(const char *p, const char *end, const char *s)
{
	size_t n = strlen(s);

	return (size_t)(end - p) >= n && !memcmp(p, s, n);
}

/* The request line "GET TARGET HTTP/1.x": its status. */
static int request_line(const char *p, const char *eol, const char *path)
{
	const char *sp1 = memchr(p, ' ', (size_t)(eol - p)), *sp2, *t;
	size_t plen = strlen(path), tlen;

	if (!sp1 || !starts(p, eol, "GET "))
		return 400;
	t = sp1 + 1;
	sp2 = memchr(t, ' ', (size_t)(eol - t));
	if (!sp2 || sp2 == t || memchr(sp2 + 1, ' ', (size_t)(eol - sp2 - 1)))
		return 400;
	if ((size_t)(eol - sp2 - 1) != 8 ||
	    (!starts(sp2 + 1, eol, "HTTP/1.1") &&
	     !starts(sp2 + 1, eol, "HTTP/1.0")))
		return 400;
	if (*t != '/' || memchr(t, '\r', (size_t)(sp2 - t)) ||
	    memchr(t, '\t', (size_t)(sp2 - t)))
		return 400;
	tlen = (size_t)(sp2 - t);
	if (tlen >= plen && !memcmp(t, path, plen) &&
	    (tlen == plen || t[plen] == '?'))
		return 200;
	return 404;
}

static bool bytes_ok(const char *p, const char *end)
{
	for (; p < end; p++)
		if (!allowed_byte((unsigned char)*p))
			return false;
	return true;
}

/*
 * What comes after the head (a body, the next request) is not judged: it
 * is never read as part of this request.
 */
int http_judge_request(const char *buf, size_t len, const char *path,
		       size_t *head_len)
{
	const char *end = buf + len, *p = buf, *eol, *next;
	int status = 0;

	if (head_len)
		*head_len = 0;
	for (bool first = true;; first = false, p = next) {
		if (!line(p, end, &eol, &next)) {
			/* incomplete: what came so far must be allowed */
			if (!bytes_ok(p, end) || len >= HTTP_MAX_REQUEST)
				return 400;
			return -EAGAIN;
		}
		if (!bytes_ok(p, next))
			return 400;
		if (first)
			status = request_line(p, eol, path);
		else if (eol == p)
			break; /* the blank line: the head is complete */
		else if (!header_ok(p, eol))
			status = 400;
	}
	if (head_len)
		*head_len = (size_t)(next - buf);
	return status;
}

const char *http_reason(int status)
{
	switch (status) {
	case 200:
		return "OK";
	case 400:
		return "Bad Request";
	case 404:
		return "Not Found";
	case 500:
		return "Internal Server Error";
	default:
		return "Error";
	}
}
