// SPDX-License-Identifier: BSD-2-Clause
/*
 * lbctl: the lbd control client. Each command is a function plus its usage
 * line in one table; the daemon is asked over its Unix socket with one JSON
 * request line and answers with one JSON line.
 */
#include <errno.h>
#include <getopt.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sys/socket.h>
#include <sys/time.h>

#include <json-c/json.h>

#include "config.h"
#include "sock.h"

/* -n NODE: the node's default control socket (config.h) */
#define DEFAULT_SOCKET CFG_DEF_RUN_DIR "/lbd.sock"
#define TIMEOUT_S      30
#define MAX_RESPONSE   (512u << 20)

#define EXIT_DAEMON 1
#define EXIT_USAGE  2

struct opts {
	char socket[108];
	bool json;
};

struct cmd {
	const char *word1;
	const char *word2; /* NULL: one-word command */
	const char *args;  /* usage after the command words */
	const char *help;
	/* Checks the arguments, asks lbd (request "word1[.word2]") and
	 * prints; returns the exit code. */
	int (*fn)(const struct opts *o, const struct cmd *c, int argc, char **argv);
	/* Reads: the human form of the result (arg: what fn passes). */
	void (*print)(struct json_object *res, const void *arg);
	/* Writes on one backend: what the confirmation line says. */
	const char *done;
};

static const struct cmd commands[];

static void __attribute__((format(printf, 1, 2))) fail(const char *fmt, ...)
{
	va_list ap;

	fputs("lbctl: ", stderr);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
}

static const char *cmd_name(const struct cmd *c, char *buf, size_t len)
{
	snprintf(buf, len, "%s%s%s", c->word1, c->word2 ? " " : "", c->word2 ? c->word2 : "");
	return buf;
}

static int usage_error(const struct cmd *c, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));

static int usage_error(const struct cmd *c, const char *fmt, ...)
{
	char name[64], msg[256];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	fail("%s: %s", cmd_name(c, name, sizeof(name)), msg);
	fprintf(stderr, "usage: lbctl [-s SOCKET | -n NODE] [--json] %s%s%s\n", name,
		c->args[0] ? " " : "", c->args);
	return EXIT_USAGE;
}

/* ---- talking to lbd ----------------------------------------------------- */

static int connect_socket(const char *path)
{
	struct timeval tv = { .tv_sec = TIMEOUT_S };
	int fd;

	fd = xlb_unix_connect(path);
	if (fd < 0)
		return fd;
	setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
	setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv));
	return fd;
}

static int write_all(int fd, const char *p, size_t n)
{
	while (n) {
		ssize_t w = send(fd, p, n, MSG_NOSIGNAL);

		if (w < 0 && errno == EINTR)
			continue;
		if (w <= 0)
			return -errno;
		p += w;
		n -= w;
	}
	return 0;
}

/* Read one line (the response); returns a malloc'd string or NULL. */
static char *read_line(int fd, int *err)
{
	size_t len = 0, cap = 65536;
	char *buf = malloc(cap), *p;

	if (!buf) {
		*err = ENOMEM;
		return NULL;
	}
	for (;;) {
		ssize_t r;

		if (cap - len < 4096) {
			if (cap >= MAX_RESPONSE) {
				*err = EMSGSIZE;
				break;
			}
			p = realloc(buf, cap * 2);
			if (!p) {
				*err = ENOMEM;
				break;
			}
			buf = p;
			cap *= 2;
		}
		r = recv(fd, buf + len, cap - len - 1, 0);
		if (r < 0 && errno == EINTR)
			continue;
		if (r < 0) {
			*err = errno == EAGAIN ? ETIMEDOUT : errno;
			break;
		}
		if (r == 0) {
			*err = ECONNRESET;
			break;
		}
		p = memchr(buf + len, '\n', r);
		len += r;
		if (p) {
			*p = '\0';
			return buf;
		}
	}
	free(buf);
	return NULL;
}

/*
 * Send req (consumed) and return the daemon's result in *result (caller
 * puts it). Prints the error and returns the exit code on failure.
 */
static int call(const struct opts *o, const struct cmd *c, struct json_object *req,
		struct json_object **result)
{
	struct json_object *resp, *ok, *v;
	char name[64], *line;
	const char *s;
	int fd, r, err = 0;

	cmd_name(c, name, sizeof(name));
	*result = NULL;
	fd = connect_socket(o->socket);
	if (fd < 0) {
		json_object_put(req);
		fail("cannot connect to %s: %s (is lbd running?)", o->socket, strerror(-fd));
		return EXIT_DAEMON;
	}
	s = json_object_to_json_string_ext(req, JSON_C_TO_STRING_PLAIN);
	r = write_all(fd, s, strlen(s));
	if (r == 0)
		r = write_all(fd, "\n", 1);
	json_object_put(req);
	if (r < 0) {
		close(fd);
		fail("%s: cannot send to %s: %s", name, o->socket, strerror(-r));
		return EXIT_DAEMON;
	}
	line = read_line(fd, &err);
	close(fd);
	if (!line) {
		fail("%s: no answer from %s: %s", name, o->socket, strerror(err));
		return EXIT_DAEMON;
	}
	resp = json_tokener_parse(line);
	free(line);
	if (!resp || !json_object_is_type(resp, json_type_object) ||
	    !json_object_object_get_ex(resp, "ok", &ok)) {
		json_object_put(resp);
		fail("%s: malformed answer from %s", name, o->socket);
		return EXIT_DAEMON;
	}
	if (!json_object_get_boolean(ok)) {
		s = json_object_object_get_ex(resp, "error", &v) ? json_object_get_string(v)
								 : "unknown error";
		fail("%s: %s", name, s);
		json_object_put(resp);
		return EXIT_DAEMON;
	}
	if (json_object_object_get_ex(resp, "result", &v))
		*result = json_object_get(v);
	json_object_put(resp);
	return 0;
}

