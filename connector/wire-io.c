// SPDX-License-Identifier: MIT
/*
 * Sending and receiving frames (include/cmp/wire.h) in both modes, and the
 * payload cursor that hands a frame's payload to its reader piece by piece.
 *
 * Plain mode costs nothing over the raw stream: a frame goes out as one
 * vectored write, and a payload is read straight into the caller's memory
 * and hashed there (one-shot when read in one call, incrementally
 * otherwise). Sealed mode cuts payloads into records; on the way out each
 * record is encrypted into the connection's tx staging buffer (straight
 * from the caller's memory when the record lies within one iovec, gathered
 * first otherwise); on the way in each record is read into the rx staging
 * buffer, verified and decrypted there, and only then copied out. That copy
 * is the price of "no unverified byte ever reaches a block" (a failed
 * open zeroes its output, and while it runs a block would show unverified
 * plaintext to its other readers), and the staging buffers are all the
 * memory a session takes: allocated when it is sealed, never per frame.
 * Memory nobody else looks at until the read returns (an owner's reply
 * buffer: wire_recv_payload_private()) skips that copy for every record
 * that lies whole in one of its iovecs: read and opened in place.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#define XXH_STATIC_LINKING_ONLY /* XXH3_state_t */
#include <xxhash.h>

#include "cmp/conn.h"
#include "cmp/log.h"
#include "cmp/util.h"
#include "wire-internal.h"

#define RECORD WIRE_RECORD_SIZE
#define TAG WIRE_TAG_SIZE
/* Stack window for a scatter list that ends inside an iovec. */
#define RECV_WINDOW 64
/* Stack buffer wire_skip_payload() reads through. */
#define SKIP_BUF 4096

_Static_assert(WIRE_TAG_SIZE == SEAL_TAG_BYTES, "tag size");
_Static_assert(WIRE_MAX_PAYLOAD / WIRE_RECORD_SIZE < UINT32_MAX, "records");

/*
 * A sealed session. The send half (writer thread) and the receive half
 * (reader thread) sit on separate cache lines.
 */
struct wire_seal {
	enum seal_cipher cipher;
	struct seal_key tx_key;
	struct seal_key rx_key;
	_Alignas(64) uint64_t tx_seq;
	uint8_t tx_buf[RECORD + TAG];
	_Alignas(64) uint64_t rx_seq;
	uint8_t rx_buf[RECORD + TAG];
};

int wire_conn_init(struct conn *c)
{
	memset(&c->wire, 0, sizeof(c->wire));
	c->wire.xxh = XXH3_createState();
	return c->wire.xxh ? 0 : -ENOMEM;
}

void wire_conn_finish(struct conn *c)
{
	struct wire_seal *s = c->wire.seal;

	if (s) {
		seal_key_wipe(&s->tx_key);
		seal_key_wipe(&s->rx_key);
		free(s);
	}
	XXH3_freeState(c->wire.xxh);
	memset(&c->wire, 0, sizeof(c->wire));
}

int wire_seal_start(struct conn *c, enum seal_cipher cipher,
		    const uint8_t tx_key[SEAL_KEY_BYTES],
		    const uint8_t rx_key[SEAL_KEY_BYTES])
{
	struct wire_seal *s;
	int ret;

	if (c->wire.seal)
		return -EALREADY;
	if (posix_memalign((void **)&s, 64, sizeof(*s)))
		return -ENOMEM;
	s->cipher = cipher;
	s->tx_seq = 0;
	s->rx_seq = 0;
	ret = seal_key_init(&s->tx_key, cipher, tx_key);
	if (!ret)
		ret = seal_key_init(&s->rx_key, cipher, rx_key);
	if (ret) {
		seal_key_wipe(&s->tx_key);
		seal_key_wipe(&s->rx_key);
		free(s);
		return ret;
	}
	c->wire.seal = s;
	return 0;
}

enum seal_cipher wire_cipher(const struct conn *c)
{
	return c->wire.seal ? c->wire.seal->cipher : SEAL_NONE;
}

/* ---- sending ---- */

/* How far the records of a frame have come through the caller's iovecs. */
struct src_cursor {
	const struct iovec *iov;
	int cnt;
	int idx;
	size_t off; /* into iov[idx] */
};

