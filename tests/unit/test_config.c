// SPDX-License-Identifier: BSD-2-Clause
/* Config parser: a full valid config, its JSON twin, defaults, the example
 * files, and a table of bad configs with the exact error position; the
 * validators lbd's control socket shares with the parser, which must
 * refuse what the file refuses, with the same reason. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <cmocka.h>

#include "config.h"

static const char full_yaml[] =
	"# every key set\n"
	"node:\n"
	"  id: 7\n"
	"  name: lb-7.a_b\n"
	"  interface: veth-lb7\n"
	"  xdp_mode: generic\n"
	"bpffs: /sys/fs/bpf/\n"
	"pin_dir: /sys/fs/bpf/xlb/seven\n"
	"control_socket: /tmp/lb7.sock\n"
	"snat:\n"
	"  address: 198.18.101.7\n"
	"  port_min: 2000\n"
	"  port_max: 3999\n"
	"  port_hold_s: 90\n"
	"sessions:\n"
	"  max: 4096\n"
	"  ageing_interval_ms: 250\n"
	"  timeouts: {tcp_syn: 5, tcp_established: 600, tcp_closing: 3, udp: 45, backend_gone: "
	"20}\n"
	"vips:\n"
	"  - name: web\n"
	"    address: 198.18.100.1\n"
	"    port: 80\n"
	"    protocol: tcp\n"
	"    mode: fnat\n"
	"    healthcheck: {type: http, port: 81, path: /healthz?x=1, expect_status: 204,\n"
	"                  interval_ms: 2000, timeout_ms: 700, rise: 4, fall: 5}\n"
	"    backends:\n"
	"      - {id: 1, address: 198.18.2.21, port: 80, weight: 3, mac: \"02:00:00:00:00:21\", "
	"drain: false}\n"
	"      - {id: 2, address: 198.18.2.22, port: 80, weight: 0, drain: true}\n"
	"  - name: quic\n"
	"    address: 198.18.100.1\n"
	"    port: 80\n"
	"    protocol: udp\n"
	"    mode: dsr\n"
	"    healthcheck:\n"
	"      type: tcp\n"
	"      port: 443\n"
	"    backends:\n"
	"      - id: 4095\n"
	"        address: 198.18.2.23\n"
	"        port: 0\n"
	"        mac: 02:AA:bb:cc:DD:ee\n"
	"      - {id: 1, address: 198.18.2.21, port: 80, mac: \"02:00:00:00:00:21\"}\n"
	"sync:\n"
	"  enabled: true\n"
	"  listen: tcp://198.18.2.17:7400\n"
	"  auth: \"off\"\n"
	"  peers:\n"
	"    - {node_id: 2, address: tcp://198.18.2.12:7400}\n"
	"    - {node_id: 3, address: \"198.18.2.13:7401\"}\n"
	"  maps: [reverse]\n";

/* The same, as JSON. */
static const char full_json[] =
	"{\n"
	"  \"node\": {\"id\": 7, \"name\": \"lb-7.a_b\", \"interface\": \"veth-lb7\",\n"
	"           \"xdp_mode\": \"generic\"},\n"
	"  \"bpffs\": \"/sys/fs/bpf/\",\n"
	"  \"pin_dir\": \"/sys/fs/bpf/xlb/seven\",\n"
	"  \"control_socket\": \"/tmp/lb7.sock\",\n"
	"  \"snat\": {\"address\": \"198.18.101.7\", \"port_min\": 2000, \"port_max\": 3999,\n"
	"           \"port_hold_s\": 90},\n"
	"  \"sessions\": {\"max\": 4096, \"ageing_interval_ms\": 250,\n"
	"    \"timeouts\": {\"tcp_syn\": 5, \"tcp_established\": 600, \"tcp_closing\": 3, \"udp\": "
	"45, \"backend_gone\": 20}},\n"
	"  \"vips\": [\n"
	"    {\"name\": \"web\", \"address\": \"198.18.100.1\", \"port\": 80, \"protocol\": "
	"\"tcp\",\n"
	"     \"mode\": \"fnat\",\n"
	"     \"healthcheck\": {\"type\": \"http\", \"port\": 81, \"path\": \"/healthz?x=1\",\n"
	"       \"expect_status\": 204, \"interval_ms\": 2000, \"timeout_ms\": 700, \"rise\": 4, "
	"\"fall\": 5},\n"
	"     \"backends\": [\n"
	"       {\"id\": 1, \"address\": \"198.18.2.21\", \"port\": 80, \"weight\": 3,\n"
	"        \"mac\": \"02:00:00:00:00:21\", \"drain\": false},\n"
	"       {\"id\": 2, \"address\": \"198.18.2.22\", \"port\": 80, \"weight\": 0, \"drain\": "
	"true}]},\n"
	"    {\"name\": \"quic\", \"address\": \"198.18.100.1\", \"port\": 80, \"protocol\": "
	"\"udp\",\n"
	"     \"mode\": \"dsr\", \"healthcheck\": {\"type\": \"tcp\", \"port\": 443},\n"
	"     \"backends\": [{\"id\": 4095, \"address\": \"198.18.2.23\", \"port\": 0,\n"
	"                   \"mac\": \"02:AA:bb:cc:DD:ee\"},\n"
	"                  "
	"{\"id\":1,\"address\":\"198.18.2.21\",\"port\":80,\"mac\":\"02:00:00:00:00:21\"}]}\n"
	"  ],\n"
	"  \"sync\": {\"enabled\": true, \"listen\": \"tcp://198.18.2.17:7400\", \"auth\": "
	"\"off\",\n"
	"    \"peers\": [{\"node_id\": 2, \"address\": \"tcp://198.18.2.12:7400\"},\n"
	"              {\"node_id\": 3, \"address\": \"198.18.2.13:7401\"}],\n"
	"    \"maps\": [\"reverse\"]}\n"
	"}\n";

static struct node_config *cfg_alloc(void)
{
	struct node_config *c = malloc(sizeof(*c));

	assert_non_null(c);
	return c;
}

static int load(const char *name, const char *text, struct node_config *c, char *err, size_t errlen)
{
	return cfg_load_buffer(name, text, strlen(text), c, err, errlen);
}

static void assert_addr(int family, const union xlb_addr *a, const char *want)
{
	char buf[64];

	assert_int_equal(family, AF_INET);
	assert_string_equal(cfg_format_addr(family, a, buf, sizeof(buf)), want);
}

