#!/bin/bash
# A collision (docs/design.md decision 12): the same full-NAT flow opened
# on both nodes before either has the other's session, on the active-active
# netns testbed.
#
#   The two LB nodes cannot reach each other (a blackhole route each way:
#   a partition of the sync link only). A client connects from a fixed
#   port; the router sends that flow to lb1, whose SYN-ACK is lost on the
#   way back (a blackhole rule for lb1's SNAT ports), then to lb2, which
#   gets the client's retransmitted SYN and opens the same flow with its
#   own SNAT port and answers. The partition heals while the connection
#   carries requests (40 over one keep-alive connection, 4 a second).
#   Must hold:
#     - both nodes had a session of the flow before the partition healed
#       (the collision happened), with a port of each node's range;
#     - the client's connection completed and carried every request, on
#       one connection;
#     - afterwards both nodes hold the same session (lb2's port, lb2's
#       backend) and no stale reverse entry: lb1 removed its own and
#       published the removal (reverse_released), and gave its port back
#       (held for TIME_WAIT: ports_on_hold);
#     - once the connection ended and its session aged (tcp_closing), no
#       reverse entry is left on either node, and once held for TIME_WAIT
#       (snat.port_hold_s, 3 s here) both ports are back in their pools
#       (lb1's returned by its syncd, lb2's by its lbd).
#   Control (XLB_SYNCD_FAULT_NO_RELEASE=1, the rule before decision 12):
#   lb1's superseded reverse entry stays, also after the session aged.
#
# Environment: XLB_BUILD. Prints one line per check and "N passed, M failed".
set -euo pipefail

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
# shellcheck source=cluster-tests/lib.sh
. "$HERE/lib.sh"
ROOT=$(cd "$HERE/.." && pwd)
export XLB_BUILD=${XLB_BUILD:-$ROOT/build}
TESTBED=$HERE/testbed
LBCTL=$XLB_BUILD/lbd/lbctl
SYNCD=$XLB_BUILD/syncd/syncd
STATE=/run/xdplb/testbed
[ -x "$LBCTL" ] && [ -x "$SYNCD" ] || { echo "collision: $LBCTL or $SYNCD not built" >&2; exit 1; }
VIP=198.18.100.1
CLIENT=198.18.1.10
PORT=42001
LB1=198.18.2.11 LB2=198.18.2.12
SNAT=198.18.101.1
LB1_PORTS=10000-29999 LB2_PORTS=30000-49999 # the testbed's ranges
REQS=40
HOLD_S=3 # snat.port_hold_s, shortened: the held ports must come back
pass=0 fail=0
TMP=$(mktemp -d /tmp/xlb-collision.XXXXXX)
UP=0
HOLD_PIDS=()
trap 'rc=$?; unset XLB_SYNCD_FAULT_NO_RELEASE; testbed_test_exit $rc syncd.log 15' EXIT

rtr() { ip -n xlb-router "$@"; }
# the flow's session on NODE: "SNAT_PORT BACKEND OWNER STATE", or nothing
flow_session() {
	"$LBCTL" -n "$1" --json sessions list --limit 100000 2>/dev/null |
		jq -r --arg c "$CLIENT" --argjson p "$PORT" \
			'.[] | select(.client == $c and .client_port == $p)
			 | [.snat_port, .backend, .owner, .state] | map(tostring) | join(" ")'
}
rcount() { "$LBCTL" -n "$1" --json sessions count 2>/dev/null | jq -r ".$2"; }
in_range() { local p=$1 r=$2; [ -n "$p" ] && [ "$p" -ge "${r%-*}" ] && [ "$p" -le "${r#*-}" ]; }

