#!/bin/bash
# A VIP and its backends added at run time (lbctl) are as highly available
# as those of the config file, and nodes whose services differ say so
# (docs/design.md decisions 8 and 13). On the netns testbed, in both HA
# modes:
#   1. on both nodes, by lbctl: VIP rt (198.18.100.1:8080, full NAT) with
#      be1 and be2 (nginx, port 80), and VIPs bulk (:5201 -> be1:5201) and
#      bulkr (:5202 -> be1:5202) for two iperf3 transfers;
#   2. 500 long-lived connections through rt (a request every 100 ms), a
#      48 MiB download through rt (from client ports tried until one goes
#      through lb1), an iperf3 transfer each way (one stream, through lb1 too,
#      tried the same way); lb1 fails hard while they run;
#   3. pass: lb2 applied every session lb1 replicated (no refusal), no
#      connection broke, every download arrived byte for byte, both iperf3
#      runs reached their end with no stream a second without data, lb2
#      took lb1's sessions over.
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
BLOB_MB=48     # each download: BLOB_MB MiB at DL_RATE, about 14 s
DL_RATE=3500k
REPORT_S=2 # a difference is reported, and cleared, within this
pass=0 fail=0
TMP=$(mktemp -d /tmp/xlb-runtime-ha.XXXXXX)
UP=0
HOLD_PIDS=()
trap 'rc=$?; iperf_stop; testbed_test_exit $rc syncd.log 15' EXIT
head -c $((BLOB_MB << 20)) /dev/urandom >"$TMP/blob"

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
	# a file on both rt backends, downloaded through rt across the failure
	for p in be1 be2; do
		mkdir -p "$STATE/$p/files"
		cp "$TMP/blob" "$STATE/$p/files/blob"
	done
	for p in 5201 5202; do
		ip netns exec xlb-be1 iperf3 -s -p "$p" -D -I "$TMP/iperf-$p.pid" >/dev/null 2>&1
	done
	sleep 0.5
	ip netns exec xlb-client "$FLOWS" tcp --target "$VIP:$PORT" --conns "$CONNS" \
		--interval-ms 100 --duration-s "$DUR" --json >"$TMP/$tag.json" 2>/dev/null &
	HOLD_PIDS+=($!)
	iperf_via_lb1 "$tag.bulk" 5201 || true
	CP1=$VIA_PORT
	iperf_via_lb1 "$tag.bulkr" 5202 -R || true
	CP2=$VIA_PORT
	downloads "$tag"
	REJ=$(syncstat lb2 apply_rejected)
	SESS1=$("$LBCTL" -n lb1 --json sessions count | jq -r .owned)
	STATE1=$(pstate lb1) STATE2=$(pstate lb2) UNPROT=$(punprot lb1)
	plines lb1 >"$TMP/$tag.lines1" || true
	plines lb2 >"$TMP/$tag.lines2" || true
	"$TESTBED" fail lb1 >/dev/null
	wait "${HOLD_PIDS[@]}" || true
	HOLD_PIDS=()
	iperf_stop
	TAKEN=$(( $(lbstat lb2 session_adopt) + $(lbstat lb2 session_takeover) ))
	grep -h "refused entry" "$STATE/lb2/syncd.log" 2>/dev/null | head -1 >"$TMP/$tag.refused" || true
}

# downloads TAG: the blob through rt from one client port after another
# until one download's connection is owned by lb1 (ECMP may send a port to
# either node; at most 20 tries); each writes $TMP/TAG.dl.PORT. Returns
# about 6 s after the flows started.
downloads() {
	local tag=$1 p=42000 t0
	t0=$(date +%s)
	DL_PORTS=() DL_VIA=0
	while [ "$p" -lt 42020 ]; do
		ip netns exec xlb-client sh -c 'curl -s -o "$1" -w "http %{http_code}, %{size_download} B" \
			--local-port "$2" --limit-rate "$3" -m "$4" "$5" >"$1.meta"; echo ", curl exit $?" >>"$1.meta"' \
			- "$TMP/$tag.dl.$p" "$p" "$DL_RATE" $((BULK_S * 3)) "http://$VIP:$PORT/files/blob" &
		HOLD_PIDS+=($!)
		DL_PORTS+=("$p")
		sleep 0.3
		if owned_by_lb1 "$p" "$PORT"; then
			DL_VIA=$p
			break
		fi
		p=$((p + 1))
	done
	sleep $((6 - ($(date +%s) - t0) > 0 ? 6 - ($(date +%s) - t0) : 0))
}

# downloads_ok TAG: every download has the blob's bytes, exactly
downloads_ok() {
	local p ok=0
	for p in "${DL_PORTS[@]}"; do
		cmp -s "$TMP/blob" "$TMP/$1.dl.$p" && continue
		ok=1
		echo "      download from port $p: $(cat "$TMP/$1.dl.$p.meta" 2>/dev/null)"
	done
	[ "${#DL_PORTS[@]}" -gt 0 ] && return $ok
}

# owned_by_lb1 CPORT DPORT: lb1 owns (forwards) the flow from CPORT to
# VIP:DPORT
owned_by_lb1() {
	"$LBCTL" -n lb1 --json sessions list --limit 100000 2>/dev/null |
		jq -e --argjson c "$1" --argjson d "$2" \
			'any(.[]; .client_port == $c and .vip_port == $d and .owner == 1)' >/dev/null
}

