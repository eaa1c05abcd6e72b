#!/bin/bash
# lbd under valgrind: start it in a namespace of its own, exercise every
# lbctl command (reads, run-time VIP/backend changes, health-check
# transitions, ageing ticks), stop it with SIGTERM and require a clean exit
# with no memory error and no leak.
set -euo pipefail

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
ROOT=$(cd "$HERE/.." && pwd)
BUILD=${XLB_BUILD:-$ROOT/build}
LBD=$BUILD/lbd/lbd
LBCTL=$BUILD/lbd/lbctl
NS=xlb-vg
PEER=xlb-vgp
STATE=$(mktemp -d /tmp/xlb-vg.XXXXXX)
SOCK=/run/xdplb/vg.sock
PIN=/run/xdplb/bpf/vg
LBD_PID=

cleanup() {
	set +e
	[ -n "$LBD_PID" ] && kill -KILL "$LBD_PID" 2>/dev/null
	ip netns pids "$NS" 2>/dev/null | xargs -r kill -KILL 2>/dev/null
	ip netns pids "$PEER" 2>/dev/null | xargs -r kill -KILL 2>/dev/null
	ip netns del "$NS" 2>/dev/null
	ip netns del "$PEER" 2>/dev/null
	rm -rf "$PIN" "$SOCK" /run/xdplb/vg.pid "$STATE"
}
trap cleanup EXIT
cleanup_prev() { cleanup; trap cleanup EXIT; STATE=$(mktemp -d /tmp/xlb-vg.XXXXXX); }
cleanup_prev

command -v valgrind >/dev/null || { echo "valgrind-lbd: valgrind missing"; exit 1; }
[ -x "$LBD" ] || { echo "valgrind-lbd: $LBD not built"; exit 1; }

ip netns add "$NS"
ip netns add "$PEER"
ip link add eth0 netns "$NS" type veth peer name eth0 netns "$PEER"
ip -n "$NS" addr add 198.18.3.1/24 dev eth0
ip -n "$PEER" addr add 198.18.3.2/24 dev eth0
ip -n "$NS" link set eth0 up
ip -n "$PEER" link set eth0 up
ip -n "$NS" link set lo up
ip -n "$PEER" link set lo up

cat >"$STATE/vg.yaml" <<EOC
node: {id: 9, name: vg, interface: eth0, xdp_mode: native}
bpffs: /run/xdplb/bpf
snat: {address: 198.18.3.1, port_min: 20000, port_max: 20999}
sessions: {max: 4096, ageing_interval_ms: 200, timeouts: {tcp_syn: 1, tcp_established: 2, tcp_closing: 1, udp: 1}}
vips:
  - name: web
    address: 198.18.100.9
    port: 80
    protocol: tcp
    mode: fnat
    healthcheck: {type: http, path: /, expect_status: 200, interval_ms: 200, timeout_ms: 100, rise: 1, fall: 1}
    backends:
      - {id: 1, address: 198.18.3.2, port: 80, weight: 1}
  - name: dns
    address: 198.18.100.9
    port: 53
    protocol: udp
    mode: dsr
    healthcheck: {type: tcp, port: 53, interval_ms: 200, timeout_ms: 100, rise: 1, fall: 1}
    backends:
      - {id: 2, address: 198.18.3.2, port: 53, weight: 1, mac: "02:00:00:00:03:02"}
EOC

ip netns exec "$NS" valgrind --quiet --error-exitcode=99 --leak-check=full \
	--suppressions="$ROOT/lbd/valgrind.supp" \
	--show-leak-kinds=definite,indirect --errors-for-leak-kinds=definite,indirect \
	--log-file="$STATE/valgrind.log" \
	"$LBD" -c "$STATE/vg.yaml" >"$STATE/lbd.log" 2>&1 &
LBD_PID=$!

ctl() { "$LBCTL" -s "$SOCK" "$@"; }
for _ in $(seq 1 150); do
	ctl status >/dev/null 2>&1 && break
	kill -0 "$LBD_PID" 2>/dev/null || break
	sleep 0.2
done
if ! ctl status >/dev/null 2>&1; then
	echo "valgrind-lbd: lbd did not come up"; cat "$STATE/lbd.log" "$STATE/valgrind.log"; exit 1
fi

fail=0
run() { if ! "$@" >/dev/null 2>"$STATE/err"; then echo "valgrind-lbd: '$*' failed: $(cat "$STATE/err")"; fail=1; fi; }
run ctl status
run ctl --json status
run ctl vip list
run ctl --json backend list
run ctl vip add api 198.18.100.10 8080 tcp fnat
run ctl backend add api 3 198.18.3.2 8080 --weight 2
run ctl backend drain api 3
run ctl backend undrain api 3
run ctl backend del api 3
run ctl vip del api
# bad requests must be refused and leave lbd running
if ctl vip add bad 300.1.1.1 80 tcp fnat >/dev/null 2>&1; then echo "valgrind-lbd: bad address accepted"; fail=1; fi
run ctl sessions count
run ctl --json sessions list --limit 10
run ctl --json stats
run ctl stats --prometheus
# traffic through the data plane (no backend answers; sessions are created
# and aged out again by the short timeouts)
ip netns exec "$PEER" ip route add 198.18.100.0/24 via 198.18.3.1
for _ in 1 2 3; do ip netns exec "$PEER" bash -c 'echo x >/dev/udp/198.18.100.9/53' || true; done
sleep 1.5

kill -TERM "$LBD_PID"
rc=0
wait "$LBD_PID" || rc=$?
LBD_PID=
if [ "$rc" -ne 0 ]; then
	echo "valgrind-lbd: lbd exited $rc after SIGTERM"
	cat "$STATE/valgrind.log"; tail -20 "$STATE/lbd.log"
	fail=1
fi
# Memcheck's notes about bpf() commands it does not model ("--PID--
# WARNING: unhandled eBPF command N") are not findings; everything else is.
if grep -v -- '^--[0-9]*-- WARNING: unhandled eBPF command' "$STATE/valgrind.log" | grep -q .; then
	echo "valgrind-lbd: valgrind reported:"; cat "$STATE/valgrind.log"
	fail=1
fi
if [ "$fail" -ne 0 ]; then
	tail -20 "$STATE/lbd.log"
	echo "valgrind-lbd: 0 passed, 1 failed"
	exit 1
fi
echo "valgrind-lbd: 1 passed, 0 failed"
