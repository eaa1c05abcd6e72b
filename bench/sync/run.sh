#!/bin/bash
# Session sync benchmarks, one run (bench/BENCHMARKS.md, "Session sync"):
#   1. bench_sync_capture: the data plane's per-packet cost of a new flow with
#      the inline capture on vs off (private netns, no testbed needed);
#   2. bench_sync_repl on the testbed (cluster-tests/testbed: lbd and syncd on
#      lb1 and lb2, inline capture): entries/s replicated lb1 -> lb2 at
#      saturation with zero loss, then the replication lag at paced rates.
# Brings the testbed up and always down again (trap); refuses to run if it
# is already up (someone else's). Root. Bounded: about a minute.
#
# Environment: XLB_BUILD (default <repo>/build), SYNC_BENCH_N (entries of the
# saturation phase, default 300000), SYNC_BENCH_RATES (default 10000,100000),
# SYNC_BENCH_LAG_S (seconds per rate, default 3), SYNC_BENCH_CAP_N (calls per
# cell of the capture-cost bench, default 100000), SYNC_BENCH_GEN_K (entries
# per call of the batch generator's saturation phase "satg", beside "sat"
# with one SYN per call; default 256, 0: off), SYNC_BENCH_SNAP_N (sessions
# lb2's syncd must get from its startup snapshot in the joining-node phase
# "snap", with the live stream at the first rate meanwhile; default
# 1000000, 0: off), SYNC_BENCH_LOGS (a directory: the syncd logs and
# final status of lb1 and lb2 are copied there), SYNC_BENCH_LAG_DUMP (1: the
# snap phase prints every live entry's write time and lag, "live-lag T LAG"),
# XLB_TESTBED_SESSIONS_MAX (default: twice SYNC_BENCH_SNAP_N, at least 1 Mi),
# SYNC_BENCH_EVERY (the paced phases time every Nth entry, default 10; the
# others are checked for presence).
set -euo pipefail

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
ROOT=$(cd "$HERE/../.." && pwd)
export XLB_BUILD=${XLB_BUILD:-$ROOT/build}
export XLB_TESTBED_SYNC=1 XLB_CAPTURE=inline
TESTBED=$ROOT/cluster-tests/testbed
STATE=/run/xdplb/testbed
PINS=/run/xdplb/bpf
REPL=$XLB_BUILD/bench/bench_sync_repl
CAP=$XLB_BUILD/bench/bench_sync_capture
SYNCD=$XLB_BUILD/syncd/syncd
LBCTL=$XLB_BUILD/lbd/lbctl
N=${SYNC_BENCH_N:-300000}
RATES=${SYNC_BENCH_RATES:-10000,100000}
LAG_S=${SYNC_BENCH_LAG_S:-3}
CAP_N=${SYNC_BENCH_CAP_N:-100000}
GEN_K=${SYNC_BENCH_GEN_K:-256}
SNAP_N=${SYNC_BENCH_SNAP_N:-1000000}
EVERY=${SYNC_BENCH_EVERY:-10}
# the joining-node phase's sessions, the live stream written meanwhile and
# what the earlier phases leave until lbd ages them must fit in the table
# (the data plane forwards a DSR SYN statelessly when it is full)
export XLB_TESTBED_SESSIONS_MAX=${XLB_TESTBED_SESSIONS_MAX:-$((SNAP_N * 2 > 1048576 ? SNAP_N * 2 : 1048576))}

die() { echo "sync bench: $*" >&2; exit 1; }
[ "$(id -u)" -eq 0 ] || die "needs root"
for b in "$REPL" "$CAP" "$SYNCD" "$LBCTL"; do
	[ -x "$b" ] || die "$b missing: cmake -S . -B build && cmake --build build -j2"
done
[ -e "$STATE" ] && die "the testbed is already up ($STATE): not touching it"

