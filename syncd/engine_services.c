// SPDX-License-Identifier: BSD-2-Clause
/*
 * Service sets (docs/design.md decision 13; svcset.h). The engine moves
 * them and nothing more: this node's digest rides on every heartbeat; a
 * peer whose announced digest differs from the encoding held for it is
 * asked for its set (SERVICES_REQUEST, at most every SVC_REQ_RETRY_NS),
 * and answers with its encoding cut in SERVICES chunks addressed to the
 * requester. A set is taken only whole and only if its bytes hash to the
 * digest they came with. What differs is the daemon's business
 * (sync_engine_peer_services()).
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "engine_priv.h"

#define SVC_REQ_RETRY_NS   (500ull * 1000 * 1000) /* ask again after */
#define SVC_SERVE_GAP_NS   (200ull * 1000 * 1000) /* answer one peer at most this often */
#define SVC_CHUNK_OVERHEAD 64			  /* chunk fields around the data */

static void asm_reset(struct peer *p)
{
	unsigned int i;

	for (i = 0; i < SYNC_SERVICES_MAX_CHUNKS; i++) {
		free(p->svc_part[i]);
		p->svc_part[i] = NULL;
		p->svc_part_len[i] = 0;
	}
	p->svc_asm_digest = 0;
	p->svc_asm_count = 0;
	p->svc_asm_got = 0;
}

void eng_services_free(struct sync_engine *e)
{
	size_t i;

	for (i = 0; i < e->cfg.n_peers; i++) {
		asm_reset(&e->peers[i]);
		free(e->peers[i].svc_enc);
		e->peers[i].svc_enc = NULL;
	}
	free(e->svc_enc);
	e->svc_enc = NULL;
}

int sync_engine_set_services(struct sync_engine *e, uint64_t digest, const uint8_t *enc, size_t len)
{
	uint8_t *copy = malloc(len ? len : 1);

	if (!copy)
		return -ENOMEM;
	memcpy(copy, enc, len);
	free(e->svc_enc);
	e->svc_enc = copy;
	e->svc_len = len;
	e->svc_digest = digest;
	e->svc_known = true;
	return 0;
}

const uint64_t *eng_services_digest(const struct sync_engine *e)
{
	return e->svc_known ? &e->svc_digest : NULL;
}

static void send_request(struct sync_engine *e, struct peer *p, uint64_t now_ns)
{
	struct sync_hdr h;
	size_t len;

	p->svc_req_ns = now_ns ? now_ns : 1;
	eng_hdr_fill(e, &h, p->node, now_ns);
	if (sync_encode_services_request(&h, p->svc_digest, &e->cfg.lim, e->txbuf,
					 e->cfg.lim.max_msg, &len)) {
		e->st.tx_errors++;
		return;
	}
	if (eng_emit(e, p->node, len) >= 0)
		e->st.services_requests_sent++;
}

/* A heartbeat announced the peer's digest. */
void eng_services_heard(struct sync_engine *e, struct peer *p, const Xlbsync__Heartbeat *hb,
			uint64_t now_ns)
{
	if (!hb->has_services) {
		p->svc_announced = false;
		return;
	}
	p->svc_announced = true;
	p->svc_digest = hb->services;
	if (p->svc_enc && p->svc_have == p->svc_digest)
		return;
	if (p->svc_req_ns && now_ns - p->svc_req_ns < SVC_REQ_RETRY_NS)
		return;
	send_request(e, p, now_ns);
}

void eng_rx_services_request(struct sync_engine *e, struct rx *x)
{
	const Xlbsync__ServicesRequest *sr = x->m->env->services_request;
	size_t room, n, off = 0, len;
	uint32_t i, count;
	struct sync_hdr h;

	/* only ours, and the one we announce: an older digest's request is
	 * answered by the next heartbeat; a replayed request costs little */
	if (!e->svc_known || sr->digest != e->svc_digest)
		return;
	if (x->p->svc_served_ns && x->now_ns - x->p->svc_served_ns < SVC_SERVE_GAP_NS)
		return;
	x->p->svc_served_ns = x->now_ns ? x->now_ns : 1;
	room = eng_msg_budget(e) - SVC_CHUNK_OVERHEAD;
	count = (uint32_t)((e->svc_len + room - 1) / room);
	if (!count)
		count = 1;
	if (count > SYNC_SERVICES_MAX_CHUNKS) {
		e->st.tx_errors++;
		xlb_log_rl(&e->rl, XLB_LOG_WARN,
			   "sync %s: service set of %zu bytes does not fit %d messages: not sent "
			   "to %s",
			   e->cfg.node_name, e->svc_len, SYNC_SERVICES_MAX_CHUNKS, x->p->name);
		return;
	}
	for (i = 0; i < count; i++) {
		n = e->svc_len - off < room ? e->svc_len - off : room;
		eng_hdr_fill(e, &h, x->p->node, x->now_ns);
		if (sync_encode_services_chunk(&h, e->svc_digest, i, count, e->svc_enc + off, n,
					       &e->cfg.lim, e->txbuf, e->cfg.lim.max_msg, &len)) {
			e->st.tx_errors++;
			return;
		}
		if (eng_emit(e, x->p->node, len) < 0)
			return;
		off += n;
	}
	e->st.services_served++;
}

void eng_rx_services_chunk(struct sync_engine *e, struct rx *x)
{
	const Xlbsync__ServicesChunk *sc = x->m->env->services_chunk;
	struct peer *p = x->p;
	uint8_t *all;
	size_t total = 0, off = 0;
	uint32_t i;

	if (!x->m->hdr.dest)
		return; /* always addressed to the requester */
	if (p->svc_asm_digest != sc->digest || p->svc_asm_count != sc->count) {
		asm_reset(p);
		p->svc_asm_digest = sc->digest;
		p->svc_asm_count = sc->count;
	}
	if (p->svc_asm_got & (1ull << sc->index))
		return;
	p->svc_part[sc->index] = malloc(sc->data.len ? sc->data.len : 1);
	if (!p->svc_part[sc->index])
		return;
	memcpy(p->svc_part[sc->index], sc->data.data, sc->data.len);
	p->svc_part_len[sc->index] = sc->data.len;
	p->svc_asm_got |= 1ull << sc->index;
	if (p->svc_asm_got != (sc->count == 64 ? ~0ull : (1ull << sc->count) - 1))
		return;
	for (i = 0; i < sc->count; i++)
		total += p->svc_part_len[i];
	all = malloc(total ? total : 1);
	if (!all) {
		asm_reset(p);
		return;
	}
	for (i = 0; i < sc->count; i++) {
		memcpy(all + off, p->svc_part[i], p->svc_part_len[i]);
		off += p->svc_part_len[i];
	}
	if (XXH3_64bits(all, total) != sc->digest) {
		e->st.services_bad++;
		eng_log_refused(e, p->node, "services", NULL,
				"the service set does not hash to its digest");
		free(all);
		asm_reset(p);
		return;
	}
	free(p->svc_enc);
	p->svc_enc = all;
	p->svc_len = total;
	p->svc_have = sc->digest;
	e->st.services_received++;
	asm_reset(p);
}

void sync_engine_peer_services(const struct sync_engine *e, size_t i, struct sync_peer_services *o)
{
	const struct peer *p = &e->peers[i];

	memset(o, 0, sizeof(*o));
	o->announced = p->svc_announced;
	o->digest = p->svc_digest;
	if (p->svc_enc) {
		o->enc = p->svc_enc;
		o->len = p->svc_len;
		o->enc_digest = p->svc_have;
	}
}
