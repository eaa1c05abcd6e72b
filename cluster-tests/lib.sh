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

# Ends the connection holders started by a test (their pids in HOLD_PIDS).
stop_holds() {
	local p
	for p in "${HOLD_PIDS[@]}"; do kill -TERM "$p" 2>/dev/null || true; done
	for p in "${HOLD_PIDS[@]}"; do wait "$p" 2>/dev/null || true; done
	HOLD_PIDS=()
}
