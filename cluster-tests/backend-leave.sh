#!/bin/bash
# Flows whose backend leaves (docs/design.md decision 12), on the netns
# testbed (single mode: lb1 carries the traffic):
#   UDP  30 flows through the full-NAT UDP VIP, each from its own fixed
#        port (a resolver, syslog, SIP); be1 is removed from the VIP at run
#        time (lbctl backend del) and its UDP service stopped: the flows it
#        served must move to a live backend on their next datagram and lose
#        nothing more than xlb-flows allows (5%); the rest stay where they
#        are. (On the landed tree the moved flows kept going to be1.)
#   TCP  a client reuses its source port right after its connection ended
#        (the session lingers CLOSED for tcp_closing): before the second
#        connection, the first one's backend is removed (from web and web-dsr) and its nginx
#        stopped; the reopening SYN must reach a live backend and be
#        answered. (On the landed tree it went to the removed backend.)
#   TCP  established connections to a backend that is removed and then
#        vanishes from the network (its link down: no reset comes back):
#        with sessions.timeouts.backend_gone 2 s each client gets a RST
#        from the VIP at its next segment once the backend has been gone
#        that long, and its session is closed; control (backend_gone 0,
#        the landed rule): they stay open, retransmitting into nothing.
#
# Environment: XLB_BUILD. Prints one line per check and "N passed, M failed".
set -euo pipefail

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
# shellcheck source=cluster-tests/lib.sh
. "$HERE/lib.sh"
ROOT=$(cd "$HERE/.." && pwd)
export XLB_BUILD=${XLB_BUILD:-$ROOT/build}
export XLB_TESTBED_SYNC=0
TESTBED=$HERE/testbed
STATE=/run/xdplb/testbed
FLOWS=$XLB_BUILD/cluster-tests/tools/xlb-flows
LBCTL=$XLB_BUILD/lbd/lbctl
[ -x "$FLOWS" ] && [ -x "$LBCTL" ] || { echo "backend-leave: $FLOWS or $LBCTL not built" >&2; exit 1; }
VIP=198.18.100.1
pass=0 fail=0
TMP=$(mktemp -d /tmp/xlb-backend-leave.XXXXXX)
UP=0
HOLD_PIDS=()
trap 'rc=$?; testbed_test_exit $rc lbd.log 15' EXIT

cli() { ip netns exec xlb-client "$@"; }

# gone_case GONE_S TAG: a testbed with backend_gone GONE_S; 30 held
# connections through the full-NAT VIP; be2 removed and cut off; prints
# "OPEN RESETS SESSION_RESET ON_BE2 RESETTING": sessions towards be2 not closed 8 s
# later, connections the clients saw reset, lb1's session_reset counter,
# connections on be2 when it left, be2's "resetting" in lbctl (it is
# still listed by web-dsr)
gone_case() {
	local gone=$1 tag=$2 n n0 r rs
	XLB_TESTBED_BACKEND_GONE_S=$gone "$TESTBED" up --mode single >"$TMP/$tag.up" 2>&1 ||
		{ tail -20 "$TMP/$tag.up" >&2; return 1; }
	UP=1
	cli "$FLOWS" tcp --target "$VIP:80" --conns 30 --interval-ms 200 --duration-s 14 --json \
		>"$TMP/$tag.flows" 2>/dev/null &
	sleep 2
	n0=$("$LBCTL" -n lb1 --json sessions list 2>/dev/null | jq_sessions |
		awk '$3 == "198.18.2.22:80" && $6 == "established"' | wc -l)
	"$LBCTL" -n lb1 backend del web 2 >/dev/null
	ip -n xlb-be2 link set eth0 down
	sleep 8
	n=$("$LBCTL" -n lb1 --json sessions list 2>/dev/null | jq_sessions |
		awk '$3 == "198.18.2.22:80" && $6 != "closed"' | wc -l)
	r=$(lbstat lb1 session_reset)
	rs=$("$LBCTL" -n lb1 --json backend list web-dsr 2>/dev/null |
		jq -r '.[].backends[] | select(.id == 2) | .resetting')
	wait || true
	"$TESTBED" down >/dev/null 2>&1
	UP=0
	echo "$n $(jq '.failures.reset' "$TMP/$tag.flows" 2>/dev/null || echo '?') $r $n0 ${rs:-?}"
}

