#!/bin/sh
# kvcert streams --backend and kvcert equiv at the command line: usage
# errors (2), a build without CUDA (2 for streams, 77 for equiv), no CUDA
# device (3 "no CUDA device" for streams, 77 for equiv), and, where a
# device exists, a quick equivalence run that must be all IDENTICAL.
# No failing run may leave an output file behind.
set -u
kvcert="${KVC_BUILDDIR:-.}/kvcert"
[ -x "$kvcert" ] || { echo "cli_backend: $kvcert not built"; exit 99; }
tmp=$(mktemp -d "${TMPDIR:-/tmp}/kvcert-cli-XXXXXX") || exit 99
trap 'rm -rf "$tmp"' EXIT
fails=0
fail() { echo "FAIL: $*"; fails=$((fails + 1)); }
expect() {
    want=$1; shift
    "$@" >"$tmp/out" 2>"$tmp/err"
    got=$?
    [ "$got" -eq "$want" ] || fail "$* exited $got, expected $want: $(cat "$tmp/err")"
}
contains() { grep -F -q -e "$2" "$1" || fail "$1 lacks '$2': $(cat "$1")"; }
no_output() { [ ! -e "$tmp/o.safetensors" ] || fail "$1 left an output file"; }

# What this build and machine offer: devices exits 0 with "not built in",
# 77 without a device, 0 with cuda:N lines.
"$kvcert" devices >"$tmp/devices" 2>&1
drc=$?
if grep -q "^cuda: not built in" "$tmp/devices"; then cuda=none
elif [ "$drc" -eq 77 ]; then cuda=nodevice
elif grep -q "^cuda:0:" "$tmp/devices"; then cuda=yes
else echo "cli_backend: unexpected 'kvcert devices' output:"; cat "$tmp/devices"; exit 99
fi
echo "cli_backend: CUDA here: $cuda"

s="streams --shards $tmp/none --hidden $tmp/none.safetensors --out $tmp/o.safetensors"
expect 2 "$kvcert" $s --backend gpu
contains "$tmp/err" "unknown --backend 'gpu'"
no_output "--backend gpu"
expect 2 "$kvcert" $s --backend
no_output "--backend without a value"
case $cuda in
none)
    expect 2 "$kvcert" $s --backend cuda
    contains "$tmp/err" "built without CUDA"
    expect 2 "$kvcert" $s --backend both ;;
nodevice)
    expect 3 "$kvcert" $s --backend cuda
    contains "$tmp/err" "no CUDA device"
    expect 3 "$kvcert" $s --backend both
    contains "$tmp/err" "no CUDA device" ;;
yes) # the device opens, then the missing hidden states file is the error
    expect 3 "$kvcert" $s --backend cuda
    contains "$tmp/err" "none.safetensors" ;;
esac
no_output "--backend cuda"
expect 3 "$kvcert" $s --backend cpu
no_output "--backend cpu"

expect 0 "$kvcert" equiv --help
contains "$tmp/out" "--no-pipeline"
expect 2 "$kvcert" equiv --ops matmul,bogus
contains "$tmp/err" "unknown operation 'bogus'"
expect 2 "$kvcert" equiv --seed twelve
expect 2 "$kvcert" equiv --shards "$tmp"
contains "$tmp/err" "--shards and --hidden go together"
expect 2 "$kvcert" equiv extra
case $cuda in
none|nodevice)
    expect 77 "$kvcert" equiv --no-pipeline --quick --ops round_bf16
    contains "$tmp/err" "SKIP" ;;
yes)
    expect 0 "$kvcert" equiv --no-pipeline --quick --ops round_bf16,kvsim --seed 5
    contains "$tmp/out" "seed 5"
    contains "$tmp/out" "round_bf16/1/random: IDENTICAL (sha256 "
    grep -q "DIFFERENT\|FAILED" "$tmp/out" && fail "equiv: $(grep 'DIFFERENT\|FAILED' "$tmp/out")"
    n=$(grep -c ": IDENTICAL (sha256 [0-9a-f]\{16\})$" "$tmp/out")
    contains "$tmp/out" "$n of $n identical" ;;
esac

[ "$fails" -eq 0 ] || exit 1
echo "cli_backend: all passed"
