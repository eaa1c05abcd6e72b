/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * Node-to-node transport: one nanomsg NN_BUS socket over TCP, on the libuv
 * loop through its NN_RCVFD / NN_SNDFD descriptors (no thread, no busy
 * polling). Every node binds its listen endpoint and connects to the peers
 * with a higher node id, so each pair of nodes shares exactly one
 * connection (a bus does not relay, so nothing arrives twice); nanomsg
 * reconnects by itself when a peer restarts.
 *
 * nanomsg frames messages, so one send is one protobuf envelope. A send
 * that finds the socket's buffer full is queued (bounded in bytes) and
 * retried when NN_SNDFD says there is room; beyond the bound it is dropped
 * and counted: the sync protocol repairs losses (resync, snapshot).
 */
#ifndef SYNCD_TRANSPORT_H
#define SYNCD_TRANSPORT_H

#include <stddef.h>
#include <stdint.h>
#include <uv.h>

typedef void (*transport_rx_fn)(void *arg, const uint8_t *buf, size_t len);

struct transport_stats {
	uint64_t tx_msgs, tx_bytes, tx_queued, tx_dropped;
	uint64_t rx_msgs, rx_bytes, rx_errors;
	size_t queue_bytes;
};

struct transport;

/*
 * listen: "[tcp://]a.b.c.d:port"; connect: the endpoints to connect to.
 * Returns NULL with one line in err.
 */
struct transport *transport_open(uv_loop_t *loop, const char *listen,
				 const char *const *connect, size_t n_connect,
				 size_t max_msg, size_t queue_max, transport_rx_fn rx, void *arg,
				 char *err, size_t errlen);
/* 0 (sent or queued) or -ENOBUFS (dropped: queue full). */
int transport_send(struct transport *t, const uint8_t *buf, size_t len);
void transport_get_stats(const struct transport *t, struct transport_stats *st);
/* Stops polling; the memory is released once libuv has closed the pollers. */
void transport_close(struct transport *t);

#endif /* SYNCD_TRANSPORT_H */
