// SPDX-License-Identifier: BSD-2-Clause
/*
 * lbd -> syncd hand-over of user-space deletes; see synclink.h.
 *
 * Deletes are queued as they happen and sent once per loop iteration (a
 * libuv check handle), packed into as few datagrams as fit, on a socket
 * connected to syncd's local socket. A full receive queue (EAGAIN) keeps
 * them queued until the socket is writable again; a syncd that is not
 * running (ENOENT, ECONNREFUSED) drops them, counted: the peers' anti-entropy
 * repairs what they miss. The queue is bounded (SYNCLINK_QUEUE_MAX).
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sys/socket.h>
#include <sys/un.h>

#include "clock.h"
#include "codec.h"
#include "dataplane.h"
#include "log.h"
#include "synclink.h"

#define SYNCLINK_QUEUE_MAX	(1u << 20)	/* entries */
#define SYNCLINK_DGRAM_MAX	(60 * 1024)
#define SYNCLINK_PER_DGRAM	256

struct sl_entry {
	struct xlb_flow_key key;
	uint32_t version;
	uint8_t map;		/* 0: sessions, 1: reverse */
};

struct synclink {
	uv_loop_t *loop;
	uv_check_t check;
	uv_poll_t poll;
	int fd;
	bool connected, polling, closing;
	int handles;
	struct sockaddr_un sa;
	uint32_t node_id;
	uint64_t epoch;
	uint64_t seq;
	struct sl_entry *q;
	size_t qn, qcap, qhead;
	uint8_t buf[SYNCLINK_DGRAM_MAX];
	struct synclink_stats st;
	struct xlb_ratelimit rl;
};

static void drop_queue(struct synclink *s, const char *why)
{
	size_t n = s->qn - s->qhead;

	s->st.refused += n;
	log_warn_rl(&s->rl, "sync: %zu deletes not handed to syncd (%s): %s; peers catch up "
		    "by anti-entropy", n, s->sa.sun_path, why);
	s->qn = s->qhead = 0;
}

static void flush(struct synclink *s);

static void on_writable(uv_poll_t *p, int status, int events)
{
	flush(p->data);
}

static void set_polling(struct synclink *s, bool on)
{
	if (on == s->polling || s->closing)
		return;
	s->polling = on;
	if (on)
		uv_poll_start(&s->poll, UV_WRITABLE, on_writable);
	else
		uv_poll_stop(&s->poll);
}

static void flush(struct synclink *s)
{
	struct sync_limits lim = SYNC_LIMITS_DEFAULT;
	struct sync_entry e[SYNCLINK_PER_DGRAM];
	struct sync_hdr h;
	size_t i, n, len;
	int r;

	if (s->qhead == s->qn) {
		set_polling(s, false);
		return;
	}
	if (!s->connected) {
		if (connect(s->fd, (struct sockaddr *)&s->sa, sizeof(s->sa)) < 0) {
			drop_queue(s, strerror(errno));
			return;
		}
		s->connected = true;
	}
	while (s->qhead < s->qn) {
		n = s->qn - s->qhead;
		if (n > SYNCLINK_PER_DGRAM)
			n = SYNCLINK_PER_DGRAM;
		memset(e, 0, sizeof(e[0]) * n);
		for (i = 0; i < n; i++) {
			const struct sl_entry *q = &s->q[s->qhead + i];

			e[i].map = q->map ? XLB_MAP_REVERSE : XLB_MAP_SESSIONS;
			e[i].op = SYNC_OP_DELETE;
			e[i].key = (const uint8_t *)&q->key;
			e[i].key_len = sizeof(q->key);
			e[i].origin = s->node_id;
			e[i].version = q->version;
		}
		memset(&h, 0, sizeof(h));
		h.origin = s->node_id;
		h.epoch = s->epoch;
		h.seq = s->seq + 1;
		h.mono_ns = xlb_mono_ns();
		r = sync_encode_batch(&h, e, n, &lim, s->buf, sizeof(s->buf), &len);
		if (r <= 0) {
			s->st.refused += n;
			s->qhead += n;
			log_warn_rl(&s->rl, "sync: cannot encode deletes for syncd: %s",
				    strerror(r < 0 ? -r : EINVAL));
			continue;
		}
		if (send(s->fd, s->buf, len, MSG_DONTWAIT) < 0) {
			if (errno == EAGAIN || errno == EWOULDBLOCK || errno == ENOBUFS) {
				set_polling(s, true);	/* syncd is busy: later */
				return;
			}
			/* syncd gone: connect again (a datagram socket may)
			 * on the next flush, to the restarted one */
			s->connected = false;
			set_polling(s, false);
			drop_queue(s, strerror(errno));
			return;
		}
		s->seq++;
		s->qhead += (size_t)r;
		s->st.sent++;
		s->st.entries += (uint64_t)r;
	}
	s->qn = s->qhead = 0;
	set_polling(s, false);
}

