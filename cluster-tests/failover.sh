#!/bin/bash
# Failover without dropped connections, in both HA modes:
#   active-active   bird2 BGP + BFD, ECMP on the router (L4 hash)
#   active-standby  keepalived VRRP moves the next hop of the VIPs
# on either testbed, with the same test code (XLB_FAILOVER_TARGET):
#   netns   cluster-tests/testbed: network namespaces (the default)
#   docker  docker/cluster.sh: one container per node (docker-failover.sh);
#           exit 77 if Docker cannot be started on this machine
#
# For each mode, with syncd on:
#   1. 500 long-lived TCP connections through the full-NAT VIP and 500
#      through the DSR VIP (xlb-flows: each sends a request and reads the
#      answer every 50 ms), and 100 UDP flows through the UDP VIP;
#   2. a backend is added to the pool on lb2 only (so the two nodes' Maglev
#      tables differ), then lb1 is failed hard (netns: links down, every
#      process killed; docker: docker kill) while they run;
#   3. pass: every connection completes its run with no reset, no error, no
#      gap over 2 s (the longest gap is reported); every UDP flow keeps its
#      one backend; lb2 took lb1's sessions over (adopted once lb1 was
#      declared dead, or taken over before: docs/design.md decisions 3, 12);
#   4. failback: new flows, lb1 recovers during them (fresh maps, snapshot
#      from lb2, then BGP announce / VRRP priority), again nothing breaks;
#   5. active-active: the route follows the node's health (lbd or syncd
#      killed, node silent with its link up: BFD).
# Control, each mode: the same failure with syncd off must break
# connections (the test asserts it does), so a pass comes from sync.
#
# Environment: XLB_BUILD, XLB_FAILOVER_TARGET (netns|docker),
# XLB_FAILOVER_MODES (default "active-active active-standby"),
# XLB_FAILOVER_CONNS (per TCP VIP, default 500), XLB_FAILOVER_S (flow
# duration, default 20), XLB_FAILOVER_INTERVAL_MS (each flow's request
# interval, default 50). Prints one line per check and "N passed, M failed".
set -euo pipefail

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
# shellcheck source=cluster-tests/lib.sh
. "$HERE/lib.sh"
ROOT=$(cd "$HERE/.." && pwd)
export XLB_BUILD=${XLB_BUILD:-$ROOT/build}
TARGET=${XLB_FAILOVER_TARGET:-netns}
MODES=${XLB_FAILOVER_MODES:-active-active active-standby}
CONNS=${XLB_FAILOVER_CONNS:-500}
DUR=${XLB_FAILOVER_S:-20}
IV=${XLB_FAILOVER_INTERVAL_MS:-50}
UDP_PORT=5353
NAME=failover
pass=0 fail=0
TMP=$(mktemp -d /tmp/xlb-failover.XXXXXX)
UP=0
TB_KEEP=
FLOW_PIDS=()

# ---- the target: TB (the testbed's command: up, down, status, fail,
# recover, carriers, lbd-kill, lbd-start, isolate), tb_up MODE SYNC, lbctl
# NODE ARGS..., FLOW_CLIENT (the command that runs xlb-flows on the client,
# in place: $! is its pid), NET (the first two octets of every address)
case "$TARGET" in
netns)
	TB=$HERE/testbed
	NET=198.18
	FLOWS=$XLB_BUILD/cluster-tests/tools/xlb-flows
	[ -x "$FLOWS" ] || { echo "failover: $FLOWS not built" >&2; exit 1; }
	FLOW_CLIENT=(ip netns exec xlb-client "$FLOWS")
	FAILURE="links down, every process killed"
	tb_up() { XLB_TESTBED_SYNC=$2 "$TB" up --mode "$1"; }
	lbctl() { local n=$1; shift; "$XLB_BUILD/lbd/lbctl" -n "$n" "$@"; }
	in_router() { ip netns exec xlb-router "$@"; }
	;;