/*
 * syncd's status (one JSON line, then EOF) from the socket lbd's status
 * names (sync_control_socket); NULL with why[] if there is none or it
 * cannot be read.
 */
static struct json_object *sync_status(struct json_object *lbd_status, char *why, size_t len)
{
	struct json_object *v, *res;
	const char *path;
	char *line;
	int fd, err = 0;

	if (!json_object_object_get_ex(lbd_status, "sync_control_socket", &v)) {
		snprintf(why, len, "sync is not enabled in this node's config");
		return NULL;
	}
	path = json_object_get_string(v);
	fd = connect_socket(path);
	if (fd < 0) {
		snprintf(why, len, "cannot connect to syncd at %s: %s (is syncd running?)", path,
			 strerror(-fd));
		return NULL;
	}
	line = read_line(fd, &err);
	close(fd);
	if (!line) {
		snprintf(why, len, "no status from syncd at %s: %s", path, strerror(err));
		return NULL;
	}
	res = json_tokener_parse(line);
	free(line);
	if (!res || !json_object_is_type(res, json_type_object)) {
		json_object_put(res);
		snprintf(why, len, "malformed status from syncd at %s", path);
		return NULL;
	}
	return res;
}

/* {"cmd": "word1.word2"}: the daemon's name of command c. */
static struct json_object *request(const struct cmd *c)
{
	struct json_object *req = json_object_new_object();
	char cmd[64];

	snprintf(cmd, sizeof(cmd), "%s%s%s", c->word1, c->word2 ? "." : "",
		 c->word2 ? c->word2 : "");
	json_object_object_add(req, "cmd", json_object_new_string(cmd));
	return req;
}

static void req_str(struct json_object *req, const char *key, const char *v)
{
	json_object_object_add(req, key, json_object_new_string(v));
}

static void print_json(struct json_object *o)
{
	puts(json_object_to_json_string_ext(o, JSON_C_TO_STRING_PRETTY | JSON_C_TO_STRING_SPACED |
						       JSON_C_TO_STRING_NOSLASHESCAPE));
}

/* ---- field access ------------------------------------------------------- */

static struct json_object *get(struct json_object *o, const char *key)
{
	struct json_object *v = NULL;

	if (!o || !json_object_object_get_ex(o, key, &v))
		return NULL;
	return v;
}

static const char *gstr(struct json_object *o, const char *key)
{
	struct json_object *v = get(o, key);

	return v && !json_object_is_type(v, json_type_null) ? json_object_get_string(v) : "-";
}

static int64_t gint(struct json_object *o, const char *key)
{
	return json_object_get_int64(get(o, key));
}

static bool gbool(struct json_object *o, const char *key)
{
	return json_object_get_boolean(get(o, key));
}

/* ---- aligned tables ----------------------------------------------------- */

#define TABLE_COLS 12

struct table {
	size_t cols, rows, cap;
	char **cells; /* rows * cols */
	size_t width[TABLE_COLS];
};

static void table_row(struct table *t, ...)
{
	va_list ap;
	size_t i;

	if (t->rows == t->cap) {
		size_t cap = t->cap ? t->cap * 2 : 16;
		char **p = realloc(t->cells, cap * t->cols * sizeof(*p));

		if (!p) {
			fail("out of memory");
			exit(EXIT_DAEMON);
		}
		t->cells = p;
		t->cap = cap;
	}
	va_start(ap, t);
	for (i = 0; i < t->cols; i++) {
		const char *s = va_arg(ap, const char *);
		char *d = strdup(s ? s : "-");
		size_t n;

		if (!d) {
			fail("out of memory");
			exit(EXIT_DAEMON);
		}
		n = strlen(d);
		if (n > t->width[i])
			t->width[i] = n;
		t->cells[t->rows * t->cols + i] = d;
	}
	va_end(ap);
	t->rows++;
}

static void table_print(struct table *t)
{
	size_t r, i;

	for (r = 0; r < t->rows; r++) {
		for (i = 0; i < t->cols; i++) {
			const char *s = t->cells[r * t->cols + i];

			if (i + 1 < t->cols)
				printf("%-*s  ", (int)t->width[i], s);
			else
				printf("%s\n", s);
			free(t->cells[r * t->cols + i]);
		}
	}
	free(t->cells);
}

static const char *num(char *buf, size_t len, int64_t v)
{
	snprintf(buf, len, "%lld", (long long)v);
	return buf;
}

static const char *duration(char *buf, size_t len, uint64_t s)
{
	if (s >= 86400)
		snprintf(buf, len, "%llud%02lluh%02llum", (unsigned long long)s / 86400,
			 (unsigned long long)s % 86400 / 3600, (unsigned long long)s % 3600 / 60);
	else if (s >= 3600)
		snprintf(buf, len, "%lluh%02llum%02llus", (unsigned long long)s / 3600,
			 (unsigned long long)s % 3600 / 60, (unsigned long long)s % 60);
	else if (s >= 60)
		snprintf(buf, len, "%llum%02llus", (unsigned long long)s / 60,
			 (unsigned long long)s % 60);
	else
		snprintf(buf, len, "%llus", (unsigned long long)s);
	return buf;
}

/* ---- argument helpers --------------------------------------------------- */

