#!/bin/bash
# Failover without dropped connections, on the testbed, in both HA modes:
#   active-active   bird2 BGP + BFD, ECMP on the router (L4 hash)
#   active-standby  keepalived VRRP moves the next hop of the VIPs
#
# For each mode, with syncd on:
#   1. 500 long-lived TCP connections through the full-NAT VIP and 500
#      through the DSR VIP (xlb-flows: each sends a request and reads the
#      answer every 50 ms), and 100 UDP flows through the UDP VIP;
#   2. a backend is added to the pool on lb2 only (so the two nodes' Maglev
#      tables differ), then lb1 is failed hard (links down, every process
#      killed) while they run;
#   3. pass: every connection completes its run with no reset, no error, no
#      gap over 2 s (the longest gap is reported); every UDP flow keeps its
#      one backend;
#   4. failback: new flows, lb1 recovers during them (fresh maps, snapshot
#      from lb2, then BGP announce / VRRP priority), again nothing breaks.
# Control, each mode: the same failure with syncd off must break
# connections (the test asserts it does), so a pass comes from sync.
#
# Environment: XLB_BUILD, XLB_FAILOVER_MODES (default "active-active
# active-standby"), XLB_FAILOVER_CONNS (per TCP VIP, default 500),
# XLB_FAILOVER_S (flow duration, default 20). Prints one line per check and
# "N passed, M failed".
set -euo pipefail

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
# shellcheck source=cluster-tests/lib.sh
. "$HERE/lib.sh"
ROOT=$(cd "$HERE/.." && pwd)
export XLB_BUILD=${XLB_BUILD:-$ROOT/build}
TESTBED=$HERE/testbed
LBCTL=$XLB_BUILD/lbd/lbctl
FLOWS=$XLB_BUILD/cluster-tests/tools/xlb-flows
MODES=${XLB_FAILOVER_MODES:-active-active active-standby}
CONNS=${XLB_FAILOVER_CONNS:-500}
DUR=${XLB_FAILOVER_S:-20}
VIP_WEB=198.18.100.1
VIP_DSR=198.18.100.2
UDP_PORT=5353

pass=0 fail=0
TMP=$(mktemp -d /tmp/xlb-failover.XXXXXX)
UP=0
FLOW_PIDS=()
FLOW_CLIENT=(ip netns exec xlb-client "$FLOWS")	# execs in place: $! is xlb-flows

down() {
	stop_flows
	[ "$UP" -eq 1 ] && "$TESTBED" down >/dev/null 2>&1
	UP=0
}

cleanup() {
	local rc=$?
	set +e
	if [ "$UP" -eq 1 ] && { [ "$fail" -gt 0 ] || [ "$rc" -ne 0 ]; }; then
		echo "---- state at failure"
		"$TESTBED" status 2>&1 | sed 's/^/  /'
	fi
	down
	rm -rf "$TMP"
	exit "$rc"
}
trap cleanup EXIT

lbctl() { "$LBCTL" "$@"; }

carries() { [[ " $("$TESTBED" carriers | xargs) " == *" $1 "* ]]; }
adopted() { lbctl -n "$1" stats 2>/dev/null | awk '$1 == "session_adopt" { print $2; exit }'; }

be_up() { lbctl -n "$1" --json backend list 2>/dev/null | jq_backends | awk -v v="$2" -v i="$3" '$1 == v && $2 == i && $3 == "up"' | grep -q .; }
wait_be_up() {
	local i
	for i in $(seq 1 50); do be_up "$@" && return 0; sleep 0.2; done
	return 1
}

# Backend 3 (be3) is not in web/web-dsr at the start, on either node.
pool_without_be3() {
	local n
	for n in lb1 lb2; do
		lbctl -n "$n" backend del web 3 >/dev/null
		lbctl -n "$n" backend del web-dsr 3 >/dev/null
	done
}

# ... and is added on lb2 only, just before lb1 fails: lb2's Maglev tables
# now differ from the ones the flows were hashed with.
add_be3_on_lb2() {
	lbctl -n lb2 backend add web 3 198.18.2.23 80 >/dev/null
	lbctl -n lb2 backend add web-dsr 3 198.18.2.23 80 >/dev/null
	wait_be_up lb2 web-dsr 3 && wait_be_up lb2 web 3
}

# fail_case MODE SYNC: returns after the flows of the failure phase ended
fail_case() {
	local mode=$1 sync=$2 tag=$3
	XLB_TESTBED_SYNC=$sync "$TESTBED" up --mode "$mode" >"$TMP/$tag.up" 2>&1 ||
		{ tail -20 "$TMP/$tag.up"; return 1; }
	UP=1
	echo "      testbed up, $mode, syncd $([ "$sync" = 1 ] && echo on || echo off), traffic to $("$TESTBED" carriers | xargs)"
	pool_without_be3
	flows "$tag" "$DUR"
	sleep 5
	add_be3_on_lb2 || echo "      (be3 did not come up on lb2 in 10 s)"
	sleep 1
	"$TESTBED" fail lb1 >/dev/null
	sleep 1
	echo "      lb1 failed at $(date +%T); a second later traffic goes to $("$TESTBED" carriers | xargs)"
	wait_flows
	report "$tag.fnat"; report "$tag.dsr"; report "$tag.udp"
}

