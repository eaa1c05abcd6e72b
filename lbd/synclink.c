// SPDX-License-Identifier: BSD-2-Clause
/*
 * lbd -> syncd hand-over of user-space deletes; see synclink.h.
 *
 * Deletes are queued as they happen and sent once per loop iteration (a
 * libuv check handle), packed into as few frames (lib/synclocal.h) as they
 * need, on a socket connected to syncd's local socket. A full receive
 * queue (EAGAIN) keeps them queued until the socket is writable again; a
 * syncd that is not running (ENOENT, ECONNREFUSED) drops them, logged: the
 * peers' anti-entropy repairs what they miss. The queue is bounded
 * (SYNCLINK_QUEUE_MAX). Every delete dropped is counted, and the count goes
 * to syncd in the next frame that gets through (lib/synclocal.h), so that
 * syncd repairs its peers at once rather than at its next periodic round.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sys/socket.h>
#include <sys/un.h>

#include <bpf/bpf.h>

#include "clock.h"
#include "log.h"
#include "synclink.h"
#include "synclocal.h"

#define SYNCLINK_QUEUE_MAX  (1u << 20) /* entries */
#define SYNCLINK_QUEUE_MIN  1024       /* entries allocated at first */
#define SYNCLINK_RL_SECONDS 60	       /* drop warnings: one a minute */

enum sl_map { SL_SESSIONS, SL_REVERSE, SL_MAPS };

/* A delete waiting to be sent: what its record needs, smaller than the
 * record itself (whose key and value have room for any watched map). */
struct sl_entry {
	uint64_t ts_ns; /* CLOCK_MONOTONIC when lbd deleted it */
	struct xlb_flow_key key;
	union {
		struct xlb_session sess;
		struct xlb_reverse rev;
	} v;	     /* the value deleted, as lbd read it */
	uint8_t map; /* enum sl_map */
};

struct synclink {
	uv_loop_t *loop;
	uv_check_t check;
	uv_poll_t poll;
	int fd;
	bool connected, polling, closing;
	int handles;
	struct sockaddr_un sa;
	uint32_t map_id[SL_MAPS]; /* kernel ids of sessions and reverse */
	struct sl_entry *q;
	size_t qn, qcap, qhead;
	uint64_t lost; /* deletes dropped, not told to syncd yet */
	uint8_t buf[XLB_SYNCLOCAL_FRAME_MAX];
	struct xlb_ratelimit rl;
};

