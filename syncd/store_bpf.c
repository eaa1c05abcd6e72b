// SPDX-License-Identifier: BSD-2-Clause
/*
 * The engine's store (store.h) on this node's pinned BPF maps.
 *
 * Writes go through the bpf() syscall, which the kprobe capture never sees
 * (DESIGN platform facts) and the fentry capture filters by syncd's tgid,
 * so applying a peer's entry never produces a new outgoing event.
 * Walks use BPF_MAP_LOOKUP_BATCH (the hash map's batch token is a bucket
 * index, kept in cursor->pos); a kernel without batch lookups falls back to
 * BPF_MAP_GET_NEXT_KEY with the last key visited in the cursor.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <bpf/bpf.h>

#include "store_bpf.h"

static struct store_bpf_map *smap(struct store_bpf *s, unsigned int map)
{
	return map < s->n ? &s->maps[map] : NULL;
}

int store_bpf_open(struct store_bpf *s, const char *pin_dir, const char *const *names, size_t n,
		   char *err, size_t errlen)
{
	size_t i;

	memset(s, 0, sizeof(*s));
	if (n > STORE_BPF_MAX_MAPS) {
		snprintf(err, errlen, "too many maps (%zu, at most %d)", n, STORE_BPF_MAX_MAPS);
		return -EINVAL;
	}
	for (i = 0; i < n; i++) {
		struct store_bpf_map *m = &s->maps[i];
		struct bpf_map_info info;
		__u32 len = sizeof(info);
		char path[512];
		int e;

		m->fd = -1;
		snprintf(m->name, sizeof(m->name), "%s", names[i]);
		if ((size_t)snprintf(path, sizeof(path), "%s/%s", pin_dir, names[i]) >=
		    sizeof(path)) {
			snprintf(err, errlen, "map %s: pin path too long", names[i]);
			goto fail_einval;
		}
		m->fd = bpf_obj_get(path);
		if (m->fd < 0) {
			e = errno;
			snprintf(err, errlen, "map %s: cannot open pin %s: %s%s", names[i], path,
				 strerror(e), e == ENOENT ? " (is lbd running on this node?)" : "");
			s->n = i;
			store_bpf_close(s);
			return -e;
		}
		memset(&info, 0, sizeof(info));
		if (bpf_obj_get_info_by_fd(m->fd, &info, &len)) {
			e = errno;
			snprintf(err, errlen, "map %s: cannot read map info: %s", names[i],
				 strerror(e));
			s->n = i + 1;
			store_bpf_close(s);
			return -e;
		}
		if (info.type != BPF_MAP_TYPE_HASH && info.type != BPF_MAP_TYPE_LRU_HASH) {
			snprintf(err, errlen,
				 "map %s: type %u is not a hash map (only "
				 "BPF_MAP_TYPE_HASH and LRU_HASH can be synced)",
				 names[i], info.type);
			s->n = i + 1;
			goto fail_einval;
		}
		if (info.key_size > STORE_BPF_KEY_MAX || info.value_size > STORE_BPF_VALUE_MAX) {
			snprintf(err, errlen,
				 "map %s: key %u / value %u bytes, more than the "
				 "%d / %d syncd can carry",
				 names[i], info.key_size, info.value_size, STORE_BPF_KEY_MAX,
				 STORE_BPF_VALUE_MAX);
			s->n = i + 1;
			goto fail_einval;
		}
		m->id = info.id;
		m->type = info.type;
		m->key_size = info.key_size;
		m->value_size = info.value_size;
		m->max_entries = info.max_entries;
		m->use_batch = 1;
	}
	s->n = n;
	return 0;

fail_einval:
	if (!s->n)
		s->n = i + 1;
	store_bpf_close(s);
	return -EINVAL;
}

void store_bpf_close(struct store_bpf *s)
{
	size_t i;

	for (i = 0; i < s->n; i++) {
		if (s->maps[i].fd >= 0)
			close(s->maps[i].fd);
		s->maps[i].fd = -1;
	}
	free(s->keys);
	free(s->values);
	s->keys = s->values = NULL;
	s->n = 0;
}

static int st_lookup(void *ctx, unsigned int map, const void *key, void *value)
{
	struct store_bpf_map *m = smap(ctx, map);

	if (!m)
		return -EINVAL;
	if (bpf_map_lookup_elem(m->fd, key, value))
		return -errno;
	return 0;
}

static int st_update(void *ctx, unsigned int map, const void *key, const void *value)
{
	struct store_bpf_map *m = smap(ctx, map);

	if (!m)
		return -EINVAL;
	if (bpf_map_update_elem(m->fd, key, value, BPF_ANY))
		return -errno;
	return 0;
}

static int st_remove(void *ctx, unsigned int map, const void *key, void *old_value)
{
	struct store_bpf_map *m = smap(ctx, map);

	if (!m)
		return -EINVAL;
	/* one syscall: what was removed is what the data plane last wrote */
	if (old_value ? bpf_map_lookup_and_delete_elem(m->fd, key, old_value)
		      : bpf_map_delete_elem(m->fd, key))
		return -errno;
	return 0;
}

