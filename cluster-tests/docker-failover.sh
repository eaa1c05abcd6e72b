#!/bin/bash
# Failover without dropped connections, on the Docker testbed (docker/,
# active-active: bird2 BGP + BFD, ECMP on the router container).
#
#   1. 500 long-lived TCP connections through the full-NAT VIP and 500
#      through the DSR VIP, from the client container (xlb-flows: each
#      sends a request and reads the answer every 50 ms), and 100 UDP flows;
#   2. be3 is taken out of the pools at the start and added on lb2 only just
#      before the failure (the two nodes' Maglev tables differ), then
#      `docker kill xdplb-lb1` while the flows run;
#   3. pass: no connection broken (no reset, error or gap over 2 s); the
#      longest gap is reported; lb2 adopted lb1's sessions;
#   4. failback: lb1 is started again (fresh maps, snapshot from lb2, then
#      BGP announce) while new flows run: nothing breaks;
#   5. control: the same failure with syncd off (sync.enabled false) must
#      break connections, so a pass comes from sync.
#
# Exit 77 if Docker cannot be started here. Environment: XLB_BUILD,
# XLB_FAILOVER_CONNS (per TCP VIP, default 500), XLB_FAILOVER_S (flow
# duration, default 20), XLB_FAILOVER_FAILBACK (default 1),
# XLB_FAILOVER_CASES ("on off" by default: the sync run and the control).
set -euo pipefail

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
# shellcheck source=cluster-tests/lib.sh
. "$HERE/lib.sh"
ROOT=$(cd "$HERE/.." && pwd)
CLUSTER=$ROOT/docker/cluster.sh
CONNS=${XLB_FAILOVER_CONNS:-500}
DUR=${XLB_FAILOVER_S:-20}
FAILBACK=${XLB_FAILOVER_FAILBACK:-1}
VIP_WEB=198.19.100.1
VIP_DSR=198.19.100.2
BE3=198.19.2.23
UDP_PORT=5353

DOCKER=docker
[ -x /usr/bin/docker ] && DOCKER=/usr/bin/docker

pass=0 fail=0
TMP=$(mktemp -d /tmp/xlb-docker-failover.XXXXXX)
UP=0
FLOW_PIDS=()
# docker exec stays attached: stopping it stops the flows
FLOW_CLIENT=("$DOCKER" exec xdplb-client xlb-flows)

# Docker first: 77 (skipped) if it cannot run here
rc=0
"$CLUSTER" build >"$TMP/build" 2>&1 || rc=$?
if [ "$rc" -eq 77 ]; then
	echo "docker-failover: Docker cannot be started on this machine: skipped"
	rm -rf "$TMP"
	exit 77
elif [ "$rc" -ne 0 ]; then
	cat "$TMP/build" >&2
	echo "docker-failover: image build failed" >&2
	exit 1
fi
grep '^mkrootfs: xdplb' "$TMP/build" | sed 's/^/      /'

down() {
	stop_flows
	[ "$UP" -eq 1 ] && "$CLUSTER" down >/dev/null 2>&1
	UP=0
}

cleanup() {
	local rc=$?
	set +e
	if [ "$UP" -eq 1 ] && { [ "$fail" -gt 0 ] || [ "$rc" -ne 0 ]; }; then
		echo "---- state at failure"
		"$CLUSTER" status 2>&1 | sed 's/^/  /'
	fi
	down
	rm -rf "$TMP"
	exit "$rc"
}
trap cleanup EXIT

lbctl() { local n=$1; shift; "$DOCKER" exec "xdplb-$n" lbctl -n "$n" "$@"; }

carriers() { "$CLUSTER" carriers | xargs; }
adopted() { lbctl "$1" stats 2>/dev/null | awk '$1 == "session_adopt" { print $2; exit }'; }
sessions() { lbctl "$1" sessions count 2>/dev/null | awk '{print $1; exit}'; }

be_up() { lbctl "$1" --json backend list 2>/dev/null | jq_backends | awk -v v="$2" -v i="$3" '$1 == v && $2 == i && $3 == "up"' | grep -q .; }
wait_be_up() {
	for _ in $(seq 1 50); do be_up "$@" && return 0; sleep 0.2; done
	return 1
}

