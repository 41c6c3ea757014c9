// SPDX-License-Identifier: MIT
/*
 * The host:port grammar of tcp:// and rdma:// addresses, written once. It
 * is compiled with the logger and utilities (connector_base_src) because
 * the RDMA self-test and unit tests link the RDMA transport without the
 * rest of the connector.
 */
#include <ctype.h>
#include <errno.h>
#include <stdbool.h>
#include <string.h>

#include "conn-internal.h"

static bool host_char_ok(char ch, bool bracketed)
{
	if (isalnum((unsigned char)ch) || ch == '.' || ch == '-' || ch == '_')
		return true;
	/* IPv6 literals, with an optional %zone */
	return bracketed && (ch == ':' || ch == '%');
}

/* A decimal port 0..65535. */
static int copy_port(const char *s, char *port, size_t portlen)
{
	size_t n = strlen(s);
	unsigned long v = 0;
	size_t i;

	if (n == 0 || n > 5 || n >= portlen)
		return -EINVAL;
	for (i = 0; i < n; i++) {
		if (!isdigit((unsigned char)s[i]))
			return -EINVAL;
		v = v * 10 + (unsigned long)(s[i] - '0');
	}
	if (v > 65535)
		return -EINVAL;
	memcpy(port, s, n + 1);
	return 0;
}

/*
 * "host:port", "[v6]:port" or ":port" (empty host: any address, for
 * listening). Host names, IPv4 and bracketed IPv6 literals are accepted;
 * the port must be numeric.
 */
int conn_split_hostport(const char *rest, char *host, size_t hostlen,
			char *port, size_t portlen)
{
	const char *h = rest;
	const char *colon;
	bool bracketed = false;
	size_t n;
	size_t i;

	if (!rest)
		return -EINVAL;
	if (rest[0] == '[') {
		const char *close = strchr(rest, ']');

		if (!close || close[1] != ':' || close == rest + 1)
			return -EINVAL;
		h = rest + 1;
		n = (size_t)(close - h);
		colon = close + 1;
		bracketed = true;
	} else {
		colon = strrchr(rest, ':');
		if (!colon)
			return -EINVAL;
		n = (size_t)(colon - rest);
	}
	for (i = 0; i < n; i++)
		if (!host_char_ok(h[i], bracketed))
			return -EINVAL;
	if (n >= hostlen)
		return -EINVAL;
	if (copy_port(colon + 1, port, portlen))
		return -EINVAL;
	memcpy(host, h, n);
	host[n] = '\0';
	return 0;
}
