#!/bin/bash
# A VIP and its backends added at run time (lbctl) are as highly available
# as those of the config file, and nodes whose services differ say so
# (docs/design.md decisions 8 and 13). On the netns testbed, in both HA
# modes:
#   1. on both nodes, by lbctl: VIP rt (198.18.100.1:8080, full NAT) with
#      be1 and be2 (nginx, port 80), and VIPs bulk (:5201 -> be1:5201) and
#      bulkr (:5202 -> be1:5202) for two iperf3 transfers;
#   2. 500 long-lived connections through rt (a request every 100 ms), an
#      iperf3 transfer each way; lb1 fails hard while they run;
#   3. pass: lb2 applied every session lb1 replicated (no refusal), no
#      connection broke, both transfers ran to their end without an error
#      and without a second without data, lb2 took lb1's sessions over.
# Drift (active-active, before the failure): be1 drained on lb1 only, then
# be2's weight changed on lb2 only: both nodes report the difference, by
# VIP and backend, in `syncd status` within 2 s, and clear it within 2 s
# of the undo; `lbctl cluster` and the metrics show it.
# Controls: (a) the VIPs added on lb1 only: both nodes report the missing
# VIP, lb1 counts the sessions lb2 would refuse (unprotected), and the
# connections break at failover; (b) a third backend (be3) added to rt on
# lb1 only: lb2 refuses the sessions lb1 sends there, one log line naming
# the VIP and the backend, and those connections break.
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
command -v iperf3 >/dev/null || { echo "runtime-ha: iperf3 not installed (scripts/deps.sh)" >&2; exit 1; }
VIP=198.18.100.1
PORT=8080
CONNS=500
DUR=16
BULK_S=14
REPORT_S=2 # a difference is reported, and cleared, within this
pass=0 fail=0
TMP=$(mktemp -d /tmp/xlb-runtime-ha.XXXXXX)
UP=0
HOLD_PIDS=()
trap 'rc=$?; iperf_stop; testbed_test_exit $rc syncd.log 15' EXIT

iperf_stop() {
	local f
	for f in "$TMP"/iperf-*.pid; do
		[ -s "$f" ] && kill "$(cat "$f")" 2>/dev/null
		rm -f "$f"
	done
	return 0
}

# services NODE...: the run-time VIPs on each NODE
services() {
	local n
	for n in "$@"; do
		"$LBCTL" -n "$n" vip add rt "$VIP" "$PORT" tcp fnat >/dev/null
		"$LBCTL" -n "$n" backend add rt 21 198.18.2.21 80 >/dev/null
		"$LBCTL" -n "$n" backend add rt 22 198.18.2.22 80 >/dev/null
		"$LBCTL" -n "$n" vip add bulk "$VIP" 5201 tcp fnat >/dev/null
		"$LBCTL" -n "$n" backend add bulk 31 198.18.2.21 5201 >/dev/null
		"$LBCTL" -n "$n" vip add bulkr "$VIP" 5202 tcp fnat >/dev/null
		"$LBCTL" -n "$n" backend add bulkr 32 198.18.2.21 5202 >/dev/null
	done
}

# pstate NODE: the state of NODE's comparison with its peer (equal,
# differ, comparing, unknown); plines NODE: its difference lines
pstate() { "$SYNCD" status -c "$STATE/$1/lbd.yaml" 2>/dev/null | jq -r '.peers[0].services.state'; }
plines() { "$SYNCD" status -c "$STATE/$1/lbd.yaml" 2>/dev/null | jq -r '.peers[0].services.lines[]'; }
punprot() { "$SYNCD" status -c "$STATE/$1/lbd.yaml" 2>/dev/null | jq -r '.peers[0].services.unprotected_sessions'; }

# within_s S CMD...: CMD succeeds within S seconds (polled every 100 ms);
# the time it took in WAITED_MS
within_s() {
	local s=$1 t0 now
	shift
	t0=$(date +%s%N)
	while :; do
		if "$@"; then
			WAITED_MS=$(( ($(date +%s%N) - t0) / 1000000 ))
			return 0
		fi
		now=$(date +%s%N)
		[ $(( (now - t0) / 1000000 )) -ge $((s * 1000)) ] && { WAITED_MS=-1; return 1; }
		sleep 0.1
	done
}