static void check_full(const struct node_config *c)
{
	const struct cfg_vip *v;
	const struct cfg_backend *b;
	static const uint8_t mac1[6] = { 2, 0, 0, 0, 0, 0x21 };
	static const uint8_t mac2[6] = { 2, 0xaa, 0xbb, 0xcc, 0xdd, 0xee };

	assert_int_equal(c->node_id, 7);
	assert_string_equal(c->node_name, "lb-7.a_b");
	assert_string_equal(c->interface, "veth-lb7");
	assert_string_equal(c->xdp_mode, "generic");
	assert_string_equal(c->bpffs, "/sys/fs/bpf"); /* trailing / dropped */
	assert_string_equal(c->pin_dir, "/sys/fs/bpf/xlb/seven");
	assert_string_equal(c->control_socket, "/tmp/lb7.sock");
	assert_addr(c->snat_family, &c->snat_addr, "198.18.101.7");
	assert_int_equal(c->snat_port_min, 2000);
	assert_int_equal(c->snat_port_max, 3999);
	assert_int_equal(c->snat_port_hold_s, 90);
	assert_int_equal(c->max_sessions, 4096);
	assert_int_equal(c->timeouts.ageing_interval_ms, 250);
	assert_int_equal(c->timeouts.tcp_syn, 5);
	assert_int_equal(c->timeouts.backend_gone, 20);
	assert_int_equal(c->timeouts.tcp_established, 600);
	assert_int_equal(c->timeouts.tcp_closing, 3);
	assert_int_equal(c->timeouts.udp, 45);

	assert_int_equal(c->n_vips, 2);
	v = &c->vips[0];
	assert_string_equal(v->name, "web");
	assert_int_equal(v->vip_id, 0);
	assert_addr(v->family, &v->addr, "198.18.100.1");
	assert_int_equal(v->port, 80);
	assert_int_equal(v->proto, IPPROTO_TCP);
	assert_int_equal(v->mode, XLB_MODE_FNAT);
	assert_int_equal(v->hc.type, HC_HTTP);
	assert_int_equal(v->hc.port, 81);
	assert_string_equal(v->hc.path, "/healthz?x=1");
	assert_int_equal(v->hc.expect_status, 204);
	assert_int_equal(v->hc.interval_ms, 2000);
	assert_int_equal(v->hc.timeout_ms, 700);
	assert_int_equal(v->hc.rise, 4);
	assert_int_equal(v->hc.fall, 5);
	assert_int_equal(v->n_backends, 2);
	b = &v->backends[0];
	assert_int_equal(b->id, 1);
	assert_addr(b->family, &b->addr, "198.18.2.21");
	assert_int_equal(b->port, 80);
	assert_int_equal(b->weight, 3);
	assert_true(b->has_mac);
	assert_memory_equal(b->mac, mac1, 6);
	assert_false(b->drain);
	b = &v->backends[1];
	assert_int_equal(b->id, 2);
	assert_addr(b->family, &b->addr, "198.18.2.22");
	assert_int_equal(b->weight, 0);
	assert_false(b->has_mac);
	assert_true(b->drain);

	v = &c->vips[1];
	assert_string_equal(v->name, "quic");
	assert_int_equal(v->vip_id, 1);
	assert_int_equal(v->port, 80);
	assert_int_equal(v->proto, IPPROTO_UDP);
	assert_int_equal(v->mode, XLB_MODE_DSR);
	assert_int_equal(v->hc.type, HC_TCP);
	assert_int_equal(v->hc.port, 443);
	assert_int_equal(v->hc.interval_ms, 1000); /* defaults */
	assert_int_equal(v->hc.timeout_ms, 500);
	assert_int_equal(v->hc.rise, 2);
	assert_int_equal(v->hc.fall, 3);
	assert_int_equal(v->n_backends, 2);
	b = &v->backends[0];
	assert_int_equal(b->id, 4095);
	assert_int_equal(b->port, 0);
	assert_int_equal(b->weight, 1);
	assert_true(b->has_mac);
	assert_memory_equal(b->mac, mac2, 6);
	assert_int_equal(v->backends[1].id, 1);

	assert_true(c->sync.enabled);
	assert_true(c->sync.auth_off);
	assert_string_equal(c->sync.key_file, "");
	assert_string_equal(c->sync.listen, "tcp://198.18.2.17:7400");
	assert_int_equal(c->sync.n_peers, 2);
	assert_int_equal(c->sync.peers[0].node_id, 2);
	assert_string_equal(c->sync.peers[0].address, "tcp://198.18.2.12:7400");
	assert_int_equal(c->sync.peers[1].node_id, 3);
	assert_string_equal(c->sync.peers[1].address, "198.18.2.13:7401");
	assert_int_equal(c->sync.n_maps, 1);
	assert_string_equal(c->sync.maps[0], "reverse");
}

static void test_full(void **state)
{
	struct node_config *c = cfg_alloc();
	char err[256] = "";

	if (load("full.yaml", full_yaml, c, err, sizeof(err)))
		fail_msg("%s", err);
	assert_string_equal(err, "");
	assert_string_equal(c->path, "full.yaml");
	check_full(c);
	free(c);
}

static void test_json_equivalent(void **state)
{
	struct node_config *y = cfg_alloc(), *j = cfg_alloc();
	char err[256];

	assert_int_equal(load("full.yaml", full_yaml, y, err, sizeof(err)), 0);
	if (load("full.json", full_json, j, err, sizeof(err)))
		fail_msg("%s", err);
	check_full(j);
	memcpy(j->path, y->path, sizeof(j->path));
	assert_memory_equal(y, j, sizeof(*y));
	free(y);
	free(j);
}

static void test_defaults(void **state)
{
	static const char text[] = "node: {id: 12, interface: eth1}\n";
	struct node_config *c = cfg_alloc();
	char err[256];

	assert_int_equal(load("d.yaml", text, c, err, sizeof(err)), 0);
	assert_int_equal(c->node_id, 12);
	assert_string_equal(c->node_name, "node12");
	assert_string_equal(c->xdp_mode, "native");
	assert_string_equal(c->bpffs, "/run/xdplb/bpf");
	assert_string_equal(c->pin_dir, "/run/xdplb/bpf/node12");
	assert_string_equal(c->control_socket, "/run/xdplb/node12.sock");
	assert_int_equal(c->snat_family, 0);
	assert_int_equal(c->snat_port_min, 10000);
	assert_int_equal(c->snat_port_max, 59999);
	assert_int_equal(c->snat_port_hold_s, 60);
	assert_int_equal(c->max_sessions, XLB_DEFAULT_SESSIONS);
	assert_int_equal(c->timeouts.tcp_syn, 30);
	assert_int_equal(c->timeouts.tcp_established, 900);
	assert_int_equal(c->timeouts.tcp_closing, 10);
	assert_int_equal(c->timeouts.udp, 60);
	assert_int_equal(c->timeouts.backend_gone, 0);
	assert_int_equal(c->timeouts.ageing_interval_ms, 1000);
	assert_int_equal(c->n_vips, 0);
	assert_false(c->sync.enabled);
	assert_int_equal(c->sync.n_peers, 0);
	assert_int_equal(c->sync.n_maps, 2);
	assert_string_equal(c->sync.maps[0], "sessions");
	assert_string_equal(c->sync.maps[1], "reverse");
	free(c);
}

static void test_vip_defaults(void **state)
{
	static const char text[] = "node: {id: 1, name: lb1, interface: eth0}\n"
				   "bpffs: /mnt/bpf\n"
				   "snat: {address: 198.18.101.1}\n"
				   "vips:\n"
				   "  - name: w\n"
				   "    address: 198.18.100.1\n"
				   "    port: 443\n"
				   "    healthcheck: {type: http}\n"
				   "    backends: [{id: 9, address: 198.18.2.9}]\n";
	struct node_config *c = cfg_alloc();
	const struct cfg_vip *v;
	char err[256];

	assert_int_equal(load("v.yaml", text, c, err, sizeof(err)), 0);
	assert_string_equal(c->pin_dir, "/mnt/bpf/lb1");
	assert_string_equal(c->control_socket, "/run/xdplb/lb1.sock");
	v = cfg_find_vip(c, "w");
	assert_non_null(v);
	assert_ptr_equal(v, &c->vips[0]);
	assert_null(cfg_find_vip(c, "nope"));
	assert_int_equal(v->proto, IPPROTO_TCP);
	assert_int_equal(v->mode, XLB_MODE_FNAT);
	assert_int_equal(v->hc.type, HC_HTTP);
	assert_int_equal(v->hc.port, 0);
	assert_string_equal(v->hc.path, "/");
	assert_int_equal(v->hc.expect_status, 200);
	assert_int_equal(v->hc.interval_ms, 1000);
	assert_int_equal(v->hc.timeout_ms, 500);
	assert_int_equal(v->hc.rise, 2);
	assert_int_equal(v->hc.fall, 3);
	assert_int_equal(v->backends[0].port, 0);
	assert_int_equal(v->backends[0].weight, 1);
	assert_false(v->backends[0].has_mac);
	assert_false(v->backends[0].drain);
	free(c);
}