/*
 * The next len payload bytes: a pointer into the caller's memory when they
 * lie in one iovec, else gathered into buf.
 */
static const uint8_t *next_source(struct src_cursor *sc, size_t len,
				  uint8_t *buf)
{
	size_t done = 0;

	while (sc->idx < sc->cnt && sc->off == sc->iov[sc->idx].iov_len) {
		sc->idx++;
		sc->off = 0;
	}
	if (sc->idx < sc->cnt && sc->iov[sc->idx].iov_len - sc->off >= len) {
		const uint8_t *p =
			(const uint8_t *)sc->iov[sc->idx].iov_base + sc->off;

		sc->off += len;
		return p;
	}
	while (done < len) {
		const struct iovec *v = &sc->iov[sc->idx];
		size_t n = MIN(len - done, v->iov_len - sc->off);

		memcpy(buf + done, (const uint8_t *)v->iov_base + sc->off, n);
		done += n;
		sc->off += n;
		if (sc->off == v->iov_len) {
			sc->idx++;
			sc->off = 0;
		}
	}
	return buf;
}

static int send_sealed(struct conn *c, struct wire_hdr *h,
		       const struct iovec *payload, int iovcnt, size_t len)
{
	struct wire_seal *s = c->wire.seal;
	struct src_cursor sc = {.iov = payload, .cnt = iovcnt};
	uint8_t hdr[WIRE_HDR_SIZE];
	struct iovec out[2];
	size_t off = 0;
	int n, ret;

	h->csum = 0;
	wire_hdr_encode(h, hdr);
	do {
		size_t r = MIN(len - off, (size_t)RECORD);
		const uint8_t *src = next_source(&sc, r, s->tx_buf);

		/* the header is the first record's associated data */
		seal_record(&s->tx_key, s->tx_seq++, off ? NULL : hdr,
			    off ? 0 : sizeof(hdr), src, r, s->tx_buf,
			    s->tx_buf + r);
		n = 0;
		if (!off)
			out[n++] = (struct iovec){hdr, sizeof(hdr)};
		out[n++] = (struct iovec){s->tx_buf, r + TAG};
		ret = conn_writev(c, out, n);
		if (ret)
			return ret;
		off += r;
	} while (off < len);
	return 0;
}

int wire_send(struct conn *c, struct wire_hdr *h, const struct iovec *payload,
	      int iovcnt)
{
	struct iovec iov[WIRE_SEND_MAX_IOV + 1];
	uint8_t hdr[WIRE_HDR_SIZE];
	size_t len;

	if (iovcnt < 0 || iovcnt > WIRE_SEND_MAX_IOV || (iovcnt && !payload) ||
	    !wire_op_valid(h->op) || (h->flags & ~WIRE_F_MASK))
		return -EINVAL;
	len = cmp_iov_total(payload, iovcnt);
	if (len > WIRE_MAX_PAYLOAD)
		return -EMSGSIZE;
	h->len = (uint32_t)len;
	if (c->wire.seal)
		return send_sealed(c, h, payload, iovcnt, len);
	h->csum = wire_csum_prefix(payload, iovcnt, len);
	wire_hdr_encode(h, hdr);
	iov[0].iov_base = hdr;
	iov[0].iov_len = sizeof(hdr);
	if (iovcnt)
		memcpy(&iov[1], payload, (size_t)iovcnt * sizeof(*payload));
	return conn_writev(c, iov, iovcnt + 1);
}

/* ---- receiving ---- */

static int rx_fail(struct conn *c, int err)
{
	c->wire.rx_err = err;
	return err;
}

void wire_set_frame_timeout(struct conn *c, int timeout_ms)
{
	c->wire.frame_ms = timeout_ms > 0 ? timeout_ms : 0;
}

/*
 * Reads the next bytes of the current frame (after its header) by the
 * frame's deadline: the connection's timeout is the time left for this
 * one read (its own value when shorter), then put back.
 */
