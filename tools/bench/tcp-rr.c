// SPDX-License-Identifier: MIT
/*
 * tcp-rr: the wire under a remote read or write, measured with plain
 * sockets: request/response latency (the floor under a small remote read)
 * and one TCP stream's throughput (the ceiling of a bulk transfer; used
 * when iperf3 is not installed).
 *
 *   tcp-rr -s HOST PORT                   serve, one connection at a time,
 *                                         until killed
 *   tcp-rr -c HOST PORT [-b BYTES] [-n N] N round trips of BYTES each way,
 *                                         then "p50_us=.. p99_us=.. n=.."
 *   tcp-rr -c HOST PORT -w SECONDS        one stream, client to server
 *   tcp-rr -c HOST PORT -r SECONDS        one stream, server to client;
 *                                         both print "MBps=.. bytes=.. s=.."
 *
 * A connection starts with a hello from the client: {mode, bytes or
 * milliseconds} (two u32, network order). Round trips: the client sends
 * BYTES (default 512), the server reads them and sends BYTES back,
 * TCP_NODELAY on both ends; 10 round trips warm up, then N (default 2000)
 * are timed with CLOCK_MONOTONIC. Streams (128 KiB writes, as iperf3's
 * default): to the server, the client writes for SECONDS, shuts its side
 * down and stops the clock when the server's count of the bytes it read
 * arrives; from the server, the server writes for SECONDS and closes, the
 * client counts until the end of the stream. The client retries its
 * connect for 5 s (the server may still be starting).
 */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#define MAX_BYTES (1 << 20)
#define STREAM_WRITE (128 << 10)
#define WARMUP 10

enum mode { MODE_RR = 1, MODE_TO_SERVER = 2, MODE_FROM_SERVER = 3 };

struct hello {
	uint32_t mode;
	uint32_t arg; /* MODE_RR: bytes per message; streams: milliseconds */
};

static char buf[MAX_BYTES];

static uint64_t now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

/* All of len bytes; 0, -errno, or -ECONNRESET at the end of the stream. */
static int xfer(int fd, void *p, size_t len, bool out)
{
	char *b = p;
	size_t done = 0;

	while (done < len) {
		ssize_t n = out ? write(fd, b + done, len - done)
				: read(fd, b + done, len - done);

		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			return n < 0 ? -errno : -ECONNRESET;
		done += (size_t)n;
	}
	return 0;
}

static int parse_addr(const char *host, const char *port,
		      struct sockaddr_in *sa)
{
	memset(sa, 0, sizeof(*sa));
	sa->sin_family = AF_INET;
	sa->sin_port = htons((uint16_t)atoi(port));
	if (inet_pton(AF_INET, host, &sa->sin_addr) != 1) {
		fprintf(stderr, "tcp-rr: bad address %s\n", host);
		return -EINVAL;
	}
	return 0;
}

static void nodelay(int fd)
{
	int one = 1;

	setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
}

/* Write for ms milliseconds; the bytes written, or -1. */
static int64_t send_for(int fd, uint32_t ms)
{
	uint64_t end = now_ns() + (uint64_t)ms * 1000000u;
	int64_t total = 0;

	while (now_ns() < end) {
		if (xfer(fd, buf, STREAM_WRITE, true))
			return -1;
		total += STREAM_WRITE;
	}
	return total;
}

/* Read to the end of the stream; the bytes read, or -1. */
static int64_t drain(int fd)
{
	int64_t total = 0;

	for (;;) {
		ssize_t n = read(fd, buf, sizeof(buf));

		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			return -1;
		if (n == 0)
			return total;
		total += n;
	}
}

/* One client connection, as its hello says. */
static void serve_one(int fd)
{
	struct hello h;
	uint64_t count;
	int64_t n;

	if (xfer(fd, &h, sizeof(h), false))
		return;
	h.mode = ntohl(h.mode);
	h.arg = ntohl(h.arg);
	switch (h.mode) {
	case MODE_RR:
		if (!h.arg || h.arg > MAX_BYTES)
			return;
		nodelay(fd);
		while (!xfer(fd, buf, h.arg, false) &&
		       !xfer(fd, buf, h.arg, true))
			;
		break;
	case MODE_TO_SERVER:
		n = drain(fd);
		count = n < 0 ? 0 : (uint64_t)n;
		xfer(fd, &count, sizeof(count), true);
		break;
	case MODE_FROM_SERVER:
		send_for(fd, h.arg);
		break;
	}
}