docker)
	TB=$ROOT/docker/cluster.sh
	NET=198.19
	NAME=docker-failover
	DOCKER=docker
	[ -x /usr/bin/docker ] && DOCKER=/usr/bin/docker
	# docker exec stays attached: stopping it stops the flows
	FLOW_CLIENT=("$DOCKER" exec xdplb-client xlb-flows)
	FAILURE="docker kill"
	TB_KEEP=--keep
	tb_up() { XLB_SYNC=$2 "$TB" up --mode "$1"; }
	lbctl() { local n=$1; shift; "$DOCKER" exec "xdplb-$n" lbctl -n "$n" "$@"; }
	in_router() { nsenter -t "$("$DOCKER" inspect -f '{{.State.Pid}}' xdplb-router)" -n "$@"; }
	# Docker first (installed and started if need be), and the image
	rc=0
	"$TB" build >"$TMP/build" 2>&1 || rc=$?
	if [ "$rc" -eq 77 ]; then
		echo "$NAME: Docker cannot be started on this machine: skipped"
		rm -rf "$TMP"
		exit 77
	elif [ "$rc" -ne 0 ]; then
		cat "$TMP/build" >&2
		echo "$NAME: image build failed" >&2
		"$TB" down >/dev/null 2>&1
		rm -rf "$TMP"
		exit 1
	fi
	grep -E '^cluster: (installing|starting)|^mkrootfs: xdplb' "$TMP/build" | sed 's/^/      /'
	rc=0
	"$TB" config >"$TMP/config" 2>&1 || rc=$?
	sed 's/^/      /' "$TMP/config"
	check "the compose file is accepted by every Compose implementation installed" test "$rc" -eq 0
	;;
*) echo "failover: XLB_FAILOVER_TARGET: netns or docker, not '$TARGET'" >&2; exit 2 ;;
esac
VIP_WEB=$NET.100.1
VIP_DSR=$NET.100.2
BE3=$NET.2.23

# between cases (the Docker testbed keeps its image and daemon); the last
# down, in cleanup, takes everything down
down() {
	stop_flows
	[ "$UP" -eq 1 ] && "$TB" down $TB_KEEP >/dev/null 2>&1
	UP=0
}

cleanup() {
	local rc=$?
	set +e
	if [ "$UP" -eq 1 ] && { [ "$fail" -gt 0 ] || [ "$rc" -ne 0 ]; }; then
		echo "---- state at failure"
		"$TB" status 2>&1 | sed 's/^/  /'
	fi
	down
	"$TB" down >/dev/null 2>&1
	rm -rf "$TMP"
	exit "$rc"
}
trap cleanup EXIT

carriers() { "$TB" carriers | xargs; }
# the client's TCP retransmission timeouts and tail loss probes so far,
# "TIMEOUTS PROBES" (netns testbed; else nothing)
client_tcp() {
	[ "$TARGET" = netns ] || return 0
	ip netns exec xlb-client awk '$1 == "TcpExt:" { if (n++) { for (i = 1; i <= NF; i++) { if (h[i] == "TCPTimeouts") t = $i; if (h[i] == "TCPLossProbes") p = $i }; print t + 0, p + 0 } else split($0, h) }' /proc/net/netstat
}
# sessions NODE took from a peer: adopted (the peer dead) or taken over (a
# client-side packet here before the peer was declared dead)
adopted() { lbctl "$1" stats 2>/dev/null | awk '$1 == "session_adopt" || $1 == "session_takeover" { n += $2 } END { print n + 0 }'; }
sessions() { lbctl "$1" --json sessions count 2>/dev/null | jq_count 2>/dev/null || echo "?"; }

# After a failed failback: what each node's data plane counted (drops,
# bounces, sessions made and adopted), to tell where the flows were lost.
failback_diag() {
	local n
	for n in lb1 lb2; do
		echo "      $n: $(lbctl "$n" stats 2>/dev/null |
			awk '$2 != 0 && $1 ~ /^(rx|pass_|fwd_|drop_|session_|reply|sync_)/ {printf "%s=%s ", $1, $2}')sessions $(sessions "$n")"
	done
}

# ICMP redirects the router sent: a backend that takes one sends every
# full-NAT reply straight to one LB node for minutes, whatever ECMP says and
# whether that node is alive; the testbeds' router must send none.
router_redirects() {
	in_router awk '$1 == "Icmp:" { if (n++) { for (i = 1; i <= NF; i++) if (h[i] == "OutRedirects") print $i } else split($0, h) }' /proc/net/snmp
}

be_up() { lbctl "$1" --json backend list 2>/dev/null | jq_backends | awk -v v="$2" -v i="$3" '$1 == v && $2 == i && $3 == "up"' | grep -q .; }
wait_be_up() {
	for _ in $(seq 1 50); do be_up "$@" && return 0; sleep 0.2; done
	return 1
}

