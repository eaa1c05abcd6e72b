// SPDX-License-Identifier: BSD-2-Clause
/* lbd -> syncd hand-over of user-space deletes; see synclink.h. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <sys/socket.h>
#include <sys/un.h>

#include "codec.h"
#include "dataplane.h"
#include "log.h"
#include "synclink.h"

struct synclink {
	int fd;
	struct sockaddr_un sa;
	uint32_t node_id;
	uint64_t epoch;
	uint64_t seq;
	struct synclink_stats st;
	struct xlb_ratelimit rl;
};

struct synclink *synclink_new(const struct lbd_config *cfg)
{
	struct synclink *s;
	struct timespec ts;

	if (!cfg->sync.enabled)
		return NULL;
	s = calloc(1, sizeof(*s));
	if (!s)
		return NULL;
	s->fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
	if (s->fd < 0) {
		free(s);
		return NULL;
	}
	s->sa.sun_family = AF_UNIX;
	memcpy(s->sa.sun_path, cfg->sync.local_socket, strlen(cfg->sync.local_socket) + 1);
	s->node_id = cfg->node_id;
	clock_gettime(CLOCK_REALTIME, &ts);
	s->epoch = (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
	s->rl = (struct xlb_ratelimit)XLB_RATELIMIT_INIT(60, 1);
	return s;
}

void synclink_free(struct synclink *s)
{
	if (!s)
		return;
	close(s->fd);
	free(s);
}

void synclink_session_deleted(void *arg, const struct xlb_flow_key *key,
			      const struct xlb_session *sess, const struct xlb_reverse *rev)
{
	struct synclink *s = arg;
	struct sync_limits lim = SYNC_LIMITS_DEFAULT;
	struct sync_entry e[2];
	struct xlb_flow_key rk;
	struct sync_hdr h;
	struct timespec ts;
	uint8_t buf[1024];
	size_t len, n = 1;
	int r;

	memset(e, 0, sizeof(e));
	e[0].map = XLB_MAP_SESSIONS;
	e[0].op = SYNC_OP_DELETE;
	e[0].key = (const uint8_t *)key;
	e[0].key_len = sizeof(*key);
	e[0].origin = s->node_id;
	e[0].version = sess->version;	/* the tombstone covers what we deleted */
	if (rev) {
		dp_reverse_key(key, sess, &rk);
		e[1].map = XLB_MAP_REVERSE;
		e[1].op = SYNC_OP_DELETE;
		e[1].key = (const uint8_t *)&rk;
		e[1].key_len = sizeof(rk);
		e[1].origin = s->node_id;
		e[1].version = rev->version;
		n = 2;
	}
	clock_gettime(CLOCK_MONOTONIC, &ts);
	memset(&h, 0, sizeof(h));
	h.origin = s->node_id;
	h.epoch = s->epoch;
	h.seq = ++s->seq;
	h.mono_ns = (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
	r = sync_encode_batch(&h, e, n, &lim, buf, sizeof(buf), &len);
	if (r != (int)n) {
		s->st.refused++;
		log_warn_rl(&s->rl, "sync: cannot encode a delete for syncd: %s",
			    r < 0 ? strerror(-r) : "partial batch");
		return;
	}
	if (sendto(s->fd, buf, len, 0, (struct sockaddr *)&s->sa, sizeof(s->sa)) < 0) {
		s->st.refused++;
		log_warn_rl(&s->rl, "sync: syncd's local socket %s refused a delete: %s "
			    "(is syncd running? peers catch up by anti-entropy)",
			    s->sa.sun_path, strerror(errno));
		return;
	}
	s->st.sent++;
	s->st.entries += n;
}

void synclink_get_stats(const struct synclink *s, struct synclink_stats *st)
{
	*st = s->st;
}
