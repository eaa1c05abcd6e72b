#!/bin/bash
# End-to-end benchmark (not a test): HTTP requests/s and latency from
# xlb-client, measured side by side in one run against
#   xdp     the full-NAT VIP 198.18.100.1:80 (lbd + XDP on lb1, 3 backends)
#   nginx   nginx as a user-space proxy in xlb-lb1 (198.18.2.11:8080, the
#           same 3 backends, keep-alive upstream connections)
#   direct  one backend directly (be1, 198.18.2.21:80)
#   dsr     for reference: the DSR VIP 198.18.100.2:80 (lbd + XDP on lb1;
#           replies bypass the balancer)
# for two workloads: keep-alive connections, and a new connection per
# request ("Connection: close"). Prints the figures and the ratios
# XDP/nginx and XDP/direct, and the same as a Markdown table.
#
# Uses the testbed if it is up (and leaves it up), otherwise brings it up
# and down again. Environment: XLB_BUILD, XLB_BENCH_DURATION (s, default
# 10), XLB_BENCH_CONNS (default 100), XLB_BENCH_THREADS (default 2),
# XLB_BENCH_TARGETS (default "xdp nginx direct dsr").
set -euo pipefail

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
ROOT=$(cd "$HERE/../.." && pwd)
export XLB_BUILD=${XLB_BUILD:-$ROOT/build}
TESTBED=$ROOT/cluster-tests/testbed
LBCTL=$XLB_BUILD/lbd/lbctl
STATE=/run/xdplb/testbed
PROXY_DIR=$STATE/proxy
DUR=${XLB_BENCH_DURATION:-10}
CONNS=${XLB_BENCH_CONNS:-100}
THREADS=${XLB_BENCH_THREADS:-2}
WARMUP=2

declare -A URL=(
	[xdp]=http://198.18.100.1/
	[nginx]=http://198.18.2.11:8080/
	[direct]=http://198.18.2.21/
	[dsr]=http://198.18.100.2/
)
read -ra TARGETS <<<"${XLB_BENCH_TARGETS:-xdp nginx direct dsr}"
WORKLOADS=(keepalive close)

OWN_TESTBED=0
cleanup() {
	local rc=$?
	set +e
	if [ -s "$PROXY_DIR/nginx.pid" ]; then
		kill -TERM "$(cat "$PROXY_DIR/nginx.pid")" 2>/dev/null
		sleep 0.3
	fi
	rm -rf "$PROXY_DIR"
	[ "$OWN_TESTBED" -eq 1 ] && "$TESTBED" down >/dev/null 2>&1
	exit "$rc"
}
trap cleanup EXIT

command -v wrk >/dev/null || { echo "bench/e2e: wrk missing (scripts/deps.sh)" >&2; exit 1; }

if [ ! -d "$STATE" ]; then
	OWN_TESTBED=1
	"$TESTBED" up
fi

# nginx proxy in lb1's namespace; as strong as a stock config gets:
# a worker per core, pooled keep-alive connections to the backends.
mkdir -p "$PROXY_DIR/tmp"
cat >"$PROXY_DIR/nginx.conf" <<EOC
worker_processes auto;
worker_rlimit_nofile 16384;
daemon on;
pid $PROXY_DIR/nginx.pid;
error_log $PROXY_DIR/error.log warn;
events { worker_connections 8192; }
http {
	access_log off;
	keepalive_requests 1000000;
	client_body_temp_path $PROXY_DIR/tmp/body;
	proxy_temp_path $PROXY_DIR/tmp/proxy;
	fastcgi_temp_path $PROXY_DIR/tmp/fastcgi;
	uwsgi_temp_path $PROXY_DIR/tmp/uwsgi;
	scgi_temp_path $PROXY_DIR/tmp/scgi;
	upstream backends {
		server 198.18.2.21:80;
		server 198.18.2.22:80;
		server 198.18.2.23:80;
		keepalive 128;
	}
	server {
		listen 198.18.2.11:8080 backlog=4096;
		location / {
			proxy_pass http://backends;
			proxy_http_version 1.1;
			proxy_set_header Connection "";
		}
	}
}
EOC
ip netns exec xlb-lb1 nginx -q -c "$PROXY_DIR/nginx.conf" -p "$PROXY_DIR" </dev/null