# Backend 3 (be3) is not in web/web-dsr at the start, on either node.
pool_without_be3() {
	local n
	for n in lb1 lb2; do
		lbctl "$n" backend del web 3 >/dev/null
		lbctl "$n" backend del web-dsr 3 >/dev/null
	done
}

# ... and is added on lb2 only, just before lb1 fails: lb2's Maglev tables
# now differ from the ones the flows were hashed with.
add_be3_on_lb2() {
	lbctl lb2 backend add web 3 "$BE3" 80 >/dev/null
	lbctl lb2 backend add web-dsr 3 "$BE3" 80 >/dev/null
	wait_be_up lb2 web-dsr 3 && wait_be_up lb2 web 3
}

# ms from T0 (date +%s%N, default now) until the router sends VIP traffic
# to exactly the nodes WANT ("lb2", "lb1 lb2"; within MAX ms), or nothing
# printed and false. Measured when the poll that saw it returned: an upper
# bound by one poll (a docker exec on the Docker testbed).
until_carriers() {
	local want=$1 max=$2 t0=${3:-$(date +%s%N)} now c
	while :; do
		c=$(carriers)
		now=$(date +%s%N)
		if [ "$c" = "$want" ]; then
			echo $(( (now - t0) / 1000000 ))
			return 0
		fi
		[ $(( (now - t0) / 1000000 )) -lt "$max" ] || return 1
		sleep 0.02
	done
}

# fail_case MODE SYNC TAG: returns after the flows of the failure phase ended
fail_case() {
	local mode=$1 sync=$2 tag=$3 ms t0 tcp0 t1 p1
	tb_up "$mode" "$sync" >"$TMP/$tag.up" 2>&1 || { tail -20 "$TMP/$tag.up"; return 1; }
	UP=1
	echo "      $TARGET testbed up, $mode, syncd $([ "$sync" = 1 ] && echo on || echo off), traffic to $(carriers)"
	pool_without_be3
	flows "$tag" "$DUR" "$IV"
	sleep 5
	add_be3_on_lb2 || echo "      (be3 did not come up on lb2 in 10 s)"
	sleep 1
	echo "      sessions before the failure: lb1 $(sessions lb1), lb2 $(sessions lb2)"
	tcp0=$(client_tcp)
	t0=$(date +%s%N)
	"$TB" fail lb1 >/dev/null
	ms=$(until_carriers lb2 5000 "$t0") || ms="more than 5000"
	echo "      lb1 failed ($FAILURE) at $(date +%T); the router's traffic left it within $ms ms of the command"
	wait_flows
	if [ -n "$tcp0" ]; then
		read -r t1 p1 <<<"$(client_tcp)"
		echo "      client TCP during the failure: $((t1 - ${tcp0% *})) timeouts (retransmissions after an RTO), $((p1 - ${tcp0#* })) tail loss probes"
	fi
	report "$tag.fnat"; report "$tag.dsr"; report "$tag.udp"
}

# route_check WANT MAX_MS FROM DESC CMD...: runs CMD; passes if the router
# then sends VIP traffic to exactly WANT within MAX_MS, counted from just
# before CMD (FROM=cmd) or from when it returned (FROM=after).
route_check() {
	local want=$1 max=$2 from=$3 desc=$4 t0 ms
	shift 4
	t0=$(date +%s%N)
	"$@" >/dev/null
	[ "$from" = after ] && t0=$(date +%s%N)
	ms=$(until_carriers "$want" "$max" "$t0") || ms=-1
	check "$desc ($ms ms)" test "$ms" -ge 0 -a "$ms" -lt "$max"
}

