#!/bin/bash
# Assembles the root file system of the xdplb node image from what is on
# this machine (no image can be pulled) and imports it into Docker:
#
#   docker/mkrootfs.sh [IMAGE]      (default xdplb-node:latest)
#
# Contents: the project's build output (lbd, lbctl, syncd, xlb-flows; lbd and
# syncd embed their BPF skeletons, so no .bpf.o is needed inside), Debian's
# nginx, bird/birdc, keepalived, iproute2 ip, ethtool, jq and curl with every
# shared library ldd reports, Debian's busybox-static for the shell and the
# small tools, and docker/rootfs/xlb-entry (the role script every container
# runs). One image serves every role (router, lb, backend, client).
#
# Environment: XLB_BUILD (default <repo>/build).
set -euo pipefail

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
ROOT=$(cd "$HERE/.." && pwd)
BUILD=${XLB_BUILD:-$ROOT/build}
IMAGE=${1:-xdplb-node:latest}

die() { echo "mkrootfs: $*" >&2; exit 1; }

PROJECT_BINS=("$BUILD/lbd/lbd" "$BUILD/lbd/lbctl" "$BUILD/syncd/syncd"
	"$BUILD/cluster-tests/tools/xlb-flows")
DEBIAN_BINS=(/usr/sbin/nginx /usr/sbin/bird /usr/sbin/birdc /usr/sbin/keepalived
	/usr/bin/jq /usr/bin/curl)
# iproute2's ip and ethtool live in /usr/sbin or /sbin depending on the install
for b in ip ethtool; do
	p=$(command -v "$b") || die "$b not installed (apt-get install iproute2 ethtool)"
	DEBIAN_BINS+=("$(readlink -f "$p")")
done
for f in "${PROJECT_BINS[@]}"; do [ -x "$f" ] || die "$f not built (cmake -S . -B build && cmake --build build -j2)"; done
for f in "${DEBIAN_BINS[@]}"; do [ -x "$f" ] || die "$f missing (apt-get install nginx bird2 keepalived jq curl)"; done
if [ ! -x /usr/bin/busybox ] || ldd /usr/bin/busybox >/dev/null 2>&1; then
	die "busybox-static missing (apt-get install busybox-static)"
fi

R=$(mktemp -d /tmp/xdplb-rootfs.XXXXXX)
trap 'rm -rf "$R"' EXIT

# merged /usr, as on Debian 12
mkdir -p "$R"/usr/{bin,sbin,local/bin,lib/x86_64-linux-gnu,lib64} "$R"/{etc,run,tmp,proc,sys,dev,root,var/log/nginx,var/lib/nginx,var/run}
ln -s usr/bin "$R/bin"; ln -s usr/sbin "$R/sbin"; ln -s usr/lib "$R/lib"; ln -s usr/lib64 "$R/lib64"
chmod 1777 "$R/tmp"

copy_file() {	# copy_file SRC [DEST-in-rootfs]: dereferenced, path kept
	local src=$1 dst=${2:-$1}
	dst=${dst#/}
	case "$dst" in lib/* | bin/* | sbin/* | lib64/*) dst=usr/$dst ;; esac
	mkdir -p "$R/$(dirname "$dst")"
	cp -L "$src" "$R/$dst"
}

libs_of() { ldd "$1" 2>/dev/null | awk '$2 == "=>" && $3 ~ /^\// {print $3} $1 ~ /^\// {print $1}'; }

declare -A seen=()
for b in "${PROJECT_BINS[@]}"; do copy_file "$b" "/usr/local/bin/$(basename "$b")"; done
for b in "${DEBIAN_BINS[@]}"; do copy_file "$b"; done
for b in "${PROJECT_BINS[@]}" "${DEBIAN_BINS[@]}"; do
	for l in $(libs_of "$b"); do
		[ -n "${seen[$l]:-}" ] && continue
		seen[$l]=1
		copy_file "$l"
	done
done
# the dynamic loader, by the path the binaries ask for
copy_file /lib/x86_64-linux-gnu/ld-linux-x86-64.so.2
ln -sf ../lib/x86_64-linux-gnu/ld-linux-x86-64.so.2 "$R/usr/lib64/ld-linux-x86-64.so.2"
# data files: iproute2 tables
cp -a /etc/iproute2 "$R/etc/"

# busybox: the shell and the small tools, never shadowing a real binary
cp /usr/bin/busybox "$R/usr/bin/busybox"
for a in $(/usr/bin/busybox --list-full); do
	[ -e "$R/$a" ] || [ -L "$R/$a" ] && continue
	base=$(basename "$a")
	[ -e "$R/usr/bin/$base" ] || [ -e "$R/usr/sbin/$base" ] && continue
	mkdir -p "$R/$(dirname "$a")"
	ln -s /usr/bin/busybox "$R/$a"
done

cat >"$R/etc/passwd" <<'EOP'
root:x:0:0:root:/root:/bin/sh
nobody:x:65534:65534:nobody:/nonexistent:/bin/false
EOP
cat >"$R/etc/group" <<'EOG'
root:x:0:
nogroup:x:65534:
EOG
echo "hosts: files dns" >"$R/etc/nsswitch.conf"
: >"$R/etc/hosts"

install -m 0755 "$HERE/rootfs/xlb-entry" "$R/usr/local/bin/xlb-entry"

# every binary finds its libraries inside the rootfs (the loader's --list)
for b in /usr/local/bin/lbd /usr/local/bin/syncd /usr/local/bin/lbctl /usr/local/bin/xlb-flows \
	/usr/sbin/nginx /usr/sbin/bird /usr/sbin/birdc /usr/sbin/keepalived /usr/bin/jq /usr/bin/curl \
	"/usr/sbin/$(basename "$(readlink -f "$(command -v ip)")")"; do
	[ -e "$R$b" ] || b=${b/sbin/bin}
	if chroot "$R" /lib64/ld-linux-x86-64.so.2 --list "$b" 2>&1 | grep -q 'not found'; then
		die "$b: a library is missing in the rootfs"
	fi
done

echo "mkrootfs: root file system $(du -sh "$R" | cut -f1) in $R; importing as $IMAGE"
old=$(docker image inspect -f '{{.Id}}' "$IMAGE" 2>/dev/null || true)
tar -C "$R" -c . | docker import \
	--change 'ENTRYPOINT ["/usr/local/bin/xlb-entry"]' \
	--change 'ENV PATH=/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin' \
	--message "xdplb node image (docker/mkrootfs.sh)" - "$IMAGE" >/dev/null
# the image this one replaces, unless a container still uses it
new=$(docker image inspect -f '{{.Id}}' "$IMAGE")
if [ -n "$old" ] && [ "$old" != "$new" ]; then docker rmi "$old" >/dev/null 2>&1 || true; fi
echo "mkrootfs: $IMAGE: $(docker image inspect -f '{{.Size}}' "$IMAGE" | awk '{printf "%.1f MB", $1/1e6}')"
