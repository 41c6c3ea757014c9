// SPDX-License-Identifier: MIT
/*
 * mitm-relay: a man in the middle for the fault tests. It sits between an
 * owner and its provider (tests/cluster/test-faults-mitm.sh puts it there
 * with an nft redirect in the provider's namespace), passes every frame
 * through, and on command tampers with one frame the owner sends (a WRITE
 * or WRITE_BATCH), the way an attacker on the path without the key could:
 *
 *   header   flips bit 0 of the status field of the next such frame
 *   payload  flips bit 0 of the last payload byte of the next such frame;
 *            in plain mode (wire version 1, or 2 without a key) it also
 *            recomputes the XXH3-64 in the header, which is all a plain
 *            frame's integrity rests on
 *   record   keeps a copy of the next such frame
 *   replay   sends the kept copy again on an idle connection and drops
 *            the provider's reply to it, so the owner sees nothing
 *
 * Commands are lines written to the FIFO given with --ctl. Events go to
 * stdout, one line each ("tamper header: conn 3 WRITE id 17 ...",
 * "conn 3: closed by the server", ...), for the test to wait on.
 *
 * Framing (include/cmp/wire.h): a 32-byte header whose len (bytes 12..15)
 * is the plaintext payload length. Plain frames carry len bytes; sealed
 * frames (wire version 2 after a keyed handshake, from each direction's
 * AUTH frame on) carry len bytes cut into records of 64 KiB, each followed
 * by a 16-byte tag, and one empty record when len is 0. The handshake
 * frames (HELLO, AUTH) are always plain; the client's HELLO says whether
 * the session will be sealed (mode byte 32 of its payload, version 2).
 *
 *   mitm-relay --listen PORT --to HOST:PORT --ctl FIFO
 */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <xxhash.h>

#define HDR 32
#define RECORD (64u << 10)
#define TAG 16
#define MAX_PAYLOAD (16u << 20)
#define MAX_WIRE (MAX_PAYLOAD + TAG * (MAX_PAYLOAD / RECORD + 1))
#define MAX_CONNS 256
#define OP_HELLO 2
#define OP_AUTH 3
#define OP_WRITE 23
#define OP_WRITE_BATCH 25
#define F_REPLY 1
#define POLL_MS 50

enum action { ACT_NONE, ACT_HEADER, ACT_PAYLOAD, ACT_RECORD };

struct rconn {
	int id;
	int a, b;	 /* the owner's socket, ours to the provider */
	int version;	 /* from the first header, 0 until */
	bool secure;	 /* the client's HELLO asked for a keyed session */
	bool a2b_sealed; /* past the client's AUTH frame, in a secure session */
	bool b2a_sealed; /* past the server's AUTH reply */
	bool open;
	unsigned long outstanding; /* requests forwarded minus replies */
	bool inject;		   /* a replay is queued for this connection */
	bool swallow;
	uint64_t swallow_id;
	bool a_done, b_done;
};

static struct {
	pthread_mutex_t lock; /* protects everything here and in conns */
	struct rconn conns[MAX_CONNS];
	int nconns;
	enum action armed;
	uint8_t *kept; /* the recorded frame, wire bytes */
	size_t kept_len;
	int kept_conn;
	uint64_t kept_id;
} g = {.lock = PTHREAD_MUTEX_INITIALIZER};

static const char *op_name(unsigned int op)
{
	switch (op) {
	case OP_HELLO:
		return "HELLO";
	case OP_AUTH:
		return "AUTH";
	case 20:
		return "ALLOC";
	case 21:
		return "FREE";
	case 22:
		return "READ";
	case OP_WRITE:
		return "WRITE";
	case 24:
		return "READ_BATCH";
	case OP_WRITE_BATCH:
		return "WRITE_BATCH";
	case 30:
		return "STATUS";
	default:
		return "OTHER";
	}
}

static uint32_t get32(const uint8_t *p)
{
	return p[0] | p[1] << 8 | p[2] << 16 | (uint32_t)p[3] << 24;
}

static uint64_t get64(const uint8_t *p)
{
	return get32(p) | (uint64_t)get32(p + 4) << 32;
}

static void put64(uint8_t *p, uint64_t v)
{
	for (int i = 0; i < 8; i++)
		p[i] = (uint8_t)(v >> (8 * i));
}

