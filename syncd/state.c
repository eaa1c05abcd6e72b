// SPDX-License-Identifier: BSD-2-Clause
/* syncd's state across restarts (state.h). */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <json-c/json.h>
#include <limits.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "state.h"

static int get_u64(struct json_object *o, const char *key, uint64_t *v)
{
	struct json_object *x;

	if (!json_object_object_get_ex(o, key, &x) || !json_object_is_type(x, json_type_int))
		return -1;
	errno = 0;
	*v = json_object_get_uint64(x);
	return errno ? -1 : 0;
}

int sync_state_load(const char *path, struct sync_state *st, char *err, size_t errlen)
{
	struct json_object *o, *peers, *p;
	uint64_t node, epoch;
	size_t i, n;

	memset(st, 0, sizeof(*st));
	if (access(path, F_OK) && errno == ENOENT)
		return 0;
	o = json_object_from_file(path);
	if (!o) {
		const char *why = json_util_get_last_err();
		char w[160];

		/* json-c's reason ends in a newline: one line */
		snprintf(w, sizeof(w), "%s", why ? why : "unknown");
		w[strcspn(w, "\n")] = 0;
		snprintf(err, errlen,
			 "sync.state_file %s: cannot be read as JSON (%s); remove it to start "
			 "afresh (peers then refuse this node until its clock passes the epoch "
			 "they last heard)",
			 path, w);
		return -1;
	}
	if (get_u64(o, "epoch", &st->epoch) < 0 || !json_object_object_get_ex(o, "peers", &peers) ||
	    !json_object_is_type(peers, json_type_array)) {
		snprintf(err, errlen,
			 "sync.state_file %s: \"epoch\" (an integer) or \"peers\" (a list) missing",
			 path);
		json_object_put(o);
		return -1;
	}
	n = json_object_array_length(peers);
	for (i = 0; i < n; i++) {
		p = json_object_array_get_idx(peers, i);
		if (get_u64(p, "node_id", &node) < 0 || get_u64(p, "epoch", &epoch) < 0 || !node ||
		    node > UINT32_MAX || sync_state_set_peer(st, (uint32_t)node, epoch) < 0) {
			snprintf(err, errlen,
				 "sync.state_file %s: peers[%zu]: needs node_id (1..%u) and epoch "
				 "(integers), at most %d peers",
				 path, i, UINT32_MAX, SYNC_STATE_PEERS_MAX);
			json_object_put(o);
			return -1;
		}
	}
	json_object_put(o);
	return 0;
}

static int mkdir_parent(const char *path, char *err, size_t errlen)
{
	char dir[PATH_MAX];
	char *s;

	if (snprintf(dir, sizeof(dir), "%s", path) >= (int)sizeof(dir))
		return snprintf(err, errlen, "sync.state_file %s: path too long", path), -1;
	s = strrchr(dir, '/');
	if (!s || s == dir)
		return 0;
	*s = 0;
	for (s = dir + 1; *s; s++) {
		if (*s != '/')
			continue;
		*s = 0;
		if (mkdir(dir, 0700) && errno != EEXIST)
			goto fail;
		*s = '/';
	}
	if (mkdir(dir, 0700) && errno != EEXIST)
		goto fail;
	return 0;
fail:
	snprintf(err, errlen, "sync.state_file %s: cannot create directory %s: %s", path, dir,
		 strerror(errno));
	return -1;
}

int sync_state_save(const char *path, const struct sync_state *st, char *err, size_t errlen)
{
	struct json_object *o = json_object_new_object(), *peers = json_object_new_array(), *p;
	char tmp[PATH_MAX];
	const char *text;
	size_t i, len;
	int fd = -1, rc = -1;

	if (!o || !peers) {
		snprintf(err, errlen, "sync.state_file %s: out of memory", path);
		goto out;
	}
	json_object_object_add(o, "epoch", json_object_new_uint64(st->epoch));
	for (i = 0; i < st->n_peers; i++) {
		p = json_object_new_object();
		json_object_object_add(p, "node_id", json_object_new_uint64(st->peers[i].node));
		json_object_object_add(p, "epoch", json_object_new_uint64(st->peers[i].epoch));
		json_object_array_add(peers, p);
	}
	json_object_object_add(o, "peers", peers);
	peers = NULL;
	text = json_object_to_json_string_ext(o, JSON_C_TO_STRING_PLAIN);
	len = strlen(text);
	if (mkdir_parent(path, err, errlen) < 0)
		goto out;
	if (snprintf(tmp, sizeof(tmp), "%s.tmp", path) >= (int)sizeof(tmp)) {
		snprintf(err, errlen, "sync.state_file %s: path too long", path);
		goto out;
	}
	fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
	if (fd < 0 || write(fd, text, len) != (ssize_t)len || write(fd, "\n", 1) != 1 ||
	    fsync(fd) || close(fd)) {
		snprintf(err, errlen, "sync.state_file %s: cannot write %s: %s", path, tmp,
			 strerror(errno));
		if (fd >= 0)
			close(fd);
		unlink(tmp);
		fd = -1;
		goto out;
	}
	fd = -1;
	if (rename(tmp, path)) {
		snprintf(err, errlen, "sync.state_file %s: cannot replace it: %s", path,
			 strerror(errno));
		unlink(tmp);
		goto out;
	}
	rc = 0;
out:
	json_object_put(peers);
	json_object_put(o);
	return rc;
}

uint64_t sync_state_next_epoch(const struct sync_state *st, uint64_t now_ns)
{
	return now_ns > st->epoch ? now_ns : st->epoch + 1;
}

uint64_t sync_state_peer_epoch(const struct sync_state *st, uint32_t node)
{
	size_t i;

	for (i = 0; i < st->n_peers; i++)
		if (st->peers[i].node == node)
			return st->peers[i].epoch;
	return 0;
}

int sync_state_set_peer(struct sync_state *st, uint32_t node, uint64_t epoch)
{
	size_t i;

	for (i = 0; i < st->n_peers; i++) {
		if (st->peers[i].node != node)
			continue;
		if (epoch <= st->peers[i].epoch)
			return 0;
		st->peers[i].epoch = epoch;
		return 1;
	}
	if (st->n_peers >= SYNC_STATE_PEERS_MAX)
		return -1;
	st->peers[st->n_peers].node = node;
	st->peers[st->n_peers].epoch = epoch;
	st->n_peers++;
	return 1;
}
