#!/bin/bash
# Sessions that live as long as their connections, after a failover and a
# failback (docs/design.md decision 12), in both HA modes, on the netns
# testbed with the idle timeouts shortened to XLB_FAILBACK_IDLE_S (tcp
# established and udp; 6 s here stands for the default 900 s):
#   1. CONNS long-lived TCP connections through the full-NAT VIP and CONNS
#      through the DSR VIP (a request every 200 ms each), and 50 UDP flows;
#   2. lb1 fails hard while they run; lb2 adopts lb1's sessions;
#   3. lb1 recovers (fresh maps, snapshot): ECMP sends part of the flows
#      back to it (active-active), VRRP preemption all of them
#      (active-standby), flows that lb2 owns now;
#   4. the same connections go on for at least three idle timeouts past
#      the recovery: pass if none broke (no reset, no error, no gap over
#      2 s), every UDP flow kept its backend, and lb1 took over the
#      sessions it forwards (session_takeover).
# Control, each mode: the same run with lbd's takeover turned off
# (XLB_LBD_FAULT_NO_TAKEOVER=1: the owner lb2 sees the flows lb1 forwards
# idle and ages them out); full-NAT connections must break, so a pass
# comes from the takeover.
#
# Environment: XLB_BUILD, XLB_FAILBACK_MODES (default "active-active
# active-standby"), XLB_FAILBACK_CONNS (per TCP VIP, default 200),
# XLB_FAILBACK_IDLE_S (default 6). Prints one line per check and
# "N passed, M failed".
set -euo pipefail

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
# shellcheck source=cluster-tests/lib.sh
. "$HERE/lib.sh"
ROOT=$(cd "$HERE/.." && pwd)
export XLB_BUILD=${XLB_BUILD:-$ROOT/build}
TESTBED=$HERE/testbed
MODES=${XLB_FAILBACK_MODES:-active-active active-standby}
CONNS=${XLB_FAILBACK_CONNS:-200}
IDLE=${XLB_FAILBACK_IDLE_S:-6}
FLOWS=$XLB_BUILD/cluster-tests/tools/xlb-flows
LBCTL=$XLB_BUILD/lbd/lbctl
[ -x "$FLOWS" ] && [ -x "$LBCTL" ] || { echo "failback: $FLOWS or $LBCTL not built" >&2; exit 1; }
FLOW_CLIENT=(ip netns exec xlb-client "$FLOWS")
VIP_WEB=198.18.100.1
VIP_DSR=198.18.100.2
UDP_PORT=5353
PRE_S=4     # flows before the failure
DOWN_S=6    # lb1 down
AFTER_S=$((3 * IDLE + 4)) # flows after the recovery: three idle timeouts
pass=0 fail=0
TMP=$(mktemp -d /tmp/xlb-failback.XXXXXX)
UP=0
FLOW_PIDS=()
HOLD_PIDS=()

trap 'rc=$?; stop_flows; unset XLB_LBD_FAULT_NO_TAKEOVER; testbed_test_exit $rc lbd.log 15' EXIT

carriers() { "$TESTBED" carriers | xargs; }

# run MODE TAG: the testbed up in MODE, the flows across fail and recover;
# returns when they ended, after printing what they saw. Sets RECOVERED_S
# (seconds the flows ran past lb1's recovery).
run() {
	local mode=$1 tag=$2 dur t_rec t_end want
	XLB_TESTBED_IDLE_S=$IDLE "$TESTBED" up --mode "$mode" >"$TMP/$tag.up" 2>&1 ||
		{ tail -20 "$TMP/$tag.up"; return 1; }
	UP=1
	dur=$((PRE_S + DOWN_S + 15 + AFTER_S)) # 15: a recovery's allowance
	flows "$tag" "$dur" 200 50 # a request every 200 ms, 50 UDP flows
	t_end=$((SECONDS + dur))
	sleep "$PRE_S"
	"$TESTBED" fail lb1 >/dev/null
	sleep "$DOWN_S"
	echo "      lb1 failed for ${DOWN_S} s; lb2 adopted $(lbstat lb2 session_adopt) sessions, took over $(lbstat lb2 session_takeover)"
	"$TESTBED" recover lb1 >"$TMP/$tag.recover" 2>&1 || { tail -5 "$TMP/$tag.recover"; return 1; }
	# back when the router sends it traffic again (BGP announce, VRRP)
	want="lb1 lb2"
	[ "$mode" = active-standby ] && want=lb1
	for _ in $(seq 1 150); do [ "$(carriers)" = "$want" ] && break; sleep 0.1; done
	t_rec=$SECONDS
	RECOVERED_S=$((t_end - t_rec))
	echo "      lb1 recovered, traffic goes to $(carriers); the flows go on for ${RECOVERED_S} s (idle timeout ${IDLE} s)"
	wait_flows
	report "$tag.fnat"; report "$tag.dsr"; report "$tag.udp"
	echo "      lb1: session_takeover $(lbstat lb1 session_takeover), drop_no_session $(lbstat lb1 drop_no_session); lb2: sessions_aged $(lbstat lb2 sessions_aged)"
}

down() {
	stop_flows
	[ "$UP" -eq 1 ] && "$TESTBED" down >/dev/null 2>&1
	UP=0
}

for mode in $MODES; do
	echo "-- $mode: $CONNS + $CONNS TCP connections and 50 UDP flows across lb1's failure and recovery, idle timeout ${IDLE} s"
	if run "$mode" "$mode"; then
		check "$mode: the flows ran at least three idle timeouts past the recovery (${RECOVERED_S} s)" \
			test "$RECOVERED_S" -ge $((3 * IDLE))
		check "$mode: no full-NAT connection broke, recovery and ageing included" passed "$mode.fnat"
		check "$mode: no DSR connection broke" passed "$mode.dsr"
		check "$mode: every UDP flow kept its backend" passed "$mode.udp"
		check "$mode: lb1 took over the sessions it forwards ($(lbstat lb1 session_takeover))" \
			test "$(lbstat lb1 session_takeover)" -gt 0
	else
		check "$mode: testbed up, lb1 failed and recovered" false
	fi
	down

	echo "-- $mode, control: the same with takeover off (the owner ages what another node forwards)"
	export XLB_LBD_FAULT_NO_TAKEOVER=1
	if run "$mode" "$mode-ctl"; then
		check "$mode control: without takeover, full-NAT connections break ($(j "$mode-ctl.fnat" .failed) of $CONNS)" \
			broken "$mode-ctl.fnat"
	else
		check "$mode control: testbed up, lb1 failed and recovered" false
	fi
	unset XLB_LBD_FAULT_NO_TAKEOVER
	down
done

echo "failback: $pass passed, $fail failed"
[ "$fail" -eq 0 ]