static void on_check(uv_check_t *c)
{
	struct synclink *s = c->data;

	if (s->qn > s->qhead && !s->polling)
		flush(s);
}

struct synclink *synclink_new(uv_loop_t *loop, const struct lbd_config *cfg)
{
	struct synclink *s;

	if (!cfg->sync.enabled)
		return NULL;
	s = calloc(1, sizeof(*s));
	if (!s)
		return NULL;
	s->loop = loop;
	s->fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
	if (s->fd < 0) {
		free(s);
		return NULL;
	}
	s->sa.sun_family = AF_UNIX;
	memcpy(s->sa.sun_path, cfg->sync.local_socket, strlen(cfg->sync.local_socket) + 1);
	s->node_id = cfg->node_id;
	s->epoch = xlb_mono_ns() | 1;
	s->rl = (struct xlb_ratelimit)XLB_RATELIMIT_INIT(60, 1);
	uv_check_init(loop, &s->check);
	uv_poll_init(loop, &s->poll, s->fd);
	s->check.data = s->poll.data = s;
	s->handles = 2;
	uv_check_start(&s->check, on_check);
	return s;
}

static void on_closed(uv_handle_t *h)
{
	struct synclink *s = h->data;

	if (--s->handles == 0) {
		if (s->fd >= 0)
			close(s->fd);
		free(s->q);
		free(s);
	}
}

void synclink_free(struct synclink *s)
{
	if (!s)
		return;
	if (s->qn > s->qhead)
		flush(s);	/* last chance, without waiting */
	s->closing = true;
	uv_close((uv_handle_t *)&s->check, on_closed);
	uv_close((uv_handle_t *)&s->poll, on_closed);
}

static void enqueue(struct synclink *s, const struct xlb_flow_key *k, uint32_t version,
		    uint8_t map)
{
	struct sl_entry *q;

	if (s->qn >= SYNCLINK_QUEUE_MAX) {
		s->st.refused++;
		log_warn_rl(&s->rl, "sync: delete queue for syncd full (%u entries): delete "
			    "dropped; peers catch up by anti-entropy", SYNCLINK_QUEUE_MAX);
		return;
	}
	if (s->qn == s->qcap) {
		size_t cap = s->qcap ? 2 * s->qcap : 1024;

		q = realloc(s->q, cap * sizeof(*q));
		if (!q) {
			s->st.refused++;
			return;
		}
		s->q = q;
		s->qcap = cap;
	}
	q = &s->q[s->qn++];
	memset(q, 0, sizeof(*q));
	q->key = *k;
	q->version = version;
	q->map = map;
}

void synclink_session_deleted(void *arg, const struct xlb_flow_key *key,
			      const struct xlb_session *sess, const struct xlb_reverse *rev)
{
	struct synclink *s = arg;
	struct xlb_flow_key rk;

	/* the tombstone covers the version deleted */
	enqueue(s, key, sess->version, 0);
	if (rev) {
		dp_reverse_key(key, sess, &rk);
		enqueue(s, &rk, rev->version, 1);
	}
}

void synclink_get_stats(const struct synclink *s, struct synclink_stats *st)
{
	*st = s->st;
}