# Active-active only: the route follows the node's health. lb2's lbd dies:
# its announcement is withdrawn; lbd back: announced again. The same for its
# syncd (a node whose syncd is down would serve flows it knows nothing of;
# back = ready: its peer's snapshot is in). Then lb2 goes silent while its
# link stays up (every frame it sends is dropped on the way to the router):
# BFD withdraws it before BGP's hold time would (3 s).
route_health() {
	echo "-- active-active: route health"
	route_check lb1 3000 cmd "lbd killed on lb2: its routes are withdrawn" "$TB" lbd-kill lb2
	route_check "lb1 lb2" 15000 after "lbd back on lb2: announced again, counted from when lbd answered" \
		"$TB" lbd-start lb2
	route_check lb1 3000 cmd "syncd killed on lb2: its routes are withdrawn" "$TB" syncd-kill lb2
	route_check "lb1 lb2" 15000 after "syncd back on lb2: announced again, counted from when it was ready" \
		"$TB" syncd-start lb2
	# BFD (100 ms x 3) must beat BGP's hold time (3 s): the bound is the
	# hold time, the figure printed is what BFD took (a loaded machine
	# delays bird's timers, so a tighter bound measures the machine)
	route_check lb1 3000 cmd "lb2 silent with its link up: BFD withdraws it before BGP's 3 s hold time" \
		"$TB" isolate lb2 on
	route_check "lb1 lb2" 20000 after "lb2 reachable again: announced again" "$TB" isolate lb2 off
}

for mode in $MODES; do
	echo "-- $TARGET, $mode, syncd on: $CONNS + $CONNS TCP connections and 100 UDP flows, lb1 fails"
	if fail_case "$mode" 1 "$mode-on"; then
		check "$mode: every full-NAT connection survived lb1's failure (longest gap $(j "$mode-on.fnat" .longest_gap_ms) ms)" passed "$mode-on.fnat"
		check "$mode: every DSR connection survived, backends kept though lb2's Maglev changed (longest gap $(j "$mode-on.dsr" .longest_gap_ms) ms)" passed "$mode-on.dsr"
		check "$mode: every UDP flow kept its backend" passed "$mode-on.udp"
		check "$mode: lb2 took lb1's sessions over ($(adopted lb2))" test "$(adopted lb2)" -gt 0

		echo "-- $TARGET, $mode: failback: lb1 recovers while new flows run"
		flows "$mode-back" "$DUR" "$IV"
		sleep 5
		"$TB" recover lb1 >"$TMP/$mode-recover" 2>&1 || tail -5 "$TMP/$mode-recover"
		# lb1 is ready when recover returns; its route (BGP) or the VIP
		# (VRRP preemption) follows within a few hundred ms to seconds
		want="lb1 lb2"
		[ "$mode" = active-standby ] && want=lb1
		back_ms=$(until_carriers "$want" 10000 "$(date +%s%N)") || back_ms=-1
		echo "      lb1 recovered at $(date +%T); traffic goes to $(carriers | xargs) ($back_ms ms after the recovery returned)"
		wait_flows
		report "$mode-back.fnat"; report "$mode-back.dsr"; report "$mode-back.udp"
		[ "$mode" = active-standby ] &&
			check "$mode: failback: lb1 (higher priority) holds the VIP again, within 10 s ($back_ms ms)" \
				test "$back_ms" -ge 0 -a "$(carriers)" = lb1
		[ "$mode" = active-active ] &&
			check "$mode: failback: both nodes carry traffic again, within 10 s ($back_ms ms)" \
				test "$back_ms" -ge 0 -a "$(carriers)" = "lb1 lb2"
		check "$mode: failback: no full-NAT connection broke (longest gap $(j "$mode-back.fnat" .longest_gap_ms) ms)" passed "$mode-back.fnat"
		check "$mode: failback: no DSR connection broke (longest gap $(j "$mode-back.dsr" .longest_gap_ms) ms)" passed "$mode-back.dsr"
		check "$mode: failback: every UDP flow kept its backend" passed "$mode-back.udp"
		{ passed "$mode-back.fnat" && passed "$mode-back.udp"; } || failback_diag
		redirs=$(router_redirects)
		check "$mode: the router sent no ICMP redirect (replies follow ECMP; sent ${redirs:-?})" test "${redirs:-1}" = 0
		[ "$mode" = active-active ] && route_health
	else
		check "$mode: testbed up" false
	fi
	down

	echo "-- $TARGET, $mode, control: the same failure with syncd off"
	if fail_case "$mode" 0 "$mode-off"; then
		check "$mode control: without sync, full-NAT connections break ($(j "$mode-off.fnat" .failed) of $CONNS)" broken "$mode-off.fnat"
		check "$mode control: without sync, DSR connections moved by lb2's new Maglev table break ($(j "$mode-off.dsr" .failed) of $CONNS)" broken "$mode-off.dsr"
	else
		check "$mode control: testbed up" false
	fi
	down
done

echo "$NAME: $pass passed, $fail failed"
[ "$fail" -eq 0 ]
