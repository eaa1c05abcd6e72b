# shellcheck shell=bash
# Helpers shared by the testbed and the cluster tests (sourced, not run).
# The jq filters below read `lbctl --json` output as lbd/ctl.c writes it.

# `lbctl --json backend list` -> one line per (vip, backend):
#   VIP ID STATE(up|down) DRAINED(0|1) ADDRESS
jq_backends() {
	jq -r '
		(if type == "object" and has("vips") then .vips else . end)
		| (if type == "array" then .[] else . end)
		| (.name // .vip) as $v
		| (.backends // [])[]
		| [$v, (.id|tostring),
		   (if (.healthy // .up // (.state == "up")) then "up" else "down" end),
		   (if (.drained // .drain // false) then "1" else "0" end),
		   (.address // .addr // "")]
		| @tsv' | tr '\t' ' '
}

# `lbctl --json sessions list` -> one line per session:
#   CLIENT:PORT VIP:PORT BACKEND:PORT SNAT:PORT(or -) OWNER STATE
jq_sessions() {
	jq -r '
		(if type == "object" and has("sessions") then .sessions else . end)
		| .[]
		| [((.client // .saddr) + ":" + ((.client_port // .sport)|tostring)),
		   ((.vip // .daddr) + ":" + ((.vip_port // .dport)|tostring)),
		   ((.backend // "") + ":" + ((.backend_port // 0)|tostring)),
		   (if ((.snat // "") == "" or .snat == "0.0.0.0") then "-"
		    else .snat + ":" + ((.snat_port // 0)|tostring) end),
		   ((.owner // 0)|tostring), (.state // "?")]
		| @tsv' | tr '\t' ' '
}

# `lbctl --json sessions count` -> a number.
jq_count() {
	jq -r 'if type == "object" then (.count // .sessions // .total) else . end'
}
