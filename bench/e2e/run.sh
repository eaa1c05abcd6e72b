#!/bin/bash
# End-to-end benchmark (not a test): HTTP requests/s and latency from
# xlb-client, measured side by side in one run against
#   xdp        the full-NAT VIP 198.18.100.1:80 (lbd + XDP on lb1, 3
#              backends), syncd stopped on both nodes
#   xdp-sync   the same with syncd running on lb1 and lb2 (inline capture,
#              every session replicated to lb2)
#   netfilter  netfilter full-NAT in xlb-lb1: iptables DNAT (round robin
#              over the 3 backends) + SNAT to lb1's address, conntrack,
#              one-arm like the VIP (198.18.2.11:8081)
#   nginx      nginx as a user-space proxy in xlb-lb1 (198.18.2.11:8080, the
#              same 3 backends, keep-alive upstream connections)
#   direct     one backend directly (be1, 198.18.2.21:80)
#   dsr        for reference: the DSR VIP 198.18.100.2:80 (lbd + XDP on lb1;
#              replies bypass the balancer)
# for two workloads: keep-alive connections, and a new connection per
# request ("Connection: close"). The targets take turns in every round
# (XLB_BENCH_ROUNDS rounds), so a slow moment of the shared machine falls on
# all of them; the figures are the means over the rounds. Prints them and
# the ratios xdp-sync/xdp (the cost of session sync), XDP/netfilter,
# XDP/nginx and XDP/direct, and the same as a Markdown table.
#
# Brings the testbed up (syncd enabled, then stopped for the targets
# without it) and down again; if it is already up it is used as it is and
# left up (xdp-sync then needs it started with XLB_TESTBED_SYNC=1).
# Environment: XLB_BUILD, XLB_BENCH_DURATION (s per measurement, default
# 5), XLB_BENCH_ROUNDS (default 3), XLB_BENCH_CONNS (default 100),
# XLB_BENCH_THREADS (default 2), XLB_BENCH_TARGETS (default
# "xdp xdp-sync netfilter nginx direct dsr").
set -euo pipefail

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
ROOT=$(cd "$HERE/../.." && pwd)
export XLB_BUILD=${XLB_BUILD:-$ROOT/build}
TESTBED=$ROOT/cluster-tests/testbed
LBCTL=$XLB_BUILD/lbd/lbctl
STATE=/run/xdplb/testbed
PROXY_DIR=$STATE/proxy
DUR=${XLB_BENCH_DURATION:-5}
ROUNDS=${XLB_BENCH_ROUNDS:-3}
CONNS=${XLB_BENCH_CONNS:-100}
THREADS=${XLB_BENCH_THREADS:-2}
WARMUP=2

declare -A URL=(
	[xdp]=http://198.18.100.1/
	[xdp-sync]=http://198.18.100.1/
	[netfilter]=http://198.18.2.11:8081/
	[nginx]=http://198.18.2.11:8080/
	[direct]=http://198.18.2.21/
	[dsr]=http://198.18.100.2/
)
read -ra TARGETS <<<"${XLB_BENCH_TARGETS:-xdp xdp-sync netfilter nginx direct dsr}"
WORKLOADS=(keepalive close)

OWN_TESTBED=0
NF_UP=0
lb1() { ip netns exec xlb-lb1 "$@"; }

# netfilter full-NAT in lb1's namespace, one-arm: DNAT round robin to the
# backends, SNAT to lb1's own address, forwarding out the interface the
# packet came in on (no ICMP redirects)
nf_up() {
	lb1 sysctl -qw net.ipv4.ip_forward=1 net.ipv4.conf.all.send_redirects=0 \
		net.ipv4.conf.eth0.send_redirects=0
	lb1 iptables -t nat -N XLB_BENCH
	lb1 iptables -t nat -A PREROUTING -d 198.18.2.11 -p tcp --dport 8081 -j XLB_BENCH
	lb1 iptables -t nat -A XLB_BENCH -p tcp -m statistic --mode nth --every 3 --packet 0 \
		-j DNAT --to-destination 198.18.2.21:80
	lb1 iptables -t nat -A XLB_BENCH -p tcp -m statistic --mode nth --every 2 --packet 0 \
		-j DNAT --to-destination 198.18.2.22:80
	lb1 iptables -t nat -A XLB_BENCH -p tcp -j DNAT --to-destination 198.18.2.23:80
	lb1 iptables -t nat -A POSTROUTING -o eth0 -p tcp -m conntrack --ctstate DNAT --ctproto tcp \
		--ctorigdst 198.18.2.11 --ctorigdstport 8081 -j SNAT --to-source 198.18.2.11
	NF_UP=1
}

nf_down() {
	[ "$NF_UP" -eq 1 ] || return 0
	lb1 iptables -t nat -D POSTROUTING -o eth0 -p tcp -m conntrack --ctstate DNAT --ctproto tcp \
		--ctorigdst 198.18.2.11 --ctorigdstport 8081 -j SNAT --to-source 198.18.2.11
	lb1 iptables -t nat -D PREROUTING -d 198.18.2.11 -p tcp --dport 8081 -j XLB_BENCH
	lb1 iptables -t nat -F XLB_BENCH
	lb1 iptables -t nat -X XLB_BENCH
	lb1 sysctl -qw net.ipv4.ip_forward=0
	NF_UP=0
}