# both_report LINE: lb1's and lb2's peer view shows a line containing
# LINE_1 and LINE_2 (each node names the other)
both_report() { plines lb1 | grep -qF "$1" && plines lb2 | grep -qF "$2"; }
both_equal() { [ "$(pstate lb1)" = equal ] && [ "$(pstate lb2)" = equal ]; }

drift() {
	echo "-- drift: a backend drained on lb1 only, then a weight changed on lb2 only"
	check "before: both nodes report equal service sets" within_s "$REPORT_S" both_equal
	"$LBCTL" -n lb1 backend drain rt 21 >/dev/null
	check "drain on lb1 only: both nodes report it within ${REPORT_S} s" within_s "$REPORT_S" \
		both_report "VIP $VIP:$PORT/tcp: backend 21 (198.18.2.21:80): drained here, not drained on node2" \
		"VIP $VIP:$PORT/tcp: backend 21 (198.18.2.21:80): not drained here, drained on node1"
	echo "      reported after $WAITED_MS ms; lb1: $(plines lb1 | head -1)"
	check "... and lbctl cluster on lb2 shows it" \
		sh -c "'$LBCTL' -n lb2 cluster | grep -q 'DIFFER (1)'"
	check "... and the metrics say the sets differ" \
		sh -c "'$LBCTL' -n lb1 stats --prometheus | grep -q '^xdplb_sync_peer_services_equal{node=\"lb1\",peer=\"node2\"} 0'"
	"$LBCTL" -n lb1 backend undrain rt 21 >/dev/null
	check "undrained: both nodes report equal sets within ${REPORT_S} s" within_s "$REPORT_S" both_equal
	echo "      cleared after $WAITED_MS ms"
	"$LBCTL" -n lb2 backend weight rt 22 3 >/dev/null
	check "weight on lb2 only: both nodes report it within ${REPORT_S} s" within_s "$REPORT_S" \
		both_report "VIP $VIP:$PORT/tcp: backend 22 (198.18.2.22:80): weight 1 here, 3 on node2" \
		"VIP $VIP:$PORT/tcp: backend 22 (198.18.2.22:80): weight 3 here, 1 on node1"
	echo "      reported after $WAITED_MS ms"
	"$LBCTL" -n lb2 backend weight rt 22 1 >/dev/null
	check "weight back: both nodes report equal sets within ${REPORT_S} s" within_s "$REPORT_S" both_equal
	echo "      cleared after $WAITED_MS ms"
	check "lb1's log names the difference" \
		grep -q "peer node2 differs: VIP $VIP:$PORT/tcp: backend 21 (198.18.2.21:80): drained here" \
		"$STATE/lb1/syncd.log"
}