# wait_for SECONDS COMMAND...: polls every 0.2 s
wait_for() {
	local end=$((SECONDS + $1))
	shift
	until "$@"; do
		[ $SECONDS -lt $end ] || return 1
		sleep 0.2
	done
}
agree() {
	local a b
	a=$(flow_session lb1) b=$(flow_session lb2)
	[ -n "$a" ] && [ "${a% *}" = "${b% *}" ]
}
no_stale() { [ "$(rcount lb1 reverse_stale)" = 0 ] && [ "$(rcount lb2 reverse_stale)" = 0 ]; }
ports_back() {
	[ "$(syncstat lb1 ports_on_hold)" = 0 ] && [ "$(syncstat lb1 ports_returned)" -ge 1 ] &&
		[ "$(lbstat lb2 ports_on_hold)" = 0 ] && [ "$(lbstat lb2 ports_returned)" -ge 1 ]
}
no_sessions() { [ "$(rcount lb1 count)" = 0 ] && [ "$(rcount lb2 count)" = 0 ]; }
no_reverse() { [ "$(rcount lb1 reverse)" = 0 ] && [ "$(rcount lb2 reverse)" = 0 ]; }

# collide TAG: the testbed up, the collision, the connection; leaves the
# curl output in $TMP/TAG.curl and the sessions before the heal in
# $TMP/TAG.before.{lb1,lb2}
collide() {
	local tag=$1 i urls=() cpid
	XLB_TESTBED_PORT_HOLD_S=$HOLD_S "$TESTBED" up --mode active-active >"$TMP/$tag.up" 2>&1 ||
		{ tail -20 "$TMP/$tag.up"; return 1; }
	UP=1
	# the client's flow to lb1 first; replies to lb2's ports to lb2 (the
	# peers cannot share reverse entries now); lb1's replies lost
	rtr route add "$VIP/32" via "$LB1" dev br0 table 100
	rtr rule add pref 100 iif client from "$CLIENT" ipproto tcp sport "$PORT" lookup 100
	rtr route add "$SNAT/32" via "$LB2" dev br0 table 101
	rtr rule add pref 101 iif br0 to "$SNAT" ipproto tcp dport "$LB2_PORTS" lookup 101
	rtr rule add pref 102 iif br0 to "$SNAT" ipproto tcp dport "$LB1_PORTS" blackhole
	ip -n xlb-lb1 route add blackhole "$LB2/32"
	ip -n xlb-lb2 route add blackhole "$LB1/32"
	for ((i = 0; i < REQS; i++)); do urls+=("http://$VIP/"); done
	ip netns exec xlb-client curl -s --local-port "$PORT" --connect-timeout 5 --max-time 30 \
		--rate 4/s -w '%{http_code} %{num_connects}\n' -o /dev/null "${urls[@]}" \
		>"$TMP/$tag.curl" 2>&1 &
	cpid=$!
	HOLD_PIDS+=("$cpid")
	sleep 0.5
	# the SYN retransmit (1 s after the first) goes to lb2
	rtr route replace "$VIP/32" via "$LB2" dev br0 table 100
	wait_for 4 test -n "$(flow_session lb2)" || true
	flow_session lb1 >"$TMP/$tag.before.lb1"
	flow_session lb2 >"$TMP/$tag.before.lb2"
	sleep 1
	# the partition heals; lb1's replies may reach the nodes again
	ip -n xlb-lb1 route del blackhole "$LB2/32"
	ip -n xlb-lb2 route del blackhole "$LB1/32"
	rtr rule del pref 102
	wait "$cpid" || true
	HOLD_PIDS=()
}

down() {
	stop_holds
	[ "$UP" -eq 1 ] && "$TESTBED" down >/dev/null 2>&1
	UP=0
}

