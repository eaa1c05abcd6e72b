#!/bin/bash
# Failover at scale (bench/BENCHMARKS.md, "Failover of many connections"):
# the failure case of cluster-tests/failover.sh (lb1 failed hard while
# long-lived TCP connections run through the full-NAT and the DSR VIP,
# syncd on) run with a few sizes one after the other in one invocation,
# printing side by side for each: connections broken, the longest, p50 and
# p99 gap without an answer, how long the router took to send lb1's traffic
# to lb2, and the clients' TCP retransmission timeouts and tail loss probes
# during the run (what recovered the requests lost in the failure); then
# the ratios of the gaps against the first size.
#
# The sizes are "CONNS@INTERVAL_MS": CONNS per TCP VIP (so twice as many
# connections in all), each sending a request every INTERVAL_MS. The
# default, "500@50 500@500 5000@500", compares 1,000 and 10,000 connections
# at the same request interval, and 1,000 at the test suite's interval: the
# machine cannot serve 10,000 connections at 50 ms (200,000 requests/s), so
# that size would measure the machine.
#
# Root. Uses the netns testbed (refuses to start if it is up); each size is
# a full failover.sh run of one mode (failover, failback, control), about
# 90 s. Environment: XLB_BUILD, BENCH_FAILOVER_SIZES, BENCH_FAILOVER_MODE
# (default active-active), BENCH_FAILOVER_S (flow duration, default 20).
set -euo pipefail

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
ROOT=$(cd "$HERE/../.." && pwd)
export XLB_BUILD=${XLB_BUILD:-$ROOT/build}
SIZES=${BENCH_FAILOVER_SIZES:-500@50 500@500 5000@500}
MODE=${BENCH_FAILOVER_MODE:-active-active}
DUR=${BENCH_FAILOVER_S:-20}

die() { echo "failover bench: $*" >&2; exit 1; }
[ "$(id -u)" -eq 0 ] || die "needs root"
[ -e /run/xdplb/testbed ] && die "the testbed is already up: not touching it"
for s in $SIZES; do
	[[ "$s" =~ ^[0-9]+@[0-9]+$ ]] || die "BENCH_FAILOVER_SIZES: '$s' is not CONNS@INTERVAL_MS"
done

OUT=$(mktemp -d) # the failover.sh outputs
trap 'rm -rf "$OUT"' EXIT

echo "== failover bench: $(nproc) CPUs, kernel $(uname -r), $(date -u +%FT%TZ), $MODE, flows ${DUR}s"
# one row per size: size conns broken gap p50 p99 route_ms rto_timeouts loss_probes
rows=()
for s in $SIZES; do
	conns=${s%@*} iv=${s#*@}
	echo "-- $s: $conns + $conns TCP connections, a request every $iv ms"
	out=$OUT/$s.out
	rc=0
	XLB_FAILOVER_MODES=$MODE XLB_FAILOVER_CONNS=$conns XLB_FAILOVER_INTERVAL_MS=$iv \
		XLB_FAILOVER_S=$DUR \
		"$ROOT/cluster-tests/failover.sh" >"$out" 2>&1 || rc=$?
	grep -E '^(PASS|FAIL)|on\.(fnat|dsr):|traffic left|client TCP' "$out" | sed 's/^/   /'
	[ "$rc" -eq 0 ] || echo "   (failover.sh exit $rc)"
	# the failure phase's lines (syncd on)
	f=$(grep -E "^ +$MODE-on\.fnat:" "$out" || true)
	d=$(grep -E "^ +$MODE-on\.dsr:" "$out" || true)
	if [ -z "$f" ] || [ -z "$d" ]; then
		rows+=("$s - - - - - - - -")
		continue
	fi
	ok=$(( $(sed -E 's/.*: ([0-9]+)\/.*/\1/' <<<"$f") + $(sed -E 's/.*: ([0-9]+)\/.*/\1/' <<<"$d") ))
	# the larger of the two VIPs' figures
	gap=$(printf '%s\n%s\n' "$f" "$d" | sed -nE 's/.*longest gap ([0-9]+) ms.*/\1/p' | sort -n | tail -1)
	p50=$(printf '%s\n%s\n' "$f" "$d" | sed -nE 's/.*\(p50 ([0-9]+) ms,.*/\1/p' | sort -n | tail -1)
	p99=$(printf '%s\n%s\n' "$f" "$d" | sed -nE 's/.*, p99 ([0-9]+) ms\).*/\1/p' | sort -n | tail -1)
	route=$(sed -nE 's/.*traffic left it within ([0-9]+) ms.*/\1/p' "$out" | head -1)
	tcp=$(sed -nE 's/.*client TCP during the failure: ([0-9]+) timeouts.*, ([0-9]+) tail loss probes.*/\1 \2/p' "$out" | head -1)
	rows+=("$s $((2 * conns)) $((2 * conns - ok)) ${gap:--} ${p50:--} ${p99:--} ${route:--} ${tcp:-- -}")
done

echo "== results ($MODE, syncd on, lb1 failed hard)"
printf '%-10s %7s %7s %14s %11s %11s %15s %13s %12s\n' size conns broken longest_gap_ms p50_gap_ms p99_gap_ms router_moved_ms rto_timeouts loss_probes
for r in "${rows[@]}"; do
	# shellcheck disable=SC2086
	printf '%-10s %7s %7s %14s %11s %11s %15s %13s %12s\n' $r
done
read -r _ _ _ g0 _ p0 _ _ _ <<<"${rows[0]}"
echo "== ratios against ${rows[0]%% *} (longest gap, p99 gap)"
for r in "${rows[@]:1}"; do
	read -r s _ _ g _ p _ _ _ <<<"$r"
	if [[ "$g0$p0$g$p" =~ ^[0-9]+$ ]] && [ "$g0" -gt 0 ] && [ "$p0" -gt 0 ]; then
		awk -v s="$s" -v g="$g" -v g0="$g0" -v p="$p" -v p0="$p0" \
			'BEGIN { printf "%-10s %.2f %.2f\n", s, g / g0, p / p0 }'
	else
		echo "$s -"
	fi
done