# run MODE TAG SERVICES_ON EXTRA_ON_LB1 [drift]: the services added at run
# time on SERVICES_ON ("lb1 lb2" or "lb1"), the flows and transfers across
# lb1's failure; leaves xlb-flows' JSON in $TMP/TAG.json, iperf3's in
# $TMP/TAG.bulk and $TMP/TAG.bulkr
run() {
	local mode=$1 tag=$2 on=$3 extra=$4 what=${5:-} p
	"$TESTBED" up --mode "$mode" >"$TMP/$tag.up" 2>&1 || { tail -20 "$TMP/$tag.up"; return 1; }
	UP=1
	# shellcheck disable=SC2086
	services $on
	[ "$extra" = 1 ] && "$LBCTL" -n lb1 backend add rt 23 198.18.2.23 80 >/dev/null
	[ "$what" = drift ] && drift
	for p in 5201 5202; do
		ip netns exec xlb-be1 iperf3 -s -p "$p" -1 -D -I "$TMP/iperf-$p.pid" >/dev/null 2>&1
	done
	sleep 0.5
	# the transfers' data connections through lb1, the node that fails
	CP1=$(port_via lb1 5201) CP2=$(port_via lb1 5202)
	ip netns exec xlb-client "$FLOWS" tcp --target "$VIP:$PORT" --conns "$CONNS" \
		--interval-ms 100 --duration-s "$DUR" --json >"$TMP/$tag.json" 2>/dev/null &
	HOLD_PIDS+=($!)
	timeout $((BULK_S + 30)) ip netns exec xlb-client iperf3 -c "$VIP" -p 5201 --cport "$CP1" \
		-t "$BULK_S" -J >"$TMP/$tag.bulk" 2>&1 &
	HOLD_PIDS+=($!)
	timeout $((BULK_S + 30)) ip netns exec xlb-client iperf3 -c "$VIP" -p 5202 --cport "$CP2" \
		-R -t "$BULK_S" -J >"$TMP/$tag.bulkr" 2>&1 &
	HOLD_PIDS+=($!)
	sleep 6
	REJ=$(syncstat lb2 apply_rejected)
	SESS1=$("$LBCTL" -n lb1 --json sessions count | jq -r .owned)
	STATE1=$(pstate lb1) STATE2=$(pstate lb2) UNPROT=$(punprot lb1)
	VIA=0
	via_lb1 "$CP1" 5201 && via_lb1 "$CP2" 5202 && VIA=1
	plines lb1 >"$TMP/$tag.lines1" || true
	plines lb2 >"$TMP/$tag.lines2" || true
	"$TESTBED" fail lb1 >/dev/null
	wait "${HOLD_PIDS[@]}" || true
	HOLD_PIDS=()
	iperf_stop
	TAKEN=$(( $(lbstat lb2 session_adopt) + $(lbstat lb2 session_takeover) ))
	grep -h "refused entry" "$STATE/lb2/syncd.log" 2>/dev/null | head -1 >"$TMP/$tag.refused" || true
}