for t in "${TARGETS[@]}"; do
	for _ in $(seq 1 25); do
		ip netns exec xlb-client curl -sf --max-time 1 -o /dev/null "${URL[$t]}" && continue 2
		sleep 0.2
	done
	echo "bench/e2e: ${URL[$t]} ($t) does not answer" >&2
	exit 1
done

# run_wrk WORKLOAD TARGET SECONDS -> "rps p50 p99 requests errors non2xx"
run_wrk() {
	local close=0
	[ "$1" = close ] && close=1
	ip netns exec xlb-client env XLB_CLOSE=$close \
		timeout $(($3 + 30)) wrk -t"$THREADS" -c"$CONNS" -d"$3s" --timeout 2s \
		-s "$HERE/report.lua" "${URL[$2]}" | awk '$1 == "RESULT" { $1 = ""; print }'
}

declare -A RES
echo "bench/e2e: wrk -t$THREADS -c$CONNS -d${DUR}s (after a ${WARMUP}s warm-up) per target and workload"
for w in "${WORKLOADS[@]}"; do
	for t in "${TARGETS[@]}"; do
		run_wrk "$w" "$t" "$WARMUP" >/dev/null
		# let closing sessions and TIME_WAIT sockets of the warm-up age
		sleep 1
		RES[$w,$t]=$(run_wrk "$w" "$t" "$DUR")
		read -r rps p50 p99 n err non2xx <<<"${RES[$w,$t]}"
		printf '  %-9s %-6s %10.0f req/s  p50 %6d us  p99 %6d us  (%d requests, %d socket errors, %d non-2xx)\n' \
			"$w" "$t" "$rps" "$p50" "$p99" "$n" "$err" "$non2xx"
	done
done

ratio() { awk -v a="$1" -v b="$2" 'BEGIN { if (a > 0 && b > 0) printf "%.2f", a / b; else print "n/a" }'; }

echo
echo "ratios (requests/s):"
for w in "${WORKLOADS[@]}"; do
	read -r x _ <<<"${RES[$w,xdp]:-0}"
	read -r g _ <<<"${RES[$w,nginx]:-0}"
	read -r d _ <<<"${RES[$w,direct]:-0}"
	read -r r _ <<<"${RES[$w,dsr]:-0}"
	printf '  %-9s XDP/nginx %s (goal >= 1.5)   XDP/direct %s (goal >= 0.9)   DSR/direct %s\n' \
		"$w" "$(ratio "$x" "$g")" "$(ratio "$x" "$d")" "$(ratio "$r" "$d")"
done

if [ -x "$LBCTL" ]; then
	echo
	echo "lb1 data-plane counters after the run (lbctl -n lb1 stats):"
	"$LBCTL" -n lb1 stats 2>&1 | sed 's/^/  /' || true
fi

echo
echo "Markdown:"
echo
echo "| workload | target | requests/s | p50 (us) | p99 (us) | errors | XDP/target |"
echo "|---|---|---:|---:|---:|---:|---:|"
for w in "${WORKLOADS[@]}"; do
	read -r x _ <<<"${RES[$w,xdp]:-0}"
	for t in "${TARGETS[@]}"; do
		read -r rps p50 p99 _ err non2xx <<<"${RES[$w,$t]}"
		printf '| %s | %s | %.0f | %d | %d | %d | %s |\n' "$w" "$t" "$rps" "$p50" "$p99" \
			$((err + non2xx)) "$(ratio "$x" "$rps")"
	done
done