static void test_examples(void **state)
{
	static const char *const files[] = {
		XLB_SOURCE_DIR "/examples/lb1.yaml",
		XLB_SOURCE_DIR "/examples/minimal.json",
	};
	struct node_config *c = cfg_alloc();
	char err[512];
	size_t i;

	for (i = 0; i < sizeof(files) / sizeof(files[0]); i++) {
		if (cfg_load_file(files[i], c, err, sizeof(err)))
			fail_msg("%s", err);
		assert_string_equal(c->path, files[i]);
	}
	/* lb1.yaml: the shape the testbed and docs rely on */
	assert_int_equal(cfg_load_file(files[0], c, err, sizeof(err)), 0);
	assert_int_equal(c->n_vips, 2);
	assert_int_equal(c->vips[0].mode, XLB_MODE_FNAT);
	assert_int_equal(c->vips[1].mode, XLB_MODE_DSR);
	assert_int_equal(c->vips[0].n_backends, 3);
	assert_int_equal(c->vips[1].n_backends, 3);
	assert_int_equal(c->snat_port_min, 10000);
	assert_int_equal(c->snat_port_max, 29999);
	free(c);
}

static void write_file(const char *path, const char *text)
{
	FILE *f = fopen(path, "w");

	assert_non_null(f);
	assert_int_equal(fwrite(text, 1, strlen(text), f), strlen(text));
	assert_int_equal(fclose(f), 0);
}

static void test_files(void **state)
{
	char dir[] = "/tmp/xlb-cfg-XXXXXX", path[128], err[512], want[256];
	struct node_config *c = cfg_alloc();

	assert_non_null(mkdtemp(dir));

	/* a JSON file on disk */
	snprintf(path, sizeof(path), "%s/lb.json", dir);
	write_file(path, full_json);
	assert_int_equal(cfg_load_file(path, c, err, sizeof(err)), 0);
	check_full(c);
	assert_string_equal(c->path, path);
	unlink(path);

	/* empty file */
	snprintf(path, sizeof(path), "%s/empty.yaml", dir);
	write_file(path, "");
	assert_int_equal(cfg_load_file(path, c, err, sizeof(err)), -1);
	snprintf(want, sizeof(want), "%s:1:1: empty configuration", path);
	assert_memory_equal(err, want, strlen(want));
	unlink(path);

	/* only comments: empty too */
	write_file(path, "# nothing here\n\n");
	assert_int_equal(cfg_load_file(path, c, err, sizeof(err)), -1);
	assert_memory_equal(err, want, strlen(want));
	unlink(path);

	/* missing file */
	snprintf(path, sizeof(path), "%s/missing.yaml", dir);
	assert_int_equal(cfg_load_file(path, c, err, sizeof(err)), -1);
	snprintf(want, sizeof(want), "%s: failed to open: No such file or directory", path);
	assert_string_equal(err, want);
	assert_null(strchr(err, '\n'));

	assert_int_equal(rmdir(dir), 0);
	free(c);
}

/* ---------------------------------------------------------------------- */
/* bad configs */

#define NODE "node: {id: 1, interface: eth0}\n"
#define SNAT "snat: {address: 198.18.101.1}\n"
#define VIP0 "vips:\n  - name: a\n    address: 198.18.100.1\n    port: 80\n"

struct bad {
	const char *what;
	const char *text;
	const char *pos;    /* "LINE:COL" */
	const char *reason; /* substring of the message */
};

