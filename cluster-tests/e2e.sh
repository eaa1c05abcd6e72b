#!/bin/bash
# End-to-end test: brings the testbed up (and down again on exit, also on
# failure), then checks what a user of the two VIPs sees: every request
# answered, an even spread over the backends, drain, health checks taking a
# dead backend out and back in, full-NAT sessions with this node's SNAT
# ports, and - as a control that the checks can fail - no answer once lbd
# is stopped. Prints one line per check and a last line "N passed, M failed".
#
# Environment: XLB_BUILD (build dir), XLB_E2E_REQUESTS (default 300).
set -euo pipefail

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
# shellcheck source=cluster-tests/lib.sh
. "$HERE/lib.sh"
ROOT=$(cd "$HERE/.." && pwd)
export XLB_BUILD=${XLB_BUILD:-$ROOT/build}
LBCTL=$XLB_BUILD/lbd/lbctl
TESTBED=$HERE/testbed
N=${XLB_E2E_REQUESTS:-300}

VIP_WEB=198.18.100.1
VIP_DSR=198.18.100.2
SNAT=198.18.101.1
LB1_PORT_MIN=10000
LB1_PORT_MAX=29999
BES=(be1 be2 be3)

pass=0 fail=0
TMP=$(mktemp -d /tmp/xlb-e2e.XXXXXX)
UP=0
HOLD_PIDS=()

trap 'testbed_test_exit $? lbd.log 15' EXIT

lbctl() { "$LBCTL" "$@"; }

# requests URL COUNT OUT: COUNT sequential requests from xlb-client, a new
# connection each, bounded per request (curl --max-time) and in total
# (timeout). OUT gets one line per request: "HTTP_CODE BACKEND" ("000 -"
# when there was no answer).
requests() {
	local url=$1 n=$2 out=$3
	# shellcheck disable=SC2016 # expanded by the inner shell
	ip netns exec xlb-client timeout $((n * 3 + 10)) bash -c '
		for ((i = 0; i < $2; i++)); do
			curl -s --connect-timeout 1 --max-time 2 -w "%{http_code}\n" "$1" || true
		done' _ "$url" "$n" 2>/dev/null |
		awk '/^[0-9][0-9][0-9]$/ { print $1, ($1 == 200 && b != "" ? b : "-"); b = ""; next }
		     /^backend / { b = $2 }' >"$out" || true
}

# Lines of OUT for a backend / successful.
served_by() { awk -v b="$2" '$1 == 200 && $2 == b' "$1" | wc -l; }
succeeded() { awk '$1 == 200' "$1" | wc -l; }

# all_ok OUT N: exactly N answers, all 200 from a known backend.
all_ok() {
	local out=$1 n=$2 ok known
	ok=$(succeeded "$out")
	known=$(awk '$1 == 200 && $2 ~ /^be[123]$/' "$out" | wc -l)
	[ "$(wc -l <"$out")" -eq "$n" ] && [ "$ok" -eq "$n" ] && [ "$known" -eq "$n" ]
}

# spread OUT N BACKEND...: each listed backend within +-50% of N/#backends.
spread() {
	local out=$1 n=$2
	shift 2
	local k=$# b c lo hi good=0
	lo=$((n / k / 2))
	hi=$((n * 3 / k / 2))
	for b in "$@"; do
		c=$(served_by "$out" "$b")
		[ "$c" -ge "$lo" ] && [ "$c" -le "$hi" ] || good=1
	done
	return $good
}

summary() {
	local out=$1 b line="" c
	for b in "${BES[@]}"; do
		c=$(served_by "$out" "$b")
		line+=" $b=$c"
	done
	echo "      $(succeeded "$out")/$(wc -l <"$out") answered;$line"
}

# backend_state NODE VIP ID -> "up"/"down" and drained flag "0"/"1"
backend_field() {
	local node=$1 vip=$2 id=$3 col=$4
	lbctl -n "$node" --json backend list 2>/dev/null | jq_backends |
		awk -v v="$vip" -v i="$id" -v c="$col" '$1 == v && $2 == i { print $c }'
}
is_state() { [ "$(backend_field "$1" "$2" "$3" 3)" = "$4" ]; }
is_drained() { [ "$(backend_field "$1" "$2" "$3" 4)" = "$4" ]; }