static int parse_uint(const char *s, unsigned long max, unsigned long *out)
{
	char *end;

	if (!s || *s < '0' || *s > '9')
		return -1;
	errno = 0;
	*out = strtoul(s, &end, 10);
	return (*end || errno || *out > max) ? -1 : 0;
}

/* Number argument passed through to lbd (which range-checks it). */
static int add_uint(struct json_object *req, const struct cmd *c, const char *key, const char *what,
		    const char *s, unsigned long max)
{
	unsigned long v;

	if (parse_uint(s, max, &v) < 0)
		return usage_error(c, "%s \"%s\" is not a number (0-%lu)", what, s, max);
	json_object_object_add(req, key, json_object_new_int64((int64_t)v));
	return 0;
}

static int no_args(const struct cmd *c, int argc, char **argv)
{
	if (argc)
		return usage_error(c, "unexpected argument \"%s\"", argv[0]);
	return 0;
}

/* Run a request whose human output is just a confirmation line. */
static int run_write(const struct opts *o, const struct cmd *c, struct json_object *req,
		     const char *fmt, ...) __attribute__((format(printf, 4, 5)));

static int run_write(const struct opts *o, const struct cmd *c, struct json_object *req,
		     const char *fmt, ...)
{
	struct json_object *res;
	va_list ap;
	int r;

	r = call(o, c, req, &res);
	if (r)
		return r;
	if (o->json) {
		if (!res)
			res = json_object_new_object();
		print_json(res);
	} else {
		va_start(ap, fmt);
		vprintf(fmt, ap);
		va_end(ap);
		putchar('\n');
	}
	json_object_put(res);
	return 0;
}

/* Run a read request (consumed): the JSON result with --json, else what
 * c->print makes of it. */
static int show(const struct opts *o, const struct cmd *c, struct json_object *req, const void *arg)
{
	struct json_object *res;
	int r;

	r = call(o, c, req, &res);
	if (r)
		return r;
	if (o->json)
		print_json(res);
	else
		c->print(res, arg);
	json_object_put(res);
	return 0;
}

/* A read without arguments. */
static int do_query(const struct opts *o, const struct cmd *c, int argc, char **argv)
{
	int r = no_args(c, argc, argv);

	return r ? r : show(o, c, request(c), NULL);
}

/* Elements of an array result (0 if it is not one). */
static size_t array_len(struct json_object *a)
{
	return json_object_is_type(a, json_type_array) ? json_object_array_length(a) : 0;
}

/* ---- commands ----------------------------------------------------------- */

/* One peer's service comparison: "equal", "DIFFER: 2 differences, 28
 * unprotected sessions" and the lines, indented. */
static void print_peer_services(struct json_object *sv, const char *indent)
{
	struct json_object *lines = get(sv, "lines");
	const char *state = gstr(sv, "state");
	size_t i;

	if (strcmp(state, "differ")) {
		printf("services %s\n", state);
		return;
	}
	printf("services DIFFER: %lld difference%s, %lld session%s of this node unprotected\n",
	       (long long)gint(sv, "differences"), gint(sv, "differences") == 1 ? "" : "s",
	       (long long)gint(sv, "unprotected_sessions"),
	       gint(sv, "unprotected_sessions") == 1 ? "" : "s");
	for (i = 0; i < array_len(lines); i++)
		printf("%s%s\n", indent,
		       json_object_get_string(json_object_array_get_idx(lines, i)));
	if ((long long)array_len(lines) < gint(sv, "differences"))
		printf("%s(and %lld more)\n", indent,
		       (long long)(gint(sv, "differences") - (long long)array_len(lines)));
}

static void print_sync(struct json_object *sy)
{
	struct json_object *peers;
	size_t i;

	if (!sy)
		return;
	if (get(sy, "error")) {
		printf("sync         %s\n", gstr(sy, "error"));
		return;
	}
	printf("sync         %s, capture %s, services %s\n",
	       gbool(sy, "ready") ? "ready" : "NOT ready", gstr(sy, "capture"),
	       gstr(get(sy, "services"), "digest"));
	peers = get(sy, "peers");
	for (i = 0; i < array_len(peers); i++) {
		struct json_object *p = json_object_array_get_idx(peers, i);

		printf("sync peer    node%lld: %s, %s, ", (long long)gint(p, "node_id"),
		       gbool(p, "alive") ? "alive" : "DEAD",
		       gbool(p, "ready") ? "ready" : "not ready");
		print_peer_services(get(p, "services"), "               ");
	}
}

/* status: lbd's, with syncd's view ("sync") when sync is on. */
static int do_status(const struct opts *o, const struct cmd *c, int argc, char **argv)
{
	struct json_object *res, *sy;
	char why[256];
	int r = no_args(c, argc, argv);

	if (r)
		return r;
	r = call(o, c, request(c), &res);
	if (r)
		return r;
	if (get(res, "sync_control_socket")) {
		sy = sync_status(res, why, sizeof(why));
		if (!sy) {
			sy = json_object_new_object();
			json_object_object_add(sy, "error", json_object_new_string(why));
		}
		json_object_object_add(res, "sync", sy);
	}
	if (o->json)
		print_json(res);
	else
		c->print(res, NULL);
	json_object_put(res);
	return 0;
}

/*
 * cluster: this node and each sync peer as this node's syncd sees them:
 * alive, ready, its service set's digest and how it compares with this
 * node's, the sessions of this node that peer would refuse.
 */
