#!/bin/bash
# The xdplb testbed on Docker, in either HA mode:
#   active-active   bird2 BGP + BFD, ECMP on the router (the default)
#   active-standby  keepalived VRRP moves the router's next hop
#
#   docker/cluster.sh up [--mode active-active|active-standby]
#                              install docker.io/docker-compose if missing, start
#                              dockerd if not running, build the image, bring the
#                              cluster up and wait until the router sends VIP
#                              traffic to both LB nodes (active-active) or to
#                              the VRRP master lb1 (active-standby)
#   docker/cluster.sh down [--keep]
#                              remove the containers, networks and bpffs
#                              volumes, the image xdplb-node:latest, and stop
#                              the dockerd this script started (one that was
#                              running before is left alone); --keep keeps the
#                              image and the daemon for the next `up`
#   docker/cluster.sh status   containers, the router's VIP route, each LB's
#                              lbd/syncd state
#   docker/cluster.sh fail NODE      docker kill NODE (lb1|lb2): a power cut
#   docker/cluster.sh recover NODE   docker start NODE: fresh maps, syncd pulls
#                                    the peer's snapshot, then it announces
#   docker/cluster.sh carriers       LB nodes the router sends VIP traffic to
#   docker/cluster.sh lbd-kill NODE  SIGKILL lbd in NODE (a crash)
#   docker/cluster.sh lbd-start NODE start lbd in NODE again
#   docker/cluster.sh syncd-kill NODE    SIGKILL syncd in NODE (a crash)
#   docker/cluster.sh syncd-start NODE   start syncd in NODE again (until ready)
#   docker/cluster.sh isolate NODE on|off   on: every frame NODE sends is
#                                    dropped where it enters the bridge, its
#                                    link stays up (silent node); off: back
#   docker/cluster.sh lbctl NODE ARGS...    lbctl -n NODE ARGS in NODE
#   docker/cluster.sh config         check the compose file with every Compose
#                                    implementation installed (docker-compose
#                                    v1, `docker compose` v2)
#
# Environment: XLB_BUILD (default <repo>/build), XLB_SYNC (1 = syncd on, the
# default; 0 = sync.enabled false), XLB_CAPTURE (syncd capture, default auto),
# XLB_DOCKER_WAIT (seconds for the cluster to come up, default 90).
set -euo pipefail

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
ROOT=$(cd "$HERE/.." && pwd)
export XLB_BUILD=${XLB_BUILD:-$ROOT/build}
export XLB_SYNC=${XLB_SYNC:-1}
export XLB_CAPTURE=${XLB_CAPTURE:-auto}
WAIT_S=${XLB_DOCKER_WAIT:-90}
PROJECT=xdplb
IMAGE=xdplb-node:latest
COMPOSE_FILE=$HERE/docker-compose.yml
STATE=/run/xdplb-docker
DOCKERD_PID=/run/xdplb-dockerd.pid
DOCKERD_LOG=/var/log/xdplb-dockerd.log
DOCKER_ROOT=${XLB_DOCKER_ROOT:-/var/lib/docker}
LBS=(lb1 lb2)
VIP_NET=198.19.100.0/24
VRRP_ADDR=198.19.2.10
declare -A ADDR=([lb1]=198.19.2.11 [lb2]=198.19.2.12)

say() { echo "cluster: $*"; }
die() { echo "cluster: $*" >&2; exit 1; }

# docker: the Debian client if present (any client talks to the daemon)
DOCKER=docker
[ -x /usr/bin/docker ] && DOCKER=/usr/bin/docker
dk() { "$DOCKER" "$@"; }
compose() { docker-compose -p "$PROJECT" -f "$COMPOSE_FILE" "$@"; }