# port_via NODE DPORT: a client port from which the router sends a TCP
# flow to VIP:DPORT through NODE (ECMP hashes L4: asked with ip route get)
port_via() {
	local want=198.18.2.1${1#lb} p
	for p in $(seq 41000 41999); do
		ip -n xlb-router route get "$VIP" from 198.18.1.10 iif client ipproto tcp \
			sport "$p" dport "$2" 2>/dev/null | grep -q "via $want " && { echo "$p"; return 0; }
	done
	return 1
}

# via_lb1 CPORT DPORT: lb1 owns the session of that flow (it forwards it)
via_lb1() {
	"$LBCTL" -n lb1 --json sessions list --limit 100000 2>/dev/null |
		jq -e --argjson c "$1" --argjson d "$2" \
			'any(.[]; .client_port == $c and .vip_port == $d and .owner == 1)' >/dev/null
}

# bulk_ok FILE: iperf3's connection carried on to the end (no error: TCP
# delivered every byte it accepted), no second of the run went without
# data, and the receiver counted at least 99% of the bytes sent (iperf3's
# receiver stops counting when the test's clock stops, with the last
# socket buffers still in flight)
bulk_ok() {
	jq -e '(.error == null) and (.end.sum_sent.bytes > 0) and
		(.end.sum_received.bytes * 100 >= .end.sum_sent.bytes * 99) and
		([.intervals[].sum.bytes] | min > 0)' "$TMP/$1" >/dev/null 2>&1
}
bulk_report() {
	jq -r '"\(.error // "ok"): sent \(.end.sum_sent.bytes // 0) B, received \(.end.sum_received.bytes // 0) B, slowest second \([.intervals[]?.sum.bits_per_second] | min // 0 | . / 1e6 | floor) Mbit/s"' \
		"$TMP/$1" 2>/dev/null || echo "no result: $(head -c 200 "$TMP/$1")"
}

down() {
	stop_holds
	iperf_stop
	[ "$UP" -eq 1 ] && "$TESTBED" down >/dev/null 2>&1
	UP=0
}

for mode in active-active active-standby; do
	echo "-- $mode: VIPs rt ($VIP:$PORT, $CONNS connections), bulk and bulkr (iperf3 each way) added by lbctl on both nodes; lb1 fails"
	what=
	[ "$mode" = active-active ] && what=drift
	if run "$mode" "$mode" "lb1 lb2" 0 "$what"; then
		echo "      lb1 owned $SESS1 sessions; lb2 refused $REJ entries; lb2 took over $TAKEN"
		echo "      $(jq -c '{ok, conns, failures}' "$TMP/$mode.json")"
		echo "      bulk: $(bulk_report "$mode.bulk"); reverse: $(bulk_report "$mode.bulkr")"
		check "$mode: both nodes reported equal service sets ($STATE1, $STATE2)" \
			test "$STATE1/$STATE2" = equal/equal
		check "$mode: lb2 applied every session of the run-time VIPs (apply_rejected $REJ)" \
			test "$REJ" = 0
		check "$mode: no connection broke across lb1's failure" passed "$mode.json"
		check "$mode: both transfers' data connections went through lb1 (ports $CP1, $CP2)" \
			test "$VIA" = 1
		check "$mode: the bulk transfer carried on to its end, no second without data" \
			bulk_ok "$mode.bulk"
		check "$mode: the reverse bulk transfer too" bulk_ok "$mode.bulkr"
		check "$mode: lb2 took lb1's sessions over ($TAKEN)" test "$TAKEN" -gt 0
	else
		check "$mode: testbed up, services added" false
	fi
	down
done

echo "-- control (a): the VIPs added on lb1 only (active-standby: all traffic through lb1)"
if run active-standby vip-one "lb1" 0; then
	echo "      lb1: $STATE1, $(head -1 "$TMP/vip-one.lines1"); $UNPROT sessions unprotected"
	echo "      lb2: $STATE2, $(head -1 "$TMP/vip-one.lines2")"
	echo "      $(jq -c '{ok, failed}' "$TMP/vip-one.json"); bulk: $(bulk_report vip-one.bulk)"
	check "control (a): lb1 reports rt missing on lb2" \
		grep -qF "VIP $VIP:$PORT/tcp (full-NAT, 2 backends): missing on node2" "$TMP/vip-one.lines1"
	check "control (a): lb2 reports rt missing here" \
		grep -qF "VIP $VIP:$PORT/tcp: missing here, node1 has it (full-NAT, 2 backends)" "$TMP/vip-one.lines2"
	check "control (a): lb1 counts its sessions of rt as unprotected ($UNPROT)" \
		test "${UNPROT:-0}" -gt 0
	check "control (a): the connections break at failover" broken vip-one.json
	check "control (a): the bulk transfer breaks" sh -c "! jq -e '.error == null' '$TMP/vip-one.bulk' >/dev/null 2>&1"
else
	check "control (a): testbed up, services added" false
fi
down

echo "-- control (b): a third backend (be3) added to rt on lb1 only"
if run active-active be-one "lb1 lb2" 1; then
	echo "      lb2 refused $REJ entries; $(jq -c '{ok, failed}' "$TMP/be-one.json")"
	echo "      lb2's log: $(cut -c1-240 "$TMP/be-one.refused")"
	check "control (b): both nodes report the backend lb2 lacks" \
		grep -qF "VIP $VIP:$PORT/tcp: backend 23 (198.18.2.23:80): missing on node2" "$TMP/be-one.lines1"
	check "control (b): lb2 refuses the sessions of the backend it lacks, counted ($REJ)" \
		test "$REJ" != "?" -a "$REJ" != null -a "$REJ" -gt 0
	check "control (b): ... with a log line naming the VIP and the backend" \
		grep -q "vip $VIP:$PORT/tcp backend 23 (198.18.2.23:80 in the entry): not installed on this node" "$TMP/be-one.refused"
	check "control (b): connections lb1 sent to be3 break at failover" broken be-one.json
else
	check "control (b): testbed up, services added" false
fi
down

echo "runtime-ha: $pass passed, $fail failed"
[ "$fail" -eq 0 ]