static void print_cluster(struct json_object *st, struct json_object *sy)
{
	struct table t = { .cols = 7 };
	struct json_object *peers = get(sy, "peers");
	char b[4][32];
	size_t i;

	table_row(&t, "NODE", "ROLE", "ALIVE", "READY", "SERVICES", "COMPARED", "UNPROTECTED");
	snprintf(b[0], sizeof(b[0]), "%s (%lld)", gstr(st, "node"), (long long)gint(st, "node_id"));
	table_row(&t, b[0], "this node", "yes", gbool(sy, "ready") ? "yes" : "no",
		  gstr(get(sy, "services"), "digest"), "-", "-");
	for (i = 0; i < array_len(peers); i++) {
		struct json_object *p = json_object_array_get_idx(peers, i),
				   *sv = get(p, "services");

		snprintf(b[1], sizeof(b[1]), "node%lld", (long long)gint(p, "node_id"));
		snprintf(b[2], sizeof(b[2]), "%s", gstr(sv, "state"));
		if (!strcmp(b[2], "differ"))
			snprintf(b[2], sizeof(b[2]), "DIFFER (%lld)",
				 (long long)gint(sv, "differences"));
		table_row(&t, b[1], "peer", gbool(p, "alive") ? "yes" : "NO",
			  gbool(p, "ready") ? "yes" : "no",
			  get(sv, "digest") ? gstr(sv, "digest") : "-", b[2],
			  num(b[3], sizeof(b[3]), gint(sv, "unprotected_sessions")));
	}
	table_print(&t);
	for (i = 0; i < array_len(peers); i++) {
		struct json_object *p = json_object_array_get_idx(peers, i),
				   *sv = get(p, "services");
		struct json_object *lines = get(sv, "lines");
		size_t j;

		if (!array_len(lines))
			continue;
		printf("\nnode%lld differs from this node:\n", (long long)gint(p, "node_id"));
		for (j = 0; j < array_len(lines); j++)
			printf("  %s\n",
			       json_object_get_string(json_object_array_get_idx(lines, j)));
	}
}

static int do_cluster(const struct opts *o, const struct cmd *c, int argc, char **argv)
{
	static const struct cmd status_cmd = { .word1 = "status" };
	struct json_object *st, *sy;
	char why[256];
	int r = no_args(c, argc, argv);

	if (r)
		return r;
	r = call(o, &status_cmd, request(&status_cmd), &st);
	if (r)
		return r;
	sy = sync_status(st, why, sizeof(why));
	if (!sy) {
		json_object_put(st);
		fail("cluster: %s", why);
		return EXIT_DAEMON;
	}
	if (o->json) {
		struct json_object *out = json_object_new_object();

		json_object_object_add(out, "node", json_object_get(get(st, "node")));
		json_object_object_add(out, "sync", sy);
		print_json(out);
		json_object_put(out);
	} else {
		print_cluster(st, sy);
		json_object_put(sy);
	}
	json_object_put(st);
	return 0;
}

static void print_status(struct json_object *res, const void *arg)
{
	struct json_object *pool, *ag;
	char b1[64];

	printf("node         %s (id %lld)\n", gstr(res, "node"), (long long)gint(res, "node_id"));
	printf("interface    %s (%s mode, xdp_lb prog id %lld, %s)\n", gstr(res, "interface"),
	       gstr(res, "xdp_mode"), (long long)gint(res, "prog_id"),
	       gbool(res, "xdp_attached") ? "attached" : "NOT attached");
	printf("pid          %lld, up %s\n", (long long)gint(res, "pid"),
	       duration(b1, sizeof(b1), gint(res, "uptime_s")));
	printf("config       %s\n", gstr(res, "config"));
	printf("pin dir      %s (maps %s)\n", gstr(res, "pin_dir"),
	       gbool(res, "maps_reused") ? "reused from a previous run" : "created");
	printf("vips         %lld (%lld backends)\n", (long long)gint(res, "vips"),
	       (long long)gint(res, "backends"));
	printf("sessions     %lld (%lld owned by this node, max %lld)\n",
	       (long long)gint(res, "sessions"), (long long)gint(res, "sessions_owned"),
	       (long long)gint(res, "max_sessions"));
	pool = get(res, "port_pool");
	if (pool)
		printf("port pool    %s:%lld-%lld: %lld free, %lld in use\n", gstr(pool, "address"),
		       (long long)gint(pool, "port_min"), (long long)gint(pool, "port_max"),
		       (long long)gint(pool, "free"), (long long)gint(pool, "in_use"));
	else
		printf("port pool    - (no snat address)\n");
	ag = get(res, "ageing");
	printf("ageing       every %lld ms: %lld passes, %lld sessions aged\n",
	       (long long)gint(ag, "interval_ms"), (long long)gint(ag, "passes"),
	       (long long)gint(ag, "aged"));
	printf("maglev       %lld table rebuilds\n", (long long)gint(res, "maglev_rebuilds"));
	print_sync(get(res, "sync"));
}

static void print_vip_list(struct json_object *res, const void *arg)
{
	struct table t = { .cols = 9 };
	char b[5][32];
	size_t i, n = array_len(res);

	table_row(&t, "NAME", "ID", "ADDRESS", "PORT", "PROTO", "MODE", "HEALTHCHECK",
		  "BACKENDS(UP)", "IN_TABLE");
	for (i = 0; i < n; i++) {
		struct json_object *v = json_object_array_get_idx(res, i);

		snprintf(b[3], sizeof(b[3]), "%lld (%lld)", (long long)gint(v, "backends"),
			 (long long)gint(v, "backends_up"));
		table_row(&t, gstr(v, "name"), num(b[0], sizeof(b[0]), gint(v, "vip_id")),
			  gstr(v, "address"), num(b[1], sizeof(b[1]), gint(v, "port")),
			  gstr(v, "protocol"), gstr(v, "mode"), gstr(v, "healthcheck"), b[3],
			  num(b[4], sizeof(b[4]), gint(v, "in_table")));
	}
	table_print(&t);
}

