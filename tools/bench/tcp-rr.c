// SPDX-License-Identifier: MIT
/*
 * tcp-rr: TCP request/response latency, the wire's floor under a small
 * remote read.
 *
 *   tcp-rr -s HOST PORT [-b BYTES]        serve, one connection at a time,
 *                                         until killed
 *   tcp-rr -c HOST PORT [-b BYTES] [-n N] N round trips, then prints
 *                                         "p50_us=.. p99_us=.. n=.."
 *
 * Each round trip: the client sends BYTES (default 512), the server reads
 * them and sends BYTES back, TCP_NODELAY on both ends. The client retries
 * its connect for 5 s (the server may still be starting), makes 10 round
 * trips to warm up, then times N (default 2000) with CLOCK_MONOTONIC.
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
#define WARMUP 10

static uint64_t now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

static int xfer(int fd, char *buf, size_t len, bool out)
{
	size_t done = 0;

	while (done < len) {
		ssize_t n = out ? write(fd, buf + done, len - done)
				: read(fd, buf + done, len - done);

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

static int serve(const struct sockaddr_in *sa, char *buf, size_t len)
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
		nodelay(fd);
		while (!xfer(fd, buf, len, false) && !xfer(fd, buf, len, true))
			;
		close(fd);
	}

err_close_listener:
	close(lfd);
	return -1;
}

static int connect_retry(const struct sockaddr_in *sa)
{
	uint64_t deadline = now_ns() + 5000000000u;

	for (;;) {
		int fd = socket(AF_INET, SOCK_STREAM, 0);

		if (fd < 0)
			return -errno;
		if (!connect(fd, (const struct sockaddr *)sa, sizeof(*sa))) {
			nodelay(fd);
			return fd;
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

static int client(const struct sockaddr_in *sa, char *buf, size_t len, int n)
{
	uint64_t *lat = calloc((size_t)n, sizeof(*lat));
	int fd, i;

	if (!lat)
		return -1;
	fd = connect_retry(sa);
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

int main(int argc, char **argv)
{
	struct sockaddr_in sa;
	size_t len = 512;
	int n = 2000, opt;
	bool server = false, have_mode = false;
	static char buf[MAX_BYTES];

	while ((opt = getopt(argc, argv, "scb:n:")) != -1) {
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
		default:
			goto usage;
		}
	}
	if (!have_mode || argc - optind != 2 || !len || len > MAX_BYTES ||
	    n < 1)
		goto usage;
	if (parse_addr(argv[optind], argv[optind + 1], &sa))
		return 2;
	memset(buf, 0x5a, len);
	if (server)
		return serve(&sa, buf, len) ? 1 : 0;
	return client(&sa, buf, len, n) ? 1 : 0;

usage:
	fprintf(stderr, "usage: tcp-rr -s|-c HOST PORT [-b BYTES] [-n N]\n");
	return 2;
}
