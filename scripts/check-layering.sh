#!/bin/bash
# The daemons share code only through lib/ and bpf/xdplb.h: every quoted
# #include of a file under lbd/ must resolve in lbd/ or lib/, or be
# xdplb.h, and one under syncd/ in syncd/ or lib/, or be xdplb.h (the data
# plane's other headers are the BPF programs' own); generated headers (the
# BPF skeletons, protobuf-c's) are named here. One line per offence and a
# non-zero exit, or one line saying it is clean.
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$ROOT"
bad=0
check() {
	local dir=$1 gen=$2 f line h
	for f in "$dir"/*.c "$dir"/*.h; do
		[ -e "$f" ] || continue
		while IFS= read -r line; do
			h=${line#*\"}
			h=${h%%\"*}
			[[ " $gen " == *" $h "* ]] && continue
			[ -e "$dir/$h" ] || [ -e "lib/$h" ] || [ "$h" = xdplb.h ] && continue
			echo "layering: $f: #include \"$h\" is not in $dir/ or lib/, nor bpf/xdplb.h (the daemons share code only through lib/ and bpf/xdplb.h)"
			bad=1
		done < <(grep -E '^[[:space:]]*#[[:space:]]*include[[:space:]]+"' "$f" || true)
	done
}
check lbd "lb.skel.h"
check syncd "mapsync.skel.h storeio.skel.h sync.pb-c.h"
[ "$bad" -eq 0 ] || exit 1
echo "layering: lbd/ and syncd/ include only their own headers, lib/ and bpf/xdplb.h"