static int do_vip_add(const struct opts *o, const struct cmd *c, int argc, char **argv)
{
	struct json_object *req;
	int r;

	if (argc != 5)
		return usage_error(c, "expected 5 arguments, got %d", argc);
	if (strcmp(argv[3], "tcp") && strcmp(argv[3], "udp"))
		return usage_error(c, "protocol \"%s\" must be tcp or udp", argv[3]);
	if (strcmp(argv[4], "fnat") && strcmp(argv[4], "dsr"))
		return usage_error(c, "mode \"%s\" must be fnat or dsr", argv[4]);
	req = request(c);
	req_str(req, "name", argv[0]);
	req_str(req, "address", argv[1]);
	r = add_uint(req, c, "port", "port", argv[2], 65535);
	if (r) {
		json_object_put(req);
		return r;
	}
	req_str(req, "protocol", argv[3]);
	req_str(req, "mode", argv[4]);
	return run_write(o, c, req, "vip %s added (%s:%s/%s, %s)", argv[0], argv[1], argv[2],
			 argv[3], argv[4]);
}

static int do_vip_del(const struct opts *o, const struct cmd *c, int argc, char **argv)
{
	struct json_object *req;

	if (argc != 1)
		return usage_error(c, "expected 1 argument, got %d", argc);
	req = request(c);
	req_str(req, "name", argv[0]);
	return run_write(o, c, req, "vip %s deleted", argv[0]);
}

static void print_backend_list(struct json_object *res, const void *arg)
{
	struct table t = { .cols = 9 };
	char b[4][32];
	size_t i, j;

	table_row(&t, "VIP", "ID", "ADDRESS", "PORT", "WEIGHT", "HEALTH", "DRAINED", "IN_TABLE",
		  "REASON");
	for (i = 0; i < array_len(res); i++) {
		struct json_object *bl = get(json_object_array_get_idx(res, i), "backends");

		for (j = 0; j < array_len(bl); j++) {
			struct json_object *be = json_object_array_get_idx(bl, j);

			table_row(&t, gstr(be, "vip"), num(b[0], sizeof(b[0]), gint(be, "id")),
				  gstr(be, "address"), num(b[1], sizeof(b[1]), gint(be, "port")),
				  num(b[2], sizeof(b[2]), gint(be, "weight")), gstr(be, "state"),
				  gbool(be, "drained") ? "yes" : "no",
				  gbool(be, "in_table") ? "yes" : "no", gstr(be, "reason"));
		}
	}
	table_print(&t);
}

static int do_backend_list(const struct opts *o, const struct cmd *c, int argc, char **argv)
{
	struct json_object *req;

	if (argc > 1)
		return usage_error(c, "unexpected argument \"%s\"", argv[1]);
	req = request(c);
	if (argc)
		req_str(req, "vip", argv[0]);
	return show(o, c, req, NULL);
}

static int do_backend_add(const struct opts *o, const struct cmd *c, int argc, char **argv)
{
	struct json_object *req;
	const char *pos[4];
	int i, npos = 0, r;

	req = request(c);
	for (i = 0; i < argc; i++) {
		if (!strcmp(argv[i], "--weight") || !strcmp(argv[i], "--mac")) {
			if (i + 1 >= argc) {
				json_object_put(req);
				return usage_error(c, "%s needs a value", argv[i]);
			}
			if (argv[i][2] == 'w') {
				r = add_uint(req, c, "weight", "weight", argv[i + 1],
					     CFG_WEIGHT_MAX);
				if (r) {
					json_object_put(req);
					return r;
				}
			} else {
				req_str(req, "mac", argv[i + 1]);
			}
			i++;
		} else if (argv[i][0] == '-' && argv[i][1] == '-') {
			json_object_put(req);
			return usage_error(c, "unknown option %s", argv[i]);
		} else if (npos < 4) {
			pos[npos++] = argv[i];
		} else {
			json_object_put(req);
			return usage_error(c, "unexpected argument \"%s\"", argv[i]);
		}
	}
	if (npos < 3) {
		json_object_put(req);
		return usage_error(c, "expected VIP ID ADDRESS [PORT]");
	}
	req_str(req, "vip", pos[0]);
	r = add_uint(req, c, "id", "backend id", pos[1], 65535);
	if (!r)
		req_str(req, "address", pos[2]);
	if (!r && npos == 4)
		r = add_uint(req, c, "port", "port", pos[3], 65535);
	if (r) {
		json_object_put(req);
		return r;
	}
	return run_write(o, c, req, "backend %s (%s%s%s) added to vip %s", pos[1], pos[2],
			 npos == 4 ? ":" : "", npos == 4 ? pos[3] : "", pos[0]);
}

/* backend del|drain|undrain VIP ID */
static int do_backend_op(const struct opts *o, const struct cmd *c, int argc, char **argv)
{
	struct json_object *req;
	int r;

	if (argc != 2)
		return usage_error(c, "expected VIP ID");
	req = request(c);
	req_str(req, "vip", argv[0]);
	r = add_uint(req, c, "id", "backend id", argv[1], 65535);
	if (r) {
		json_object_put(req);
		return r;
	}
	return run_write(o, c, req, "backend %s of vip %s %s", argv[1], argv[0], c->done);
}