echo "-- the same flow opened on lb1 and lb2 during a partition of the sync link; $REQS requests over it"
if collide fix; then
	b1=$(cat "$TMP/fix.before.lb1") b2=$(cat "$TMP/fix.before.lb2")
	echo "      before the heal: lb1 [${b1:-none}] lb2 [${b2:-none}] (snat port, backend, owner, state)"
	check "both nodes opened the flow, each with a port of its range" \
		eval 'in_range "${b1%% *}" "$LB1_PORTS" && in_range "${b2%% *}" "$LB2_PORTS"'
	ok=$(grep -c '^200 ' "$TMP/fix.curl" || true)
	conns=$(awk '{ n += $2 } END { print n + 0 }' "$TMP/fix.curl")
	echo "      client: $ok of $REQS requests answered, $conns connection(s)"
	check "the client's connection completed and carried every request ($ok of $REQS, $conns connection)" \
		test "$ok" = "$REQS" -a "$conns" = 1
	wait_for 20 agree || true
	a1=$(flow_session lb1) a2=$(flow_session lb2)
	echo "      after the heal: lb1 [${a1:-none}] lb2 [${a2:-none}]"
	check "both nodes hold the same session, the one the client completed (lb2's port)" \
		eval 'agree && in_range "${a1%% *}" "$LB2_PORTS"'
	wait_for 10 no_stale || true
	echo "      reverse entries: lb1 $(rcount lb1 reverse) (stale $(rcount lb1 reverse_stale)), lb2 $(rcount lb2 reverse) (stale $(rcount lb2 reverse_stale))"
	check "no stale reverse entry on either node" no_stale
	rel=$(syncstat lb1 reverse_released) held=$(syncstat lb1 ports_on_hold) ret=$(syncstat lb1 ports_returned)
	echo "      lb1's syncd: reverse_released $rel, ports_on_hold $held, ports_returned $ret"
	check "lb1 released its reverse entry and gave its port back (held for TIME_WAIT)" \
		test "$rel" -ge 1 -a $((held + ret)) -ge 1
	# the connection ended: CLOSED, aged after tcp_closing (10 s)
	wait_for 25 no_reverse || true
	echo "      after ageing: sessions lb1 $(rcount lb1 count) lb2 $(rcount lb2 count); reverse lb1 $(rcount lb1 reverse) lb2 $(rcount lb2 reverse)"
	check "after the session aged no reverse entry is left on either node" no_reverse
	# the held ports come back: lb1's (its syncd), lb2's (its lbd's ageing)
	wait_for $((HOLD_S + 8)) ports_back || true
	echo "      ports: lb1's syncd on hold $(syncstat lb1 ports_on_hold), returned $(syncstat lb1 ports_returned); lb2's lbd on hold $(lbstat lb2 ports_on_hold), returned $(lbstat lb2 ports_returned)"
	check "both nodes' ports went back to their pools once held ${HOLD_S} s (snat.port_hold_s)" ports_back
else
	check "testbed up, collision set up" false
fi
down

echo "-- control: the same with XLB_SYNCD_FAULT_NO_RELEASE=1 (superseded reverse entries kept)"
export XLB_SYNCD_FAULT_NO_RELEASE=1
if collide ctl; then
	unset XLB_SYNCD_FAULT_NO_RELEASE
	b1=$(cat "$TMP/ctl.before.lb1") b2=$(cat "$TMP/ctl.before.lb2")
	wait_for 20 agree || true
	wait_for 25 no_sessions || true
	sleep 1
	s1=$(rcount lb1 reverse_stale) r1=$(rcount lb1 reverse) r2=$(rcount lb2 reverse)
	echo "      before the heal: lb1 [${b1:-none}] lb2 [${b2:-none}]; after ageing: reverse lb1 $r1 (stale $s1), lb2 $r2"
	check "control: the collision happened and lb1's superseded reverse entry is left behind" \
		eval 'in_range "${b1%% *}" "$LB1_PORTS" && in_range "${b2%% *}" "$LB2_PORTS" && [ "$s1" -ge 1 ]'
else
	check "control: testbed up, collision set up" false
fi
unset XLB_SYNCD_FAULT_NO_RELEASE
down

echo "collision: $pass passed, $fail failed"
[ "$fail" -eq 0 ]