static const struct bad bad_cfgs[] = {
	{ "empty buffer", "", "1:1", "empty configuration" },
	{ "syntax error: unclosed flow mapping", "node: {id: 1, interface: eth0\nbpffs: /x\n",
	  "2:6", "YAML syntax error" },
	{ "syntax error: bad indentation", "node:\n  id: 1\n interface: eth0\n", "3:2",
	  "YAML syntax error" },
	{ "syntax error: tab indentation", "node:\n\tid: 1\n", "2:1", "YAML syntax error" },
	{ "broken JSON", "{\"node\": {\"id\": 1,, }}", "1:19", "YAML syntax error" },
	{ "two documents", NODE "---\n" NODE, "2:1", "more than one YAML document" },
	{ "top level list", "- node\n", "1:1", "top level: expected a mapping, got a list" },
	{ "top level scalar", "hello\n", "1:1", "top level: expected a mapping" },
	{ "unknown top-level key", NODE "vip: []\n", "2:1", "vip: unknown key" },
	{ "unknown key (typo)", "node: {id: 1, interface: eth0, xdpmode: native}\n", "1:32",
	  "node.xdpmode: unknown key" },
	{ "unknown backend key",
	  SNAT NODE VIP0 "    backends: [{id: 1, address: 198.18.2.1, wieght: 2}]\n", "7:45",
	  "vips[0].backends[0].wieght: unknown key" },
	{ "duplicate key", NODE "bpffs: /a\nbpffs: /b\n", "3:1",
	  "bpffs: duplicate key (first at line 2)" },
	{ "duplicate nested key", "node:\n  id: 1\n  interface: eth0\n  id: 2\n", "4:3",
	  "node.id: duplicate key" },
	{ "missing node", "bpffs: /x\n", "1:1", "node: required section is missing" },
	{ "missing node.id", "node:\n  interface: eth0\n", "2:3",
	  "node.id: required key is missing" },
	{ "empty node.id", "node:\n  id:\n  interface: eth0\n", "2:3",
	  "node.id: required (value is empty)" },
	{ "node.id out of range", "node: {id: 65536, interface: eth0}\n", "1:12",
	  "node.id: 65536 is out of range 1-65535" },
	{ "node.id zero", "node: {id: 0, interface: eth0}\n", "1:12",
	  "node.id: 0 is out of range 1-65535" },
	{ "node.id negative", "node: {id: -3, interface: eth0}\n", "1:12",
	  "node.id: -3 is out of range 1-65535" },
	{ "node.id huge", "node: {id: 99999999999999999999999, interface: eth0}\n", "1:12",
	  "out of range 1-65535" },
	{ "string for int", "node: {id: \"1\", interface: eth0}\n", "1:12",
	  "node.id: expected an integer, got string \"1\"" },
	{ "word for int", "node: {id: one, interface: eth0}\n", "1:12",
	  "node.id: expected an integer, got \"one\"" },
	{ "float for int", "node: {id: 1.5, interface: eth0}\n", "1:12",
	  "node.id: expected an integer" },
	{ "leading zero", "node: {id: 010, interface: eth0}\n", "1:12",
	  "node.id: \"010\": leading zeros are not allowed" },
	{ "control character in input", "node: {id: 1,\n interface: \x01}\n", "2:13",
	  "invalid input" },
	{ "invalid UTF-8", "node: {id: 1, interface: \xff\xfe}\n", "1:26", "invalid input" },
	{ "list for int", "node: {id: [1], interface: eth0}\n", "1:12",
	  "node.id: expected an integer, got a list" },
	{ "bad node name", "node: {id: 1, name: \"lb 1\", interface: eth0}\n", "1:21",
	  "node.name: \"lb 1\" must be 1-63 characters" },
	{ "interface too long", "node: {id: 1, interface: abcdefghijklmnopq}\n", "1:26",
	  "node.interface: \"abcdefghijklmnopq\" is not a valid interface name" },
	{ "interface with slash", "node: {id: 1, interface: a/b}\n", "1:26",
	  "is not a valid interface name" },
	{ "bad xdp_mode", "node: {id: 1, interface: eth0, xdp_mode: offload}\n", "1:42",
	  "node.xdp_mode: \"offload\" is not one of native | generic" },
	{ "relative bpffs", NODE "bpffs: run/bpf\n", "2:8",
	  "bpffs: \"run/bpf\" must be an absolute path" },
	{ "dotdot pin_dir", NODE "pin_dir: /run/xdplb/bpf/../x\n", "2:10",
	  "must be an absolute path" },
	{ "pin_dir outside bpffs", NODE "bpffs: /run/xdplb/bpf\npin_dir: /run/xdplb/bpfx/a\n",
	  "3:10", "pin_dir: /run/xdplb/bpfx/a is not under bpffs (/run/xdplb/bpf)" },
	{ "pin_dir equal to bpffs", NODE "pin_dir: /run/xdplb/bpf\n", "2:10",
	  "is not under bpffs" },
	{ "control socket too long",
	  NODE "control_socket: /"
	       "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"
	       "aaaaaaaaaaaaaaaaaaaaaaaaaa\n",
	  "2:17", "too long for a Unix socket" },
	{ "bad snat address", NODE "snat: {address: 198.18.101.300}\n", "2:17",
	  "snat.address: \"198.18.101.300\" is not an IPv4 address" },
	{ "snat address 0.0.0.0", NODE "snat: {address: 0.0.0.0}\n", "2:17",
	  "snat.address: 0.0.0.0 is not a unicast address" },
	{ "snat port below 1024", NODE "snat: {address: 198.18.101.1, port_min: 80}\n", "2:41",
	  "snat.port_min: 80 is out of range 1024-65535" },
	{ "snat min > max",
	  NODE "snat:\n  address: 198.18.101.1\n  port_min: 5000\n  port_max: 4000\n", "5:13",
	  "snat: port_max 4000 is below port_min 5000" },
	{ "sessions.max too small", NODE "sessions: {max: 10}\n", "2:17",
	  "sessions.max: 10 is out of range 1024-16777216" },
	{ "timeout zero", NODE "sessions:\n  timeouts: {udp: 0}\n", "3:19",
	  "sessions.timeouts.udp: 0 is out of range 1-" },
	{ "unknown timeout", NODE "sessions:\n  timeouts: {icmp: 5}\n", "3:14",
	  "sessions.timeouts.icmp: unknown key" },
	{ "vips not a list", NODE "vips: {name: a}\n", "2:7",
	  "vips: expected a list, got a mapping" },
	{ "vip without name", NODE SNAT "vips:\n  - address: 198.18.100.1\n    port: 80\n", "4:5",
	  "vips[0].name: required key is missing" },
	{ "vip bad address",
	  NODE SNAT "vips:\n  - name: a\n    address: 198.18.100\n    port: 80\n", "5:14",
	  "vips[0].address: \"198.18.100\" is not an IPv4 address" },
	{ "vip multicast address",
	  NODE SNAT "vips:\n  - name: a\n    address: 224.0.0.1\n    port: 80\n", "5:14",
	  "is not a unicast address" },
	{ "vip port out of range",
	  NODE SNAT "vips:\n  - name: a\n    address: 198.18.100.1\n    port: 70000\n", "6:11",
	  "vips[0].port: 70000 is out of range 1-65535" },
	{ "vip bad protocol", NODE SNAT VIP0 "    protocol: sctp\n", "7:15",
	  "vips[0].protocol: \"sctp\" is not one of tcp | udp" },
	{ "vip bad mode", NODE SNAT VIP0 "    mode: nat\n", "7:11",
	  "vips[0].mode: \"nat\" is not one of fnat | dsr" },
	{ "fnat without snat", NODE VIP0 "    mode: fnat\n", "6:11",
	  "vips[0].mode: fnat (the default mode) needs snat.address" },
	{ "default fnat without snat", NODE VIP0, "3:5", "needs snat.address" },
	{ "duplicate vip", NODE SNAT VIP0 "  - name: b\n    address: 198.18.100.1\n    port: 80\n",
	  "8:14", "vips[1]: 198.18.100.1:80/tcp is already vips[0] (a)" },
	{ "same vip other protocol is fine, duplicate name is not",
	  NODE SNAT VIP0
	  "  - name: a\n    address: 198.18.100.1\n    port: 80\n    protocol: udp\n",
	  "7:11", "vips[1].name: \"a\" is already the name of vips[0]" },
	{ "hc bad type", NODE SNAT VIP0 "    healthcheck: {type: icmp}\n", "7:25",
	  "vips[0].healthcheck.type: \"icmp\" is not one of none | tcp | http" },
	{ "hc timeout >= interval",
	  NODE SNAT VIP0 "    healthcheck: {type: tcp, interval_ms: 500, timeout_ms: 500}\n",
	  "7:60", "vips[0].healthcheck: timeout_ms 500 must be below interval_ms 500" },
	{ "hc rise zero", NODE SNAT VIP0 "    healthcheck: {type: tcp, rise: 0}\n", "7:36",
	  "vips[0].healthcheck.rise: 0 is out of range 1-" },
	{ "hc fall zero", NODE SNAT VIP0 "    healthcheck: {type: tcp, fall: 0}\n", "7:36",
	  "vips[0].healthcheck.fall: 0 is out of range 1-" },
	{ "hc expect_status 99",
	  NODE SNAT VIP0 "    healthcheck: {type: http, expect_status: 99}\n", "7:46",
	  "vips[0].healthcheck.expect_status: 99 is out of range 100-599" },
	{ "hc expect_status 600",
	  NODE SNAT VIP0 "    healthcheck: {type: http, expect_status: 600}\n", "7:46",
	  "out of range 100-599" },
	{ "hc path for tcp", NODE SNAT VIP0 "    healthcheck: {type: tcp, path: /x}\n", "7:36",
	  "vips[0].healthcheck.path: only valid with type http" },
	{ "hc path with CRLF",
	  NODE SNAT VIP0 "    healthcheck: {type: http, path: \"/x\\r\\nHost: y\"}\n", "7:37",
	  "must not contain spaces or control characters" },
	{ "backends not a list", NODE SNAT VIP0 "    backends: {id: 1}\n", "7:15",
	  "vips[0].backends: expected a list, got a mapping" },
	{ "backend id 0", NODE SNAT VIP0 "    backends: [{id: 0, address: 198.18.2.1}]\n", "7:21",
	  "vips[0].backends[0].id: 0 is out of range 1-4095" },
	{ "backend id 4096", NODE SNAT VIP0 "    backends: [{id: 4096, address: 198.18.2.1}]\n",
	  "7:21", "vips[0].backends[0].id: 4096 is out of range 1-4095" },
	{ "backend without address", NODE SNAT VIP0 "    backends: [{id: 1}]\n", "7:16",
	  "vips[0].backends[0].address: required key is missing" },
	{ "backend bad address", NODE SNAT VIP0 "    backends: [{id: 1, address: 198.18.2.x}]\n",
	  "7:33", "vips[0].backends[0].address: \"198.18.2.x\" is not an IPv4 address" },
	{ "backend port out of range",
	  NODE SNAT VIP0 "    backends: [{id: 1, address: 198.18.2.1, port: 65536}]\n", "7:51",
	  "vips[0].backends[0].port: 65536 is out of range 0-65535" },
	{ "backend bad mac",
	  NODE SNAT VIP0 "    backends: [{id: 1, address: 198.18.2.1, mac: \"02:00:00:00:00\"}]\n",
	  "7:50", "vips[0].backends[0].mac: \"02:00:00:00:00\" is not a MAC address" },
	{ "backend multicast mac",
	  NODE SNAT VIP0
	  "    backends: [{id: 1, address: 198.18.2.1, mac: \"01:00:5e:00:00:01\"}]\n",
	  "7:50", "is not a unicast MAC address" },
	{ "backend bad drain",
	  NODE SNAT VIP0 "    backends: [{id: 1, address: 198.18.2.1, drain: maybe}]\n", "7:52",
	  "vips[0].backends[0].drain: expected true or false, got \"maybe\"" },
	{ "backend weight too big",
	  NODE SNAT VIP0 "    backends: [{id: 1, address: 198.18.2.1, weight: 10001}]\n", "7:53",
	  "vips[0].backends[0].weight: 10001 is out of range 0-10000" },
	{ "duplicate backend id in a vip",
	  NODE SNAT VIP0 "    backends:\n      - {id: 1, address: 198.18.2.1}\n"
			 "      - {id: 1, address: 198.18.2.2}\n",
	  "9:14", "vips[0].backends[1].id: backend id 1 is used twice in this VIP" },
	{ "duplicate backend address in a vip",
	  NODE SNAT VIP0 "    backends:\n      - {id: 1, address: 198.18.2.1}\n"
			 "      - {id: 2, address: 198.18.2.1, port: 80}\n",
	  "9:26", "vips[0].backends[1]: 198.18.2.1:80 is already backends[0] of this VIP" },
	{ "backend id conflict across vips",
	  NODE SNAT VIP0 "    backends: [{id: 5, address: 198.18.2.1, port: 80}]\n"
			 "  - name: b\n    address: 198.18.100.2\n    port: 80\n"
			 "    backends: [{id: 5, address: 198.18.2.2, port: 80}]\n",
	  "11:21",
	  "vips[1].backends[0].id: backend id 5 is 198.18.2.2:80 here but "
	  "198.18.2.1:80 in vips[0].backends[0]" },
	{ "backend id conflict: port",
	  NODE SNAT VIP0 "    backends: [{id: 5, address: 198.18.2.1, port: 80}]\n"
			 "  - name: b\n    address: 198.18.100.2\n    port: 80\n"
			 "    backends: [{id: 5, address: 198.18.2.1}]\n",
	  "11:21", "backend ids are cluster-wide" },
	{ "backend id conflict: mac",
	  NODE SNAT VIP0
	  "    backends: [{id: 5, address: 198.18.2.1, mac: \"02:00:00:00:00:01\"}]\n"
	  "  - name: b\n    address: 198.18.100.2\n    port: 80\n"
	  "    backends: [{id: 5, address: 198.18.2.1, mac: \"02:00:00:00:00:02\"}]\n",
	  "11:21", "backend ids are cluster-wide" },
	{ "DSR port change",
	  NODE VIP0 "    mode: dsr\n"
		    "    backends: [{id: 1, address: 198.18.2.1, port: 8080}]\n",
	  "7:51",
	  "vips[0].backends[0].port: 8080 differs from the VIP port 80: a DSR "
	  "backend cannot change the port" },
	{ "sync unknown key", NODE "sync: {enable: true}\n", "2:8", "sync.enable: unknown key" },
	{ "sync enabled without listen", NODE "sync: {enabled: true}\n", "2:7",
	  "sync.listen: required key is missing" },
	{ "sync bad listen", NODE "sync: {listen: \"tcp://198.18.2.1\"}\n", "2:16",
	  "sync.listen: \"tcp://198.18.2.1\" is not [tcp://]a.b.c.d:port" },
	{ "sync peer is self",
	  NODE "sync:\n  peers: [{node_id: 1, address: \"198.18.2.1:7400\"}]\n", "3:21",
	  "sync.peers[0].node_id: 1 is this node's own id" },
	{ "sync duplicate peer",
	  NODE "sync:\n  peers:\n    - {node_id: 2, address: \"198.18.2.2:7400\"}\n"
	       "    - {node_id: 2, address: \"198.18.2.3:7400\"}\n",
	  "5:17", "sync.peers[1].node_id: 2 is already sync.peers[0]" },
	{ "sync bad map", NODE "sync: {maps: [sessions, vips]}\n", "2:25",
	  "sync.maps[1]: \"vips\" is not a map that can be synced" },
	{ "sync map twice", NODE "sync: {maps: [reverse, reverse]}\n", "2:24",
	  "sync.maps[1]: \"reverse\" is listed twice" },
	{ "sync bad capture", NODE "sync: {capture: kprob}\n", "2:17",
	  "sync.capture: \"kprob\" is not one of auto | kprobe | fentry | inline" },
	{ "sync dead_after too short", NODE "sync: {heartbeat_ms: 100, dead_after_ms: 150}\n",
	  "2:42", "sync.dead_after_ms: 150 must be at least twice heartbeat_ms (100)" },
	{ "sync digest_settle_ms too short", NODE "sync: {digest_settle_ms: 50}\n", "2:26",
	  "sync.digest_settle_ms: 50 is out of range 100-600000" },
	{ "sync nice too low", NODE "sync: {nice: -21}\n", "2:14",
	  "sync.nice: -21 is out of range -20-19" },
	{ "sync nice not a number", NODE "sync: {nice: high}\n", "2:14",
	  "sync.nice: expected an integer, got \"high\"" },
	{ "sync key_file relative", NODE "sync: {key_file: sync.key}\n", "2:18",
	  "sync.key_file: \"sync.key\" must be an absolute path" },
	{ "sync cipher unknown", NODE "sync: {key_file: /k, cipher: aes-128-cbc}\n", "2:30",
	  "sync.cipher: \"aes-128-cbc\" is not one of" },
	{ "sync cipher without key", NODE "sync: {cipher: aes-256-gcm}\n", "2:16",
	  "sync.cipher: \"aes-256-gcm\" needs sync.key_file" },
	{ "sync enabled without key", NODE "sync: {enabled: true, listen: \"198.18.2.1:7400\"}\n",
	  "2:7", "sync.key_file: not set, and sync is enabled" },
	{ "sync auth off with a key", NODE "sync: {key_file: /k, auth: \"off\"}\n", "2:28",
	  "sync.auth: \"off\" contradicts sync.key_file" },
	{ "sync auth unknown", NODE "sync: {auth: maybe}\n", "2:14",
	  "sync.auth: \"maybe\" is not one of" },
	{ "sync node key without cluster key", NODE "sync: {node_key_file: /n}\n", "2:23",
	  "sync.node_key_file: per-node keys need sync.key_file" },
	{ "sync node key with cipher none",
	  NODE "sync: {key_file: /k, cipher: none, node_key_file: /n}\n", "2:51",
	  "sync.node_key_file: per-node keys need sync.key_file and a cipher other than none" },
	{ "sync peer without public key",
	  NODE "sync:\n  key_file: /k\n  node_key_file: /n\n  peers: [{node_id: 2, address: "
	       "\"198.18.2.2:7400\"}]\n",
	  "5:10", "sync.peers[0].public_key: missing, and sync.node_key_file is set" },
	{ "sync peer public key without own key",
	  NODE "sync:\n  peers: [{node_id: 2, address: \"198.18.2.2:7400\", public_key: "
	       "\"0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef\"}]\n",
	  "3:10", "sync.peers[0].public_key: given, but sync.node_key_file" },
	{ "sync peer public key not hex",
	  NODE "sync:\n  node_key_file: /n\n  key_file: /k\n  peers: [{node_id: 2, address: "
	       "\"198.18.2.2:7400\", public_key: xyz}]\n",
	  "5:64", "sync.peers[0].public_key: expected 64 hexadecimal digits" },
	{ "sync map field size",
	  NODE "sync:\n  maps:\n    - {name: t, owner: {offset: 0, size: 3}}\n", "4:42",
	  "sync.maps[0].owner.size: 3 is not 2, 4 or 8" },
	{ "sync map fields overlap",
	  NODE "sync:\n  maps:\n    - {name: t, owner: {offset: 0, size: 4}, version: {offset: 2, "
	       "size: 4}}\n",
	  "4:7", "sync.maps[0]: fields overlap" },
	{ "sync map without name", NODE "sync:\n  maps:\n    - {owner: {offset: 0, size: 4}}\n",
	  "4:7", "sync.maps[0].name: required key is missing" },
	{ "sync peer ports overlap ours",
	  NODE SNAT "sync:\n  peers: [{node_id: 2, address: \"198.18.2.2:7400\", snat_port_min: "
		    "59000, snat_port_max: 60000}]\n",
	  "4:67", "sync.peers[0]: ports 59000-60000 overlap this node's snat ports 10000-59999" },
	{ "sync peer ports half given",
	  NODE "sync:\n  peers: [{node_id: 2, address: \"198.18.2.2:7400\", snat_port_min: 100}]\n",
	  "3:67", "sync.peers[0]: give both snat_port_min and snat_port_max, or neither" },
	{ "bool as string in JSON",
	  "{\"node\": {\"id\": 1, \"interface\": \"eth0\"}, \"sync\": {\"enabled\": \"true\"}}",
	  "1:62", "sync.enabled: expected true or false, got \"true\"" },
	{ "JSON unknown key", "{\"node\": {\"id\": 1, \"interface\": \"eth0\", \"nmae\": \"x\"}}",
	  "1:41", "node.nmae: unknown key" },
};

