// SPDX-License-Identifier: BSD-2-Clause
/* Node-to-node transport on a nanomsg bus; see transport.h. */
#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <nanomsg/nn.h>
#include <nanomsg/bus.h>

#include "log.h"
#include "transport.h"

#define RX_PER_WAKEUP	1024	/* messages per readable event, then yield */
#define SOCK_BUF	(4 << 20)

struct qmsg {
	struct qmsg *next;
	size_t len;
	uint8_t data[];
};

struct transport {
	int sock;
	uv_poll_t rx_poll, tx_poll;
	int rx_fd, tx_fd;
	bool tx_polling;
	int closing;		/* pollers still to be closed */
	transport_rx_fn rx;
	void *arg;
	size_t queue_max;
	struct qmsg *qhead, **qtail;
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
			if (nn_errno() != EAGAIN && nn_errno() != EINTR) {
				t->st.rx_errors++;
				log_warn_rl(&t->rl, "transport: receive failed: %s",
					    nn_strerror(nn_errno()));
			}
			break;
		}
		t->st.rx_msgs++;
		t->st.rx_bytes += (uint64_t)n;
		t->rx(t->arg, msg, (size_t)n);
		nn_freemsg(msg);
	}
}

static void flush_queue(struct transport *t);

static void on_tx(uv_poll_t *p, int status, int events)
{
	flush_queue(p->data);
}

static void tx_poll(struct transport *t, bool on)
{
	if (on == t->tx_polling)
		return;
	t->tx_polling = on;
	if (on)
		uv_poll_start(&t->tx_poll, UV_READABLE, on_tx);
	else
		uv_poll_stop(&t->tx_poll);
}

static void flush_queue(struct transport *t)
{
	while (t->qhead) {
		struct qmsg *q = t->qhead;

		if (nn_send(t->sock, q->data, q->len, NN_DONTWAIT) < 0) {
			if (nn_errno() == EAGAIN)
				break;
			t->st.tx_dropped++;
			log_warn_rl(&t->rl, "transport: send failed: %s",
				    nn_strerror(nn_errno()));
		} else {
			t->st.tx_msgs++;
			t->st.tx_bytes += q->len;
		}
		t->qhead = q->next;
		if (!t->qhead)
			t->qtail = &t->qhead;
		t->st.queue_bytes -= q->len;
		free(q);
	}
	tx_poll(t, t->qhead != NULL);
}

int transport_send(struct transport *t, const uint8_t *buf, size_t len)
{
	struct qmsg *q;

	if (!t->qhead) {
		if (nn_send(t->sock, buf, len, NN_DONTWAIT) >= 0) {
			t->st.tx_msgs++;
			t->st.tx_bytes += len;
			return 0;
		}
		if (nn_errno() != EAGAIN) {
			t->st.tx_dropped++;
			log_warn_rl(&t->rl, "transport: send failed: %s",
				    nn_strerror(nn_errno()));
			return -nn_errno();
		}
	}
	if (t->st.queue_bytes + len > t->queue_max) {
		t->st.tx_dropped++;
		log_warn_rl(&t->rl, "transport: send queue full (%zu bytes): message dropped, "
			    "peers will resync", t->st.queue_bytes);
		return -ENOBUFS;
	}
	q = malloc(sizeof(*q) + len);
	if (!q) {
		t->st.tx_dropped++;
		return -ENOBUFS;
	}
	q->next = NULL;
	q->len = len;
	memcpy(q->data, buf, len);
	*t->qtail = q;
	t->qtail = &q->next;
	t->st.queue_bytes += len;
	t->st.tx_queued++;
	tx_poll(t, true);
	return 0;
}

struct transport *transport_open(uv_loop_t *loop, const char *listen,
				 const char *const *connect, size_t n_connect,
				 size_t max_msg, size_t queue_max, transport_rx_fn rx, void *arg,
				 char *err, size_t errlen)
{
	struct transport *t = calloc(1, sizeof(*t));
	int buf = SOCK_BUF, maxsz = (int)max_msg + 1024;
	size_t sz = sizeof(int), i;
	char ep[160];

	if (!t) {
		snprintf(err, errlen, "out of memory");
		return NULL;
	}
	t->rx = rx;
	t->arg = arg;
	t->queue_max = queue_max;
	t->qtail = &t->qhead;
	t->rl = (struct xlb_ratelimit)XLB_RATELIMIT_INIT(10, 5);
	t->sock = nn_socket(AF_SP, NN_BUS);
	if (t->sock < 0) {
		snprintf(err, errlen, "nanomsg bus socket: %s", nn_strerror(nn_errno()));
		free(t);
		return NULL;
	}
	nn_setsockopt(t->sock, NN_SOL_SOCKET, NN_SNDBUF, &buf, sizeof(buf));
	nn_setsockopt(t->sock, NN_SOL_SOCKET, NN_RCVBUF, &buf, sizeof(buf));
	nn_setsockopt(t->sock, NN_SOL_SOCKET, NN_RCVMAXSIZE, &maxsz, sizeof(maxsz));
	buf = 100;	/* ms: a restarted peer is found again quickly */
	nn_setsockopt(t->sock, NN_SOL_SOCKET, NN_RECONNECT_IVL, &buf, sizeof(buf));
	buf = 1000;
	nn_setsockopt(t->sock, NN_SOL_SOCKET, NN_RECONNECT_IVL_MAX, &buf, sizeof(buf));
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
	if (nn_getsockopt(t->sock, NN_SOL_SOCKET, NN_RCVFD, &t->rx_fd, &sz) < 0 ||
	    nn_getsockopt(t->sock, NN_SOL_SOCKET, NN_SNDFD, &t->tx_fd, &sz) < 0) {
		snprintf(err, errlen, "nanomsg: cannot get the socket's descriptors: %s",
			 nn_strerror(nn_errno()));
		goto fail;
	}
	if (uv_poll_init(loop, &t->rx_poll, t->rx_fd) ||
	    uv_poll_init(loop, &t->tx_poll, t->tx_fd)) {
		snprintf(err, errlen, "libuv: cannot poll the nanomsg descriptors");
		goto fail;
	}
	t->rx_poll.data = t->tx_poll.data = t;
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
	struct transport *t = h->data;

	if (--t->closing == 0)
		free(t);
}

void transport_close(struct transport *t)
{
	struct qmsg *q;

	if (!t)
		return;
	/* last chance for queued messages, without waiting */
	flush_queue(t);
	while ((q = t->qhead)) {
		t->qhead = q->next;
		free(q);
	}
	t->closing = 2;
	uv_close((uv_handle_t *)&t->rx_poll, on_closed);
	uv_close((uv_handle_t *)&t->tx_poll, on_closed);
	nn_close(t->sock);
}