SYNC_STATE=unknown
# sync_set on|off: syncd running on lb1 and lb2, or on neither
sync_set() {
	[ "$SYNC_STATE" = "$1" ] && return 0
	if [ "$1" = on ]; then
		"$TESTBED" syncd-start lb1 >/dev/null
		"$TESTBED" syncd-start lb2 >/dev/null
	else
		"$TESTBED" syncd-stop lb1 >/dev/null
		"$TESTBED" syncd-stop lb2 >/dev/null
	fi
	SYNC_STATE=$1
}

cleanup() {
	local rc=$?
	set +e
	if [ -s "$PROXY_DIR/nginx.pid" ]; then
		kill -TERM "$(cat "$PROXY_DIR/nginx.pid")" 2>/dev/null
		sleep 0.3
	fi
	rm -rf "$PROXY_DIR"
	nf_down
	[ "$OWN_TESTBED" -eq 1 ] && "$TESTBED" down >/dev/null 2>&1
	exit "$rc"
}
trap cleanup EXIT

command -v wrk >/dev/null || { echo "bench/e2e: wrk missing (scripts/deps.sh)" >&2; exit 1; }

has_target() { [[ " ${TARGETS[*]} " == *" $1 "* ]]; }
if has_target netfilter; then
	command -v iptables >/dev/null || { echo "bench/e2e: iptables missing (scripts/deps.sh)" >&2; exit 1; }
fi
if [ ! -d "$STATE" ]; then
	OWN_TESTBED=1
	# snat.port_hold_s 2 (= tcp_closing): with the default 60 s one SNAT
	# address sustains 20000 / 60 = 333 new full-NAT connections a second
	# per node, and the close workload would measure the exhausted pool
	XLB_TESTBED_SYNC=1 XLB_TESTBED_PORT_HOLD_S=${XLB_TESTBED_PORT_HOLD_S:-2} "$TESTBED" up
	SYNC_STATE=on
elif has_target xdp-sync && ! grep -q 'enabled: true' "$STATE/lb1/lbd.yaml"; then
	echo "bench/e2e: the testbed is up without sync (XLB_TESTBED_SYNC=1): no xdp-sync" >&2
	exit 1
fi
has_target netfilter && nf_up

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
	case $t in xdp) sync_set off ;; xdp-sync) sync_set on ;; esac
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

# mean of the rounds' "rps p50 p99 requests errors non2xx"
mean() {
	awk '{ for (i = 1; i <= NF; i++) s[i] += $i; n++ }
	     END { printf "%.1f %d %d %d %d %d\n", s[1] / n, s[2] / n, s[3] / n, s[4], s[5], s[6] }'
}

declare -A RES RUNS
echo "bench/e2e: wrk -t$THREADS -c$CONNS -d${DUR}s (after a ${WARMUP}s warm-up) per target and workload, $ROUNDS rounds, targets in turn"
for w in "${WORKLOADS[@]}"; do
	for r in $(seq 1 "$ROUNDS"); do
		for t in "${TARGETS[@]}"; do
			case $t in xdp) sync_set off ;; xdp-sync) sync_set on ;; esac
			run_wrk "$w" "$t" "$WARMUP" >/dev/null
			# let closing sessions and TIME_WAIT sockets of the warm-up age
			sleep 1
			out=$(run_wrk "$w" "$t" "$DUR")
			RUNS[$w,$t]+="$out"$'\n'
			read -r rps _ <<<"$out"
			printf '  round %d %-9s %-9s %10.0f req/s\n' "$r" "$w" "$t" "$rps"
		done
	done
	for t in "${TARGETS[@]}"; do
		RES[$w,$t]=$(printf '%s' "${RUNS[$w,$t]}" | mean)
	done
done
echo
echo "means over $ROUNDS rounds:"
for w in "${WORKLOADS[@]}"; do
	for t in "${TARGETS[@]}"; do
		read -r rps p50 p99 n err non2xx <<<"${RES[$w,$t]}"
		printf '  %-9s %-9s %10.0f req/s  p50 %6d us  p99 %6d us  (%d requests, %d socket errors, %d non-2xx)\n' \
			"$w" "$t" "$rps" "$p50" "$p99" "$n" "$err" "$non2xx"
	done
done

ratio() { awk -v a="$1" -v b="$2" 'BEGIN { if (a > 0 && b > 0) printf "%.2f", a / b; else print "n/a" }'; }

echo
echo "ratios (requests/s, means):"
for w in "${WORKLOADS[@]}"; do
	read -r x _ <<<"${RES[$w,xdp]:-0}"
	read -r xs _ <<<"${RES[$w,xdp-sync]:-0}"
	read -r f _ <<<"${RES[$w,netfilter]:-0}"
	read -r g _ <<<"${RES[$w,nginx]:-0}"
	read -r d _ <<<"${RES[$w,direct]:-0}"
	read -r r _ <<<"${RES[$w,dsr]:-0}"
	printf '  %-9s sync on/off %s (goal >= 0.98)   XDP/netfilter %s   XDP/nginx %s (goal >= 1.5)   XDP/direct %s (goal >= 0.9)   DSR/direct %s\n' \
		"$w" "$(ratio "$xs" "$x")" "$(ratio "$x" "$f")" "$(ratio "$x" "$g")" "$(ratio "$x" "$d")" "$(ratio "$r" "$d")"
	printf 'RESULT workload=%s sync_ratio=%s xdp_netfilter=%s xdp_nginx=%s xdp_direct=%s\n' \
		"$w" "$(ratio "$xs" "$x")" "$(ratio "$x" "$f")" "$(ratio "$x" "$g")" "$(ratio "$x" "$d")"
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