# poll SECS CMD...: true as soon as CMD succeeds, false after SECS seconds.
poll() {
	local secs=$1
	shift
	local deadline
	deadline=$(($(date +%s%N) / 1000000 + secs * 1000))
	until "$@"; do
		[ $(($(date +%s%N) / 1000000)) -lt "$deadline" ] || return 1
		sleep 0.1
	done
}

zero() { [ "$1" -eq 0 ]; }
not() { ! "$@"; }
ok_and_none() { all_ok "$1" "$2" && zero "$(served_by "$1" "$3")"; }
ok_and_some() { all_ok "$1" "$2" && positive "$(served_by "$1" "$3")"; }
positive() { [ "$1" -gt 0 ]; }

# --------------------------------------------------------------------------
[ -x "$LBCTL" ] && [ -x "$XLB_BUILD/lbd/lbd" ] ||
	echo "e2e: lbd/lbctl not built in $XLB_BUILD; the testbed will try to build them"
"$TESTBED" up
UP=1
echo "e2e: testbed up; $N requests per step"

# 1, 2: every request answered, even spread, for both VIPs
for spec in "web $VIP_WEB" "web-dsr $VIP_DSR"; do
	read -r name vip <<<"$spec"
	out=$TMP/base-$name
	requests "http://$vip/" "$N" "$out"
	summary "$out"
	check "$name ($vip): $N/$N requests answered 200 by a backend" all_ok "$out" "$N"
	check "$name ($vip): each backend's share within +-50% of even" spread "$out" "$N" "${BES[@]}"
done

# 3: drain be2 of web: nothing new goes there; undrain: it comes back
for n in lb1 lb2; do lbctl -n "$n" backend drain web 2 >/dev/null; done
check "drain: lbctl reports web/2 drained" is_drained lb1 web 2 1
out=$TMP/drain
requests "http://$VIP_WEB/" "$N" "$out"
summary "$out"
check "drain: $N/$N requests to web answered" all_ok "$out" "$N"
check "drain: none of them went to be2" zero "$(served_by "$out" be2)"
for n in lb1 lb2; do lbctl -n "$n" backend undrain web 2 >/dev/null; done
check "undrain: lbctl reports web/2 not drained" is_drained lb1 web 2 0
out=$TMP/undrain
requests "http://$VIP_WEB/" "$N" "$out"
summary "$out"
check "undrain: be2 serves web again, all answered" ok_and_some "$out" "$N" be2

# 4: nginx on be3 dies: health checks take it out within fall x interval
# (+ timeout, + margin: 5 s), no request reaches it, all are answered;
# nginx back: it comes back (rise)
# Timed from the SIGTERM (nginx closes its listener at once but takes a
# while to exit, so the stop runs in the background while we poll).
t0=$(date +%s%N)
"$TESTBED" nginx-stop be3 &
stopper=$!
down_ms=-1
poll 5 is_state lb1 web 3 down && down_ms=$((($(date +%s%N) - t0) / 1000000))
wait "$stopper"
echo "      reported down ${down_ms} ms after SIGTERM (fall 3 x 500 ms)"
check "be3 stopped: lbctl -n lb1 reports it down for web within 5 s" test "$down_ms" -ge 0
check "be3 stopped: ... not before a second failed check (>= 500 ms)" test "$down_ms" -ge 500
check "be3 stopped: ... and down for web-dsr" poll 5 is_state lb1 web-dsr 3 down
for spec in "web $VIP_WEB" "web-dsr $VIP_DSR"; do
	read -r name vip <<<"$spec"
	out=$TMP/down-$name
	requests "http://$vip/" "$N" "$out"
	summary "$out"
	check "be3 down: $N/$N requests to $name answered, none by be3" ok_and_none "$out" "$N" be3