static int serve(const struct sockaddr_in *sa)
{
	int one = 1, lfd, fd;

	lfd = socket(AF_INET, SOCK_STREAM, 0);
	if (lfd < 0)
		return -errno;
	setsockopt(lfd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	if (bind(lfd, (const struct sockaddr *)sa, sizeof(*sa)) < 0 ||
	    listen(lfd, 4) < 0) {
		perror("tcp-rr: bind/listen");
		goto err_close_listener;
	}
	for (;;) {
		fd = accept(lfd, NULL, NULL);
		if (fd < 0) {
			if (errno == EINTR)
				continue;
			perror("tcp-rr: accept");
			goto err_close_listener;
		}
		serve_one(fd);
		close(fd);
	}

err_close_listener:
	close(lfd);
	return -1;
}

/* A connection to the server, its hello sent; -1 on failure. */
static int connect_hello(const struct sockaddr_in *sa, uint32_t mode,
			 uint32_t arg)
{
	struct hello h = {htonl(mode), htonl(arg)};
	uint64_t deadline = now_ns() + 5000000000u;

	for (;;) {
		int fd = socket(AF_INET, SOCK_STREAM, 0);

		if (fd < 0)
			return -1;
		if (!connect(fd, (const struct sockaddr *)sa, sizeof(*sa))) {
			if (mode == MODE_RR)
				nodelay(fd);
			if (!xfer(fd, &h, sizeof(h), true))
				return fd;
			perror("tcp-rr: hello");
			close(fd);
			return -1;
		}
		close(fd);
		if (now_ns() > deadline) {
			perror("tcp-rr: connect");
			return -1;
		}
		usleep(20000);
	}
}

static int cmp_u64(const void *a, const void *b)
{
	uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;

	return x < y ? -1 : x > y;
}

static int round_trips(const struct sockaddr_in *sa, size_t len, int n)
{
	uint64_t *lat = calloc((size_t)n, sizeof(*lat));
	int fd, i;

	if (!lat)
		return -1;
	fd = connect_hello(sa, MODE_RR, (uint32_t)len);
	if (fd < 0)
		goto err_free_lat;
	for (i = -WARMUP; i < n; i++) {
		uint64_t t0 = now_ns();

		if (xfer(fd, buf, len, true) || xfer(fd, buf, len, false)) {
			fprintf(stderr, "tcp-rr: round trip %d failed\n", i);
			goto err_close_fd;
		}
		if (i >= 0)
			lat[i] = now_ns() - t0;
	}
	close(fd);
	qsort(lat, (size_t)n, sizeof(*lat), cmp_u64);
	printf("p50_us=%.2f p99_us=%.2f n=%d\n", lat[n / 2] / 1000.0,
	       lat[(size_t)n * 99 / 100] / 1000.0, n);
	free(lat);
	return 0;

err_close_fd:
	close(fd);
err_free_lat:
	free(lat);
	return -1;
}

/* One stream for ms milliseconds, to the server or from it. */
static int stream(const struct sockaddr_in *sa, uint32_t mode, uint32_t ms)
{
	uint64_t t0 = now_ns(), count = 0;
	int64_t n;
	double s;
	int fd;

	fd = connect_hello(sa, mode, ms);
	if (fd < 0)
		return -1;
	if (mode == MODE_TO_SERVER) {
		n = send_for(fd, ms);
		if (n < 0 || shutdown(fd, SHUT_WR) < 0 ||
		    xfer(fd, &count, sizeof(count), false) ||
		    count != (uint64_t)n)
			goto err_close_fd;
	} else {
		n = drain(fd);
		if (n <= 0)
			goto err_close_fd;
	}
	s = (double)(now_ns() - t0) / 1e9;
	close(fd);
	printf("MBps=%.1f bytes=%lld s=%.3f\n", (double)n / s / 1e6,
	       (long long)n, s);
	return 0;

err_close_fd:
	fprintf(stderr, "tcp-rr: the stream failed\n");
	close(fd);
	return -1;
}

int main(int argc, char **argv)
{
	struct sockaddr_in sa;
	size_t len = 512;
	int n = 2000, opt;
	uint32_t smode = 0, ms = 0;
	bool server = false, have_mode = false;

	while ((opt = getopt(argc, argv, "scb:n:w:r:")) != -1) {
		switch (opt) {
		case 's':
		case 'c':
			server = opt == 's';
			have_mode = true;
			break;
		case 'b':
			len = strtoul(optarg, NULL, 0);
			break;
		case 'n':
			n = atoi(optarg);
			break;
		case 'w':
		case 'r':
			smode = opt == 'w' ? MODE_TO_SERVER : MODE_FROM_SERVER;
			ms = (uint32_t)(strtod(optarg, NULL) * 1000);
			break;
		default:
			goto usage;
		}
	}
	if (!have_mode || argc - optind != 2 || !len || len > MAX_BYTES ||
	    n < 1 || (smode && !ms))
		goto usage;
	if (parse_addr(argv[optind], argv[optind + 1], &sa))
		return 2;
	memset(buf, 0x5a, sizeof(buf));
	if (server)
		return serve(&sa) ? 1 : 0;
	if (smode)
		return stream(&sa, smode, ms) ? 1 : 0;
	return round_trips(&sa, len, n) ? 1 : 0;

usage:
	fprintf(stderr, "usage: tcp-rr -s HOST PORT\n"
			"       tcp-rr -c HOST PORT [-b BYTES] [-n N]\n"
			"       tcp-rr -c HOST PORT -w|-r SECONDS\n");
	return 2;
}
