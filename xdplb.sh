#!/bin/bash
# xdplb developer entry point. On a fresh Debian 12 machine, as root:
#   ./xdplb.sh demo   install, build, bring up the active/active netns testbed,
#                     fail a node under traffic, recover it, show what happened
#   ./xdplb.sh test   install, build, run every test
# Other sub-commands: deps, build, format, unit, e2e, down.
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
BUILD=${XLB_BUILD:-$ROOT/build}
BUILD_ASAN=${XLB_BUILD_ASAN:-$ROOT/build-asan}
JOBS=$(nproc 2>/dev/null || echo 2)

die() { echo "xdplb.sh: $*" >&2; exit 1; }
step() { printf '\n==== %s ====\n' "$*"; }

need_root() {
	[ "$(id -u)" -eq 0 ] || die "must run as root (it installs packages, loads BPF and creates network namespaces)"
}

deps() {
	step "dependencies (Debian packages)"
	"$ROOT/scripts/deps.sh"
}

build() {
	step "build ($BUILD)"
	cmake -S "$ROOT" -B "$BUILD" -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null
	cmake --build "$BUILD" -j "$JOBS"
}

build_asan() {
	step "build with AddressSanitizer + UBSan ($BUILD_ASAN)"
	cmake -S "$ROOT" -B "$BUILD_ASAN" -DCMAKE_BUILD_TYPE=Debug -DXLB_SANITIZE=ON >/dev/null
	cmake --build "$BUILD_ASAN" -j "$JOBS"
}

# Every C source and header as .clang-format says (clang-format 14,
# Debian's clang-format package); the files are the repository's. Then
# the layering: lbd and syncd share code only through lib/ and bpf/xdplb.h.
format_check() {
	step "format (clang-format --dry-run -Werror)"
	local files
	if git -C "$ROOT" rev-parse --git-dir >/dev/null 2>&1; then
		files=$(git -C "$ROOT" ls-files '*.c' '*.h')
	else
		files=$(cd "$ROOT" && find bpf lbd lib syncd tests bench cluster-tests -name '*.[ch]')
	fi
	(cd "$ROOT" && clang-format --dry-run -Werror $files)
	echo "format: $(echo "$files" | wc -w) files clean"
	"$ROOT/scripts/check-layering.sh"
}

unit() {
	step "unit and BPF_PROG_TEST_RUN tests"
	ctest --test-dir "$BUILD" --output-on-failure --timeout 300
	step "unit and BPF_PROG_TEST_RUN tests under ASan + UBSan"
	ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 \
	UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1 \
		ctest --test-dir "$BUILD_ASAN" --output-on-failure --timeout 600
}

e2e() {
	step "end-to-end tests on the netns testbed"
	XLB_BUILD=$BUILD "$ROOT/cluster-tests/run-all"
}

cmd=${1:-}
case "$cmd" in
deps) need_root; deps ;;
build) build ;;
format) format_check ;;
unit) unit ;;
e2e) need_root; e2e ;;
down) need_root; XLB_BUILD=$BUILD "$ROOT/cluster-tests/testbed" down ;;
demo)
	need_root
	deps
	build
	step "testbed up (active-active: BGP + BFD, ECMP over lb1 and lb2, syncd on both)"
	XLB_BUILD=$BUILD "$ROOT/cluster-tests/testbed" down >/dev/null 2>&1 || true
	XLB_BUILD=$BUILD "$ROOT/cluster-tests/testbed" up --mode active-active
	step "traffic, a node failure and its recovery"
	XLB_BUILD=$BUILD "$ROOT/cluster-tests/demo"
	;;
test)
	need_root
	deps
	format_check
	build
	build_asan
	unit
	e2e
	step "all tests passed"
	;;
*)
	sed -n '2,7p' "$0" | sed 's/^# \{0,1\}//'
	[ -z "$cmd" ] && exit 2
	die "unknown command '$cmd'"
	;;
esac