/* The sync options syncd reads: capture, key, sockets, timers, and a map
 * synced by config alone with its value fields. */
static void test_sync_options(void **state)
{
	static const char text[] =
		NODE "sync:\n"
		     "  enabled: true\n"
		     "  listen: 198.18.2.11:7400\n"
		     "  capture: kprobe\n"
		     "  key_file: /etc/xdplb/sync.key\n"
		     "  node_key_file: /etc/xdplb/lb1.node-key\n"
		     "  cipher: aes-256-gcm\n"
		     "  local_socket: /run/x/l.sock\n"
		     "  control_socket: /run/x/c.sock\n"
		     "  heartbeat_ms: 50\n"
		     "  dead_after_ms: 300\n"
		     "  antientropy_ms: 0\n"
		     "  digest_settle_ms: 2500\n"
		     "  nice: -20\n"
		     "  peers: [{node_id: 2, address: \"198.18.2.12:7400\", "
		     "snat_port_min: 60000, snat_port_max: 61000, public_key: "
		     "00112233445566778899aabbccddeeff00112233445566778899AABBCCDDEEFF}]\n"
		     "  maps:\n"
		     "    - sessions\n"
		     "    - name: conn_table\n"
		     "      timestamp: {offset: 24, size: 8}\n"
		     "      owner: {offset: 32, size: 2}\n"
		     "      version: {offset: 36, size: 4}\n"
		     "      backend: {offset: 40, size: 4}\n";
	struct node_config *c = cfg_alloc();
	char err[256] = "";
	const struct cfg_sync *y = &c->sync;

	assert_int_equal(load("s.yaml", text, c, err, sizeof(err)), 0);
	assert_string_equal(y->capture, "kprobe");
	assert_string_equal(y->key_file, "/etc/xdplb/sync.key");
	assert_string_equal(y->cipher, "aes-256-gcm");
	assert_string_equal(y->local_socket, "/run/x/l.sock");
	assert_string_equal(y->control_socket, "/run/x/c.sock");
	assert_int_equal(y->heartbeat_ms, 50);
	assert_int_equal(y->dead_after_ms, 300);
	assert_int_equal(y->antientropy_ms, 0);
	assert_int_equal(y->digest_settle_ms, 2500);
	assert_int_equal(y->nice, -20);
	assert_int_equal(y->peers[0].snat_port_min, 60000);
	assert_int_equal(y->peers[0].snat_port_max, 61000);
	assert_string_equal(y->node_key_file, "/etc/xdplb/lb1.node-key");
	assert_true(y->peers[0].has_public_key);
	assert_int_equal(y->peers[0].public_key[0], 0x00);
	assert_int_equal(y->peers[0].public_key[17], 0x11);
	assert_int_equal(y->peers[0].public_key[31], 0xff);
	assert_int_equal(y->n_maps, 2);
	assert_true(y->map_opts[0].builtin);
	assert_string_equal(y->maps[1], "conn_table");
	assert_false(y->map_opts[1].builtin);
	assert_int_equal(y->map_opts[1].timestamp.off, 24);
	assert_int_equal(y->map_opts[1].timestamp.size, 8);
	assert_int_equal(y->map_opts[1].owner.off, 32);
	assert_int_equal(y->map_opts[1].owner.size, 2);
	assert_int_equal(y->map_opts[1].version.off, 36);
	assert_int_equal(y->map_opts[1].backend.off, 40);

	/* defaults */
	assert_int_equal(load("d.yaml", NODE, c, err, sizeof(err)), 0);
	assert_string_equal(y->capture, "auto");
	assert_string_equal(y->key_file, "");
	assert_string_equal(y->cipher, "chacha20-poly1305");
	assert_string_equal(y->local_socket, "/run/xdplb/node1.syncd-local.sock");
	assert_string_equal(y->control_socket, "/run/xdplb/node1.syncd.sock");
	assert_int_equal(y->heartbeat_ms, 100);
	assert_int_equal(y->dead_after_ms, 1000);
	assert_int_equal(y->antientropy_ms, 10000);
	assert_int_equal(y->digest_settle_ms, 5000);
	assert_int_equal(y->nice, 0);
	free(c);
}

