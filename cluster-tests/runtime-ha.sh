#!/bin/bash
# A VIP and its backends added at run time (lbctl) are as highly available
# as those of the config file (docs/design.md decision 8): syncd checks a
# peer's session against the backends lbd installed, not against its own
# reading of the config file. On the active-active netns testbed:
#   1. on both nodes: `lbctl vip add rt 198.18.100.1 8080 tcp fnat` and
#      two backends (be1, be2, port 80) by `lbctl backend add`;
#   2. 200 long-lived connections through it (a request every 100 ms);
#      lb1 fails hard while they run;
#   3. pass: lb2 applied every session lb1 replicated (no refusal), no
#      connection broke, lb2 took lb1's sessions over.
# Control: the same with a third backend (be3) added on lb1 only. lb2
# refuses the sessions lb1 sends there, one log line naming the VIP and the
# backend, counted in apply_rejected; those connections break at failover.
# (On the landed tree lb2 refused every session of the run-time VIP,
# "backend id not in this node's config", and every connection lb1
# carried broke.)
#
# Environment: XLB_BUILD. Prints one line per check and "N passed, M failed".
set -euo pipefail

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
# shellcheck source=cluster-tests/lib.sh
. "$HERE/lib.sh"
ROOT=$(cd "$HERE/.." && pwd)
export XLB_BUILD=${XLB_BUILD:-$ROOT/build}
TESTBED=$HERE/testbed
STATE=/run/xdplb/testbed
FLOWS=$XLB_BUILD/cluster-tests/tools/xlb-flows
LBCTL=$XLB_BUILD/lbd/lbctl
SYNCD=$XLB_BUILD/syncd/syncd
[ -x "$FLOWS" ] && [ -x "$LBCTL" ] && [ -x "$SYNCD" ] ||
	{ echo "runtime-ha: xlb-flows, lbctl or syncd not built" >&2; exit 1; }
VIP=198.18.100.1
PORT=8080
CONNS=200
DUR=16
pass=0 fail=0
TMP=$(mktemp -d /tmp/xlb-runtime-ha.XXXXXX)
UP=0
HOLD_PIDS=()
trap 'rc=$?; testbed_test_exit $rc syncd.log 15' EXIT


# run TAG EXTRA_ON_LB1: services added at run time, the flows across lb1's
# failure; leaves xlb-flows' JSON in $TMP/TAG.json
run() {
	local tag=$1 extra=$2 n
	"$TESTBED" up --mode active-active >"$TMP/$tag.up" 2>&1 || { tail -20 "$TMP/$tag.up"; return 1; }
	UP=1
	for n in lb1 lb2; do
		"$LBCTL" -n "$n" vip add rt "$VIP" "$PORT" tcp fnat >/dev/null
		"$LBCTL" -n "$n" backend add rt 21 198.18.2.21 80 >/dev/null
		"$LBCTL" -n "$n" backend add rt 22 198.18.2.22 80 >/dev/null
	done
	[ "$extra" = 1 ] && "$LBCTL" -n lb1 backend add rt 23 198.18.2.23 80 >/dev/null
	ip netns exec xlb-client "$FLOWS" tcp --target "$VIP:$PORT" --conns "$CONNS" \
		--interval-ms 100 --duration-s "$DUR" --json >"$TMP/$tag.json" 2>/dev/null &
	HOLD_PIDS+=($!)
	sleep 6
	REJ=$(syncstat lb2 apply_rejected)
	SESS1=$("$LBCTL" -n lb1 --json sessions count | jq -r .owned)
	"$TESTBED" fail lb1 >/dev/null
	wait "${HOLD_PIDS[@]}" || true
	HOLD_PIDS=()
	TAKEN=$(( $(lbstat lb2 session_adopt) + $(lbstat lb2 session_takeover) ))
	grep -h "refused entry" "$STATE/lb2/syncd.log" 2>/dev/null | head -1 >"$TMP/$tag.refused" || true
}

down() {
	stop_holds
	[ "$UP" -eq 1 ] && "$TESTBED" down >/dev/null 2>&1
	UP=0
}

echo "-- active-active: VIP rt ($VIP:$PORT, full NAT) and its backends added by lbctl on both nodes; $CONNS connections; lb1 fails"
if run same 0; then
	echo "      lb1 owned $SESS1 sessions; lb2 refused $REJ entries; lb2 took over $TAKEN"
	echo "      $(jq -c '{ok, conns, failures}' "$TMP/same.json")"
	check "lb2 applied every session of the run-time VIP (apply_rejected $REJ)" test "$REJ" = 0
	check "no connection broke across lb1's failure" passed same.json
	check "lb2 took lb1's sessions over ($TAKEN)" test "$TAKEN" -gt 0
else
	check "testbed up, services added" false
fi
down

echo "-- control: a third backend (be3) added on lb1 only"
if run diff 1; then
	echo "      lb2 refused $REJ entries; $(jq -c '{ok, failed}' "$TMP/diff.json")"
	echo "      lb2's log: $(cut -c1-240 "$TMP/diff.refused")"
	check "control: lb2 refuses the sessions of the backend it lacks, counted ($REJ)" \
		test "$REJ" != "?" -a "$REJ" != null -a "$REJ" -gt 0
	check "control: ... with a log line naming the VIP and the backend" \
		grep -q "vip $VIP:$PORT/tcp backend 23 (198.18.2.23:80 in the entry): not installed on this node" "$TMP/diff.refused"
	check "control: connections lb1 sent to be3 break at failover" broken diff.json
else
	check "control: testbed up, services added" false
fi
down

echo "runtime-ha: $pass passed, $fail failed"
[ "$fail" -eq 0 ]
