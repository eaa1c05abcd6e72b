// SPDX-License-Identifier: BSD-2-Clause
/* Replay protection of sealed messages (replay.h). */
#include <string.h>

#include "replay.h"

#define BIT(c) ((c) % SYNC_REPLAY_WINDOW)

static bool test_bit(const struct sync_replay *r, uint64_t c)
{
	return r->bits[BIT(c) / 64] >> (BIT(c) % 64) & 1;
}

static void set_bit(struct sync_replay *r, uint64_t c)
{
	r->bits[BIT(c) / 64] |= 1ull << (BIT(c) % 64);
}

static void clear_bit(struct sync_replay *r, uint64_t c)
{
	r->bits[BIT(c) / 64] &= ~(1ull << (BIT(c) % 64));
}

enum sync_replay_verdict sync_replay_check(struct sync_replay *r, uint64_t epoch,
					   const uint8_t *salt, uint64_t counter)
{
	uint64_t c;

	if (!r->set || epoch > r->epoch) {
		/* first frame heard, or a new incarnation: a new window */
		memset(r, 0, sizeof(*r));
		r->set = true;
		r->epoch = epoch;
		memcpy(r->salt, salt, SYNC_REPLAY_SALT_LEN);
		r->top = counter;
		set_bit(r, counter);
		return SYNC_REPLAY_OK;
	}
	if (memcmp(r->salt, salt, SYNC_REPLAY_SALT_LEN))
		return SYNC_REPLAY_OTHER_SALT;
	if (counter > r->top) {
		if (counter - r->top >= SYNC_REPLAY_WINDOW) {
			memset(r->bits, 0, sizeof(r->bits));
		} else {
			for (c = r->top + 1; c < counter; c++)
				clear_bit(r, c);
		}
		r->top = counter;
		set_bit(r, counter);
		return SYNC_REPLAY_OK;
	}
	if (r->top - counter >= SYNC_REPLAY_WINDOW)
		return SYNC_REPLAY_TOO_OLD;
	if (test_bit(r, counter))
		return SYNC_REPLAY_SEEN;
	set_bit(r, counter);
	return SYNC_REPLAY_OK;
}

const char *sync_replay_str(enum sync_replay_verdict v)
{
	switch (v) {
	case SYNC_REPLAY_OK:
		return "fresh";
	case SYNC_REPLAY_SEEN:
		return "a replay (its counter was accepted already)";
	case SYNC_REPLAY_TOO_OLD:
		return "older than the replay window (cannot be told from a replay)";
	case SYNC_REPLAY_OTHER_SALT:
		return "sealed with a second salt for the same incarnation";
	}
	return "?";
}