/* backend weight VIP ID W */
static int do_backend_weight(const struct opts *o, const struct cmd *c, int argc, char **argv)
{
	struct json_object *req;
	int r;

	if (argc != 3)
		return usage_error(c, "expected VIP ID WEIGHT");
	req = request(c);
	req_str(req, "vip", argv[0]);
	r = add_uint(req, c, "id", "backend id", argv[1], 65535);
	if (!r)
		r = add_uint(req, c, "weight", "weight", argv[2], UINT32_MAX);
	if (r) {
		json_object_put(req);
		return r;
	}
	return run_write(o, c, req, "backend %s of vip %s: weight %s", argv[1], argv[0], argv[2]);
}

static const char *endpoint(char *buf, size_t len, struct json_object *o, const char *a,
			    const char *p)
{
	struct json_object *v = get(o, a);

	if (!v || json_object_is_type(v, json_type_null))
		snprintf(buf, len, "-");
	else
		snprintf(buf, len, "%s:%lld", json_object_get_string(v), (long long)gint(o, p));
	return buf;
}

static void print_sessions(struct json_object *res, const void *arg)
{
	unsigned long limit = *(const unsigned long *)arg;
	struct table t = { .cols = 9 };
	char b[8][64];
	size_t i, n = array_len(res);

	table_row(&t, "CLIENT", "VIP", "PROTO", "BACKEND", "SNAT", "STATE", "OWNER", "VERSION",
		  "IDLE");
	for (i = 0; i < n; i++) {
		struct json_object *s = json_object_array_get_idx(res, i);

		snprintf(b[5], sizeof(b[5]), "%.1fs", json_object_get_double(get(s, "age")));
		table_row(&t, endpoint(b[0], sizeof(b[0]), s, "client", "client_port"),
			  endpoint(b[1], sizeof(b[1]), s, "vip", "vip_port"), gstr(s, "protocol"),
			  endpoint(b[2], sizeof(b[2]), s, "backend", "backend_port"),
			  endpoint(b[3], sizeof(b[3]), s, "snat", "snat_port"), gstr(s, "state"),
			  num(b[4], sizeof(b[4]), gint(s, "owner")),
			  num(b[6], sizeof(b[6]), gint(s, "version")), b[5]);
	}
	table_print(&t);
	if (n == (limit ? limit : 100))
		printf("(first %zu sessions; --limit N for more)\n", n);
}

static int do_sessions_list(const struct opts *o, const struct cmd *c, int argc, char **argv)
{
	struct json_object *req;
	unsigned long limit = 0;

	if (argc == 2 && !strcmp(argv[0], "--limit")) {
		if (parse_uint(argv[1], 1000000, &limit) < 0 || !limit)
			return usage_error(c, "--limit \"%s\" must be 1-1000000", argv[1]);
	} else if (argc) {
		return usage_error(c, "unexpected argument \"%s\"", argv[0]);
	}
	req = request(c);
	if (limit)
		json_object_object_add(req, "limit", json_object_new_int64((int64_t)limit));
	return show(o, c, req, &limit);
}

static void print_sessions_count(struct json_object *res, const void *arg)
{
	printf("%lld\n", (long long)gint(res, "count"));
}

static void print_stats(struct json_object *res, const void *arg)
{
	struct json_object *g, *vips, *d;
	struct table t = { .cols = 7 };
	char b[6][32];
	size_t i;

	g = get(res, "global");
	printf("data plane (all CPUs):\n");
	if (g) {
		json_object_object_foreach(g, k1, v1)
			printf("  %-22s %lld\n", k1, (long long)json_object_get_int64(v1));
	}
	d = get(res, "lbd");
	printf("lbd:\n");
	if (d) {
		json_object_object_foreach(d, k2, v2)
			printf("  %-22s %lld\n", k2, (long long)json_object_get_int64(v2));
	}
	vips = get(res, "vips");
	printf("per VIP:\n");
	table_row(&t, "  VIP", "PACKETS", "BYTES", "REPLY_PACKETS", "REPLY_BYTES", "NEW_SESSIONS",
		  "DROPS");
	for (i = 0; i < array_len(vips); i++) {
		struct json_object *v = json_object_array_get_idx(vips, i);
		char name[72];

		snprintf(name, sizeof(name), "  %s", gstr(v, "name"));
		table_row(&t, name, num(b[0], sizeof(b[0]), gint(v, "packets")),
			  num(b[1], sizeof(b[1]), gint(v, "bytes")),
			  num(b[2], sizeof(b[2]), gint(v, "reply_packets")),
			  num(b[3], sizeof(b[3]), gint(v, "reply_bytes")),
			  num(b[4], sizeof(b[4]), gint(v, "new_sessions")),
			  num(b[5], sizeof(b[5]), gint(v, "drops")));
	}
	table_print(&t);
}

/*
 * stats --prometheus: the same counters in the Prometheus text exposition
 * format (for node_exporter's textfile collector or a scrape wrapper),
 * labelled with the node name from "status".
 */
static void prom_counter(const char *name, const char *help, const char *labels, const char *key,
			 struct json_object *obj)
{
	size_t n;

	if (!obj || !json_object_is_type(obj, json_type_object))
		return;
	printf("# HELP %s %s\n# TYPE %s counter\n", name, help, name);
	json_object_object_foreach(obj, k, v)
	{
		n = strlen(k);
		if (n > 3 && !strcmp(k + n - 3, "_ms"))
			continue; /* a duration, not a counter */
		printf("%s{%s,%s=\"%s\"} %lld\n", name, labels, key, k,
		       (long long)json_object_get_int64(v));
	}
}

