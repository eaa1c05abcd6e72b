#!/bin/bash
# Install every Debian package xdplb needs to build, test and run its
# testbed. Idempotent; safe to re-run. Needs root.
set -euo pipefail

PKGS=(
	# build
	cmake make gcc clang llvm pkg-config
	libbpf-dev bpftool libelf-dev zlib1g-dev linux-libc-dev
	libyaml-dev libjson-c-dev libuv1-dev libhttp-parser-dev libxxhash-dev
	libprotobuf-c-dev protobuf-c-compiler libnanomsg-dev
	libsodium-dev uthash-dev
	# tests (clang-format: the test command checks the sources' format)
	libcmocka-dev valgrind libclang-rt-14-dev clang-format
	# testbed and benchmarks
	iproute2 iputils-ping ethtool procps psmisc curl nginx-light wrk jq iperf3
	# the netfilter full-NAT reference of bench/e2e (iptables DNAT + SNAT)
	iptables
	# stock-kernel VM harness (cluster-tests/vm)
	qemu-system-x86 busybox-static cpio xz-utils
	# failover: BGP + BFD (active/active) and VRRP (active/standby)
	bird2 keepalived
)

missing=()
for p in "${PKGS[@]}"; do
	dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "ok installed" ||
		missing+=("$p")
done
if [ ${#missing[@]} -eq 0 ]; then
	exit 0
fi
if [ "$(id -u)" -ne 0 ]; then
	echo "deps.sh: missing packages (${missing[*]}) and not root: run as root" >&2
	exit 1
fi
echo "deps.sh: installing ${missing[*]}"
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
# nginx-light's package starts a system nginx on port 80 of the host
# namespace; the testbed runs its own instances, so stop the system one.
# bird2 and keepalived likewise: the testbed runs its own, per namespace.
if command -v systemctl >/dev/null 2>&1; then
	systemctl disable --now nginx bird keepalived >/dev/null 2>&1 || true
fi
pkill -x nginx 2>/dev/null || true
pkill -x bird 2>/dev/null || true
pkill -x keepalived 2>/dev/null || true
