// SPDX-License-Identifier: BSD-2-Clause
/*
 * The engine's store (store.h) on this node's pinned BPF maps.
 *
 * Writes go through the bpf() syscall, which the kprobe capture never sees
 * (docs/design.md section 6, platform facts) and the fentry capture filters by syncd's tgid,
 * so applying a peer's entry never produces a new outgoing event.
 * Walks use BPF_MAP_LOOKUP_BATCH (the hash map's batch token is a bucket
 * index, kept in cursor->pos); a kernel without batch lookups falls back to
 * BPF_MAP_GET_NEXT_KEY with the last key visited in the cursor.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include <bpf/bpf.h>

#include "store_bpf.h"
#include "storeio.skel.h"

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
		m->lookup_fd = m->write_fd = -1;
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

static int io_run(int prog_fd, uint32_t n);

static size_t io_bytes(void)
{
	size_t pg = (size_t)sysconf(_SC_PAGESIZE);

	return (sizeof(struct xlb_storeio_slot) * XLB_STOREIO_SLOTS + pg - 1) / pg * pg;
}

int store_bpf_batch_init(struct store_bpf *s, unsigned int map, uint32_t ver_off, uint32_t ver_size,
			 bool programs, char *err, size_t errlen)
{
	struct store_bpf_map *m = smap(s, map);
	struct storeio *k;
	void *io;
	int r;

	if (!m)
		return -EINVAL;
	if (ver_size > sizeof(uint64_t) || ver_off + ver_size > m->value_size) {
		snprintf(err, errlen, "map %s: version field at %u (%u bytes) outside the value",
			 m->name, ver_off, ver_size);
		return -EINVAL;
	}
	m->ver_off = ver_off;
	m->ver_size = ver_size;
	if (!programs)
		return 0;
	k = storeio__open();
	if (!k) {
		r = -errno;
		snprintf(err, errlen, "map %s: cannot open the batch programs: %s", m->name,
			 strerror(-r));
		return r;
	}
	k->rodata->value_size = m->value_size;
	k->rodata->ver_off = ver_off;
	k->rodata->ver_size = ver_size;
	r = bpf_map__reuse_fd(k->maps.target, m->fd);
	if (!r)
		r = storeio__load(k);
	if (r) {
		snprintf(err, errlen, "map %s: the kernel refused the batch programs: %s", m->name,
			 strerror(-r));
		storeio__destroy(k);
		return r;
	}
	io = mmap(NULL, io_bytes(), PROT_READ | PROT_WRITE, MAP_SHARED, bpf_map__fd(k->maps.io), 0);
	if (io == MAP_FAILED) {
		r = -errno;
		snprintf(err, errlen, "map %s: cannot map the batch slots: %s", m->name,
			 strerror(-r));
		storeio__destroy(k);
		return r;
	}
	m->io_skel = k;
	m->io = io;
	m->lookup_fd = bpf_program__fd(k->progs.lookup_many);
	m->write_fd = bpf_program__fd(k->progs.write_many);
	/* one run over every slot: each reports its kernel address */
	memset(io, 0, sizeof(struct xlb_storeio_slot) * XLB_STOREIO_SLOTS);
	r = io_run(m->lookup_fd, XLB_STOREIO_SLOTS);
	if (r || !m->io[0].self ||
	    m->io[XLB_STOREIO_SLOTS - 1].self !=
		    m->io[0].self + (XLB_STOREIO_SLOTS - 1) * sizeof(struct xlb_storeio_slot)) {
		snprintf(err, errlen, "map %s: the batch slots did not report their addresses",
			 m->name);
		munmap(m->io, io_bytes());
		m->io = NULL;
		m->io_skel = NULL;
		storeio__destroy(k);
		return r ? r : -EIO;
	}
	return 0;
}

void store_bpf_self_range(const struct store_bpf *s, unsigned int map, uint64_t *lo, uint64_t *hi)
{
	const struct store_bpf_map *m = map < s->n ? &s->maps[map] : NULL;

	*lo = *hi = 0;
	if (!m || !m->io)
		return;
	*lo = m->io[0].self;
	*hi = m->io[XLB_STOREIO_SLOTS - 1].self + sizeof(struct xlb_storeio_slot);
}

