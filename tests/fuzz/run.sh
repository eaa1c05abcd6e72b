#!/bin/bash
# Builds tests/fuzz/fuzz_sync_rx.c with clang's libFuzzer, ASan and UBSan
# and runs it for a bounded time from a generated seed corpus (plus the
# committed one in tests/fuzz/corpus, if any). Exit status: 0 no crash,
# 1 a crash (the reproducer is left in BUILD_DIR/fuzz/), 77 no clang or no
# libFuzzer runtime (libclang-rt-14-dev): skipped.
#
# usage: tests/fuzz/run.sh BUILD_DIR [SECONDS]
# BUILD_DIR is a configured and built tree (the generated protobuf-c code
# is taken from BUILD_DIR/proto).
set -euo pipefail

src=$(cd "$(dirname "$0")/../.." && pwd)
build=$(cd "${1:?usage: run.sh BUILD_DIR [SECONDS]}" && pwd)
secs=${2:-30}
out=$build/fuzz
mkdir -p "$out"

cc=$(command -v clang || true)
if [ -z "$cc" ]; then
	echo "run.sh: clang not found: skipped"
	exit 77
fi
if [ ! -f "$build/proto/sync.pb-c.c" ]; then
	echo "run.sh: $build/proto/sync.pb-c.c missing: build the tree first" >&2
	exit 1
fi
printf 'int LLVMFuzzerTestOneInput(const unsigned char *d, unsigned long n);\nint LLVMFuzzerTestOneInput(const unsigned char *d, unsigned long n) { (void)d; (void)n; return 0; }\n' \
	>"$out/probe.c"
if ! "$cc" -fsanitize=fuzzer "$out/probe.c" -o "$out/probe" 2>/dev/null; then
	echo "run.sh: clang has no libFuzzer runtime (libclang-rt-14-dev): skipped"
	exit 77
fi

pkgs="libprotobuf-c libsodium libxxhash libbpf"
# shellcheck disable=SC2046
cflags=(-g -O1 -D_GNU_SOURCE -fno-omit-frame-pointer -fno-sanitize-recover=all
	-I"$src/syncd" -I"$src/lib" -I"$src/bpf" -I"$build/proto" $(pkg-config --cflags $pkgs))
# shellcheck disable=SC2046
libs=($(pkg-config --libs $pkgs))
core=("$src"/syncd/{codec,seqtrack,replay,conflict,mapspec,auth,liveness,svcset}.c "$src"/syncd/engine{,_send,_apply,_snapshot,_digest,_services}.c
      "$build/proto/sync.pb-c.c"
      "$src/lib/log.c")

"$cc" "${cflags[@]}" -fsanitize=fuzzer,address,undefined "$src/tests/fuzz/fuzz_sync_rx.c" \
	"${core[@]}" "${libs[@]}" -o "$out/fuzz_sync_rx"
"$cc" "${cflags[@]}" -fsanitize=address,undefined -DFUZZ_SEEDGEN "$src/tests/fuzz/fuzz_sync_rx.c" \
	"${core[@]}" "${libs[@]}" -o "$out/seedgen"

corpus=$out/corpus
rm -rf "$corpus"
mkdir -p "$corpus"
"$out/seedgen" "$corpus"
if [ -d "$src/tests/fuzz/corpus" ]; then
	cp "$src"/tests/fuzz/corpus/* "$corpus"/ 2>/dev/null || true
fi

cd "$out"
exec ./fuzz_sync_rx -max_total_time="$secs" -rss_limit_mb=2048 -timeout=20 \
	-max_len=8192 -print_final_stats=1 "$corpus"