pool_without_be3() {
	local n
	for n in lb1 lb2; do
		lbctl "$n" backend del web 3 >/dev/null
		lbctl "$n" backend del web-dsr 3 >/dev/null
	done
}

add_be3_on_lb2() {
	lbctl lb2 backend add web 3 "$BE3" 80 >/dev/null
	lbctl lb2 backend add web-dsr 3 "$BE3" 80 >/dev/null
	wait_be_up lb2 web-dsr 3 && wait_be_up lb2 web 3
}

# fail_case SYNC TAG
fail_case() {
	local sync=$1 tag=$2 t0 t1
	XLB_SYNC=$sync "$CLUSTER" up >"$TMP/$tag.up" 2>&1 || { tail -20 "$TMP/$tag.up"; return 1; }
	UP=1
	echo "      cluster up, syncd $([ "$sync" = 1 ] && echo on || echo off), traffic to $(carriers)"
	pool_without_be3
	flows "$tag" "$DUR"
	sleep 5
	add_be3_on_lb2 || echo "      (be3 did not come up on lb2 in 10 s)"
	sleep 1
	echo "      sessions before the failure: lb1 $(sessions lb1), lb2 $(sessions lb2)"
	t0=$(date +%s%N)
	"$CLUSTER" fail lb1 >/dev/null
	until [ "$(carriers)" = lb2 ]; do
		[ $(( ($(date +%s%N) - t0) / 1000000 )) -lt 5000 ] || break
		sleep 0.02
	done
	t1=$(date +%s%N)
	echo "      docker kill lb1 at $(date +%T); router's route left lb1 after $(( (t1 - t0) / 1000000 )) ms; traffic to $(carriers)"
	wait_flows
	report "$tag.fnat"; report "$tag.dsr"; report "$tag.udp"
}

CASES=${XLB_FAILOVER_CASES:-on off}
if [[ " $CASES " == *" on "* ]]; then
echo "-- active-active, syncd on: $CONNS + $CONNS TCP connections and 100 UDP flows, docker kill lb1"
if fail_case 1 on; then
	check "every full-NAT connection survived docker kill lb1 (longest gap $(j on.fnat .longest_gap_ms) ms)" passed on.fnat
	check "every DSR connection survived, backends kept though lb2's Maglev changed (longest gap $(j on.dsr .longest_gap_ms) ms)" passed on.dsr
	check "every UDP flow kept its backend" passed on.udp
	check "lb2 adopted lb1's sessions ($(adopted lb2))" test "$(adopted lb2)" -gt 0
	if [ "$FAILBACK" = 1 ]; then
		echo "-- failback: lb1 started again while new flows run"
		flows back "$DUR"
		sleep 5
		"$CLUSTER" recover lb1 >"$TMP/recover" 2>&1 || tail -5 "$TMP/recover"
		echo "      lb1 recovered at $(date +%T); traffic goes to $(carriers)"
		wait_flows
		report back.fnat; report back.dsr; report back.udp
		check "failback: both nodes carry traffic again" test "$(carriers)" = "lb1 lb2"
		check "failback: no full-NAT connection broke (longest gap $(j back.fnat .longest_gap_ms) ms)" passed back.fnat
		check "failback: no DSR connection broke (longest gap $(j back.dsr .longest_gap_ms) ms)" passed back.dsr
		check "failback: every UDP flow kept its backend" passed back.udp
	fi
else
	check "cluster up (syncd on)" false
fi
down
fi

if [[ " $CASES " == *" off "* ]]; then
echo "-- control: the same failure with syncd off (sync.enabled false)"
if fail_case 0 off; then
	check "control: without sync, full-NAT connections break ($(j off.fnat .failed) of $CONNS)" broken off.fnat
	check "control: without sync, DSR connections moved by lb2's new Maglev table break ($(j off.dsr .failed) of $CONNS)" broken off.dsr
else
	check "control: cluster up (syncd off)" false
fi
down
fi

echo "docker-failover: $pass passed, $fail failed"
[ "$fail" -eq 0 ]