static void prom_vip(const char *name, const char *field, const char *help, const char *node,
		     struct json_object *vips)
{
	size_t i;

	printf("# HELP %s %s\n# TYPE %s counter\n", name, help, name);
	for (i = 0; i < array_len(vips); i++) {
		struct json_object *v = json_object_array_get_idx(vips, i);

		printf("%s{node=\"%s\",vip=\"%s\"} %lld\n", name, node, gstr(v, "name"),
		       (long long)gint(v, field));
	}
}

/* syncd's view of its peers, when sync is on: liveness and the service
 * sets compared (a difference breaks connections at a failover). */
static void prom_sync(struct json_object *st, const char *labels)
{
	struct json_object *sy, *peers;
	char why[256];
	size_t i, n;

	if (!get(st, "sync_control_socket"))
		return;
	sy = sync_status(st, why, sizeof(why));
	printf("# HELP xdplb_sync_up syncd answered its status socket\n"
	       "# TYPE xdplb_sync_up gauge\nxdplb_sync_up{%s} %d\n",
	       labels, sy ? 1 : 0);
	if (!sy)
		return;
	peers = get(sy, "peers");
	n = array_len(peers);
#define PEERS(metric, help, expr)                                                                  \
	do {                                                                                       \
		printf("# HELP " metric " " help "\n# TYPE " metric " gauge\n");                   \
		for (i = 0; i < n; i++) {                                                          \
			struct json_object *p = json_object_array_get_idx(peers, i);               \
			struct json_object *sv = get(p, "services");                               \
                                                                                                   \
			(void)sv;                                                                  \
			printf(metric "{%s,peer=\"node%lld\"} %lld\n", labels,                     \
			       (long long)gint(p, "node_id"), (long long)(expr));                  \
		}                                                                                  \
	} while (0)
	PEERS("xdplb_sync_peer_alive", "1 if the sync peer is heard from", gbool(p, "alive"));
	PEERS("xdplb_sync_peer_services_equal",
	      "1 if the peer's service set equals this node's (0: differs or not compared yet)",
	      !strcmp(gstr(sv, "state"), "equal"));
	PEERS("xdplb_sync_peer_service_differences",
	      "differences between the peer's service set and this node's",
	      gint(sv, "differences"));
	PEERS("xdplb_sync_peer_unprotected_sessions",
	      "sessions of this node the peer would refuse (their VIP or backend differs there)",
	      gint(sv, "unprotected_sessions"));
#undef PEERS
	json_object_put(sy);
}

static int do_stats(const struct opts *o, const struct cmd *c, int argc, char **argv)
{
	static const struct cmd status_cmd = { .word1 = "status" };
	struct json_object *st, *res, *vips, *pool;
	char labels[160];
	const char *node;
	int r;

	if (!argc)
		return show(o, c, request(c), NULL);
	if (argc != 1 || strcmp(argv[0], "--prometheus"))
		return usage_error(c, "unexpected argument \"%s\"", argv[0]);
	r = call(o, &status_cmd, request(&status_cmd), &st);
	if (r)
		return r;
	r = call(o, c, request(c), &res);
	if (r) {
		json_object_put(st);
		return r;
	}
	node = gstr(st, "node");
	snprintf(labels, sizeof(labels), "node=\"%s\"", node);
	prom_counter("xdplb_dataplane_packets_total",
		     "data-plane packets by outcome, summed over CPUs", labels, "outcome",
		     get(res, "global"));
	prom_counter("xdplb_lbd_events_total", "lbd events (ageing, rebuilds, requests)", labels,
		     "event", get(res, "lbd"));
	vips = get(res, "vips");
	prom_vip("xdplb_vip_packets_total", "packets", "client to VIP packets forwarded", node,
		 vips);
	prom_vip("xdplb_vip_bytes_total", "bytes", "client to VIP bytes forwarded", node, vips);
	prom_vip("xdplb_vip_reply_packets_total", "reply_packets",
		 "full-NAT reply packets to clients", node, vips);
	prom_vip("xdplb_vip_reply_bytes_total", "reply_bytes", "full-NAT reply bytes to clients",
		 node, vips);
	prom_vip("xdplb_vip_new_sessions_total", "new_sessions", "sessions created", node, vips);
	prom_vip("xdplb_vip_drops_total", "drops", "packets to the VIP dropped", node, vips);
	printf("# HELP xdplb_sessions sessions in this node's map\n# TYPE xdplb_sessions gauge\n");
	printf("xdplb_sessions{%s,owner=\"self\"} %lld\n", labels,
	       (long long)gint(st, "sessions_owned"));
	printf("xdplb_sessions{%s,owner=\"peers\"} %lld\n", labels,
	       (long long)(gint(st, "sessions") - gint(st, "sessions_owned")));
	pool = get(st, "port_pool");
	if (pool) {
		printf("# HELP xdplb_snat_ports_free free full-NAT ports of this node\n"
		       "# TYPE xdplb_snat_ports_free gauge\n");
		printf("xdplb_snat_ports_free{%s} %lld\n", labels, (long long)gint(pool, "free"));
	}
	prom_sync(st, labels);
	json_object_put(res);
	json_object_put(st);
	return 0;
}

#define CMD(w1, w2, a, h, f, ...)                                                                  \
	{                                                                                          \
		.word1 = w1, .word2 = w2, .args = a, .help = h, .fn = f, __VA_ARGS__               \
	}