echo "-- TCP: established connections to a backend removed and then cut off (no reset comes back)"
read -r c_open c_reset c_stat c_on c_rs <<<"$(gone_case 0 keep || echo '? ? ? ? ?')"
echo "      backend_gone 0 (the landed rule): after 8 s $c_open connections to be2 still open of $c_on, $c_reset reset (session_reset $c_stat)"
read -r g_open g_reset g_stat g_on g_rs <<<"$(gone_case 2 gone || echo '? ? ? ? ?')"
echo "      backend_gone 2 s: after 8 s $g_open connections to be2 still open of $g_on, $g_reset reset (session_reset $g_stat)"
check "control: with backend_gone 0 the removed backend's connections stay open, none reset (resetting $c_rs)" \
	test "$c_open" != "?" -a "$c_open" != 0 -a "$c_reset" = 0 -a "$c_rs" = false
check "with backend_gone 2 s every one of them is reset at its next segment and closed" \
	test "$g_open" = 0 -a "$g_reset" != "?" -a "$g_reset" != 0 -a "$g_stat" != 0
check "... exactly the connections that were on be2 ($g_reset reset of $g_on)" \
	test "$g_reset" = "$g_on"
check "lbctl backend list shows be2 resetting" test "$g_rs" = true

"$TESTBED" up --mode single >"$TMP/up" 2>&1 || { tail -20 "$TMP/up"; exit 1; }
UP=1

echo "-- UDP: 30 fixed-port flows; be1 removed from the VIP and its service stopped while they run"
cli "$FLOWS" udp --target "$VIP:5353" --flows 30 --interval-ms 100 --duration-s 8 --json \
	>"$TMP/udp" 2>"$TMP/udp.err" &
flows_pid=$!
sleep 3
r0=$(lbstat lb1 session_repick)
"$LBCTL" -n lb1 backend del udp 11 >/dev/null
kill -TERM "$(cat "$STATE/be1/udp-echo.pid")"
wait "$flows_pid" || true
echo "      $(jq -c '{ok, flows, failures}' "$TMP/udp")"
moved=$(jq '.failures.multi_responder' "$TMP/udp")
check "the flows be1 served moved to a live backend ($moved of 30, session_repick $(( $(lbstat lb1 session_repick) - r0 )))" \
	test "$moved" -gt 0 -a "$(( $(lbstat lb1 session_repick) - r0 ))" -ge "$moved"
check "no flow went unanswered or lost more than 5% of its datagrams" \
	test "$(jq '.failures.no_answer + .failures.loss_over_limit' "$TMP/udp")" -eq 0

echo "-- TCP: a client reuses its source port while its closed session lingers; the backend is gone"
port=41234
# no TIME_WAIT on the client: whether curl or nginx closes first is a race,
# and a client in TIME_WAIT could not open the same 4-tuple again at all
# (connect() fails, no SYN leaves); the test is about the balancer's
# lingering session, not the client's
cli sysctl -qw net.ipv4.tcp_max_tw_buckets=0
first=$(cli curl -sS --max-time 2 --local-port "$port" -H 'Connection: close' "http://$VIP/" \
	2>"$TMP/first.err") || first=
be=${first#backend }
echo "      first connection from port $port: ${first:-no answer: $(head -c 200 "$TMP/first.err")}"
if [[ "$be" =~ ^be[123]$ ]]; then
	id=${be#be}
	r0=$(lbstat lb1 session_repick)
	# the endpoint leaves: removed from both VIPs that list its id (an id
	# names one endpoint for every VIP; its slot is freed with the last)
	"$LBCTL" -n lb1 backend del web "$id" >/dev/null
	"$LBCTL" -n lb1 backend del web-dsr "$id" >/dev/null
	"$TESTBED" nginx-stop "$be" >/dev/null
	second=$(cli curl -sS --max-time 2 --local-port "$port" "http://$VIP/" 2>"$TMP/second.err") ||
		second=
	echo "      second connection, same port, $be removed and stopped: ${second:-no answer: $(head -c 200 "$TMP/second.err")}"
	check "the reopening SYN reached a live backend (${second:-no answer})" \
		test -n "$second" -a "$second" != "backend $be"
	check "... by moving the closed session (session_repick +$(( $(lbstat lb1 session_repick) - r0 )))" \
		test "$(( $(lbstat lb1 session_repick) - r0 ))" -ge 1
else
	check "first connection answered" false
fi

echo "backend-leave: $pass passed, $fail failed"
[ "$fail" -eq 0 ]