done
t0=$(date +%s%N)
"$TESTBED" nginx-start be3
up_ms=-1
poll 5 is_state lb1 web 3 up && up_ms=$((($(date +%s%N) - t0) / 1000000))
echo "      reported up ${up_ms} ms after nginx start (rise 2 x 500 ms)"
check "be3 restarted: lbctl -n lb1 reports it up for web within 5 s" test "$up_ms" -ge 0
check "be3 restarted: ... and up for web-dsr" poll 5 is_state lb1 web-dsr 3 up
out=$TMP/back
requests "http://$VIP_WEB/" "$N" "$out"
summary "$out"
check "be3 back: serves web again, all answered" ok_and_some "$out" "$N" be3

# 5: sessions on lb1. Closed full-NAT sessions are deleted by the data
# plane on the last ACK, so hold HOLD connections open to each VIP (bash
# /dev/tcp, bounded by timeout) while the sessions are listed: full-NAT
# ones must be SNATed to the shared address within lb1's port range.
HOLD=5
for vip in "$VIP_WEB" "$VIP_DSR"; do
	for ((i = 0; i < HOLD; i++)); do
		# shellcheck disable=SC2016 # expanded by the inner shell
		ip netns exec xlb-client timeout 20 bash -c 'exec 3<>"/dev/tcp/$1/80"; sleep 19' _ "$vip" &
		HOLD_PIDS+=($!)
	done
done
holds_established() {
	lbctl -n lb1 --json sessions list --limit 100000 2>/dev/null | jq_sessions >"$TMP/sessions" || true
	[ "$(awk -v v="$VIP_WEB:80" '$2 == v && $6 == "established"' "$TMP/sessions" | wc -l)" -ge "$HOLD" ] &&
		[ "$(awk -v v="$VIP_DSR:80" '$2 == v && $6 == "established"' "$TMP/sessions" | wc -l)" -ge "$HOLD" ]
}
poll 5 holds_established || true
count=$(lbctl -n lb1 --json sessions count 2>/dev/null | jq_count || echo 0)
echo "      lb1 sessions count: $count"
check "sessions: lbctl -n lb1 sessions count > 0" positive "${count:-0}"
awk -v v="$VIP_WEB:80" '$2 == v && $6 == "established"' "$TMP/sessions" >"$TMP/fnat-sessions"
fnat=$(wc -l <"$TMP/fnat-sessions")
bad=$(awk -v s="$SNAT" -v lo=$LB1_PORT_MIN -v hi=$LB1_PORT_MAX '
	{ split($4, a, ":"); if (a[1] != s || a[2] + 0 < lo || a[2] + 0 > hi) n++ }
	END { print n + 0 }' "$TMP/fnat-sessions")
echo "      established full-NAT sessions: $fnat, SNAT outside $SNAT:$LB1_PORT_MIN-$LB1_PORT_MAX: $bad"
head -3 "$TMP/fnat-sessions" | sed 's/^/      /'
check "sessions: the $HOLD open full-NAT connections are listed on lb1" test "$fnat" -ge "$HOLD"
check "sessions: every full-NAT entry has snat $SNAT, port in $LB1_PORT_MIN-$LB1_PORT_MAX" zero "$bad"
dsr=$(awk -v v="$VIP_DSR:80" '$2 == v && $6 == "established"' "$TMP/sessions" | wc -l)
dsr_snat=$(awk -v v="$VIP_DSR:80" '$2 == v && $4 != "-"' "$TMP/sessions" | wc -l)
check "sessions: the $HOLD open DSR connections are listed" test "$dsr" -ge "$HOLD"
check "sessions: no DSR entry has SNAT" zero "$dsr_snat"
stop_holds

# 6: control: lbd on lb1 stopped (and its XDP program gone), the router
# still sends the VIPs to lb1: nothing may answer. The same all_ok check
# that passed above must now fail.
"$TESTBED" lbd-stop lb1
out=$TMP/control
requests "http://$VIP_WEB/" 10 "$out"
summary "$out"
check "control: lbd on lb1 stopped: 0/10 requests answered" zero "$(succeeded "$out")"
check "control: the all-answered check fails on that run" not all_ok "$out" 10

echo "$pass passed, $fail failed"
[ "$fail" -eq 0 ]