# ------------------------------------------------------------------ docker
ensure_docker() {
	if ! command -v dockerd >/dev/null || ! command -v docker-compose >/dev/null; then
		say "installing docker.io and docker-compose (apt-get)"
		DEBIAN_FRONTEND=noninteractive apt-get install -y -q docker.io docker-compose >/dev/null 2>&1 || {
			apt-get update -q >/dev/null 2>&1 || true
			DEBIAN_FRONTEND=noninteractive apt-get install -y -q docker.io docker-compose >/dev/null
		} || return 1
	fi
	dk version >/dev/null 2>&1 && return 0
	say "starting dockerd (data root $DOCKER_ROOT, pid file $DOCKERD_PID, log $DOCKERD_LOG)"
	mkdir -p "$DOCKER_ROOT"
	# No iptables rules, no forwarding or bridge on the host: the testbed's
	# networks are plain bridges and nothing leaves the machine; this leaves
	# the host's packet filter (and whoever else uses it) alone.
	setsid dockerd --data-root "$DOCKER_ROOT" --pidfile "$DOCKERD_PID" \
		--iptables=false --ip-forward=false --bridge=none \
		</dev/null >>"$DOCKERD_LOG" 2>&1 &
	for _ in $(seq 1 150); do
		[ -S /var/run/docker.sock ] && dk version >/dev/null 2>&1 && return 0
		kill -0 $! 2>/dev/null || break
		sleep 0.2
	done
	tail -5 "$DOCKERD_LOG" >&2
	return 1
}

ensure_built() {
	local f
	for f in lbd/lbd lbd/lbctl syncd/syncd cluster-tests/tools/xlb-flows bpf/xdp_pass.bpf.o; do
		[ -e "$XLB_BUILD/$f" ] && continue
		say "building in $XLB_BUILD"
		cmake -S "$ROOT" -B "$XLB_BUILD" >/dev/null && cmake --build "$XLB_BUILD" -j2 >/dev/null
		break
	done
}

build_image() {
	ensure_built
	"$HERE/mkrootfs.sh" "$IMAGE"
}

# ------------------------------------------------------------------ host side
# The host-side veth of a container's eth0.
host_peer() {
	local c=$1 idx
	idx=$(dk exec "$c" cat /sys/class/net/eth0/iflink) || return 1
	ip -o link show | awk -F': ' -v i="$idx" '$1 == i { sub(/@.*/, "", $2); print $2; exit }'
}

# XDP_TX on the LB's eth0 hands frames to the host-side peer, which drops
# them unless NAPI runs there: an XDP program on the peer turns it on (the
# netns testbed does the same on the router's side). Checksum offload off
# so the data plane sees complete checksums.
prepare_lb_link() {
	local n=$1 c=xdplb-$1 peer
	for _ in $(seq 1 50); do
		peer=$(host_peer "$c" 2>/dev/null) && [ -n "$peer" ] && break
		sleep 0.2
	done
	[ -n "${peer:-}" ] || die "no host-side veth for $c"
	ethtool -K "$peer" tx off rx off >/dev/null 2>&1 || true
	ip link set dev "$peer" xdpdrv obj "$XLB_BUILD/bpf/xdp_pass.bpf.o" sec xdp ||
		die "cannot attach xdp_pass to $peer (host side of $c)"
	dk exec "$c" touch /run/xdplb/hostside-ready
	echo "$peer" >"$STATE/$n.peer"
}

# The router must not send ICMP redirects: a backend would cache "SNAT
# address via lbN" and send every full-NAT reply straight to that node,
# whatever ECMP says and whether the node is alive (a dead lb1 kept one
# backend's replies for the 5 minutes a redirect lives). The compose file
# sets all/default to 0, but Docker moves each interface in with its own
# setting (1), and the kernel sends redirects if either is on; the router's
# /proc/sys is read-only, so the host writes it in the router's netns.
router_no_redirects() {
	local pid i
	pid=$(dk inspect -f '{{.State.Pid}}' xdplb-router) && [ "${pid:-0}" -gt 0 ] ||
		die "no pid for xdplb-router"
	for i in $(nsenter -t "$pid" -n ls /proc/sys/net/ipv4/conf); do
		[ "$i" = lo ] && continue
		nsenter -t "$pid" -n sysctl -qw "net.ipv4.conf.$i.send_redirects=0" ||
			die "cannot turn off ICMP redirects on the router's $i"
	done
}