static int read_full(int fd, void *buf, size_t len)
{
	size_t done = 0;

	while (done < len) {
		ssize_t n = read(fd, (uint8_t *)buf + done, len - done);

		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			return -1;
		done += n;
	}
	return 0;
}

static int write_full(int fd, const void *buf, size_t len)
{
	size_t done = 0;

	while (done < len) {
		ssize_t n = send(fd, (const uint8_t *)buf + done, len - done,
				 MSG_NOSIGNAL);

		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			return -1;
		done += n;
	}
	return 0;
}

/* Bytes after the header: len, or len plus a tag per 64 KiB record. */
static size_t wire_len(uint32_t len, bool sealed)
{
	size_t records = len ? (len + RECORD - 1) / RECORD : 1;

	return sealed ? len + TAG * records : len;
}

/* Wire offset of plaintext byte p of a sealed payload. */
static size_t sealed_offset(size_t p)
{
	return p + TAG * (p / RECORD);
}

/* Applies the armed action to a frame from the owner; under g.lock. */
static void tamper_locked(struct rconn *rc, uint8_t *f, size_t wlen,
			  bool sealed)
{
	uint32_t len = get32(f + 12);
	uint64_t id = get64(f + 16);
	const char *op = op_name(f[5]);
	size_t off;

	switch (g.armed) {
	case ACT_HEADER:
		f[8] ^= 1;
		printf("tamper header: conn %d %s id %lu len %u: status bit 0 "
		       "flipped\n",
		       rc->id, op, id, len);
		break;
	case ACT_PAYLOAD:
		if (!len)
			return;
		off = sealed ? sealed_offset(len - 1) : len - 1;
		f[HDR + off] ^= 1;
		if (!sealed)
			put64(f + 24, XXH3_64bits(f + HDR, len));
		printf("tamper payload: conn %d %s id %lu len %u: bit 0 of "
		       "payload byte %u flipped%s\n",
		       rc->id, op, id, len, len - 1,
		       sealed ? " (sealed: in the last record)"
			      : ", XXH3 recomputed");
		break;
	case ACT_RECORD:
		free(g.kept);
		g.kept = malloc(HDR + wlen);
		if (!g.kept)
			return;
		memcpy(g.kept, f, HDR + wlen);
		g.kept_len = HDR + wlen;
		g.kept_conn = rc->id;
		g.kept_id = id;
		printf("record: conn %d %s id %lu len %u\n", rc->id, op, id,
		       len);
		break;
	case ACT_NONE:
		return;
	}
	g.armed = ACT_NONE;
}

/* A pump ended: the other one is woken, the last one closes both. */
static void closed(struct rconn *rc, bool b2a, bool by_server)
{
	bool last;

	pthread_mutex_lock(&g.lock);
	if (rc->open) {
		rc->open = false;
		printf("conn %d: closed by the %s\n", rc->id,
		       by_server ? "server" : "client");
	}
	if (b2a)
		rc->b_done = true;
	else
		rc->a_done = true;
	last = rc->a_done && rc->b_done;
	pthread_mutex_unlock(&g.lock);
	shutdown(rc->a, SHUT_RDWR);
	shutdown(rc->b, SHUT_RDWR);
	if (last) {
		close(rc->a);
		close(rc->b);
	}
}

/* A queued replay goes out between two frames of the owner. */
static int maybe_inject(struct rconn *rc)
{
	int ret = 0;

	pthread_mutex_lock(&g.lock);
	if (rc->inject) {
		rc->inject = false;
		rc->swallow = !rc->a2b_sealed;
		rc->swallow_id = g.kept_id;
		ret = write_full(rc->b, g.kept, g.kept_len);
		printf("replay: conn %d: sent again %s id %lu recorded on "
		       "conn %d\n",
		       rc->id, op_name(g.kept[5]), g.kept_id, g.kept_conn);
	}
	pthread_mutex_unlock(&g.lock);
	return ret;
}