# ms until the router sends VIP traffic to exactly N nodes (within MAX ms),
# or nothing printed and false.
until_carriers() {
	local n=$1 max=$2 t0 now
	t0=$(date +%s%N)
	while :; do
		now=$(date +%s%N)
		if [ "$("$TESTBED" carriers | wc -l)" -eq "$n" ]; then
			echo $(( (now - t0) / 1000000 ))
			return 0
		fi
		[ $(( (now - t0) / 1000000 )) -lt "$max" ] || return 1
		sleep 0.02
	done
}

# Active-active only: the route follows the node's health. lb2's lbd dies:
# its announcement is withdrawn; lbd back: announced again. Then lb2's
# control plane goes silent while its link stays up (it can no longer
# reach the router): BFD withdraws it, well under a second.
route_health() {
	local ms
	echo "-- active-active: route health"
	kill -KILL "$(cat /run/xdplb/testbed/lb2/lbd.pid)"
	ms=$(until_carriers 1 3000) || ms=-1
	check "lbd killed on lb2: its routes are withdrawn ($ms ms)" test "$ms" -ge 0
	"$TESTBED" lbd-start lb2 >/dev/null
	ms=$(until_carriers 2 15000) || ms=-1
	check "lbd back on lb2: announced again ($ms ms after lbd answered)" test "$ms" -ge 0
	# every frame lb2 sends is dropped where it enters the router; the
	# link stays up
	ip -force -n xlb-router link set dev lb2 xdpdrv obj "$XLB_BUILD/bpf/xdp_drop.bpf.o" sec xdp
	ms=$(until_carriers 1 3000) || ms=-1
	check "lb2 silent with its link up: BFD withdraws it within 1 s ($ms ms)" \
		test "$ms" -ge 0 -a "$ms" -lt 1000
	ip -force -n xlb-router link set dev lb2 xdpdrv obj "$XLB_BUILD/bpf/xdp_pass.bpf.o" sec xdp
	ms=$(until_carriers 2 20000) || ms=-1
	check "lb2 reachable again: announced again ($ms ms)" test "$ms" -ge 0
}

[ -x "$FLOWS" ] || { echo "failover: $FLOWS not built" >&2; exit 1; }
for mode in $MODES; do
	echo "-- $mode, syncd on: $CONNS + $CONNS TCP connections and 100 UDP flows, lb1 fails"
	if fail_case "$mode" 1 "$mode-on"; then
		check "$mode: every full-NAT connection survived lb1's failure (longest gap $(j "$mode-on.fnat" .longest_gap_ms) ms)" passed "$mode-on.fnat"
		check "$mode: every DSR connection survived, backends kept though lb2's Maglev changed (longest gap $(j "$mode-on.dsr" .longest_gap_ms) ms)" passed "$mode-on.dsr"
		check "$mode: every UDP flow kept its backend" passed "$mode-on.udp"
		check "$mode: lb2 adopted lb1's sessions ($(adopted lb2))" test "$(adopted lb2)" -gt 0

		echo "-- $mode: failback: lb1 recovers while new flows run"
		flows "$mode-back" "$DUR"
		sleep 5
		"$TESTBED" recover lb1 >"$TMP/$mode-recover" 2>&1 || tail -5 "$TMP/$mode-recover"
		sleep 1
		echo "      lb1 recovered at $(date +%T); a second later traffic goes to $("$TESTBED" carriers | xargs)"
		wait_flows
		report "$mode-back.fnat"; report "$mode-back.dsr"; report "$mode-back.udp"
		check "$mode: failback: lb1 takes traffic again" carries lb1
		[ "$mode" = active-standby ] &&
			check "$mode: failback: lb1 (higher priority) holds the VIP again" test "$("$TESTBED" carriers)" = lb1
		[ "$mode" = active-active ] &&
			check "$mode: failback: both nodes carry traffic again" test "$("$TESTBED" carriers | wc -l)" -eq 2
		check "$mode: failback: no full-NAT connection broke (longest gap $(j "$mode-back.fnat" .longest_gap_ms) ms)" passed "$mode-back.fnat"
		check "$mode: failback: no DSR connection broke (longest gap $(j "$mode-back.dsr" .longest_gap_ms) ms)" passed "$mode-back.dsr"
		check "$mode: failback: every UDP flow kept its backend" passed "$mode-back.udp"
		[ "$mode" = active-active ] && route_health
	else
		check "$mode: testbed up" false
	fi
	down

	echo "-- $mode, control: the same failure with syncd off"
	if fail_case "$mode" 0 "$mode-off"; then
		check "$mode control: without sync, full-NAT connections break ($(j "$mode-off.fnat" .failed) of $CONNS)" broken "$mode-off.fnat"
		check "$mode control: without sync, DSR connections moved by lb2's new Maglev table break ($(j "$mode-off.dsr" .failed) of $CONNS)" broken "$mode-off.dsr"
	else
		check "$mode control: testbed up" false
	fi
	down
done

echo "failover: $pass passed, $fail failed"
[ "$fail" -eq 0 ]
