// SPDX-License-Identifier: BSD-2-Clause
/* Node-to-node transport on a nanomsg bus; see transport.h. */
#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <pthread.h>
#include <string.h>

#include <nanomsg/nn.h>
#include <nanomsg/bus.h>

#include "log.h"
#include "transport.h"

#define RX_PER_WAKEUP 1024	/* messages per readable event, then yield */
#define SOCK_BUF      (4 << 20) /* send and receive buffers, bytes */
#define RCV_MAX_SLACK 1024	/* receive limit above max_msg, bytes */
/*
 * Reconnection every 100 ms, no back-off (NN_RECONNECT_IVL_MAX 0): a
 * restarted peer is connected within 100 ms of listening again, and what
 * the live stream sends before that comes with its snapshot walk, seconds
 * late (docs/design.md section 3); a dead peer costs one connection attempt
 * per 100 ms. With a back-off to 1 s a peer down for 2 s waited up to a
 * second.
 */
#define RECONNECT_IVL_MS     100
#define RECONNECT_IVL_MAX_MS 0
#define LOG_RL_SECONDS	     10 /* send/receive error logs: */
#define LOG_RL_LINES	     5	/* at most 5 lines per 10 s */

struct transport {
	int sock;
	/* the beacon thread sends too (transport_send_beacon()) */
	pthread_mutex_t tx_lock;
	uv_poll_t rx_poll;
	int rx_fd;
	transport_rx_fn rx;
	void *arg;
	struct transport_stats st;
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

int transport_send(struct transport *t, const uint8_t *buf, size_t len)
{
	int n;

	pthread_mutex_lock(&t->tx_lock);
	n = nn_send(t->sock, buf, len, NN_DONTWAIT);
	pthread_mutex_unlock(&t->tx_lock);
	if (n >= 0)
		return 0;
	t->st.tx_dropped++;
	log_warn_rl(&t->rl, "transport: send failed: %s", nn_strerror(nn_errno()));
	return -nn_errno();
}

int transport_send_beacon(struct transport *t, const uint8_t *buf, size_t len)
{
	int n;

	pthread_mutex_lock(&t->tx_lock);
	n = nn_send(t->sock, buf, len, NN_DONTWAIT);
	pthread_mutex_unlock(&t->tx_lock);
	return n >= 0 ? 0 : -nn_errno();
}

struct transport *transport_open(uv_loop_t *loop, const char *listen, const char *const *connect,
				 size_t n_connect, size_t max_msg, transport_rx_fn rx, void *arg,
				 char *err, size_t errlen)
{
	struct transport *t = calloc(1, sizeof(*t));
	int buf = SOCK_BUF, maxsz = (int)max_msg + RCV_MAX_SLACK;
	int ivl = RECONNECT_IVL_MS, ivl_max = RECONNECT_IVL_MAX_MS;
	size_t sz = sizeof(int), i;
	char ep[160];

	if (!t) {
		snprintf(err, errlen, "out of memory");
		return NULL;
	}
	pthread_mutex_init(&t->tx_lock, NULL);
	t->rx = rx;
	t->arg = arg;
	t->rl = (struct xlb_ratelimit)XLB_RATELIMIT_INIT(LOG_RL_SECONDS, LOG_RL_LINES);
	t->sock = nn_socket(AF_SP, NN_BUS);
	if (t->sock < 0) {
		snprintf(err, errlen, "nanomsg bus socket: %s", nn_strerror(nn_errno()));
		free(t);
		return NULL;
	}
	nn_setsockopt(t->sock, NN_SOL_SOCKET, NN_SNDBUF, &buf, sizeof(buf));
	nn_setsockopt(t->sock, NN_SOL_SOCKET, NN_RCVBUF, &buf, sizeof(buf));
	nn_setsockopt(t->sock, NN_SOL_SOCKET, NN_RCVMAXSIZE, &maxsz, sizeof(maxsz));
	nn_setsockopt(t->sock, NN_SOL_SOCKET, NN_RECONNECT_IVL, &ivl, sizeof(ivl));
	nn_setsockopt(t->sock, NN_SOL_SOCKET, NN_RECONNECT_IVL_MAX, &ivl_max, sizeof(ivl_max));
	endpoint(ep, sizeof(ep), listen);
	if (nn_bind(t->sock, ep) < 0) {
		snprintf(err, errlen, "sync.listen %s: cannot listen: %s", ep,
			 nn_strerror(nn_errno()));
		goto fail;
	}
	for (i = 0; i < n_connect; i++) {
		endpoint(ep, sizeof(ep), connect[i]);
		if (nn_connect(t->sock, ep) < 0) {
			snprintf(err, errlen, "peer %s: cannot connect: %s", ep,
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
	nn_close(t->sock);
	free(t);
	return NULL;
}

void transport_get_stats(const struct transport *t, struct transport_stats *st)
{
	*st = t->st;
}

static void on_closed(uv_handle_t *h)
{
	free(h->data);
}

void transport_close(struct transport *t)
{
	if (!t)
		return;
	uv_close((uv_handle_t *)&t->rx_poll, on_closed);
	nn_close(t->sock);
}