# ------------------------------------------------------------------ state
mode() { cat "$STATE/mode" 2>/dev/null || echo active-active; }
running() { [ "$(dk inspect -f '{{.State.Running}}' "xdplb-$1" 2>/dev/null)" = true ]; }

# Which LB nodes the router sends VIP traffic to right now: the next hops of
# its ECMP route, or the node holding the VRRP address.
carriers() {
	local n
	case "$(mode)" in
	active-standby)
		for n in "${LBS[@]}"; do
			dk exec "xdplb-$n" ip -4 addr show dev eth0 2>/dev/null | grep -q " $VRRP_ADDR/" && echo "$n"
		done
		;;
	*)
		dk exec xdplb-router ip route show "$VIP_NET" 2>/dev/null | grep -o 'via [0-9.]*' |
			awk '{print $2}' | while read -r a; do
				for n in "${LBS[@]}"; do [ "${ADDR[$n]}" = "$a" ] && echo "$n"; done
			done
		;;
	esac
	return 0
}

wait_carriers() {	# wait_carriers N|NODE SECS: N carriers, or exactly NODE
	local deadline=$((SECONDS + $2))
	until if [[ "$1" =~ ^[0-9]+$ ]]; then [ "$(carriers | wc -l)" -eq "$1" ]; else [ "$(carriers | xargs)" = "$1" ]; fi; do
		[ $SECONDS -lt "$deadline" ] || return 1
		sleep 0.2
	done
}

lbctl_on() { local n=$1; shift; dk exec "xdplb-$n" lbctl -n "$n" "$@"; }

do_up() {
	local m=active-active
	while [ $# -gt 0 ]; do
		case "$1" in
		--mode) m=${2:-}; shift 2 || die "up: --mode needs a value" ;;
		--mode=*) m=${1#--mode=}; shift ;;
		*) die "up: unknown argument '$1' (up [--mode active-active|active-standby])" ;;
		esac
	done
	case "$m" in active-active | active-standby) ;; *) die "--mode: active-active or active-standby, not '$m'" ;; esac
	ensure_docker || { echo "cluster: Docker cannot be started on this machine" >&2; exit 77; }
	if [ -n "$(compose ps -q 2>/dev/null)" ]; then die "cluster already up ('$0 down' first)"; fi
	build_image
	mkdir -p "$STATE"
	[ -s "$STATE/sync.key" ] || (umask 077; head -c 24 /dev/urandom | od -An -tx1 | tr -d ' \n' >"$STATE/sync.key")
	export XLB_SYNC_KEY
	XLB_SYNC_KEY=$(cat "$STATE/sync.key")
	echo "$XLB_SYNC" >"$STATE/sync"
	echo "$m" >"$STATE/mode"
	export XLB_MODE=$m
	compose up -d --force-recreate >"$STATE/compose-up.log" 2>&1 || { cat "$STATE/compose-up.log" >&2; die "docker-compose up failed"; }
	router_no_redirects
	local n
	for n in "${LBS[@]}"; do prepare_lb_link "$n"; done
	local want=2 what="an ECMP route over lb1 and lb2 on the router"
	# active-standby: lb1 (the higher priority) once its check passes; lb2
	# may win the first election while lb1's syncd pulls its snapshot
	[ "$m" = active-standby ] && want=lb1 what="lb1 as VRRP master holding $VRRP_ADDR"
	say "containers up; waiting for lbd, syncd and $what"
	if ! wait_carriers "$want" "$WAIT_S"; then
		for n in "${LBS[@]}"; do dk logs --tail 10 "xdplb-$n" 2>&1 | sed "s/^/  $n: /" >&2; done
		die "no $what within ${WAIT_S}s"
	fi
	say "up: $m, syncd $([ "$XLB_SYNC" = 1 ] && echo on || echo off), router sends $VIP_NET to $(carriers | xargs)"
	say "VIPs 198.19.100.1:80 (full NAT), 198.19.100.2:80 (DSR), 198.19.100.1:5353/udp; client: docker exec xdplb-client ..."
}