static const struct cmd commands[] = {
	CMD("status", NULL, "", "daemon, data plane, pool and sync summary", do_status,
	    .print = print_status),
	CMD("cluster", NULL, "", "this node and its sync peers: liveness, service sets compared",
	    do_cluster),
	CMD("vip", "list", "", "VIPs", do_query, .print = print_vip_list),
	CMD("vip", "add", "NAME ADDRESS PORT tcp|udp fnat|dsr", "add a VIP", do_vip_add),
	CMD("vip", "del", "NAME", "delete a VIP and its backends", do_vip_del),
	CMD("backend", "list", "[VIP]", "backends with health, drain and table state",
	    do_backend_list, .print = print_backend_list),
	CMD("backend", "add", "VIP ID ADDRESS [PORT] [--weight W] [--mac M]",
	    "add a backend to a VIP", do_backend_add),
	CMD("backend", "del", "VIP ID", "remove a backend from a VIP", do_backend_op,
	    .done = "deleted"),
	CMD("backend", "drain", "VIP ID", "no new flows to the backend, keep its sessions",
	    do_backend_op, .done = "drained (no new flows; its sessions are kept)"),
	CMD("backend", "undrain", "VIP ID", "undo drain", do_backend_op, .done = "undrained"),
	CMD("backend", "weight", "VIP ID WEIGHT",
	    "new weight (0: no new flows, its sessions are kept)", do_backend_weight),
	CMD("sessions", "list", "[--limit N]", "sessions (default 100)", do_sessions_list,
	    .print = print_sessions),
	CMD("sessions", "count", "", "number of sessions", do_query, .print = print_sessions_count),
	CMD("stats", NULL, "[--prometheus]", "data plane counters, per-VIP counters, lbd counters",
	    do_stats, .print = print_stats),
	{ .word1 = NULL },
};

static void usage(FILE *f)
{
	const struct cmd *c;
	char name[64];

	fprintf(f, "usage: lbctl [-s SOCKET | -n NODE] [--json] COMMAND [ARGS]\n"
		   "  -s, --socket SOCKET  lbd control socket\n"
		   "  -n, --node NODE      socket " CFG_DEF_RUN_DIR "/NODE.sock\n"
		   "                       (default: $XLB_SOCKET or " DEFAULT_SOCKET ")\n"
		   "  -j, --json           print the daemon's JSON result\n"
		   "commands:\n");
	for (c = commands; c->word1; c++) {
		char line[128];

		snprintf(line, sizeof(line), "%s%s%s", cmd_name(c, name, sizeof(name)),
			 c->args[0] ? " " : "", c->args);
		fprintf(f, "  %-56s %s\n", line, c->help);
	}
}

int main(int argc, char **argv)
{
	static const struct option lopts[] = {
		{ "socket", required_argument, NULL, 's' },
		{ "node", required_argument, NULL, 'n' },
		{ "json", no_argument, NULL, 'j' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	struct opts o = { .json = false };
	const char *sock = NULL, *node = NULL, *env;
	const struct cmd *c, *match = NULL;
	bool word1_known = false;
	int opt, i, n, rest = 0;
	char **args;

	while ((opt = getopt_long(argc, argv, "+s:n:jh", lopts, NULL)) != -1) {
		switch (opt) {
		case 's':
			sock = optarg;
			break;
		case 'n':
			node = optarg;
			break;
		case 'j':
			o.json = true;
			break;
		case 'h':
			usage(stdout);
			return 0;
		default:
			usage(stderr);
			return EXIT_USAGE;
		}
	}
	if (sock && node) {
		fail("-s and -n are mutually exclusive");
		return EXIT_USAGE;
	}
	if (sock)
		n = snprintf(o.socket, sizeof(o.socket), "%s", sock);
	else if (node)
		n = snprintf(o.socket, sizeof(o.socket), CFG_DEF_CONTROL_SOCKET_FMT, node);
	else if ((env = getenv("XLB_SOCKET")) && *env)
		n = snprintf(o.socket, sizeof(o.socket), "%s", env);
	else
		n = snprintf(o.socket, sizeof(o.socket), "%s", DEFAULT_SOCKET);
	if (n < 0 || (size_t)n >= sizeof(o.socket)) {
		fail("socket path too long");
		return EXIT_USAGE;
	}
	if (optind >= argc) {
		usage(stderr);
		return EXIT_USAGE;
	}

	for (c = commands; c->word1; c++) {
		if (strcmp(c->word1, argv[optind]))
			continue;
		word1_known = true;
		if (!c->word2) {
			match = c;
			rest = optind + 1;
			break;
		}
		if (optind + 1 < argc && !strcmp(c->word2, argv[optind + 1])) {
			match = c;
			rest = optind + 2;
			break;
		}
	}
	if (!match) {
		if (word1_known)
			fail("%s: unknown sub-command %s%s%s (try lbctl --help)", argv[optind],
			     optind + 1 < argc ? "\"" : "(none)",
			     optind + 1 < argc ? argv[optind + 1] : "",
			     optind + 1 < argc ? "\"" : "");
		else
			fail("unknown command \"%s\" (try lbctl --help)", argv[optind]);
		return EXIT_USAGE;
	}
	/* --json is accepted after the command too; drop it from the args. */
	args = calloc(argc, sizeof(*args));
	if (!args) {
		fail("out of memory");
		return EXIT_DAEMON;
	}
	for (i = rest, n = 0; i < argc; i++) {
		if (!strcmp(argv[i], "--json") || !strcmp(argv[i], "-j"))
			o.json = true;
		else
			args[n++] = argv[i];
	}
	i = match->fn(&o, match, n, args);
	free(args);
	return i;
}
