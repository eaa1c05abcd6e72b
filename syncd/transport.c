// SPDX-License-Identifier: BSD-2-Clause
/* Node-to-node transport on nanomsg pipelines; see transport.h. */
#include <errno.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <pthread.h>
#include <string.h>

#include <nanomsg/nn.h>
#include <nanomsg/pipeline.h>

#include "log.h"
#include "transport.h"

#define RX_PER_WAKEUP	     1024      /* messages per readable event, then yield */
#define SOCK_BUF	     (4 << 20) /* send and receive buffers, bytes */
#define RCV_MAX_SLACK	     1024      /* receive limit above max_msg, bytes */
#define RECONNECT_IVL_MS     100       /* a restarted peer is found again quickly */
#define RECONNECT_IVL_MAX_MS 250       /* ... and a joining one soon */
#define LOG_RL_SECONDS	     10	       /* send/receive error logs: */
#define LOG_RL_LINES	     5	       /* at most 5 lines per 10 s */

struct tpeer {
	uint32_t node;
	int sock;		  /* NN_PUSH, connected to the peer */
	_Atomic uint64_t dropped; /* messages it missed */
	char endpoint[160];
};

struct transport {
	int sock; /* NN_PULL, bound on the listen endpoint */
	/* the beacon thread sends too (transport_send_beacon()) */
	pthread_mutex_t tx_lock;
	uv_poll_t rx_poll;
	int rx_fd;
	transport_rx_fn rx;
	void *arg;
	size_t n_peers;
	struct tpeer *peers;
	struct xlb_ratelimit rl;
};

static void endpoint(char *out, size_t len, const char *ep)
{
	if (!strncmp(ep, "tcp://", 6))
		snprintf(out, len, "%s", ep);
	else
		snprintf(out, len, "tcp://%s", ep);
}

static void on_rx(uv_poll_t *p, int status, int events)
{
	struct transport *t = p->data;
	int i;

	for (i = 0; i < RX_PER_WAKEUP; i++) {
		void *msg = NULL;
		int n = nn_recv(t->sock, &msg, NN_MSG, NN_DONTWAIT);

		if (n < 0) {
			if (nn_errno() != EAGAIN && nn_errno() != EINTR)
				log_warn_rl(&t->rl, "transport: receive failed: %s",
					    nn_strerror(nn_errno()));
			break;
		}
		t->rx(t->arg, msg, (size_t)n);
		nn_freemsg(msg);
	}
}

/* One peer, under tx_lock. 0 or -errno; a miss is counted. */
static int send_one(struct tpeer *tp, const uint8_t *buf, size_t len)
{
	if (nn_send(tp->sock, buf, len, NN_DONTWAIT) >= 0)
		return 0;
	atomic_fetch_add_explicit(&tp->dropped, 1, memory_order_relaxed);
	return -nn_errno();
}

static void log_miss(struct transport *t, const struct tpeer *tp, int err)
{
	log_warn_rl(&t->rl, "transport: peer node %u (%s) missed a message: %s", tp->node,
		    tp->endpoint,
		    err == -EAGAIN ? "not connected, or its buffer is full" : nn_strerror(-err));
}

int transport_send(struct transport *t, const uint8_t *buf, size_t len)
{
	int rc = 0, r;
	size_t i;

	for (i = 0; i < t->n_peers; i++) {
		pthread_mutex_lock(&t->tx_lock);
		r = send_one(&t->peers[i], buf, len);
		pthread_mutex_unlock(&t->tx_lock);
		if (r) {
			log_miss(t, &t->peers[i], r);
			rc = r;
		}
	}
	return rc;
}

int transport_send_to(struct transport *t, uint32_t node, const uint8_t *buf, size_t len)
{
	size_t i;
	int r;

	for (i = 0; i < t->n_peers; i++) {
		if (t->peers[i].node != node)
			continue;
		pthread_mutex_lock(&t->tx_lock);
		r = send_one(&t->peers[i], buf, len);
		pthread_mutex_unlock(&t->tx_lock);
		if (r)
			log_miss(t, &t->peers[i], r);
		return r;
	}
	return -ENOENT;
}

int transport_send_beacon(struct transport *t, const uint8_t *buf, size_t len)
{
	int rc = 0, r;
	size_t i;

	pthread_mutex_lock(&t->tx_lock);
	for (i = 0; i < t->n_peers; i++) {
		r = send_one(&t->peers[i], buf, len);
		if (r)
			rc = r;
	}
	pthread_mutex_unlock(&t->tx_lock);
	return rc;
}

static void close_all(struct transport *t)
{
	size_t i;

	for (i = 0; i < t->n_peers; i++)
		if (t->peers[i].sock >= 0)
			nn_close(t->peers[i].sock);
	if (t->sock >= 0)
		nn_close(t->sock);
}

