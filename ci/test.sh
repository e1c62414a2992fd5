#!/bin/sh
# The test run CI makes (and the README's second command):
#   1. bootstrap, configure (CUDA if nvcc is found), build, make check;
#   2. a second build with AddressSanitizer + UndefinedBehaviorSanitizer
#      (CPU only: the sanitizers and the CUDA runtime do not mix) running
#      make check;
#   3. make distcheck: the release tarball builds and passes from itself.
# Every build uses --enable-werror: no warnings in CI builds.
# Build trees live under _build/ (ignored by git).
set -eu
top=$(cd "$(dirname "$0")/.." && pwd)
cd "$top"
jobs=$(nproc 2>/dev/null || echo 2)

step() { printf '\n==== %s ====\n' "$*"; }

show_logs() {
    # On failure, print the harness's logs of the tests that did not pass.
    for log in "$1"/tests/*.log "$1"/test-suite.log; do
        [ -f "$log" ] || continue
        case "$log" in
        */test-suite.log) cat "$log" ;;
        *) grep -q '^:test-result: \(FAIL\|ERROR\)' "${log%.log}.trs" 2>/dev/null && cat "$log" ;;
        esac
    done
    return 1
}

step "bootstrap"
autoreconf -fi

step "build and test (default configuration)"
rm -rf _build/plain && mkdir -p _build/plain
(cd _build/plain && "$top/configure" --enable-werror && make -j"$jobs" &&
    { make -j"$jobs" check || show_logs "$top/_build/plain"; })

step "build and test under ASan + UBSan (CPU backend)"
rm -rf _build/asan && mkdir -p _build/asan
(cd _build/asan && "$top/configure" --enable-werror --enable-asan --enable-ubsan \
    --without-cuda --disable-shared &&
    make -j"$jobs" && { make -j"$jobs" check || show_logs "$top/_build/asan"; })

step "distcheck"
(cd _build/plain && make -j"$jobs" distcheck DISTCHECK_CONFIGURE_FLAGS="--enable-werror")

step "all CI steps passed"