static int frame_readv(struct conn *c, const struct iovec *iov, int iovcnt)
{
	uint64_t due = c->wire.rx_deadline, now, left;
	int saved, ret;

	if (!due)
		return conn_readv(c, iov, iovcnt);
	now = cmp_now_ns();
	if (now >= due) {
		log_warn_rl("%s: the rest of a frame did not arrive within %d "
			    "ms of its header",
			    conn_peer(c), c->wire.frame_ms);
		conn_shutdown(c);
		return -ETIMEDOUT;
	}
	left = MIN((due - now + 999999) / 1000000, (uint64_t)INT32_MAX);
	saved = conn_get_timeout(c);
	if (saved > 0 && (uint64_t)saved < left)
		return conn_readv(c, iov, iovcnt);
	conn_set_timeout(c, (int)left);
	ret = conn_readv(c, iov, iovcnt);
	conn_set_timeout(c, saved);
	return ret;
}

static int frame_read(struct conn *c, void *buf, size_t len)
{
	struct iovec iov = {.iov_base = buf, .iov_len = len};

	return len ? frame_readv(c, &iov, 1) : 0;
}

/*
 * Reads, verifies and decrypts the next record of the frame into the rx
 * staging buffer. ad: the header for the frame's first record.
 */
static int pull_record(struct conn *c, const uint8_t *ad, size_t adlen)
{
	struct conn_wire *w = &c->wire;
	struct wire_seal *s = w->seal;
	size_t r = MIN(w->rx_len - w->rx_pulled, RECORD);
	int ret;

	ret = frame_read(c, s->rx_buf, r + TAG);
	/* the stream ended inside a frame: truncated */
	if (ret == -ECONNRESET)
		ret = -EBADMSG;
	if (!ret)
		ret = seal_open(&s->rx_key, s->rx_seq++, ad, adlen, s->rx_buf,
				r, s->rx_buf + r);
	if (ret)
		return rx_fail(c, ret);
	w->rx_pulled += (uint32_t)r;
	w->rx_off = 0;
	w->rx_end = (uint32_t)r;
	return 0;
}

static unsigned int get_le(const uint8_t *p, int bytes)
{
	unsigned int v = 0;

	while (bytes--)
		v = (v << 8) | p[bytes];
	return v;
}

static void log_bad_header(struct conn *c, const uint8_t *buf, int err)
{
	if (err == -EPROTONOSUPPORT)
		log_warn_rl(
			"%s: peer speaks wire version %u, this node speaks %u",
			conn_peer(c), buf[4], WIRE_VERSION);
	else
		log_warn_rl(
			"%s: bad frame header (magic %#x, version %u, op %u, "
			"flags %#x, len %u): %s",
			conn_peer(c), get_le(buf, 4), buf[4], buf[5],
			get_le(buf + 6, 2), get_le(buf + 12, 4),
			strerror(-err));
}

static int pull_record_into(struct conn *c, uint8_t *dst, size_t r,
			    const uint8_t *ad, size_t adlen);

/*
 * Sealed: the header is acted on only once its first record verified,
 * in staging or (dst) in place in the reader's private memory.
 */
static int open_first_record(struct conn *c, const struct wire_hdr *h,
			     const uint8_t *hdr, uint8_t *dst)
{
	int ret;

	if (h->csum)
		ret = rx_fail(c, -EBADMSG);
	else if (dst)
		ret = pull_record_into(c, dst, MIN(h->len, RECORD), hdr,
				       WIRE_HDR_SIZE);
	else
		ret = pull_record(c, hdr, WIRE_HDR_SIZE);

	if (ret == -EBADMSG)
		log_warn_rl("%s: sealed %s frame (id %llu, %u bytes) failed "
			    "verification: tampered, replayed, reordered or "
			    "truncated",
			    conn_peer(c), wire_op_name(h->op),
			    (unsigned long long)h->id, h->len);
	return ret;
}

/*
 * The next header, and sealed its first record: into the memory dest()
 * names when it holds the whole record (*in_place then tells how much).
 */