static int walk_next_key(struct store_bpf_map *m, struct sync_cursor *cur, unsigned int max,
			 sync_walk_fn fn, void *arg, uint8_t *vbuf)
{
	uint8_t next[STORE_BPF_KEY_MAX];
	unsigned int n = 0;

	while (n < max) {
		if (bpf_map_get_next_key(m->fd, cur->started ? cur->key : NULL, next)) {
			if (errno == ENOENT) {
				cur->done = 1;
				break;
			}
			return -errno;
		}
		cur->started = 1;
		memcpy(cur->key, next, m->key_size);
		cur->key_len = m->key_size;
		if (bpf_map_lookup_elem(m->fd, next, vbuf))
			continue; /* deleted meanwhile */
		n++;
		if (fn(arg, next, vbuf))
			break;
	}
	return (int)n;
}

static int st_walk(void *ctx, unsigned int map, struct sync_cursor *cur, unsigned int max,
		   sync_walk_fn fn, void *arg)
{
	struct store_bpf *s = ctx;
	struct store_bpf_map *m = smap(s, map);
	__u32 count, i, out_pos;
	unsigned int n = 0;
	int r;

	if (!m)
		return -EINVAL;
	if (cur->done)
		return 0;
	if (!s->keys) {
		/* calloc: the kernel fills them, and memcheck, which does not
		 * know BPF_MAP_LOOKUP_BATCH, must not think them undefined */
		s->keys = calloc(STORE_BPF_BATCH, STORE_BPF_KEY_MAX);
		s->values = calloc(STORE_BPF_BATCH, STORE_BPF_VALUE_MAX);
		if (!s->keys || !s->values)
			return -ENOMEM;
	}
	if (!m->use_batch)
		return walk_next_key(m, cur, max, fn, arg, s->values);

	while (n < max && !cur->done) {
		DECLARE_LIBBPF_OPTS(bpf_map_batch_opts, opts);
		__u32 in_pos = (__u32)cur->pos;

		/* whole batches: a walk may visit up to STORE_BPF_BATCH - 1
		 * entries more than max */
		count = STORE_BPF_BATCH;
		out_pos = 0;
		r = bpf_map_lookup_batch(m->fd, cur->started ? &in_pos : NULL, &out_pos, s->keys,
					 s->values, &count, &opts);
		if (r && errno != ENOENT) {
			if ((errno == EINVAL || errno == ENOTSUP || errno == EOPNOTSUPP) &&
			    !cur->started) {
				m->use_batch = 0; /* old kernel: key by key */
				return walk_next_key(m, cur, max, fn, arg, s->values);
			}
			return -errno; /* ENOSPC: a bucket of > BATCH entries */
		}
		if (r) /* ENOENT: this was the last batch */
			cur->done = 1;
		cur->started = 1;
		cur->pos = out_pos;
		for (i = 0; i < count; i++) {
			n++;
			if (fn(arg, s->keys + (size_t)i * m->key_size,
			       s->values + (size_t)i * m->value_size)) {
				/* stop requested: the rest of this batch is
				 * skipped, but the cursor has moved past it;
				 * callers stop only when they are done. */
				return (int)n;
			}
		}
	}
	return (int)n;
}

const struct sync_store_ops store_bpf_ops = {
	.lookup = st_lookup,
	.update = st_update,
	.remove = st_remove,
	.walk = st_walk,
};