# the dockerd ensure_docker started, if it still runs
our_dockerd() {
	local pid
	pid=$(cat "$DOCKERD_PID" 2>/dev/null) || return 1
	[ -n "$pid" ] && [ "$(cat "/proc/$pid/comm" 2>/dev/null)" = dockerd ] && echo "$pid"
}

do_down() {
	local keep=0 c pid left
	case "${1:-}" in
	--keep) keep=1 ;;
	"") ;;
	*) die "down: unknown argument '$1' (down [--keep])" ;;
	esac
	rm -rf "$STATE"
	if ! dk version >/dev/null 2>&1; then say "dockerd not running: nothing to take down"; return 0; fi
	compose down -v --remove-orphans >/dev/null 2>&1 || true
	# anything left by name (e.g. after a compose file change)
	for c in router lb1 lb2 be1 be2 be3 client; do dk rm -f "xdplb-$c" >/dev/null 2>&1 || true; done
	dk network rm "${PROJECT}_front" "${PROJECT}_lan" >/dev/null 2>&1 || true
	dk volume rm "${PROJECT}_bpf-lb1" "${PROJECT}_bpf-lb2" >/dev/null 2>&1 || true
	left=$(dk ps -aq --filter "name=^xdplb-" | wc -l)
	[ "$left" -eq 0 ] || die "down: $left xdplb-* containers could not be removed"
	if [ "$keep" = 1 ]; then
		say "down: containers, networks and bpffs volumes removed (--keep: image $IMAGE and dockerd kept)"
		return 0
	fi
	dk rmi "$IMAGE" >/dev/null 2>&1 || true
	if pid=$(our_dockerd); then
		kill -TERM "$pid"
		for _ in $(seq 1 150); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
		kill -0 "$pid" 2>/dev/null && die "down: dockerd $pid still running 15 s after SIGTERM"
		rm -f "$DOCKERD_PID"
		say "down: containers, networks, bpffs volumes and image $IMAGE removed; the dockerd this script started stopped"
	else
		say "down: containers, networks, bpffs volumes and image $IMAGE removed (dockerd was not started by this script: left running)"
	fi
}

# config: the compose file as every Compose implementation here reads it
do_config() {
	local n=0
	if command -v docker-compose >/dev/null; then
		compose config -q || die "config: docker-compose $(docker-compose version --short 2>/dev/null) refuses $COMPOSE_FILE"
		say "config: docker-compose $(docker-compose version --short 2>/dev/null) (v1) accepts $COMPOSE_FILE"
		n=$((n + 1))
	fi
	if dk compose version >/dev/null 2>&1; then
		dk compose -p "$PROJECT" -f "$COMPOSE_FILE" config -q ||
			die "config: docker compose $(dk compose version --short 2>/dev/null) refuses $COMPOSE_FILE"
		say "config: docker compose $(dk compose version --short 2>/dev/null) (v2) accepts $COMPOSE_FILE"
		n=$((n + 1))
	else
		say "config: no \`docker compose\` (v2) plugin installed (Debian 12 has none): not checked"
	fi
	[ "$n" -gt 0 ] || die "config: no Compose implementation installed"
}

do_status() {
	dk version >/dev/null 2>&1 || { echo "dockerd not running"; return 0; }
	compose ps
	[ -n "$(compose ps -q 2>/dev/null)" ] || return 0
	echo "mode $(mode); router sends $VIP_NET to: $(carriers | xargs)"
	dk exec xdplb-router ip route show "$VIP_NET" | sed 's/^/  /'
	local n
	for n in "${LBS[@]}"; do
		echo "== $n"
		if ! running "$n"; then echo "  not running"; continue; fi
		[ "$(mode)" = active-standby ] &&
			echo "  VRRP: $(carriers | grep -qx "$n" && echo "master, holds $VRRP_ADDR" || echo "not master")"
		lbctl_on "$n" status 2>&1 | sed 's/^/  /' || echo "  lbd: no answer"
		echo "  sessions: $(lbctl_on "$n" sessions count 2>&1)"
		dk exec "xdplb-$n" syncd status -c /run/xdplb/lbd.yaml 2>/dev/null |
			jq -r '"  syncd: capture \(.capture), ready \(.ready), sent \(.tx_entries), applied \(.applied_updates)/\(.applied_deletes)",
			(.peers[] | "  peer \(.node_id): \(if .alive then "alive" else "dead" end), gaps \(.gaps)")' 2>/dev/null ||
			echo "  syncd: not running"
	done
}

