// SPDX-License-Identifier: BSD-2-Clause
/*
 * syncd map-change capture: kprobe, fentry or inline (see capture.h).
 *
 * Each mode is a small table of operations (open, lost, close); whatever
 * the mode, the records come out of one BPF ring buffer in the same layout
 * (struct xlb_sync_event), so polling is one code path.
 */
#include <errno.h>
#include <limits.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <bpf/bpf.h>
#include <bpf/btf.h>
#include <bpf/libbpf.h>

#include "capture.h"
#include "mapsync.skel.h"

struct capture_ops;

struct sync_capture {
	enum sync_capture_mode mode;
	const struct capture_ops *ops;
	struct ring_buffer *rb;
	sync_capture_cb cb; /* set for the duration of a poll */
	void *cb_arg;
	int ncpus;
	uint8_t source; /* enum xlb_sync_source of this mode's records */

	/* kprobe / fentry */
	struct mapsync *skel;
	struct bpf_link *links[12];
	size_t n_links;
	uint64_t cap_base[XLB_CAP_STAT_MAX]; /* cap_stats when opened */
	uint64_t misses_base;		     /* fentry: programs' recursion misses */

	/* the data plane's pinned maps (inline; kprobe/fentry when found) */
	int events_fd;
	int ctl_fd;
	int stats_fd;
	uint64_t lost_base; /* SYNC_LOST when we turned inline on */

	/*
	 * The write count check: the data plane counts its lifecycle writes of
	 * sessions and reverse (XLB_STAT_SYNC_WRITES); this capture owes one
	 * record per write. dp_maps are the kernel ids of those two maps
	 * (watched ones only; the check is off when neither is watched).
	 */
	uint32_t dp_maps[2];
	bool write_check;
	uint64_t writes_base; /* SYNC_WRITES when opened */
	uint64_t writes_prev; /* SYNC_WRITES at the previous check */
	uint64_t dp_records;  /* records received for dp_maps */
	uint64_t unseen;      /* writes with neither a record nor a count */

	struct sync_capture_loss loss; /* malformed counted here, the rest
					 * filled by sync_capture_get_loss */
	uint64_t fault_seen, fault_dropped;
};

/* Test-only fault injection (sync_capture_set_fault), applied at open. */
static struct sync_capture_fault fault;

void sync_capture_set_fault(const struct sync_capture_fault *f)
{
	fault = *f;
}

/*
 * A capture mode: open (attach, turn on), the losses it counts on its own
 * side, close. The ring buffer, the record checks and the write count
 * check are common to every mode.
 */
struct capture_ops {
	int (*open)(struct sync_capture *c, const char *pin_dir,
		    const struct sync_capture_map *maps, size_t n, char *err, size_t errlen);
	void (*loss)(const struct sync_capture *c, struct sync_capture_loss *l);
	void (*close)(struct sync_capture *c);
};

static const char *const mode_names[] = {
	[SYNC_CAPTURE_AUTO] = "auto",
	[SYNC_CAPTURE_KPROBE] = "kprobe",
	[SYNC_CAPTURE_FENTRY] = "fentry",
	[SYNC_CAPTURE_INLINE] = "inline",
};

const char *sync_capture_mode_str(enum sync_capture_mode m)
{
	if ((unsigned int)m >= sizeof(mode_names) / sizeof(mode_names[0]))
		return "?";
	return mode_names[m];
}

int sync_capture_mode_parse(const char *s, enum sync_capture_mode *m)
{
	unsigned int i;

	for (i = 0; i < sizeof(mode_names) / sizeof(mode_names[0]); i++) {
		if (s && !strcmp(s, mode_names[i])) {
			*m = (enum sync_capture_mode)i;
			return 0;
		}
	}
	return -EINVAL;
}

