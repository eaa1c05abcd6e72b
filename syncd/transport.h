/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * Node-to-node transport: nanomsg pipelines over TCP, on the libuv loop
 * through the NN_RCVFD descriptor (no thread, no busy polling). Every node
 * binds one NN_PULL socket on its listen endpoint, which receives from all
 * peers, and holds one NN_PUSH socket per peer, connected to that peer's
 * endpoint: a message meant for one peer (a snapshot chunk, a resync, an
 * acknowledgement) goes to that peer alone, and one for all is sent on
 * each peer's socket. nanomsg frames messages, so one send is one protobuf
 * envelope, and reconnects by itself when a peer restarts.
 *
 * A send never waits: a peer whose connection is down or whose buffer is
 * full misses the message, and that is counted per peer (tx_dropped); the
 * sync protocol repairs what a peer missed (resync, snapshot, flow
 * control). Messages on one connection are never reordered.
 */
#ifndef SYNCD_TRANSPORT_H
#define SYNCD_TRANSPORT_H

#include <stddef.h>
#include <stdint.h>
#include <uv.h>

typedef void (*transport_rx_fn)(void *arg, const uint8_t *buf, size_t len);

struct transport_stats {
	uint64_t tx_dropped; /* messages a peer missed, all peers together */
};

struct transport_peer {
	uint32_t node;
	const char *endpoint; /* "[tcp://]a.b.c.d:port" */
};

struct transport;

/*
 * listen: "[tcp://]a.b.c.d:port"; peers: every peer, connected to. rx gets
 * every message received. Returns NULL with one line in err.
 */
struct transport *transport_open(uv_loop_t *loop, const char *listen,
				 const struct transport_peer *peers, size_t n_peers, size_t max_msg,
				 transport_rx_fn rx, void *arg, char *err, size_t errlen);
/* To every peer: 0 if each took it, else -EAGAIN (the misses counted). */
int transport_send(struct transport *t, const uint8_t *buf, size_t len);
/* To one peer (by node id): 0, or -errno (counted). */
int transport_send_to(struct transport *t, uint32_t node, const uint8_t *buf, size_t len);
/* The same as transport_send() for the beacon thread (beacon.c): safe
 * beside the loop's sends, nothing logged (the misses are counted). */
int transport_send_beacon(struct transport *t, const uint8_t *buf, size_t len);
void transport_get_stats(const struct transport *t, struct transport_stats *st);
/* Messages peer node missed (0 for an unknown node). */
uint64_t transport_peer_dropped(const struct transport *t, uint32_t node);
/* Stops polling; the memory is released once libuv has closed the poller. */
void transport_close(struct transport *t);

#endif /* SYNCD_TRANSPORT_H */