/* Owner to provider: frames, tampered with on command. */
static void *pump_a2b(void *arg)
{
	struct rconn *rc = arg;
	uint8_t *f = malloc(HDR + MAX_WIRE);
	struct pollfd pfd = {.fd = rc->a, .events = POLLIN};
	bool by_server = false;

	while (f) {
		uint32_t len;
		size_t wlen;
		bool sealed;
		int n;

		if (maybe_inject(rc) < 0) {
			by_server = true;
			break;
		}
		n = poll(&pfd, 1, POLL_MS);
		if (n == 0 || (n < 0 && errno == EINTR))
			continue;
		if (n < 0)
			break;
		if (read_full(rc->a, f, HDR) < 0)
			break;
		len = get32(f + 12);
		if (len > MAX_PAYLOAD)
			break;
		pthread_mutex_lock(&g.lock);
		if (!rc->version)
			rc->version = f[4];
		sealed = rc->a2b_sealed;
		pthread_mutex_unlock(&g.lock);
		wlen = wire_len(len, sealed);
		if (read_full(rc->a, f + HDR, wlen) < 0)
			break;
		pthread_mutex_lock(&g.lock);
		if (f[5] == OP_HELLO && rc->version >= 2 && len > 32)
			rc->secure = f[HDR + 32] == 1;
		if (f[5] == OP_AUTH && rc->secure && !rc->a2b_sealed)
			rc->a2b_sealed = true;
		if ((f[5] == OP_WRITE || f[5] == OP_WRITE_BATCH) &&
		    !(f[6] & F_REPLY))
			tamper_locked(rc, f, wlen, sealed);
		if (!(f[6] & F_REPLY))
			rc->outstanding++;
		pthread_mutex_unlock(&g.lock);
		if (write_full(rc->b, f, HDR + wlen) < 0) {
			by_server = true;
			break;
		}
	}
	free(f);
	closed(rc, false, by_server);
	return NULL;
}

/* Provider to owner: frames, minus the reply to a replayed one. */
static void *pump_b2a(void *arg)
{
	struct rconn *rc = arg;
	uint8_t *f = malloc(HDR + MAX_WIRE);
	bool by_server = true;

	while (f) {
		uint32_t len;
		size_t wlen;
		bool drop = false;

		if (read_full(rc->b, f, HDR) < 0)
			break;
		len = get32(f + 12);
		if (len > MAX_PAYLOAD)
			break;
		pthread_mutex_lock(&g.lock);
		wlen = wire_len(len, rc->b2a_sealed);
		pthread_mutex_unlock(&g.lock);
		if (read_full(rc->b, f + HDR, wlen) < 0)
			break;
		pthread_mutex_lock(&g.lock);
		if (f[5] == OP_AUTH && rc->secure && get32(f + 8) == 0)
			rc->b2a_sealed = true;
		if (rc->swallow && get64(f + 16) == rc->swallow_id) {
			rc->swallow = false;
			drop = true;
			printf("swallowed: conn %d reply id %lu status %u\n",
			       rc->id, rc->swallow_id, get32(f + 8));
		} else if (rc->outstanding) {
			rc->outstanding--;
		}
		pthread_mutex_unlock(&g.lock);
		if (!drop && write_full(rc->a, f, HDR + wlen) < 0) {
			by_server = false;
			break;
		}
	}
	free(f);
	closed(rc, true, by_server);
	return NULL;
}

/* Queues the kept frame on an idle open connection: its own first. */
static void queue_replay(void)
{
	struct rconn *pick = NULL;

	pthread_mutex_lock(&g.lock);
	for (int i = 0; g.kept && i < g.nconns; i++) {
		struct rconn *rc = &g.conns[i];

		if (!rc->open || rc->outstanding)
			continue;
		if (!pick || rc->id == g.kept_conn)
			pick = rc;
	}
	if (pick)
		pick->inject = true;
	else
		printf("replay: %s\n",
		       g.kept ? "no idle connection" : "nothing recorded");
	pthread_mutex_unlock(&g.lock);
}

static void *control(void *arg)
{
	FILE *f = fopen(arg, "r+"); /* r+: never sees end of file */
	char line[64];

	if (!f) {
		perror("mitm-relay: --ctl");
		exit(2);
	}
	while (fgets(line, sizeof(line), f)) {
		line[strcspn(line, "\n")] = 0;
		if (!strcmp(line, "replay")) {
			queue_replay();
			continue;
		}
		pthread_mutex_lock(&g.lock);
		if (!strcmp(line, "header"))
			g.armed = ACT_HEADER;
		else if (!strcmp(line, "payload"))
			g.armed = ACT_PAYLOAD;
		else if (!strcmp(line, "record"))
			g.armed = ACT_RECORD;
		printf("armed: %s\n", line);
		pthread_mutex_unlock(&g.lock);
	}
	return NULL;
}

