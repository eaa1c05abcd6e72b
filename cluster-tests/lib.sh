# shellcheck shell=bash
# Helpers shared by the testbed and the cluster tests (sourced, not run).
# The jq filters read `lbctl --json` output; field names as lbd/ctl.c
# writes them.

# `lbctl --json backend list` ([{vip, backends: [{id, address, up,
# drained, ...}]}]) -> one line per (vip, backend):
#   VIP ID up|down DRAINED(0|1) ADDRESS
jq_backends() {
	jq -r '.[] | .vip as $v | .backends[]
		| [$v, .id, (if .up then "up" else "down" end),
		   (if .drained then 1 else 0 end), .address]
		| map(tostring) | join(" ")'
}

# `lbctl --json sessions list` ([{client, client_port, vip, vip_port,
# backend, backend_port, snat (null for DSR), snat_port, owner, state}])
# -> one line per session:
#   CLIENT:PORT VIP:PORT BACKEND:PORT SNAT:PORT|- OWNER STATE
jq_sessions() {
	jq -r '.[]
		| [.client + ":" + (.client_port|tostring),
		   .vip + ":" + (.vip_port|tostring),
		   .backend + ":" + (.backend_port|tostring),
		   (if .snat == null then "-" else .snat + ":" + (.snat_port|tostring) end),
		   (.owner|tostring), .state]
		| join(" ")'
}

# `lbctl --json sessions count` ({count, owned, snat_ports_in_use}) -> count
jq_count() {
	jq -r '.count'
}

# ---- shared by the cluster tests (they keep pass, fail and HOLD_PIDS) ----

# lbstat NODE KEY: one counter of `lbctl -n NODE stats` (data plane and lbd
# counters); the test sets LBCTL.
lbstat() { "$LBCTL" -n "$1" stats 2>/dev/null | awk -v k="$2" '$1 == k { print $2; exit }'; }

# syncstat NODE KEY: one top-level field of NODE's `syncd status` on the
# netns testbed; the test sets SYNCD.
syncstat() { "$SYNCD" status -c "/run/xdplb/testbed/$1/lbd.yaml" 2>/dev/null | jq -r ".$2"; }

# check DESCRIPTION COMMAND...: one PASS/FAIL line, counted in pass/fail.
check() {
	local desc=$1
	shift
	if "$@"; then
		pass=$((pass + 1))
		echo "PASS  $desc"
	else
		fail=$((fail + 1))
		echo "FAIL  $desc"
	fi
}

# testbed_test_exit RC LOG LINES: the EXIT trap of a test on the netns
# testbed (it keeps UP, fail, TMP, HOLD_PIDS and TESTBED). Ends the holders;
# if anything failed while the testbed was up, shows its state and the last
# LINES of each LB node's LOG (lbd.log, syncd.log) before they are gone;
# takes the testbed down and exits with RC.
testbed_test_exit() {
	local rc=$1 log=$2 lines=$3 n
	set +e
	stop_holds
	if [ "$UP" -eq 1 ]; then
		if [ "$fail" -gt 0 ] || [ "$rc" -ne 0 ]; then
			echo "---- state at failure"
			"$TESTBED" status 2>&1 | sed 's/^/  /'
			for n in lb1 lb2; do
				echo "---- /run/xdplb/testbed/$n/$log (tail)"
				tail -"$lines" "/run/xdplb/testbed/$n/$log" 2>/dev/null | sed 's/^/  /'
			done
		fi
		"$TESTBED" down >/dev/null 2>&1
	fi
	rm -rf "$TMP"
	exit "$rc"
}

# Ends the connection holders started by a test (their pids in HOLD_PIDS).
stop_holds() {
	local p
	for p in "${HOLD_PIDS[@]}"; do kill -TERM "$p" 2>/dev/null || true; done
	for p in "${HOLD_PIDS[@]}"; do wait "$p" 2>/dev/null || true; done
	HOLD_PIDS=()
}

# ---- the failover tests' traffic (failover.sh on the netns testbed,
# docker-failover.sh on the containers). They set FLOW_CLIENT (the command
# that runs xlb-flows on the client), VIP_WEB, VIP_DSR, UDP_PORT, CONNS,
# TMP and FLOW_PIDS=().

# flows TAG DUR [INTERVAL_MS [UDP_FLOWS]]: CONNS full-NAT and CONNS DSR TCP
# connections and UDP_FLOWS (100) UDP flows, each sending every
# INTERVAL_MS (50), in the background; JSON results in
# $TMP/TAG.{fnat,dsr,udp}
flows() {
	local tag=$1 dur=$2 iv=${3:-50} nudp=${4:-100}
	"${FLOW_CLIENT[@]}" tcp --target "$VIP_WEB:80" --conns "$CONNS" \
		--interval-ms "$iv" --duration-s "$dur" --json >"$TMP/$tag.fnat" 2>"$TMP/$tag.fnat.err" &
	FLOW_PIDS+=($!)
	"${FLOW_CLIENT[@]}" tcp --target "$VIP_DSR:80" --conns "$CONNS" \
		--interval-ms "$iv" --duration-s "$dur" --json >"$TMP/$tag.dsr" 2>"$TMP/$tag.dsr.err" &
	FLOW_PIDS+=($!)
	"${FLOW_CLIENT[@]}" udp --target "$VIP_WEB:$UDP_PORT" --flows "$nudp" \
		--interval-ms "$iv" --duration-s "$dur" --json >"$TMP/$tag.udp" 2>"$TMP/$tag.udp.err" &
	FLOW_PIDS+=($!)
}

wait_flows() {
	local p
	for p in "${FLOW_PIDS[@]}"; do wait "$p" 2>/dev/null || true; done
	FLOW_PIDS=()
}

stop_flows() {
	local p
	for p in "${FLOW_PIDS[@]}"; do kill -TERM "$p" 2>/dev/null || true; done
	wait_flows
}

j() { jq -r "$2" "$TMP/$1" 2>/dev/null || echo "?"; }
passed() { [ "$(j "$1" .pass)" = true ]; }
broken() { [ "$(j "$1" .failed)" != "?" ] && [ "$(j "$1" .failed)" -gt 0 ]; }
report() {
	local f=$1
	if [ ! -s "$TMP/$f" ]; then
		echo "      $f: no result; stderr: $(tail -3 "$TMP/$f.err" 2>/dev/null | tr '\n' ' ')"
		return 0
	fi
	case "$f" in
	*.udp) echo "      $f: $(j "$f" '"\(.ok)/\(.flows) flows ok, worst loss \(.worst_flow_loss_pct)%, failures \(.failures | to_entries | map(select(.value > 0)) | from_entries)"')" ;;
	*) echo "      $f: $(j "$f" '"\(.ok)/\(.conns) ok, \(.requests) requests, longest gap \(.longest_gap_ms) ms (p50 \(.gap_p50_ms) ms, p99 \(.gap_p99_ms) ms), failures \(.failures | to_entries | map(select(.value > 0)) | from_entries)"')" ;;
	esac
}
