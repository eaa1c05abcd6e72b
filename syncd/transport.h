/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * Node-to-node transport: one nanomsg NN_BUS socket over TCP, on the libuv
 * loop through its NN_RCVFD descriptor (no thread, no busy polling). Every
 * node binds its listen endpoint and connects to the peers with a higher
 * node id, so each pair of nodes shares exactly one connection (a bus does
 * not relay, so nothing arrives twice); nanomsg reconnects by itself when a
 * peer restarts.
 *
 * nanomsg frames messages, so one send is one protobuf envelope. A bus
 * socket never holds a send back: nn_send() hands the message to every
 * peer connection that has room and skips the others (a peer whose buffer
 * is full, or that is reconnecting, just misses it), so there is nothing
 * to queue here: the sync protocol repairs what a peer missed (resync,
 * snapshot). A send fails only for an error of the socket itself; that is
 * counted (tx_dropped).
 */
#ifndef SYNCD_TRANSPORT_H
#define SYNCD_TRANSPORT_H

#include <stddef.h>
#include <stdint.h>
#include <uv.h>

typedef void (*transport_rx_fn)(void *arg, const uint8_t *buf, size_t len);

struct transport_stats {
	uint64_t tx_dropped; /* sends the socket refused */
};

struct transport;

/*
 * listen: "[tcp://]a.b.c.d:port"; connect: the endpoints to connect to.
 * rx gets every message received. Returns NULL with one line in err.
 */
struct transport *transport_open(uv_loop_t *loop, const char *listen, const char *const *connect,
				 size_t n_connect, size_t max_msg, transport_rx_fn rx, void *arg,
				 char *err, size_t errlen);
/* 0 (handed to the peers that have room) or -errno (dropped, counted). */
int transport_send(struct transport *t, const uint8_t *buf, size_t len);
/* The same for the beacon thread (beacon.c): safe beside the loop's
 * sends, nothing counted or logged (the loop owns those). */
int transport_send_beacon(struct transport *t, const uint8_t *buf, size_t len);
void transport_get_stats(const struct transport *t, struct transport_stats *st);
/* Stops polling; the memory is released once libuv has closed the poller. */
void transport_close(struct transport *t);

#endif /* SYNCD_TRANSPORT_H */