struct transport *transport_open(uv_loop_t *loop, const char *listen,
				 const struct transport_peer *peers, size_t n_peers, size_t max_msg,
				 transport_rx_fn rx, void *arg, char *err, size_t errlen)
{
	struct transport *t = calloc(1, sizeof(*t));
	int buf = SOCK_BUF, maxsz = (int)max_msg + RCV_MAX_SLACK;
	int ivl = RECONNECT_IVL_MS, ivl_max = RECONNECT_IVL_MAX_MS;
	size_t sz = sizeof(int), i;
	char ep[160];

	if (!t || !(t->peers = calloc(n_peers ? n_peers : 1, sizeof(*t->peers)))) {
		free(t);
		snprintf(err, errlen, "out of memory");
		return NULL;
	}
	pthread_mutex_init(&t->tx_lock, NULL);
	t->rx = rx;
	t->arg = arg;
	t->rl = (struct xlb_ratelimit)XLB_RATELIMIT_INIT(LOG_RL_SECONDS, LOG_RL_LINES);
	t->n_peers = n_peers;
	for (i = 0; i < n_peers; i++)
		t->peers[i].sock = -1;
	t->sock = nn_socket(AF_SP, NN_PULL);
	if (t->sock < 0) {
		snprintf(err, errlen, "nanomsg pull socket: %s", nn_strerror(nn_errno()));
		goto fail;
	}
	nn_setsockopt(t->sock, NN_SOL_SOCKET, NN_RCVBUF, &buf, sizeof(buf));
	nn_setsockopt(t->sock, NN_SOL_SOCKET, NN_RCVMAXSIZE, &maxsz, sizeof(maxsz));
	endpoint(ep, sizeof(ep), listen);
	if (nn_bind(t->sock, ep) < 0) {
		snprintf(err, errlen, "sync.listen %s: cannot listen: %s", ep,
			 nn_strerror(nn_errno()));
		goto fail;
	}
	for (i = 0; i < n_peers; i++) {
		struct tpeer *tp = &t->peers[i];

		tp->node = peers[i].node;
		endpoint(tp->endpoint, sizeof(tp->endpoint), peers[i].endpoint);
		tp->sock = nn_socket(AF_SP, NN_PUSH);
		if (tp->sock < 0) {
			snprintf(err, errlen, "nanomsg push socket: %s", nn_strerror(nn_errno()));
			goto fail;
		}
		nn_setsockopt(tp->sock, NN_SOL_SOCKET, NN_SNDBUF, &buf, sizeof(buf));
		nn_setsockopt(tp->sock, NN_SOL_SOCKET, NN_RECONNECT_IVL, &ivl, sizeof(ivl));
		nn_setsockopt(tp->sock, NN_SOL_SOCKET, NN_RECONNECT_IVL_MAX, &ivl_max,
			      sizeof(ivl_max));
		if (nn_connect(tp->sock, tp->endpoint) < 0) {
			snprintf(err, errlen, "peer %s: cannot connect: %s", tp->endpoint,
				 nn_strerror(nn_errno()));
			goto fail;
		}
	}
	if (nn_getsockopt(t->sock, NN_SOL_SOCKET, NN_RCVFD, &t->rx_fd, &sz) < 0) {
		snprintf(err, errlen, "nanomsg: cannot get the socket's descriptor: %s",
			 nn_strerror(nn_errno()));
		goto fail;
	}
	if (uv_poll_init(loop, &t->rx_poll, t->rx_fd)) {
		snprintf(err, errlen, "libuv: cannot poll the nanomsg descriptor");
		goto fail;
	}
	t->rx_poll.data = t;
	uv_poll_start(&t->rx_poll, UV_READABLE, on_rx);
	return t;
fail:
	close_all(t);
	free(t->peers);
	free(t);
	return NULL;
}

void transport_get_stats(const struct transport *t, struct transport_stats *st)
{
	size_t i;

	memset(st, 0, sizeof(*st));
	for (i = 0; i < t->n_peers; i++)
		st->tx_dropped += atomic_load_explicit(&t->peers[i].dropped, memory_order_relaxed);
}

uint64_t transport_peer_dropped(const struct transport *t, uint32_t node)
{
	size_t i;

	for (i = 0; i < t->n_peers; i++)
		if (t->peers[i].node == node)
			return atomic_load_explicit(&t->peers[i].dropped, memory_order_relaxed);
	return 0;
}

static void on_closed(uv_handle_t *h)
{
	struct transport *t = h->data;

	free(t->peers);
	free(t);
}

void transport_close(struct transport *t)
{
	if (!t)
		return;
	uv_close((uv_handle_t *)&t->rx_poll, on_closed);
	close_all(t);
}