static int recv_hdr(struct conn *c, struct wire_hdr *h, wire_dest_fn dest,
		    void *ctx, size_t *in_place)
{
	struct conn_wire *w = &c->wire;
	const struct iovec *d = NULL;
	uint8_t buf[WIRE_HDR_SIZE];
	size_t first;
	int ret;

	if (in_place)
		*in_place = 0;
	if (w->rx_err)
		return w->rx_err;
	if (w->rx_done != w->rx_len) {
		log_error("%s: %u payload bytes of the previous frame not "
			  "read",
			  conn_peer(c), w->rx_len - w->rx_done);
		return rx_fail(c, -EPROTO);
	}
	ret = conn_read(c, buf, sizeof(buf));
	if (ret)
		return ret;
	ret = wire_hdr_decode(buf, h);
	if (ret) {
		log_bad_header(c, buf, ret);
		return rx_fail(c, ret);
	}
	w->rx_deadline =
		w->frame_ms ? cmp_now_ns() + (uint64_t)w->frame_ms * 1000000u
			    : 0;
	w->rx_len = h->len;
	w->rx_done = 0;
	w->rx_pulled = 0;
	w->rx_off = w->rx_end = 0;
	if (w->seal) {
		first = MIN(h->len, RECORD);
		if (dest && first && !h->csum)
			d = dest(ctx, h);
		if (d && d->iov_len < first)
			d = NULL;
		ret = open_first_record(c, h, buf, d ? d->iov_base : NULL);
		if (!ret && d && in_place)
			*in_place = first;
		return ret;
	}
	w->rx_csum = h->csum;
	/* an empty payload is complete with its header */
	if (!h->len && wire_csum_prefix(NULL, 0, 0) != h->csum)
		return rx_fail(c, -EBADMSG);
	return 0;
}

int wire_recv_hdr(struct conn *c, struct wire_hdr *h)
{
	return recv_hdr(c, h, NULL, NULL, NULL);
}

int wire_recv_hdr_into(struct conn *c, struct wire_hdr *h, wire_dest_fn dest,
		       void *ctx, size_t *in_place)
{
	return recv_hdr(c, h, dest, ctx, in_place);
}

/* Reads exactly len bytes into the front of iov (total >= len). */
static int readv_prefix(struct conn *c, const struct iovec *iov, int iovcnt,
			size_t len)
{
	struct iovec win[RECV_WINDOW];
	size_t rem = len;
	int n = 0;
	int ret;

	/* n whole iovecs, then rem bytes of iov[n] */
	while (n < iovcnt && iov[n].iov_len <= rem)
		rem -= iov[n++].iov_len;
	if (!rem)
		return frame_readv(c, iov, n);
	if (n < RECV_WINDOW) {
		memcpy(win, iov, (size_t)n * sizeof(*iov));
		win[n].iov_base = iov[n].iov_base;
		win[n].iov_len = rem;
		return frame_readv(c, win, n + 1);
	}
	ret = frame_readv(c, iov, n);
	if (ret)
		return ret;
	return frame_read(c, iov[n].iov_base, rem);
}

static int read_plain(struct conn *c, const struct iovec *iov, int iovcnt,
		      size_t len)
{
	struct conn_wire *w = &c->wire;
	bool first = !w->rx_done;
	bool whole = first && len == w->rx_len;
	size_t rem = len;
	int ret;

	ret = readv_prefix(c, iov, iovcnt, len);
	if (ret)
		return rx_fail(c, ret);
	w->rx_done += (uint32_t)len;
	if (whole)
		return wire_csum_prefix(iov, iovcnt, len) == w->rx_csum
			       ? 0
			       : rx_fail(c, -EBADMSG);
	if (first)
		XXH3_64bits_reset(w->xxh);
	for (int i = 0; i < iovcnt && rem; i++) {
		size_t n = MIN(rem, iov[i].iov_len);

		XXH3_64bits_update(w->xxh, iov[i].iov_base, n);
		rem -= n;
	}
	if (w->rx_done == w->rx_len && XXH3_64bits_digest(w->xxh) != w->rx_csum)
		return rx_fail(c, -EBADMSG);
	return 0;
}

/*
 * A private destination (wire_recv_payload_private(), wire_recv_hdr_into())
 * that holds the whole next record: it is read and opened there, with no
 * staging copy. A record that fails leaves zeros, never unverified bytes.
 */
