// SPDX-License-Identifier: BSD-2-Clause
/* The lbd -> syncd frame of capture records; see synclocal.h. */
#include <string.h>

#include "synclocal.h"

#define HDR_SIZE sizeof(struct xlb_synclocal_hdr)
#define REC_SIZE sizeof(struct xlb_sync_event)

_Static_assert(sizeof(struct xlb_synclocal_hdr) == 16,
	       "struct xlb_synclocal_hdr must have no implicit padding");

void xlb_synclocal_put_hdr_lost(uint8_t *buf, size_t n, uint32_t lost)
{
	struct xlb_synclocal_hdr h = {
		.magic = XLB_SYNCLOCAL_MAGIC,
		.version = XLB_SYNCLOCAL_VERSION,
		.count = (uint16_t)n,
		.record_size = REC_SIZE,
		.lost = lost,
	};

	memcpy(buf, &h, sizeof(h));
}

void xlb_synclocal_put_hdr(uint8_t *buf, size_t n)
{
	xlb_synclocal_put_hdr_lost(buf, n, 0);
}

uint32_t xlb_synclocal_lost(const uint8_t *buf)
{
	struct xlb_synclocal_hdr h;

	memcpy(&h, buf, sizeof(h));
	return h.lost;
}

void xlb_synclocal_put_record(uint8_t *buf, size_t i, const struct xlb_sync_event *ev)
{
	memcpy(buf + HDR_SIZE + i * REC_SIZE, ev, REC_SIZE);
}

void xlb_synclocal_get_record(const uint8_t *buf, size_t i, struct xlb_sync_event *ev)
{
	memcpy(ev, buf + HDR_SIZE + i * REC_SIZE, REC_SIZE);
}

static const char *record_check(const struct xlb_sync_event *ev)
{
	if (ev->op != XLB_SYNC_OP_UPDATE && ev->op != XLB_SYNC_OP_DELETE)
		return "record with an unknown op";
	if (ev->source != XLB_SYNC_SRC_LBD)
		return "record not marked as lbd's";
	if (!ev->map_id)
		return "record without a map id";
	if (!ev->key_size || ev->key_size > XLB_SYNC_KEY_MAX)
		return "record key size out of range";
	if (ev->value_size > XLB_SYNC_VALUE_MAX ||
	    (ev->op == XLB_SYNC_OP_UPDATE && !ev->value_size))
		return "record value size out of range";
	if (ev->pad || ev->pad2)
		return "record pad not zero";
	return NULL;
}

const char *xlb_synclocal_check(const uint8_t *buf, size_t len, size_t *n)
{
	struct xlb_synclocal_hdr h;
	struct xlb_sync_event ev;
	const char *why;
	size_t i;

	if (len < HDR_SIZE)
		return "shorter than a frame header";
	memcpy(&h, buf, sizeof(h));
	if (h.magic != XLB_SYNCLOCAL_MAGIC)
		return "bad magic";
	if (h.version != XLB_SYNCLOCAL_VERSION)
		return "unknown frame version";
	if (h.record_size != REC_SIZE)
		return "record size differs from syncd's (lbd of another build?)";
	if ((!h.count && !h.lost) || h.count > XLB_SYNCLOCAL_MAX_RECORDS)
		return "record count out of range";
	if (len != xlb_synclocal_frame_size(h.count))
		return "length differs from the header's record count";
	for (i = 0; i < h.count; i++) {
		xlb_synclocal_get_record(buf, i, &ev);
		why = record_check(&ev);
		if (why)
			return why;
	}
	*n = h.count;
	return NULL;
}