do_fail() {
	local n=$1
	dk kill "xdplb-$n" >/dev/null
	date +%s.%N >"$STATE/$n.failed"
	say "$n failed (docker kill: every process SIGKILLed, its link gone)"
}

do_recover() {
	local n=$1
	running "$n" && die "$n is running"
	[ -s "$STATE/sync.key" ] || die "no $STATE/sync.key: was the cluster brought up by this script?"
	dk start "xdplb-$n" >/dev/null
	prepare_lb_link "$n"
	# back when it takes traffic again: active-active, its own route; active-
	# standby, ready (lb1, the higher VRRP priority, also takes the address)
	local deadline=$((SECONDS + WAIT_S))
	until node_back "$n"; do
		[ $SECONDS -lt "$deadline" ] || { dk logs --tail 10 "xdplb-$n" >&2; die "$n not back within ${WAIT_S}s"; }
		sleep 0.2
	done
	rm -f "$STATE/$n.failed"
	say "$n recovered; traffic goes to $(carriers | xargs)"
}

node_back() {
	local n=$1
	case "$(mode)" in
	active-standby)
		dk exec "xdplb-$n" xlb-entry node-ready >/dev/null 2>&1 || return 1
		[ "$n" != lb1 ] || carriers | grep -qx "$n"
		;;
	*) carriers | grep -qx "$n" ;;
	esac
}

# isolate NODE on|off: XDP drop (or pass, as prepare_lb_link left it) on the
# host-side veth of NODE's eth0: what NODE sends never reaches the bridge
do_isolate() {
	local n=$1 on=$2 peer obj=xdp_pass
	peer=$(cat "$STATE/$n.peer" 2>/dev/null) || die "$n: no host-side veth recorded (is the cluster up?)"
	[ "$on" = on ] && obj=xdp_drop
	ip -force link set dev "$peer" xdpdrv obj "$XLB_BUILD/bpf/$obj.bpf.o" sec xdp ||
		die "cannot attach $obj to $peer (host side of xdplb-$n)"
	say "$n isolated: $on ($obj on $peer)"
}

lb_arg() { [[ "${2:-}" =~ ^lb[12]$ ]] || die "$1 lb1|lb2"; }

case "${1:-}" in
up) shift; do_up "$@" ;;
down) shift; do_down "$@" ;;
config) do_config ;;
status) do_status ;;
fail) [[ "${2:-}" =~ ^lb[12]$ ]] || die "fail lb1|lb2"; do_fail "$2" ;;
recover) [[ "${2:-}" =~ ^lb[12]$ ]] || die "recover lb1|lb2"; do_recover "$2" ;;
carriers) carriers ;;
lbd-kill) lb_arg "$@"; dk exec "xdplb-$2" xlb-entry lbd-kill ;;
lbd-start) lb_arg "$@"; dk exec "xdplb-$2" xlb-entry lbd-start ;;
syncd-kill) lb_arg "$@"; dk exec "xdplb-$2" xlb-entry syncd-kill ;;
syncd-start) lb_arg "$@"; dk exec "xdplb-$2" xlb-entry syncd-start ;;
isolate) lb_arg "$@"; [[ "${3:-}" =~ ^(on|off)$ ]] || die "isolate lb1|lb2 on|off"; do_isolate "$2" "$3" ;;
lbctl) lb_arg "$@"; n=$2; shift 2; lbctl_on "$n" "$@" ;;
build) ensure_docker || exit 77; build_image ;;
*) sed -n '2,/^set -euo/{/^set/d;p}' "$0" | sed 's/^# \{0,1\}//'; exit 2 ;;
esac