void store_bpf_close(struct store_bpf *s)
{
	size_t i;

	for (i = 0; i < s->n; i++) {
		struct store_bpf_map *m = &s->maps[i];

		if (m->io)
			munmap(m->io, io_bytes());
		m->io = NULL;
		storeio__destroy(m->io_skel);
		m->io_skel = NULL;
		if (m->fd >= 0)
			close(m->fd);
		m->fd = -1;
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

/* One run of a storeio program over the first n slots. */
static int io_run(int prog_fd, uint32_t n)
{
	struct xlb_storeio_args a = { .n = n };
	DECLARE_LIBBPF_OPTS(bpf_test_run_opts, opts, .ctx_in = &a, .ctx_size_in = sizeof(a));

	if (bpf_prog_test_run_opts(prog_fd, &opts))
		return -errno;
	return opts.retval ? -EIO : 0;
}

static int st_lookup_many(void *ctx, unsigned int map, struct sync_store_io *io, size_t n)
{
	struct store_bpf_map *m = smap(ctx, map);
	size_t i, done, c;
	int r;

	if (!m)
		return -EINVAL;
	if (!m->io) {
		for (i = 0; i < n; i++) {
			r = st_lookup(ctx, map, io[i].key, io[i].value);
			if (r && r != -ENOENT)
				return r;
			io[i].found = r == 0;
		}
		return 0;
	}
	for (done = 0; done < n; done += c) {
		c = n - done < XLB_STOREIO_SLOTS ? n - done : XLB_STOREIO_SLOTS;
		for (i = 0; i < c; i++)
			memcpy(m->io[i].key, io[done + i].key, m->key_size);
		r = io_run(m->lookup_fd, (uint32_t)c);
		if (r)
			return r;
		for (i = 0; i < c; i++) {
			io[done + i].found = m->io[i].found;
			if (m->io[i].found)
				memcpy(io[done + i].value, m->io[i].value, m->value_size);
		}
	}
	return 0;
}

/* The same compare-and-set, key by key (no batch programs): the window
 * is two system calls wide instead of nanoseconds. */
static void write_one(void *ctx, unsigned int map, struct sync_store_io *io, uint32_t ver_off,
		      uint32_t ver_size)
{
	uint8_t cur[STORE_BPF_VALUE_MAX];
	uint64_t v = 0;
	int r;

	r = st_lookup(ctx, map, io->key, cur);
	if (r && r != -ENOENT) {
		io->result = r;
		return;
	}
	if (!r && ver_size)
		memcpy(&v, cur + ver_off, ver_size);
	if ((r == 0) != io->found || (!r && ver_size && v != io->version)) {
		io->result = -EAGAIN;
		return;
	}
	io->result = io->op == SYNC_STORE_WRITE ? st_update(ctx, map, io->key, io->value)
						: st_remove(ctx, map, io->key, io->value);
}

static int st_write_many(void *ctx, unsigned int map, struct sync_store_io *io, size_t n)
{
	struct store_bpf_map *m = smap(ctx, map);
	size_t i, done, c;
	int r;

	if (!m)
		return -EINVAL;
	if (!m->io) {
		for (i = 0; i < n; i++)
			write_one(ctx, map, &io[i], m->ver_off, m->ver_size);
		return 0;
	}
	for (done = 0; done < n; done += c) {
		c = n - done < XLB_STOREIO_SLOTS ? n - done : XLB_STOREIO_SLOTS;
		for (i = 0; i < c; i++) {
			const struct sync_store_io *q = &io[done + i];
			struct xlb_storeio_slot *sl = &m->io[i];

			sl->op = q->op == SYNC_STORE_WRITE ? XLB_STOREIO_WRITE : XLB_STOREIO_REMOVE;
			sl->found = q->found;
			sl->version = q->version;
			memcpy(sl->key, q->key, m->key_size);
			if (q->op == SYNC_STORE_WRITE)
				memcpy(sl->value, q->value, m->value_size);
		}
		r = io_run(m->write_fd, (uint32_t)c);
		for (i = 0; i < c; i++) {
			struct sync_store_io *q = &io[done + i];

			/* a failed run made none of this chunk's writes */
			q->result = r ? r : m->io[i].result;
			if (q->op == SYNC_STORE_REMOVE && !q->result && q->value)
				memcpy(q->value, m->io[i].value, m->value_size);
		}
	}
	return 0;
}

const struct sync_store_ops store_bpf_ops = {
	.lookup = st_lookup,
	.update = st_update,
	.remove = st_remove,
	.walk = st_walk,
	.lookup_many = st_lookup_many,
	.write_many = st_write_many,
};