static void test_bad(void **state)
{
	struct node_config *c = cfg_alloc();
	char err[512], want[64];
	size_t i, failed = 0;

	for (i = 0; i < sizeof(bad_cfgs) / sizeof(bad_cfgs[0]); i++) {
		const struct bad *b = &bad_cfgs[i];
		int ret;

		memset(err, 0, sizeof(err));
		ret = load("t.yaml", b->text, c, err, sizeof(err));
		snprintf(want, sizeof(want), "t.yaml:%s: ", b->pos);
		if (ret != -1 || strncmp(err, want, strlen(want)) || !strstr(err, b->reason) ||
		    strchr(err, '\n')) {
			print_error("case \"%s\": ret %d, got \"%s\", want prefix "
				    "\"%s\" and \"%s\"\n",
				    b->what, ret, err, want, b->reason);
			failed++;
		}
	}
	free(c);
	assert_int_equal(failed, 0);
}

/* More VIPs/backends than the arrays hold, built programmatically. */
static void test_counts(void **state)
{
	struct node_config *c = cfg_alloc();
	size_t cap = 1 << 20, off = 0, i;
	char *buf = malloc(cap), err[256];

	assert_non_null(buf);
	off += snprintf(buf + off, cap - off, NODE SNAT "vips:\n");
	for (i = 0; i <= CFG_MAX_VIPS; i++)
		off += snprintf(buf + off, cap - off,
				"  - {name: v%zu, address: 198.18.100.1, port: %zu}\n", i, i + 1);
	assert_int_equal(load("n.yaml", buf, c, err, sizeof(err)), -1);
	assert_string_equal(err, "n.yaml:4:3: vips: more than 256 VIPs");

	off = snprintf(buf, cap, NODE SNAT VIP0 "    backends:\n");
	for (i = 0; i <= CFG_MAX_BACKENDS_PER_VIP; i++)
		off += snprintf(buf + off, cap - off, "      - {id: %zu, address: 198.18.2.%zu}\n",
				i + 1, i % 250 + 1);
	assert_int_equal(load("n.yaml", buf, c, err, sizeof(err)), -1);
	assert_string_equal(err, "n.yaml:8:7: vips[0].backends: more than 256 backends");

	/* exactly at the limits is fine */
	off = snprintf(buf, cap, NODE SNAT "vips:\n");
	for (i = 0; i < CFG_MAX_VIPS; i++)
		off += snprintf(buf + off, cap - off,
				"  - {name: v%zu, address: 198.18.100.1, port: %zu,"
				" backends: [{id: %zu, address: 198.18.2.1}]}\n",
				i, i + 1, i + 1);
	if (load("n.yaml", buf, c, err, sizeof(err)))
		fail_msg("%s", err);
	assert_int_equal(c->n_vips, CFG_MAX_VIPS);
	assert_int_equal(c->vips[255].vip_id, 255);
	free(buf);
	free(c);
}

static void test_helpers(void **state)
{
	union xlb_addr a;
	uint8_t mac[6];
	char buf[32];
	int fam = 0;

	assert_int_equal(cfg_parse_addr("198.18.0.1", &fam, &a), 0);
	assert_int_equal(fam, AF_INET);
	assert_int_equal(a.w[0], htonl(0xc6120001));
	assert_int_equal(a.w[1] | a.w[2] | a.w[3], 0);
	assert_string_equal(cfg_format_addr(fam, &a, buf, sizeof(buf)), "198.18.0.1");
	assert_int_equal(cfg_parse_addr("198.18.0", &fam, &a), -1);
	assert_int_equal(cfg_parse_addr("198.18.0.256", &fam, &a), -1);
	assert_int_equal(cfg_parse_addr(" 198.18.0.1", &fam, &a), -1);
	assert_int_equal(cfg_parse_addr("::1", &fam, &a), -1);
	assert_int_equal(cfg_parse_addr("", &fam, &a), -1);

	assert_int_equal(cfg_parse_mac("02:Ab:cD:00:ff:10", mac), 0);
	assert_int_equal(mac[0], 0x02);
	assert_int_equal(mac[1], 0xab);
	assert_int_equal(mac[2], 0xcd);
	assert_int_equal(mac[4], 0xff);
	assert_int_equal(mac[5], 0x10);
	assert_int_equal(cfg_parse_mac("02:ab:cd:00:ff", mac), -1);
	assert_int_equal(cfg_parse_mac("02:ab:cd:00:ff:10:", mac), -1);
	assert_int_equal(cfg_parse_mac("02:ab:cd:00:ff:1", mac), -1);
	assert_int_equal(cfg_parse_mac("02-ab-cd-00-ff-10", mac), -1);
	assert_int_equal(cfg_parse_mac("2:ab:cd:00:ff:10", mac), -1);
	assert_int_equal(cfg_parse_mac("0g:ab:cd:00:ff:10", mac), -1);
}

