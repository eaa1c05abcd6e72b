/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * lbd -> syncd on one node (sync.local_socket, a Unix datagram socket).
 *
 * The deletes lbd makes from user space (session ageing) are invisible to
 * the map-change capture, so lbd hands them to its syncd itself, as the
 * very record the capture produces (struct xlb_sync_event, bpf/xdplb.h:
 * op, kernel map id, key, and the value of the entry as lbd read it before
 * deleting it), with source XLB_SYNC_SRC_LBD. syncd feeds them into the
 * path its capture ring buffer feeds, so they are replicated exactly like
 * captured changes; the wire protocol between nodes is syncd's business
 * alone.
 *
 * One datagram is one frame, in host byte order (both ends run on the same
 * machine, from the same build):
 *
 *   struct xlb_synclocal_hdr   magic, version, count, record_size
 *   struct xlb_sync_event      x count, back to back
 *
 * syncd takes a frame only whole and only if it is exactly as long as its
 * header says, with this magic, version and record size, and every record
 * is well formed (xlb_synclocal_check()); anything else is dropped whole.
 *
 * Losses: deletes lbd could not hand over (its queue full, syncd not
 * running) are counted, and the count travels in the header's lost field
 * of the next frame that goes through; a frame of no records carries only
 * that. syncd then repairs its peers at once (an anti-entropy round, as
 * for a capture loss) instead of at the next periodic round.
 */
#ifndef XLB_SYNCLOCAL_H
#define XLB_SYNCLOCAL_H

#include <stddef.h>
#include <stdint.h>

#include "xdplb.h"

#define XLB_SYNCLOCAL_MAGIC   0x786c6273u /* "xlbs" */
#define XLB_SYNCLOCAL_VERSION 1
/* Records per frame: 16 + 128 x 344 bytes, a 43 KiB datagram, well within
 * the default socket buffers. */
#define XLB_SYNCLOCAL_MAX_RECORDS 128

struct xlb_synclocal_hdr {
	uint32_t magic;	      /* XLB_SYNCLOCAL_MAGIC */
	uint16_t version;     /* XLB_SYNCLOCAL_VERSION */
	uint16_t count;	      /* records that follow, 0..XLB_SYNCLOCAL_MAX_RECORDS */
	uint32_t record_size; /* sizeof(struct xlb_sync_event) of the sender */
	uint32_t lost;	      /* deletes not handed over since the last frame
			       * (count 0: this alone, and then not 0) */
};

#define XLB_SYNCLOCAL_FRAME_MAX                                                                    \
	(sizeof(struct xlb_synclocal_hdr) +                                                        \
	 XLB_SYNCLOCAL_MAX_RECORDS * sizeof(struct xlb_sync_event))

/* Bytes of a frame of n records. */
static inline size_t xlb_synclocal_frame_size(size_t n)
{
	return sizeof(struct xlb_synclocal_hdr) + n * sizeof(struct xlb_sync_event);
}

/*
 * Writes the header of a frame of n (1..XLB_SYNCLOCAL_MAX_RECORDS) records
 * and record ev as record i into buf (XLB_SYNCLOCAL_FRAME_MAX bytes, no
 * alignment needed).
 */
void xlb_synclocal_put_hdr(uint8_t *buf, size_t n);
/* The same with the lost count (above). */
void xlb_synclocal_put_hdr_lost(uint8_t *buf, size_t n, uint32_t lost);
/* The lost count of a frame xlb_synclocal_check() accepted. */
uint32_t xlb_synclocal_lost(const uint8_t *buf);
void xlb_synclocal_put_record(uint8_t *buf, size_t i, const struct xlb_sync_event *ev);

/*
 * Checks the frame buf[0..len) (len: the datagram's real length, even if
 * it was longer than the buffer). Returns NULL and the record count in *n,
 * or a short static reason: not a frame of this version and build, a
 * length that is not exactly the header's, or a record whose op, source,
 * sizes or pads are not those a sender writes.
 */
const char *xlb_synclocal_check(const uint8_t *buf, size_t len, size_t *n);
/* Record i of a checked frame, copied out (buf need not be aligned). */
void xlb_synclocal_get_record(const uint8_t *buf, size_t i, struct xlb_sync_event *ev);

#endif /* XLB_SYNCLOCAL_H */