# iperf_via_lb1 OUT DPORT [-R]: one iperf3 stream to VIP:DPORT whose data
# connection goes through lb1 (ECMP may send a client port to either
# node: a run whose port went to lb2 is ended and the next port tried, at
# most 20); its JSON in $TMP/OUT, its client port in VIA_PORT (0: none)
iperf_via_lb1() {
	local out=$1 dport=$2 p pid
	shift 2
	VIA_PORT=0
	for p in $(seq $((dport * 10)) $((dport * 10 + 19))); do
		timeout $((BULK_S + 30)) ip netns exec xlb-client iperf3 -c "$VIP" -p "$dport" \
			--cport "$p" -t "$BULK_S" -J "$@" >"$TMP/$out" 2>&1 &
		pid=$!
		sleep 0.5
		if owned_by_lb1 "$p" "$dport"; then
			HOLD_PIDS+=("$pid")
			VIA_PORT=$p
			return 0
		fi
		kill "$pid" 2>/dev/null
		wait "$pid" 2>/dev/null || true
		sleep 0.3 # the server notices the end before the next run
	done
	return 1
}

# bulk_ok FILE: iperf3's connections carried on to the end (no error) and
# its stream never went a second of the run without data (iperf3's receiver stops
# counting when the test's clock stops, with the last socket buffers in
# flight, so its byte counts are no proof of delivery: the downloads are)
bulk_ok() {
	jq -e '(.error == null) and (.end.sum_sent.bytes > 0) and
		([.intervals[].streams[].bytes] | min > 0)' "$TMP/$1" >/dev/null 2>&1
}
bulk_report() {
	jq -r '"\(.error // "ok"): sent \(.end.sum_sent.bytes // 0) B, received \(.end.sum_received.bytes // 0) B, slowest second \([.intervals[]?.sum.bits_per_second] | min // 0 | . / 1e6 | floor) Mbit/s, slowest stream-second \([.intervals[]?.streams[]?.bits_per_second] | min // 0 | . / 1e6 | floor) Mbit/s"' \
		"$TMP/$1" 2>/dev/null || echo "no result: $(head -c 200 "$TMP/$1")"
}

down() {
	stop_holds
	iperf_stop
	[ "$UP" -eq 1 ] && "$TESTBED" down >/dev/null 2>&1
	UP=0
}

for mode in ${XLB_RUNTIME_HA_MODES:-active-active active-standby}; do
	echo "-- $mode: VIPs rt ($VIP:$PORT, $CONNS connections), bulk and bulkr (iperf3 each way) added by lbctl on both nodes; lb1 fails"
	what=
	[ "$mode" = active-active ] && what=drift
	if run "$mode" "$mode" "lb1 lb2" 0 "$what"; then
		echo "      lb1 owned $SESS1 sessions; lb2 refused $REJ entries; lb2 took over $TAKEN"
		echo "      $(jq -c '{ok, conns, failures}' "$TMP/$mode.json")"
		echo "      bulk: $(bulk_report "$mode.bulk")"
		echo "      reverse: $(bulk_report "$mode.bulkr")"
		echo "      downloads: ${#DL_PORTS[@]}, through lb1 from port $DL_VIA"
		check "$mode: both nodes reported equal service sets ($STATE1, $STATE2)" \
			test "$STATE1/$STATE2" = equal/equal
		check "$mode: lb2 applied every session of the run-time VIPs (apply_rejected $REJ)" \
			test "$REJ" = 0
		check "$mode: no connection broke across lb1's failure" passed "$mode.json"
		check "$mode: both iperf3 data connections went through lb1 (client ports $CP1, $CP2)" \
			test "$CP1" != 0 -a "$CP2" != 0
		check "$mode: a download of ${BLOB_MB} MiB went through lb1 (client port $DL_VIA)" \
			test "$DL_VIA" != 0
		check "$mode: every download (${#DL_PORTS[@]}) arrived whole, byte for byte" \
			downloads_ok "$mode"
		check "$mode: iperf3 each way ran to its end, no stream a second without data" \
			bulk_ok "$mode.bulk"
		check "$mode: ... the reverse one too" bulk_ok "$mode.bulkr"
		check "$mode: lb2 took lb1's sessions over ($TAKEN)" test "$TAKEN" -gt 0
	else
		check "$mode: testbed up, services added" false
	fi
	down
done

controls=${XLB_RUNTIME_HA_CONTROLS:-1} # 0: the runs above only (debugging)
echo "-- control (a): the VIPs added on lb1 only (active-standby: all traffic through lb1)"
if [ "$controls" = 0 ]; then
	echo "      (skipped: XLB_RUNTIME_HA_CONTROLS=0)"
elif run active-standby vip-one "lb1" 0; then
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
	check "control (a): the download through lb1 does not arrive whole" \
		sh -c "! cmp -s '$TMP/blob' '$TMP/vip-one.dl.$DL_VIA'"
else
	check "control (a): testbed up, services added" false
fi
down

echo "-- control (b): a third backend (be3) added to rt on lb1 only"
if [ "$controls" = 0 ]; then
	echo "      (skipped: XLB_RUNTIME_HA_CONTROLS=0)"
elif run active-active be-one "lb1 lb2" 1; then
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
