#!/bin/bash
# syncd under valgrind: on the testbed, syncd on lb2 runs under valgrind
# while flows start and end on lb1 (updates and deletes applied on lb2,
# heartbeats, anti-entropy rounds), its status is read, then it is stopped
# with SIGTERM: a clean exit with no memory error and no leak is required,
# and lb2 must still have converged with lb1 (valgrind slows it, it must
# not break it).
set -euo pipefail

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
ROOT=$(cd "$HERE/.." && pwd)
export XLB_BUILD=${XLB_BUILD:-$ROOT/build}
export XLB_TESTBED_SYNC=1
SYNCD=$XLB_BUILD/syncd/syncd
TESTBED=$HERE/testbed
STATE=/run/xdplb/testbed
TMP=$(mktemp -d /tmp/xlb-vgs.XXXXXX)
VG_PID=
UP=0

cleanup() {
	local rc=$?
	set +e
	[ -n "$VG_PID" ] && kill -KILL "$VG_PID" 2>/dev/null
	[ "$UP" -eq 1 ] && "$TESTBED" down >/dev/null 2>&1
	rm -rf "$TMP"
	exit "$rc"
}
trap cleanup EXIT

command -v valgrind >/dev/null || { echo "valgrind-syncd: valgrind missing"; exit 1; }
"$TESTBED" up >/dev/null
UP=1
"$TESTBED" syncd-stop lb2
ip netns exec xlb-lb2 valgrind --quiet --error-exitcode=99 --leak-check=full \
	--suppressions="$ROOT/lbd/valgrind.supp" \
	--show-leak-kinds=definite,indirect,possible --errors-for-leak-kinds=definite,indirect,possible \
	--log-file="$TMP/valgrind.log" "$SYNCD" -c "$STATE/lb2/lbd.yaml" \
	>"$TMP/syncd.log" 2>&1 </dev/null &
VG_PID=$!
status() { "$SYNCD" status -c "$STATE/lb2/lbd.yaml" 2>/dev/null; }
for _ in $(seq 1 300); do
	status | jq -n -e 'input.ready == true' >/dev/null 2>&1 && break
	kill -0 "$VG_PID" 2>/dev/null || { cat "$TMP/syncd.log"; echo "valgrind-syncd: syncd exited"; exit 1; }
	sleep 0.2
done
status | jq -n -e 'input.ready == true' >/dev/null || { echo "valgrind-syncd: not ready in 60 s"; exit 1; }

# flows through lb1: created, replicated, closed, aged, deletes replicated
for i in $(seq 1 30); do
	ip netns exec xlb-client timeout 6 bash -c 'exec 3<>"/dev/tcp/$1/80"; sleep 5' _ 198.18.100.1 2>/dev/null &
done
for i in $(seq 1 30); do
	ip netns exec xlb-client curl -s -m 2 -o /dev/null http://198.18.100.2/ || true
done
wait_n() { for _ in $(seq 1 60); do [ "$(status | jq "$1")" = true ] && return 0; sleep 0.5; done; return 1; }
wait_n '.applied_updates > 0' || { echo "valgrind-syncd: nothing applied"; exit 1; }
sleep 6	# the holds end; lb1 ages them 2 s later; anti-entropy rounds pass
wait_n '.applied_deletes > 0' || { echo "valgrind-syncd: no delete applied"; exit 1; }
n1=$(bpftool -j map dump pinned /run/xdplb/bpf/lb1/sessions | jq '[.[] | select(.value | type == "array")] | length')
n2=$(bpftool -j map dump pinned /run/xdplb/bpf/lb2/sessions | jq '[.[] | select(.value | type == "array")] | length')
status >/dev/null
kill -TERM "$VG_PID"
rc=0
wait "$VG_PID" || rc=$?
VG_PID=
echo "valgrind-syncd: syncd exit status $rc; sessions lb1 $n1, lb2 $n2"
# Memcheck's notes about bpf() commands it does not model ("--PID--
# WARNING: unhandled eBPF command N") are not findings; everything else is.
if [ "$rc" -ne 0 ] ||
	grep -v -- '^--[0-9]*-- WARNING: unhandled eBPF command' "$TMP/valgrind.log" | grep -q .; then
	echo "valgrind-syncd: valgrind reported:"
	cat "$TMP/valgrind.log"
	tail -20 "$TMP/syncd.log"
	exit 1
fi
echo "valgrind-syncd: clean exit, no memory error, no leak"