static int connect_to(const char *hostport)
{
	char host[256];
	const char *colon = strrchr(hostport, ':');
	struct addrinfo hints = {.ai_socktype = SOCK_STREAM}, *ai;
	int fd, one = 1;

	if (!colon || (size_t)(colon - hostport) >= sizeof(host))
		return -1;
	memcpy(host, hostport, colon - hostport);
	host[colon - hostport] = 0;
	if (getaddrinfo(host, colon + 1, &hints, &ai))
		return -1;
	fd = socket(ai->ai_family, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd >= 0 && connect(fd, ai->ai_addr, ai->ai_addrlen) < 0) {
		close(fd);
		fd = -1;
	}
	freeaddrinfo(ai);
	if (fd >= 0)
		setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	return fd;
}

static int listen_on(int port)
{
	struct sockaddr_in sa = {.sin_family = AF_INET,
				 .sin_port = htons((uint16_t)port)};
	int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0), one = 1;

	if (fd < 0)
		return -1;
	setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	if (bind(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0 ||
	    listen(fd, 64) < 0) {
		close(fd);
		return -1;
	}
	return fd;
}

static void serve(int lfd, const char *to)
{
	for (;;) {
		struct sockaddr_in peer;
		socklen_t plen = sizeof(peer);
		int a, b, one = 1;
		struct rconn *rc;
		pthread_t t;

		a = accept4(lfd, (struct sockaddr *)&peer, &plen, SOCK_CLOEXEC);
		if (a < 0) {
			if (errno == EINTR)
				continue;
			perror("mitm-relay: accept");
			return;
		}
		setsockopt(a, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
		b = connect_to(to);
		pthread_mutex_lock(&g.lock);
		if (b < 0 || g.nconns == MAX_CONNS) {
			pthread_mutex_unlock(&g.lock);
			printf("conn from %s: cannot reach %s\n",
			       inet_ntoa(peer.sin_addr), to);
			close(a);
			if (b >= 0)
				close(b);
			continue;
		}
		rc = &g.conns[g.nconns];
		rc->id = ++g.nconns;
		rc->a = a;
		rc->b = b;
		rc->open = true;
		printf("conn %d: from %s:%u to %s\n", rc->id,
		       inet_ntoa(peer.sin_addr), ntohs(peer.sin_port), to);
		pthread_mutex_unlock(&g.lock);
		if (pthread_create(&t, NULL, pump_a2b, rc) == 0)
			pthread_detach(t);
		if (pthread_create(&t, NULL, pump_b2a, rc) == 0)
			pthread_detach(t);
	}
}

static void on_term(int sig)
{
	(void)sig;
	_exit(0);
}

int main(int argc, char **argv)
{
	const char *to = NULL, *ctl = NULL;
	int port = 0, lfd;
	pthread_t t;

	for (int i = 1; i + 1 < argc; i += 2) {
		if (!strcmp(argv[i], "--listen"))
			port = atoi(argv[i + 1]);
		else if (!strcmp(argv[i], "--to"))
			to = argv[i + 1];
		else if (!strcmp(argv[i], "--ctl"))
			ctl = argv[i + 1];
	}
	if (!port || !to || !ctl) {
		fprintf(stderr,
			"usage: mitm-relay --listen PORT --to HOST:PORT "
			"--ctl FIFO\n");
		return 2;
	}
	setvbuf(stdout, NULL, _IOLBF, 0);
	signal(SIGTERM, on_term);
	signal(SIGPIPE, SIG_IGN);
	lfd = listen_on(port);
	if (lfd < 0) {
		perror("mitm-relay: listen");
		return 1;
	}
	if (pthread_create(&t, NULL, control, (void *)ctl)) {
		perror("mitm-relay: control thread");
		return 1;
	}
	printf("listening on port %d, relaying to %s\n", port, to);
	serve(lfd, to);
	return 1;
}