static void drop_queue(struct synclink *s, const char *why)
{
	size_t n = s->qn - s->qhead;

	if (!n)
		return; /* only a loss count to tell: kept for later */
	log_warn_rl(&s->rl,
		    "sync: %zu deletes not handed to syncd (%s): %s; peers catch up "
		    "by anti-entropy",
		    n, s->sa.sun_path, why);
	s->lost += n;
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

/* The capture record of queued delete q. */
static void record_of(const struct synclink *s, const struct sl_entry *q, struct xlb_sync_event *ev)
{
	size_t vlen = q->map == SL_SESSIONS ? sizeof(q->v.sess) : sizeof(q->v.rev);

	memset(ev, 0, sizeof(*ev));
	ev->ts_ns = q->ts_ns;
	ev->map_id = s->map_id[q->map];
	ev->op = XLB_SYNC_OP_DELETE;
	ev->source = XLB_SYNC_SRC_LBD;
	ev->key_size = sizeof(q->key);
	ev->value_size = (uint16_t)vlen;
	memcpy(ev->key, &q->key, sizeof(q->key));
	memcpy(ev->value, &q->v, vlen);
}

static void flush(struct synclink *s)
{
	struct xlb_sync_event ev;
	size_t i, n;

	if (s->qhead == s->qn && !s->lost) {
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
	while (s->qhead < s->qn || s->lost) {
		uint32_t lost = s->lost > UINT32_MAX ? UINT32_MAX : (uint32_t)s->lost;

		n = s->qn - s->qhead;
		if (n > XLB_SYNCLOCAL_MAX_RECORDS)
			n = XLB_SYNCLOCAL_MAX_RECORDS;
		xlb_synclocal_put_hdr_lost(s->buf, n, lost);
		for (i = 0; i < n; i++) {
			record_of(s, &s->q[s->qhead + i], &ev);
			xlb_synclocal_put_record(s->buf, i, &ev);
		}
		if (send(s->fd, s->buf, xlb_synclocal_frame_size(n), MSG_DONTWAIT) < 0) {
			if (errno == EAGAIN || errno == EWOULDBLOCK || errno == ENOBUFS) {
				set_polling(s, true); /* syncd is busy: later */
				return;
			}
			/* syncd gone: connect again (a datagram socket may)
			 * on the next flush, to the restarted one */
			s->connected = false;
			set_polling(s, false);
			drop_queue(s, strerror(errno));
			return;
		}
		s->qhead += n;
		s->lost -= lost;
	}
	s->qn = s->qhead = 0;
	set_polling(s, false);
}

static void on_check(uv_check_t *c)
{
	struct synclink *s = c->data;

	if ((s->qn > s->qhead || s->lost) && !s->polling)
		flush(s);
}

static int map_id(int fd, uint32_t *id)
{
	struct bpf_map_info info;
	uint32_t len = sizeof(info);

	memset(&info, 0, sizeof(info));
	if (bpf_obj_get_info_by_fd(fd, &info, &len) < 0)
		return -errno;
	*id = info.id;
	return 0;
}

struct synclink *synclink_new(uv_loop_t *loop, const struct node_config *cfg,
			      const struct dataplane *dp)
{
	struct synclink *s;
	int r;

	if (!cfg->sync.enabled)
		return NULL;
	s = calloc(1, sizeof(*s));
	if (!s) {
		log_err("sync: out of memory: deletes will not be handed to syncd");
		return NULL;
	}
	if ((r = map_id(dp->fd_sessions, &s->map_id[SL_SESSIONS])) < 0 ||
	    (r = map_id(dp->fd_reverse, &s->map_id[SL_REVERSE])) < 0) {
		log_err("sync: cannot read the session maps' ids: %s: deletes will not be "
			"handed to syncd",
			strerror(-r));
		free(s);
		return NULL;
	}
	s->loop = loop;
	s->fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
	if (s->fd < 0) {
		log_err("sync: socket: %s: deletes will not be handed to syncd", strerror(errno));
		free(s);
		return NULL;
	}
	s->sa.sun_family = AF_UNIX;
	memcpy(s->sa.sun_path, cfg->sync.local_socket, strlen(cfg->sync.local_socket) + 1);
	s->rl = (struct xlb_ratelimit)XLB_RATELIMIT_INIT(SYNCLINK_RL_SECONDS, 1);
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
		flush(s); /* last chance, without waiting */
	s->closing = true;
	uv_close((uv_handle_t *)&s->check, on_closed);
	uv_close((uv_handle_t *)&s->poll, on_closed);
}

static struct sl_entry *enqueue(struct synclink *s)
{
	struct sl_entry *q;

	if (s->qn >= SYNCLINK_QUEUE_MAX) {
		s->lost++;
		log_warn_rl(&s->rl,
			    "sync: delete queue for syncd full (%u entries): delete "
			    "dropped; peers catch up by anti-entropy",
			    SYNCLINK_QUEUE_MAX);
		return NULL;
	}
	if (s->qn == s->qcap) {
		size_t cap = s->qcap ? 2 * s->qcap : SYNCLINK_QUEUE_MIN;

		q = realloc(s->q, cap * sizeof(*q));
		if (!q)
			return NULL;
		s->q = q;
		s->qcap = cap;
	}
	q = &s->q[s->qn++];
	memset(q, 0, sizeof(*q));
	q->ts_ns = xlb_mono_ns();
	return q;
}

void synclink_session_deleted(void *arg, const struct xlb_flow_key *key,
			      const struct xlb_session *sess, const struct xlb_reverse *rev)
{
	struct synclink *s = arg;
	struct sl_entry *q;

	/* the record carries the value deleted: its version is the
	 * tombstone's, so the delete beats exactly that write and older */
	q = enqueue(s);
	if (q) {
		q->map = SL_SESSIONS;
		q->key = *key;
		q->v.sess = *sess;
	}
	if (rev && (q = enqueue(s))) {
		q->map = SL_REVERSE;
		dp_reverse_key(key, sess, &q->key);
		q->v.rev = *rev;
	}
}