TMP=$(mktemp -d /tmp/xlb-syncbench.XXXXXX)
UP=0
cleanup() {
	local rc=$?
	set +e
	if [ "$UP" -eq 1 ]; then
		"$TESTBED" down >/dev/null 2>&1
	fi
	rm -rf "$TMP"
	exit "$rc"
}
trap cleanup EXIT
repl_rc=0

status() { "$SYNCD" status -c "$STATE/$1/lbd.yaml"; }
# a node's syncd status socket (sync.control_socket, the testbed's default)
sock() { echo "/run/xdplb/$1.syncd.sock"; }

echo "== sync bench: $(nproc) CPUs, kernel $(uname -r), $(date -u +%FT%TZ)"
echo "== 1/2 capture cost (bench_sync_capture -n $CAP_N)"
"$CAP" -n "$CAP_N" | tee "$TMP/cap.out"

echo "== 2/2 replication lb1 -> lb2 (testbed, inline capture)"
"$TESTBED" up
UP=1
mode=$(status lb1 | jq -r .capture)
[ "$mode" = inline ] || die "syncd capture mode is $mode, not inline"
for n in lb1 lb2; do status "$n" >"$TMP/$n.before"; done
pid() { cat "$STATE/$1/$2.pid"; }
ip netns exec xlb-lb1 "$REPL" -a "$PINS/lb1" -b "$PINS/lb2" -n "$N" \
	-r "$RATES" -d "$LAG_S" -e "$EVERY" -g "$GEN_K" -S "$SNAP_N" \
	-R "$TESTBED syncd-stop lb2 >/dev/null" -T "$TESTBED syncd-start lb2 --no-wait >/dev/null 2>&1" \
	-Q "$(sock lb2)" \
	-p "syncd-lb1:$(pid lb1 syncd)" -p "syncd-lb2:$(pid lb2 syncd)" \
	-p "lbd-lb1:$(pid lb1 lbd)" -p "lbd-lb2:$(pid lb2 lbd)" |
	tee "$TMP/repl.out" || repl_rc=$?
for n in lb1 lb2; do status "$n" >"$TMP/$n.after"; done
if [ -n "${SYNC_BENCH_LOGS:-}" ]; then
	mkdir -p "$SYNC_BENCH_LOGS"
	for n in lb1 lb2; do cp "$STATE/$n/syncd.log" "$SYNC_BENCH_LOGS/$n.syncd.log"; cp "$STATE/$n/lbd.log" "$SYNC_BENCH_LOGS/$n.lbd.log"; "$LBCTL" -n "$n" stats >"$SYNC_BENCH_LOGS/$n.lbstats" 2>&1 || true; done
	for n in lb1 lb2; do cp "$TMP/$n.after" "$SYNC_BENCH_LOGS/$n.status.json"; done
fi
if [ "$repl_rc" -ne 0 ]; then
	for n in lb1 lb2; do
		echo "-- $n's syncd log (last 25 lines)"
		tail -25 "$STATE/$n/syncd.log" 2>/dev/null | sed 's/^/   /'
	done
fi

echo "-- syncd counters moved during the run"
delta() {
	jq -n --slurpfile a "$TMP/$1.before" --slurpfile b "$TMP/$1.after" -r '
		[ "tx_entries", "tx_batches", "tx_errors", "tx_dropped",
		  "applied_updates", "apply_errors", "apply_rejected",
		  "rx_dropped", "resync_requests_sent", "snapshots_requested",
		  "digest_mismatches", "capture_lost", "snapshot_entries_applied",
		  "apply_skipped", "apply_raced", "apply_own_gone" ] as $k
		| $k[] | "\(.)=\(($b[0][.] // 0) - ($a[0][.] // 0))"' | paste -sd' '
}
echo "   lb1: $(delta lb1) gaps=$(jq '.peers[0].gaps' "$TMP/lb1.after")"
echo "   lb2: $(delta lb2) gaps=$(jq '.peers[0].gaps' "$TMP/lb2.after")$([ "$SNAP_N" != 0 ] && echo " (its syncd restarted in the snap phase: counters since then)")"
echo "   lb1 data plane: $("$LBCTL" -n lb1 --json stats | jq -r '.global | "sync_events=\(.sync_events) sync_lost=\(.sync_lost) drop_fib=\(.drop_fib) drop_session_full=\(.drop_session_full)"')"