/* ---------------------------------------------------------------------- */
/* the rules lbd's control socket shares with the parser */

/* A VIP and a backend built like lbd's vip add and backend add build them
 * carry the parser's defaults: byte for byte what the file gives. */
static void test_entry_defaults(void **state)
{
	static const char text[] = NODE SNAT "vips: [{name: w, address: 198.18.100.1, port: 443,\n"
					     "        backends: [{id: 9, address: 198.18.2.9}]}]\n";
	struct node_config *c = cfg_alloc();
	struct cfg_vip *v = malloc(sizeof(*v));
	struct cfg_backend b;
	struct cfg_fault f;
	char err[256];

	assert_non_null(v);
	assert_int_equal(load("e.yaml", text, c, err, sizeof(err)), 0);
	cfg_vip_init(v);
	snprintf(v->name, sizeof(v->name), "w");
	assert_int_equal(cfg_parse_addr("198.18.100.1", &v->family, &v->addr), 0);
	v->port = 443;
	cfg_backend_init(&b);
	b.id = 9;
	assert_int_equal(cfg_parse_addr("198.18.2.9", &b.family, &b.addr), 0);
	assert_memory_equal(&b, &c->vips[0].backends[0], sizeof(b));
	v->backends[0] = b;
	v->n_backends = 1;
	assert_memory_equal(v, &c->vips[0], sizeof(*v));

	/* and pass the checks: v is c's VIP itself, b its backend */
	assert_int_equal(cfg_check_vip(c, &c->vips[0], &f), 0);
	assert_int_equal(cfg_check_backend(&c->vips[0], &c->vips[0].backends[0], NULL, "", &f), 0);
	free(v);
	free(c);
}

#define RT_BASE                                                                                    \
	NODE SNAT "vips:\n"                                                                        \
		  "  - {name: a, address: 198.18.100.1, port: 80,\n"                               \
		  "     backends: [{id: 1, address: 198.18.2.1}%s]}\n"                             \
		  "  - {name: d, address: 198.18.100.2, port: 81, mode: dsr,\n"                    \
		  "     backends: [{id: 2, address: 198.18.2.2}%s]}\n"

/* One backend more for vips[vip] of RT_BASE: both ways must agree. */
struct be_case {
	const char *what;
	size_t vip;
	uint32_t id;
	const char *address;
	int port;	      /* -1: not given */
	int64_t weight;	      /* -1: not given */
	const char *mac;      /* NULL: not given */
	enum cfg_field field; /* 0: accepted */
};

static const struct be_case be_cases[] = {
	{ "fine", 0, 3, "198.18.2.3", -1, -1, NULL, 0 },
	{ "fine: same id, same backend elsewhere", 1, 1, "198.18.2.1", -1, -1, NULL, 0 },
	{ "fine: DSR on the VIP port", 1, 3, "198.18.2.3", 81, 0, NULL, 0 },
	{ "id 0", 0, 0, "198.18.2.3", -1, -1, NULL, CFG_F_ID },
	{ "id 4096", 0, 4096, "198.18.2.3", -1, -1, NULL, CFG_F_ID },
	{ "id twice in a VIP", 0, 1, "198.18.2.3", -1, -1, NULL, CFG_F_ID },
	{ "id elsewhere, other address", 1, 1, "198.18.2.9", -1, -1, NULL, CFG_F_ID },
	{ "id elsewhere, other mac", 1, 1, "198.18.2.1", -1, -1, "02:00:00:00:00:01", CFG_F_ID },
	{ "address 0.0.0.0", 0, 3, "0.0.0.0", -1, -1, NULL, CFG_F_ADDRESS },
	{ "multicast address", 0, 3, "239.1.1.1", -1, -1, NULL, CFG_F_ADDRESS },
	{ "weight 10001", 0, 3, "198.18.2.3", -1, 10001, NULL, CFG_F_WEIGHT },
	{ "multicast mac", 0, 3, "198.18.2.3", -1, -1, "01:00:5e:00:00:01", CFG_F_MAC },
	{ "zero mac", 0, 3, "198.18.2.3", -1, -1, "00:00:00:00:00:00", CFG_F_MAC },
	{ "same endpoint", 0, 3, "198.18.2.1", 80, -1, NULL, CFG_F_ENDPOINT },
	{ "DSR port change", 1, 3, "198.18.2.3", 8080, -1, NULL, CFG_F_PORT },
};

/* One VIP more after RT_BASE's (or the only one, without snat). */
struct vip_case {
	const char *what;
	bool no_snat;
	const char *name;
	const char *address;
	unsigned int port;
	const char *mode; /* NULL: not given */
	enum cfg_field field;
};

static const struct vip_case vip_cases[] = {
	{ "fine", false, "b", "198.18.100.3", 80, NULL, 0 },
	{ "fine: same address and port, other name", false, "b", "198.18.100.1", 81, NULL, 0 },
	{ "bad name", false, "b c", "198.18.100.3", 80, NULL, CFG_F_NAME },
	{ "name too long", false,
	  "a234567890123456789012345678901234567890123456789012345678901234", "198.18.100.3", 80,
	  NULL, CFG_F_NAME },
	{ "name taken", false, "d", "198.18.100.3", 80, NULL, CFG_F_NAME },
	{ "broadcast address", false, "b", "255.255.255.255", 80, NULL, CFG_F_ADDRESS },
	{ "port 0", false, "b", "198.18.100.3", 0, NULL, CFG_F_PORT },
	{ "same endpoint", false, "b", "198.18.100.2", 81, "dsr", CFG_F_ENDPOINT },
	{ "fnat without snat", true, "b", "198.18.100.3", 80, "fnat", CFG_F_MODE },
	{ "default fnat without snat", true, "b", "198.18.100.3", 80, NULL, CFG_F_MODE },
};

/* The parser's error for a fault of entry path, from its why. */
static void assert_same_fault(const char *what, const char *err, const char *path,
			      const struct cfg_fault *f)
{
	const char *key = cfg_field_key(f->field);
	char want[512];

	snprintf(want, sizeof(want), "%s%s%s: %s", path, key ? "." : "", key ? key : "", f->why);
	if (!strstr(err, want))
		fail_msg("case \"%s\": the file says \"%s\", lbd would say \"%s\"", what, err,
			 want);
}