static void seterr(char *err, size_t errlen, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

static void seterr(char *err, size_t errlen, const char *fmt, ...)
{
	va_list ap;

	if (!err || !errlen)
		return;
	va_start(ap, fmt);
	vsnprintf(err, errlen, fmt, ap);
	va_end(ap);
}

/* ---- checks common to every mode ---------------------------------------- */

static int check_maps(const struct sync_capture_map *maps, size_t n, char *err, size_t errlen)
{
	size_t i;

	if (!n) {
		seterr(err, errlen, "no map to watch");
		return -EINVAL;
	}
	for (i = 0; i < n; i++) {
		const struct sync_capture_map *m = &maps[i];
		const char *name = m->name ? m->name : "(unnamed)";

		if (!m->id) {
			seterr(err, errlen, "map %s: no kernel map id", name);
			return -EINVAL;
		}
		if (!m->key_size || m->key_size > XLB_SYNC_KEY_MAX) {
			seterr(err, errlen,
			       "map %s: key of %u bytes does not fit the capture record "
			       "(1..%d bytes)",
			       name, m->key_size, XLB_SYNC_KEY_MAX);
			return -E2BIG;
		}
		if (!m->value_size || m->value_size > XLB_SYNC_VALUE_MAX) {
			seterr(err, errlen,
			       "map %s: value of %u bytes does not fit the capture record "
			       "(1..%d bytes)",
			       name, m->value_size, XLB_SYNC_VALUE_MAX);
			return -E2BIG;
		}
	}
	return 0;
}

/* ---- ring buffer ---------------------------------------------------------- */

static int on_record(void *ctx, void *data, size_t size)
{
	struct sync_capture *c = ctx;
	const struct xlb_sync_event *rec = data;
	struct xlb_sync_event full, *ev = &full;

	/* A short or oversized record would be a build mismatch between the
	 * BPF side and syncd: a record lost, counted as such. */
	if (size < XLB_SYNC_REC_HDR || rec->key_size > XLB_SYNC_KEY_MAX ||
	    rec->value_size > XLB_SYNC_VALUE_MAX ||
	    size < (size_t)XLB_SYNC_REC_SIZE(rec->key_size, rec->value_size)) {
		c->loss.malformed++;
		return 0;
	}
	/* compact (xdplb.h): header, key, value back to back */
	memcpy(ev, rec, XLB_SYNC_REC_HDR);
	memcpy(ev->key, rec->key, rec->key_size);
	memcpy(ev->value, rec->key + rec->key_size, rec->value_size);
	/* a record lost without a trace, as a skipped probe loses it */
	if (fault.drop_every && ++c->fault_seen % fault.drop_every == 0) {
		c->fault_dropped++;
		return 0;
	}
	if (ev->source == c->source && ev->map_id &&
	    (ev->map_id == c->dp_maps[0] || ev->map_id == c->dp_maps[1]))
		c->dp_records++;
	if (c->cb)
		c->cb(c->cb_arg, ev);
	return 0;
}

static int open_ringbuf(struct sync_capture *c, int fd, char *err, size_t errlen)
{
	c->rb = ring_buffer__new(fd, on_record, c, NULL);
	if (!c->rb) {
		int e = errno ? errno : EINVAL;

		seterr(err, errlen, "cannot map the capture ring buffer: %s", strerror(e));
		return -e;
	}
	return 0;
}

/* ---- kprobe / fentry ------------------------------------------------------- */

struct hook {
	const char *func; /* kernel function */
	bool lru;	  /* LRU variant: needed only for LRU maps */
};

/* Order matches the program arrays below. */
static const struct hook hooks[4] = {
	{ "htab_map_update_elem", false },
	{ "htab_map_delete_elem", false },
	{ "htab_lru_map_update_elem", true },
	{ "htab_lru_map_delete_elem", true },
};

static void probe_progs(struct mapsync *s, struct bpf_program *kp[4], struct bpf_program *kr[4],
			struct bpf_program *fx[4])
{
	kp[0] = s->progs.kp_update;
	kr[0] = s->progs.kr_update;
	kp[1] = s->progs.kp_delete;
	kr[1] = s->progs.kr_delete;
	kp[2] = s->progs.kp_lru_update;
	kr[2] = s->progs.kr_lru_update;
	kp[3] = s->progs.kp_lru_delete;
	kr[3] = s->progs.kr_lru_delete;
	fx[0] = s->progs.fx_update;
	fx[1] = s->progs.fx_delete;
	fx[2] = s->progs.fx_lru_update;
	fx[3] = s->progs.fx_lru_delete;
}

/*
 * The watched maps must be hash or LRU hash maps (the only ones whose
 * writes go through the instrumented functions) with the sizes given.
 * *need_lru is set when one of them is an LRU hash.
 */
static int check_map_types(const struct sync_capture_map *maps, size_t n, bool *need_lru, char *err,
			   size_t errlen)
{
	size_t i;

	*need_lru = false;
	for (i = 0; i < n; i++) {
		const struct sync_capture_map *m = &maps[i];
		const char *name = m->name ? m->name : "(unnamed)";
		struct bpf_map_info info;
		__u32 len = sizeof(info);
		int fd, r;

		fd = bpf_map_get_fd_by_id(m->id);
		if (fd < 0) {
			int e = errno;

			seterr(err, errlen, "map %s: cannot open map id %u: %s", name, m->id,
			       strerror(e));
			return -e;
		}
		memset(&info, 0, sizeof(info));
		r = bpf_obj_get_info_by_fd(fd, &info, &len);
		r = r < 0 ? -errno : 0;
		close(fd);
		if (r < 0) {
			seterr(err, errlen, "map %s: cannot query map id %u: %s", name, m->id,
			       strerror(-r));
			return r;
		}
		if (info.type == BPF_MAP_TYPE_LRU_HASH) {
			*need_lru = true;
		} else if (info.type != BPF_MAP_TYPE_HASH) {
			seterr(err, errlen,
			       "map %s (id %u) is of type %s: only hash and LRU hash maps "
			       "can be captured",
			       name, m->id,
			       libbpf_bpf_map_type_str(info.type)
				       ? libbpf_bpf_map_type_str(info.type)
				       : "?");
			return -EOPNOTSUPP;
		}
		if (info.key_size != m->key_size || info.value_size != m->value_size) {
			seterr(err, errlen, "map %s (id %u) has key/value sizes %u/%u, not %u/%u",
			       name, m->id, info.key_size, info.value_size, m->key_size,
			       m->value_size);
			return -EINVAL;
		}
	}
	return 0;
}

/* Does the running kernel's BTF describe function @name (fexit target)? */
static bool kernel_has_func(struct btf *vmlinux, const char *name)
{
	return vmlinux && btf__find_by_name_kind(vmlinux, name, BTF_KIND_FUNC) > 0;
}

static int add_link(struct sync_capture *c, struct bpf_program *p, const char *what,
		    const char *func, char *err, size_t errlen)
{
	struct bpf_link *l = bpf_program__attach(p);

	if (!l) {
		int e = errno ? errno : EINVAL;

		seterr(err, errlen, "cannot attach %s to %s: %s%s", what, func, strerror(e),
		       e == ENOENT && strstr(what, "kprobe") ? " (kernel without CONFIG_KPROBES, "
							       "or the function is not probeable)"
		       : e == EPERM || e == EACCES
			       ? " (tracing locked down, or missing CAP_BPF/CAP_PERFMON)"
			       : "");
		return -e;
	}
	c->links[c->n_links++] = l;
	return 0;
}

static int open_probes(struct sync_capture *c, enum sync_capture_mode mode,
		       const struct sync_capture_map *maps, size_t n, char *err, size_t errlen)
{
	struct bpf_program *kp[4], *kr[4], *fx[4];
	const char *what = mode == SYNC_CAPTURE_KPROBE ? "kprobe" : "fexit";
	struct btf *vmlinux = NULL;
	bool need_lru, lru_ok[4] = { true, true, true, true };
	size_t i;
	int r;

	r = check_map_types(maps, n, &need_lru, err, errlen);
	if (r < 0)
		return r;

	c->skel = mapsync__open();
	if (!c->skel) {
		r = -(errno ? errno : EINVAL);
		seterr(err, errlen, "cannot open the mapsync BPF object: %s", strerror(-r));
		return r;
	}
	probe_progs(c->skel, kp, kr, fx);
	for (i = 0; i < 4; i++) {
		bpf_program__set_autoload(kp[i], mode == SYNC_CAPTURE_KPROBE);
		bpf_program__set_autoload(kr[i], mode == SYNC_CAPTURE_KPROBE);
		bpf_program__set_autoload(fx[i], mode == SYNC_CAPTURE_FENTRY);
	}
	if (mode == SYNC_CAPTURE_FENTRY) {
		/* fexit programs resolve their target at load time: leave out
		 * a function the kernel does not have (or has inlined). */
		vmlinux = btf__load_vmlinux_btf();
		if (!vmlinux) {
			r = -(errno ? errno : ENOENT);
			seterr(err, errlen, "cannot read the kernel's BTF (needed by fexit): %s",
			       strerror(-r));
			return r;
		}
		for (i = 0; i < 4; i++) {
			if (kernel_has_func(vmlinux, hooks[i].func))
				continue;
			if (!hooks[i].lru || need_lru) {
				seterr(err, errlen,
				       "the kernel's BTF has no function %s to "
				       "attach fexit to",
				       hooks[i].func);
				btf__free(vmlinux);
				return -ENOENT;
			}
			bpf_program__set_autoload(fx[i], false);
			lru_ok[i] = false;
		}
		btf__free(vmlinux);
		c->skel->rodata->self_tgid = (__u32)getpid();
	}

	if (fault.ringbuf_bytes &&
	    bpf_map__set_max_entries(c->skel->maps.events, fault.ringbuf_bytes) < 0) {
		seterr(err, errlen, "fault injection: cannot size the ring buffer to %u bytes",
		       fault.ringbuf_bytes);
		return -EINVAL;
	}
	r = mapsync__load(c->skel);
	if (r < 0) {
		seterr(err, errlen, "cannot load the %s capture programs: %s%s", what, strerror(-r),
		       r == -EPERM
			       ? " (function tracing locked down, or missing CAP_BPF/CAP_PERFMON)"
			       : "");
		return r;
	}

	for (i = 0; i < n; i++) {
		struct xlb_sync_watch w = {
			.key_size = maps[i].key_size,
			.value_size = maps[i].value_size,
			.self_lo = maps[i].self_lo,
			.self_hi = maps[i].self_hi,
		};

		if (bpf_map_update_elem(bpf_map__fd(c->skel->maps.watch), &maps[i].id, &w,
					BPF_ANY) < 0) {
			r = -errno;
			seterr(err, errlen, "cannot register map %s (id %u) for capture: %s%s",
			       maps[i].name ? maps[i].name : "(unnamed)", maps[i].id, strerror(-r),
			       r == -E2BIG ? " (too many watched maps)" : "");
			return r;
		}
	}

	/* The ring buffer first: no record may be produced before it is read. */
	r = open_ringbuf(c, bpf_map__fd(c->skel->maps.events), err, errlen);
	if (r < 0)
		return r;

	for (i = 0; i < 4; i++) {
		char sub[256];

		if (!lru_ok[i])
			continue;
		if (mode == SYNC_CAPTURE_KPROBE) {
			/* return probe first: an entry without its return would
			 * leave a slot pushed */
			r = add_link(c, kr[i], "kretprobe", hooks[i].func, sub, sizeof(sub));
			if (!r)
				r = add_link(c, kp[i], "kprobe", hooks[i].func, sub, sizeof(sub));
		} else {
			r = add_link(c, fx[i], "fexit", hooks[i].func, sub, sizeof(sub));
		}
		if (r < 0 && (!hooks[i].lru || need_lru)) {
			seterr(err, errlen, "%s", sub);
			return r;
		}
		/* an LRU variant is optional while no LRU map is watched */
	}
	return 0;
}

static void close_probes(struct sync_capture *c)
{
	size_t i;

	for (i = c->n_links; i > 0; i--)
		bpf_link__destroy(c->links[i - 1]);
	c->n_links = 0;
	mapsync__destroy(c->skel);
	c->skel = NULL;
}

/* cap_stats summed over CPUs into v[XLB_CAP_STAT_MAX]. */
static void cap_stats_read(const struct sync_capture *c, uint64_t *v)
{
	uint64_t *pc;
	__u32 k;
	int i;

	memset(v, 0, XLB_CAP_STAT_MAX * sizeof(*v));
	if (!c->skel || c->ncpus <= 0)
		return;
	pc = calloc(c->ncpus, sizeof(*pc));
	if (!pc)
		return;
	for (k = 0; k < XLB_CAP_STAT_MAX; k++) {
		if (bpf_map_lookup_elem(bpf_map__fd(c->skel->maps.cap_stats), &k, pc))
			continue;
		for (i = 0; i < c->ncpus; i++)
			v[k] += pc[i];
	}
	free(pc);
}

/*
 * Runs of the capture programs that the kernel skipped and counted
 * (bpf_prog_info.recursion_misses): a trampoline (fexit) program entered
 * while it already runs on the CPU; since Linux 6.7 also a kprobe program
 * skipped because another BPF program was running on the CPU (older
 * kernels skip those without a count: the write count check covers them).
 */
static uint64_t probe_misses(const struct sync_capture *c)
{
	struct bpf_program *p;
	uint64_t sum = 0;

	if (!c->skel)
		return 0;
	bpf_object__for_each_program (p, c->skel->obj) {
		struct bpf_prog_info info;
		__u32 len = sizeof(info);
		int fd = bpf_program__fd(p);

		if (fd < 0)
			continue;
		memset(&info, 0, sizeof(info));
		if (bpf_obj_get_info_by_fd(fd, &info, &len) == 0)
			sum += info.recursion_misses;
	}
	return sum;
}

static int open_kprobe(struct sync_capture *c, const char *pin_dir,
		       const struct sync_capture_map *maps, size_t n, char *err, size_t errlen)
{
	int r = open_probes(c, c->mode, maps, n, err, errlen);

	if (r < 0)
		return r;
	cap_stats_read(c, c->cap_base);
	c->misses_base = probe_misses(c);
	return 0;
}

static void loss_probes(const struct sync_capture *c, struct sync_capture_loss *l)
{
	uint64_t v[XLB_CAP_STAT_MAX], m = probe_misses(c);

	cap_stats_read(c, v);
#define DELTA(i) (v[i] >= c->cap_base[i] ? v[i] - c->cap_base[i] : 0)
	l->ringbuf = DELTA(XLB_CAP_LOST_RINGBUF);
	l->unreadable = DELTA(XLB_CAP_LOST_READ);
	l->unpaired = DELTA(XLB_CAP_LOST_UNPAIRED);
	l->stale = DELTA(XLB_CAP_LOST_STALE);
	l->foreign = DELTA(XLB_CAP_LOST_FOREIGN);
#undef DELTA
	l->skipped = m >= c->misses_base ? m - c->misses_base : 0;
}

/* ---- the data plane's pinned maps ------------------------------------------ */

static int pin_open(const char *pin_dir, const char *name, int *fd, char *err, size_t errlen)
{
	char path[PATH_MAX];

	if (snprintf(path, sizeof(path), "%s/%s", pin_dir, name) >= (int)sizeof(path)) {
		seterr(err, errlen, "pin dir path too long: %s", pin_dir);
		return -ENAMETOOLONG;
	}
	*fd = bpf_obj_get(path);
	if (*fd < 0) {
		int e = errno;

		seterr(err, errlen, "cannot open the data plane's pinned map %s: %s%s", path,
		       strerror(e),
		       e == ENOENT
			       ? " (is lbd running with this pin dir, and new enough to have it?)"
			       : "");
		return -e;
	}
	return 0;
}

static int fd_map_id(int fd, uint32_t *id)
{
	struct bpf_map_info info;
	__u32 len = sizeof(info);

	memset(&info, 0, sizeof(info));
	if (bpf_obj_get_info_by_fd(fd, &info, &len) < 0)
		return -errno;
	*id = info.id;
	return 0;
}

static uint64_t stat_sum(const struct sync_capture *c, uint32_t idx)
{
	uint64_t *v, sum = 0;
	int i;

	if (c->stats_fd < 0 || c->ncpus <= 0)
		return 0;
	v = calloc(c->ncpus, sizeof(*v));
	if (!v)
		return 0;
	if (bpf_map_lookup_elem(c->stats_fd, &idx, v) == 0)
		for (i = 0; i < c->ncpus; i++)
			sum += v[i];
	free(v);
	return sum;
}

/*
 * The write count check needs the data plane's stats and both of its synced
 * maps among the watched ones (their ids are what the records name). Off
 * when either is missing, and in fentry mode, whose trampolines also report
 * writes made through the bpf() syscall by other processes (lbd), which the
 * data plane does not count. Returns whether the check is on.
 */
static bool open_write_check(struct sync_capture *c, const char *pin_dir,
			     const struct sync_capture_map *maps, size_t n)
{
	char why[256];
	size_t i;

	if (c->mode == SYNC_CAPTURE_FENTRY || !pin_dir || !*pin_dir)
		return false;
	for (i = 0; i < n; i++) {
		if (maps[i].name && !strcmp(maps[i].name, XLB_MAP_SESSIONS))
			c->dp_maps[0] = maps[i].id;
		else if (maps[i].name && !strcmp(maps[i].name, XLB_MAP_REVERSE))
			c->dp_maps[1] = maps[i].id;
	}
	if (!c->dp_maps[0] || !c->dp_maps[1])
		return false;
	if (c->stats_fd < 0 && pin_open(pin_dir, XLB_MAP_STATS, &c->stats_fd, why, sizeof(why)) < 0)
		return false;
	c->writes_base = c->writes_prev = stat_sum(c, XLB_STAT_SYNC_WRITES);
	return true;
}

/* ---- inline --------------------------------------------------------------- */

/*
 * Only the data plane's own maps can be emitted inline: each watched map
 * must be this node's "sessions" or "reverse" (the very instance pinned in
 * pin_dir).
 */
static int open_inline(struct sync_capture *c, const char *pin_dir,
		       const struct sync_capture_map *maps, size_t n, char *err, size_t errlen)
{
	struct xlb_sync_ctl ctl = { .flags = XLB_SYNC_CTL_INLINE };
	__u32 zero = 0;
	size_t i;
	int r;

	if (!pin_dir || !*pin_dir) {
		seterr(err, errlen, "inline capture needs the data plane's pin dir");
		return -EINVAL;
	}
	for (i = 0; i < n; i++) {
		const char *name = maps[i].name ? maps[i].name : "(unnamed)";
		uint32_t pinned_id = 0;
		__u32 *slot;
		int fd;

		if (!strcmp(name, XLB_MAP_SESSIONS)) {
			slot = &ctl.sessions_id;
		} else if (!strcmp(name, XLB_MAP_REVERSE)) {
			slot = &ctl.reverse_id;
		} else {
			seterr(err, errlen,
			       "map %s cannot be captured inline: the data plane emits only "
			       "its own maps (%s, %s); use --capture kprobe or fentry for "
			       "other maps",
			       name, XLB_MAP_SESSIONS, XLB_MAP_REVERSE);
			return -EOPNOTSUPP;
		}
		r = pin_open(pin_dir, name, &fd, err, errlen);
		if (r < 0)
			return r;
		r = fd_map_id(fd, &pinned_id);
		close(fd);
		if (r < 0) {
			seterr(err, errlen, "cannot query the pinned map %s/%s: %s", pin_dir, name,
			       strerror(-r));
			return r;
		}
		if (pinned_id != maps[i].id) {
			seterr(err, errlen,
			       "map %s: id %u is not the data plane's map pinned at %s/%s "
			       "(id %u)",
			       name, maps[i].id, pin_dir, name, pinned_id);
			return -EINVAL;
		}
		*slot = maps[i].id;
	}

	r = pin_open(pin_dir, XLB_MAP_SYNC_EVENTS, &c->events_fd, err, errlen);
	if (r < 0)
		return r;
	r = pin_open(pin_dir, XLB_MAP_SYNC_CTL, &c->ctl_fd, err, errlen);
	if (r < 0)
		return r;
	r = pin_open(pin_dir, XLB_MAP_STATS, &c->stats_fd, err, errlen);
	if (r < 0)
		return r;
	r = open_ringbuf(c, c->events_fd, err, errlen);
	if (r < 0)
		return r;
	c->lost_base = stat_sum(c, XLB_STAT_SYNC_LOST);
	if (bpf_map_update_elem(c->ctl_fd, &zero, &ctl, BPF_ANY) < 0) {
		r = -errno;
		seterr(err, errlen, "cannot turn inline capture on in %s/%s: %s", pin_dir,
		       XLB_MAP_SYNC_CTL, strerror(-r));
		return r;
	}
	return 0;
}

static void close_inline(struct sync_capture *c)
{
	struct xlb_sync_ctl off = { 0 };
	__u32 zero = 0;

	/* Best effort: if lbd is gone, so is the data plane writing here. */
	if (c->ctl_fd >= 0)
		bpf_map_update_elem(c->ctl_fd, &zero, &off, BPF_ANY);
}

/* The data plane's SYNC_LOST counts since it was loaded; this is what was
 * lost since this capture turned inline on. */
static void loss_inline(const struct sync_capture *c, struct sync_capture_loss *l)
{
	uint64_t now = stat_sum(c, XLB_STAT_SYNC_LOST);

	l->ringbuf = now >= c->lost_base ? now - c->lost_base : 0;
}

static int open_inline_mode(struct sync_capture *c, const char *pin_dir,
			    const struct sync_capture_map *maps, size_t n, char *err, size_t errlen)
{
	return open_inline(c, pin_dir, maps, n, err, errlen);
}

static const struct capture_ops ops_probes = {
	.open = open_kprobe,
	.loss = loss_probes,
	.close = close_probes,
};

static const struct capture_ops ops_inline = {
	.open = open_inline_mode,
	.loss = loss_inline,
	.close = close_inline,
};

static const struct {
	enum sync_capture_mode mode;
	const struct capture_ops *ops;
	uint8_t source;
} modes[] = {
	{ SYNC_CAPTURE_KPROBE, &ops_probes, XLB_SYNC_SRC_KPROBE },
	{ SYNC_CAPTURE_FENTRY, &ops_probes, XLB_SYNC_SRC_FENTRY },
	{ SYNC_CAPTURE_INLINE, &ops_inline, XLB_SYNC_SRC_INLINE },
};

/* ---- API ------------------------------------------------------------------ */

static void capture_free(struct sync_capture *c)
{
	if (!c)
		return;
	if (c->ops)
		c->ops->close(c);
	ring_buffer__free(c->rb);
	if (c->events_fd >= 0)
		close(c->events_fd);
	if (c->ctl_fd >= 0)
		close(c->ctl_fd);
	if (c->stats_fd >= 0)
		close(c->stats_fd);
	free(c);
}

static struct sync_capture *open_mode(size_t mi, const char *pin_dir,
				      const struct sync_capture_map *maps, size_t n, char *err,
				      size_t errlen)
{
	struct sync_capture *c;
	int r;

	c = calloc(1, sizeof(*c));
	if (!c) {
		seterr(err, errlen, "out of memory");
		return NULL;
	}
	c->mode = modes[mi].mode;
	c->source = modes[mi].source;
	c->events_fd = c->ctl_fd = c->stats_fd = -1;
	c->ncpus = libbpf_num_possible_cpus();
	if (c->ncpus <= 0) {
		seterr(err, errlen, "cannot count possible CPUs: %s", strerror(-c->ncpus));
		free(c);
		return NULL;
	}
	r = modes[mi].ops->open(c, pin_dir, maps, n, err, errlen);
	if (r < 0) {
		/* Turning inline on is the last step of its open, so it is
		 * still off: leave sync_ctl alone (another syncd may own it). */
		if (c->ctl_fd >= 0) {
			close(c->ctl_fd);
			c->ctl_fd = -1;
		}
		c->ops = c->mode == SYNC_CAPTURE_INLINE ? NULL : modes[mi].ops;
		capture_free(c);
		return NULL;
	}
	c->ops = modes[mi].ops;
	c->write_check = open_write_check(c, pin_dir, maps, n);
	return c;
}

struct sync_capture *sync_capture_open(enum sync_capture_mode mode, const char *pin_dir,
				       const struct sync_capture_map *maps, size_t n, char *err,
				       size_t errlen)
{
	char why[3][256];
	struct sync_capture *c;
	size_t i;

	if (err && errlen)
		err[0] = 0;
	if (check_maps(maps, n, err, errlen) < 0)
		return NULL;
	if (mode != SYNC_CAPTURE_AUTO) {
		for (i = 0; i < sizeof(modes) / sizeof(modes[0]); i++)
			if (modes[i].mode == mode)
				return open_mode(i, pin_dir, maps, n, err, errlen);
		seterr(err, errlen, "unknown capture mode %d", (int)mode);
		return NULL;
	}
	/* auto: in the order of the table, the first that works */
	for (i = 0; i < sizeof(modes) / sizeof(modes[0]); i++) {
		why[i][0] = 0;
		c = open_mode(i, pin_dir, maps, n, why[i], sizeof(why[i]));
		if (c)
			return c;
	}
	seterr(err, errlen, "no capture mode works: kprobe: %s; fentry: %s; inline: %s", why[0],
	       why[1], why[2]);
	return NULL;
}

enum sync_capture_mode sync_capture_mode(const struct sync_capture *c)
{
	return c->mode;
}

int sync_capture_fd(const struct sync_capture *c)
{
	return ring_buffer__epoll_fd(c->rb);
}

int sync_capture_poll(struct sync_capture *c, sync_capture_cb cb, void *arg)
{
	int n;

	c->cb = cb;
	c->cb_arg = arg;
	n = ring_buffer__consume(c->rb);
	c->cb = NULL;
	c->cb_arg = NULL;
	return n;
}

static uint64_t counted(const struct sync_capture_loss *l)
{
	return l->ringbuf + l->unreadable + l->unpaired + l->stale + l->foreign + l->skipped +
	       l->malformed;
}

void sync_capture_get_loss(const struct sync_capture *c, struct sync_capture_loss *l)
{
	memset(l, 0, sizeof(*l));
	c->ops->loss(c, l);
	l->malformed = c->loss.malformed;
	l->unseen = c->unseen;
	l->write_check = c->write_check;
	l->total = counted(l) + l->unseen;
}

/*
 * The write count check. The data plane bumps SYNC_WRITES after the write
 * returned, so by then the write's record is in the ring buffer (a kprobe's
 * return probe, the inline push) or counted lost. Records of the writes
 * counted at the previous check have therefore been drained by now (the
 * caller drains first; a record another CPU was still filling then is
 * complete long since): whatever is still owed is a record the capture
 * lost without knowing it.
 */
void sync_capture_check(struct sync_capture *c)
{
	struct sync_capture_loss l;
	uint64_t owed, have;

	if (!c->write_check)
		return;
	sync_capture_get_loss(c, &l);
	owed = c->writes_prev - c->writes_base;
	have = c->dp_records + counted(&l);
	if (owed > have && owed - have > c->unseen)
		c->unseen = owed - have;
	c->writes_prev = stat_sum(c, XLB_STAT_SYNC_WRITES);
}

uint64_t sync_capture_fault_dropped(const struct sync_capture *c)
{
	return c->fault_dropped;
}

uint64_t sync_capture_lost(const struct sync_capture *c)
{
	struct sync_capture_loss l;

	sync_capture_get_loss(c, &l);
	return l.total;
}

void sync_capture_close(struct sync_capture *c)
{
	capture_free(c);
}