# ---- summary against the issue's goals
get() { sed -n "s/.* $2=\([^ ]*\).*/\1/p" <<<"$1"; }
sat=$(grep '^RESULT phase=sat ' "$TMP/repl.out")
satg=$(grep '^RESULT phase=satg ' "$TMP/repl.out" || true)
snap=$(grep '^RESULT phase=snap ' "$TMP/repl.out" || true)
echo
echo "== summary (one run; goals from the issue, never tuned)"
printf '%-52s %-28s %s\n' "figure" "measured" "goal"
rate=$(get "$sat" rate) missing=$(get "$sat" missing)
printf '%-52s %-28s %s\n' "replicated entries/s at saturation (lb1 -> lb2)" \
	"$rate/s, missing $missing (generator alone-equivalent $(get "$sat" gen_rate)/s)" ">= 1000000/s, zero loss: $(awk -v r="$rate" -v m="$missing" 'BEGIN{print (r >= 1000000 && m == 0) ? "met" : "not met"}')"
if [ -n "$satg" ]; then
	rate=$(get "$satg" rate) missing=$(get "$satg" missing)
	printf '%-52s %-28s %s\n' "... the same with the batch generator ($GEN_K per call)" \
		"$rate/s, missing $missing (generator $(get "$satg" gen_rate)/s)" ">= 1000000/s, zero loss: $(awk -v r="$rate" -v m="$missing" 'BEGIN{print (r >= 1000000 && m == 0) ? "met" : "not met"}')"
fi
if [ -n "$snap" ]; then
	t=$(get "$snap" transfer_s) missing=$(get "$snap" missing)
	printf '%-52s %-28s %s\n' "joining node: snapshot of $(get "$snap" entries) sessions" \
		"$t s from its start ($(get "$snap" conn_s) s to connect), missing $missing, live never seen $(get "$snap" live_missing)" "< 2 s: $(awk -v t="$t" -v m="$missing" -v l="$(get "$snap" live_missing)" 'BEGIN{print (t > 0 && t < 2 && m == 0 && l == 0) ? "met" : "not met"}')"
	printf '%-52s %-28s %s\n' "... live stream lag, connected..ready (p50/p99/p99.9/max)" \
		"$(get "$snap" live_p50_us) / $(get "$snap" live_p99_us) / $(get "$snap" live_p999_us) / $(get "$snap" live_max_us) us" "reported"
	printf '%-52s %-28s %s\n' "... from its syncd answering (p50/p99/max)" \
		"$(get "$snap" up_p50_us) / $(get "$snap" up_p99_us) / $(get "$snap" up_max_us) us" "reported"
fi
while read -r line; do
	off=$(get "$line" offered) p50=$(get "$line" p50_us) p99=$(get "$line" p99_us)
	p999=$(get "$line" p999_us) miss=$(get "$line" missing)
	goal="-"
	[ "$off" = 100000 ] && goal="p99 < 1000 us: $(awk -v p="$p99" 'BEGIN{print (p < 1000) ? "met" : "not met"}')"
	printf '%-52s %-28s %s\n' "replication lag at $off/s (p50 / p99 / p99.9)" \
		"$p50 / $p99 / $p999 us, missing $miss" "$goal"
done < <(grep '^RESULT phase=lag' "$TMP/repl.out")
while read -r line; do
	sc=$(get "$line" scenario) r=$(get "$line" ratio) nw=$(get "$line" nowake_ratio)
	printf '%-52s %-28s %s\n' "new flow $sc, capture on/off (no-wake-up on/off)" \
		"$r ($nw)" "<= 1.02: $(awk -v r="$r" 'BEGIN{print (r <= 1.02) ? "met" : "not met"}')"
done < <(grep '^RESULT scenario=' "$TMP/cap.out")
[ "$repl_rc" -eq 0 ]