static int pull_record_into(struct conn *c, uint8_t *dst, size_t r,
			    const uint8_t *ad, size_t adlen)
{
	struct conn_wire *w = &c->wire;
	struct wire_seal *s = w->seal;
	uint8_t tag[TAG];
	struct iovec iov[2] = {{dst, r}, {tag, TAG}};
	int ret = frame_readv(c, iov, 2);

	if (ret == -ECONNRESET)
		ret = -EBADMSG;
	if (!ret)
		ret = seal_open(&s->rx_key, s->rx_seq++, ad, adlen, dst, r,
				tag);
	if (ret) {
		memset(dst, 0, r);
		return rx_fail(c, ret);
	}
	w->rx_pulled += (uint32_t)r;
	w->rx_done += (uint32_t)r;
	return 0;
}

static int read_sealed(struct conn *c, const struct iovec *iov, int iovcnt,
		       size_t len, bool private)
{
	struct conn_wire *w = &c->wire;
	const uint8_t *stage = w->seal->rx_buf;
	int ret;

	for (int i = 0; i < iovcnt && len; i++) {
		uint8_t *dst = iov[i].iov_base;
		size_t want = MIN(iov[i].iov_len, len);

		len -= want;
		while (want) {
			size_t n = MIN(w->rx_len - w->rx_pulled, RECORD);

			if (w->rx_off == w->rx_end && private && n &&
			    want >= n) {
				ret = pull_record_into(c, dst, n, NULL, 0);
				if (ret)
					return ret;
				dst += n;
				want -= n;
				continue;
			}
			if (w->rx_off == w->rx_end) {
				ret = pull_record(c, NULL, 0);
				if (ret)
					return ret;
			}
			n = MIN(want, (size_t)(w->rx_end - w->rx_off));
			memcpy(dst, stage + w->rx_off, n);
			w->rx_off += (uint32_t)n;
			w->rx_done += (uint32_t)n;
			dst += n;
			want -= n;
		}
	}
	return 0;
}

/* Reads exactly len next payload bytes into the front of iov. */
static int read_payload(struct conn *c, const struct iovec *iov, int iovcnt,
			size_t len, bool private)
{
	struct conn_wire *w = &c->wire;

	if (w->rx_err)
		return w->rx_err;
	if (len > (size_t)(w->rx_len - w->rx_done))
		return -EMSGSIZE;
	if (!len)
		return 0;
	return w->seal ? read_sealed(c, iov, iovcnt, len, private)
		       : read_plain(c, iov, iovcnt, len);
}

int wire_read(struct conn *c, void *buf, size_t len)
{
	struct iovec iov = {.iov_base = buf, .iov_len = len};

	return read_payload(c, &iov, 1, len, false);
}

int wire_readv(struct conn *c, const struct iovec *iov, int iovcnt)
{
	if (iovcnt < 0 || (iovcnt && !iov))
		return -EINVAL;
	return read_payload(c, iov, iovcnt, cmp_iov_total(iov, iovcnt), false);
}

size_t wire_payload_left(const struct conn *c)
{
	return c->wire.rx_len - c->wire.rx_done;
}

static int recv_rest(struct conn *c, const struct iovec *iov, int iovcnt,
		     bool private)
{
	if (iovcnt < 0 || (iovcnt && !iov))
		return -EINVAL;
	if (cmp_iov_total(iov, iovcnt) < wire_payload_left(c))
		return -EMSGSIZE;
	return read_payload(c, iov, iovcnt, wire_payload_left(c), private);
}

int wire_recv_payload(struct conn *c, const struct wire_hdr *h,
		      const struct iovec *iov, int iovcnt)
{
	(void)h; /* the cursor knows the frame */
	return recv_rest(c, iov, iovcnt, false);
}

int wire_recv_payload_private(struct conn *c, const struct wire_hdr *h,
			      const struct iovec *iov, int iovcnt)
{
	(void)h;
	return recv_rest(c, iov, iovcnt, true);
}

int wire_skip_payload(struct conn *c, const struct wire_hdr *h)
{
	uint8_t buf[SKIP_BUF];
	size_t left;
	int ret;

	(void)h;
	while ((left = wire_payload_left(c))) {
		ret = wire_read(c, buf, MIN(left, sizeof(buf)));
		if (ret)
			return ret;
	}
	return c->wire.rx_err;
}