static void test_runtime_backend(void **state)
{
	struct node_config *base = cfg_alloc(), *c = cfg_alloc();
	char text[1024], entry[256], err[512], at[64], path[64];
	size_t i, j, k;

	snprintf(text, sizeof(text), RT_BASE, "", "");
	if (load("base.yaml", text, base, err, sizeof(err)))
		fail_msg("%s", err);
	for (i = 0; i < sizeof(be_cases) / sizeof(be_cases[0]); i++) {
		const struct be_case *bc = &be_cases[i];
		const struct cfg_backend *same_id = NULL;
		struct cfg_vip *v = &base->vips[bc->vip];
		struct cfg_backend b;
		struct cfg_fault f;
		int off, r, rf;

		/* the file's way */
		off = snprintf(entry, sizeof(entry), ", {id: %u, address: %s", bc->id, bc->address);
		if (bc->port >= 0)
			off += snprintf(entry + off, sizeof(entry) - off, ", port: %d", bc->port);
		if (bc->weight >= 0)
			off += snprintf(entry + off, sizeof(entry) - off, ", weight: %lld",
					(long long)bc->weight);
		if (bc->mac)
			off += snprintf(entry + off, sizeof(entry) - off, ", mac: \"%s\"", bc->mac);
		snprintf(entry + off, sizeof(entry) - off, "}");
		snprintf(text, sizeof(text), RT_BASE, bc->vip ? "" : entry, bc->vip ? entry : "");
		err[0] = '\0';
		rf = load("t.yaml", text, c, err, sizeof(err));

		/* lbd's way: the backend ctl builds, checked against the running
		 * config like lbd_backend_add() does */
		cfg_backend_init(&b);
		b.id = bc->id;
		assert_int_equal(cfg_parse_addr(bc->address, &b.family, &b.addr), 0);
		if (bc->port >= 0)
			b.port = (uint16_t)bc->port;
		if (bc->weight >= 0)
			b.weight = (uint32_t)bc->weight;
		if (bc->mac) {
			assert_int_equal(cfg_parse_mac(bc->mac, b.mac), 0);
			b.has_mac = true;
		}
		for (j = 0; j < base->n_vips && !same_id; j++)
			for (k = 0; j != bc->vip && k < base->vips[j].n_backends; k++)
				if (base->vips[j].backends[k].id == b.id) {
					same_id = &base->vips[j].backends[k];
					snprintf(at, sizeof(at), "vips[%zu].backends[%zu]", j, k);
					break;
				}
		r = cfg_check_backend(v, &b, same_id, at, &f);

		if (!bc->field) {
			if (rf || r)
				fail_msg("case \"%s\": file %d (%s), lbd %d (%s)", bc->what, rf,
					 err, r, r ? f.why : "");
			continue;
		}
		if (rf != -1 || r >= 0)
			fail_msg("case \"%s\": file %d, lbd %d: both must refuse", bc->what, rf, r);
		assert_int_equal(f.field, bc->field);
		snprintf(path, sizeof(path), "vips[%zu].backends[1]", bc->vip);
		assert_same_fault(bc->what, err, path, &f);
		assert_null(strchr(f.why, '\n'));
	}
	free(base);
	free(c);
}

static void test_runtime_vip(void **state)
{
	struct node_config *base = cfg_alloc(), *nosnat = cfg_alloc(), *c = cfg_alloc();
	struct cfg_vip *v = malloc(sizeof(*v));
	char text[1024], err[512], path[16];
	int proto, mode;
	size_t i;

	assert_non_null(v);
	snprintf(text, sizeof(text), RT_BASE, "", "");
	assert_int_equal(load("base.yaml", text, base, err, sizeof(err)), 0);
	assert_int_equal(load("nosnat.yaml", NODE, nosnat, err, sizeof(err)), 0);
	for (i = 0; i < sizeof(vip_cases) / sizeof(vip_cases[0]); i++) {
		const struct vip_case *vc = &vip_cases[i];
		const struct node_config *running = vc->no_snat ? nosnat : base;
		struct cfg_fault f;
		int r, rf, off;

		off = snprintf(text, sizeof(text), vc->no_snat ? NODE "vips:\n" : RT_BASE, "", "");
		snprintf(text + off, sizeof(text) - off,
			 "  - {name: \"%s\", address: %s, port: %u%s%s}\n", vc->name, vc->address,
			 vc->port, vc->mode ? ", mode: " : "", vc->mode ? vc->mode : "");
		err[0] = '\0';
		rf = load("t.yaml", text, c, err, sizeof(err));

		cfg_vip_init(v);
		snprintf(v->name, sizeof(v->name), "%.*s", (int)sizeof(v->name) - 1, vc->name);
		if (strlen(vc->name) >= sizeof(v->name))
			v->name[0] = '\0'; /* ctl refuses it before: no name */
		assert_int_equal(cfg_parse_addr(vc->address, &v->family, &v->addr), 0);
		v->port = (uint16_t)vc->port;
		if (vc->mode) {
			assert_int_equal(cfg_word_value(cfg_modes, vc->mode, &mode), 0);
			v->mode = mode;
		}
		r = cfg_check_vip(running, v, &f);

		if (!vc->field) {
			if (rf || r)
				fail_msg("case \"%s\": file %d (%s), lbd %d (%s)", vc->what, rf,
					 err, r, r ? f.why : "");
			continue;
		}
		if (rf != -1 || r >= 0)
			fail_msg("case \"%s\": file %d, lbd %d: both must refuse", vc->what, rf, r);
		assert_int_equal(f.field, vc->field);
		if (strlen(vc->name) >= sizeof(v->name))
			continue; /* the file: too long; lbd: the empty name */
		snprintf(path, sizeof(path), "vips[%zu]", vc->no_snat ? 0 : running->n_vips);
		assert_same_fault(vc->what, err, path, &f);
	}

	/* the words lbctl sends are the file's */
	assert_int_equal(cfg_word_value(cfg_protocols, "udp", &proto), 0);
	assert_int_equal(proto, IPPROTO_UDP);
	assert_int_equal(cfg_word_value(cfg_protocols, "sctp", &proto), -1);
	assert_string_equal(cfg_word_name(cfg_modes, XLB_MODE_DSR), "dsr");
	assert_null(cfg_word_name(cfg_modes, 0));
	assert_string_equal(cfg_word_name(cfg_hc_types, HC_HTTP), "http");
	free(v);
	free(base);
	free(nosnat);
	free(c);
}

static void test_validators(void **state)
{
	static const uint8_t ucast[6] = { 2, 0, 0, 0, 0, 1 }, mcast[6] = { 1, 0, 0x5e, 0, 0, 1 };
	static const uint8_t zero[6] = { 0 };
	union xlb_addr a;
	char why[96];
	int fam;

	assert_true(cfg_valid_name("lb-1.a_B9"));
	assert_false(cfg_valid_name(""));
	assert_false(cfg_valid_name("a b"));
	assert_false(cfg_valid_name("a/b"));
	assert_false(cfg_valid_name("\xc3\xa9"));
	assert_true(cfg_valid_name("a234567890123456789012345678901234567890"
				   "12345678901234567890123")); /* 63 */
	assert_false(cfg_valid_name("a234567890123456789012345678901234567890"
				    "123456789012345678901234")); /* 64 */

	assert_int_equal(cfg_parse_addr("198.18.0.1", &fam, &a), 0);
	assert_true(cfg_valid_unicast(fam, &a));
	assert_false(cfg_valid_unicast(AF_INET6, &a));
	assert_int_equal(cfg_parse_addr("224.0.0.1", &fam, &a), 0);
	assert_false(cfg_valid_unicast(fam, &a));

	assert_true(cfg_valid_mac(ucast));
	assert_false(cfg_valid_mac(mcast));
	assert_false(cfg_valid_mac(zero));

	assert_true(cfg_in_limit(&cfg_lim_weight, 0, NULL, 0));
	assert_true(cfg_in_limit(&cfg_lim_weight, CFG_WEIGHT_MAX, why, sizeof(why)));
	assert_false(cfg_in_limit(&cfg_lim_weight, CFG_WEIGHT_MAX + 1, why, sizeof(why)));
	assert_string_equal(why, "10001 is out of range 0-10000");
	assert_false(cfg_in_limit(&cfg_lim_vip_port, 0, why, sizeof(why)));
	assert_string_equal(why, "0 is out of range 1-65535");
	assert_true(cfg_in_limit(&cfg_lim_backend_port, CFG_PORT_INHERIT, NULL, 0));
	assert_false(cfg_in_limit(&cfg_lim_backend_id, XLB_MAX_BACKENDS, NULL, 0));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_full),
		cmocka_unit_test(test_sync_options),
		cmocka_unit_test(test_json_equivalent),
		cmocka_unit_test(test_defaults),
		cmocka_unit_test(test_vip_defaults),
		cmocka_unit_test(test_examples),
		cmocka_unit_test(test_files),
		cmocka_unit_test(test_bad),
		cmocka_unit_test(test_counts),
		cmocka_unit_test(test_helpers),
		cmocka_unit_test(test_entry_defaults),
		cmocka_unit_test(test_runtime_backend),
		cmocka_unit_test(test_runtime_vip),
		cmocka_unit_test(test_validators),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
