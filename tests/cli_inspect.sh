#!/bin/sh
# kvcert inspect: the table, --json, and exit statuses 2 (usage) and 3
# (bad file). The test file is built here byte by byte with printf.
set -u
kvcert="${KVC_BUILDDIR:-.}/kvcert"
[ -x "$kvcert" ] || { echo "cli_inspect: $kvcert not built"; exit 99; }
tmp=$(mktemp -d "${TMPDIR:-/tmp}/kvcert-cli-XXXXXX") || exit 99
trap 'rm -rf "$tmp"' EXIT
fails=0
fail() { echo "FAIL: $*"; fails=$((fails + 1)); }

# expect STATUS CMD...: runs CMD with stdout/stderr in $tmp/out, $tmp/err.
expect() {
    want=$1; shift
    "$@" >"$tmp/out" 2>"$tmp/err"
    got=$?
    [ "$got" -eq "$want" ] || fail "$* exited $got, expected $want: $(cat "$tmp/err")"
}
contains() { grep -F -q -e "$2" "$1" || fail "$1 lacks '$2'"; }

# A valid file: header padded with spaces to a multiple of 8, its length as
# 8 little-endian bytes (below 256 here, so one non-zero byte), 16 data bytes.
h='{"__metadata__":{"format":"pt"},"w":{"dtype":"F32","shape":[2],"data_offsets":[0,8]},"b":{"dtype":"BF16","shape":[2,2],"data_offsets":[8,16]}}'
while [ $(( ${#h} % 8 )) -ne 0 ]; do h="$h "; done
n=${#h}
[ "$n" -lt 256 ] || { echo "cli_inspect: header too long for this test"; exit 99; }
good="$tmp/good.safetensors"
{
    printf "$(printf '\\%03o' "$n")"
    printf '\000\000\000\000\000\000\000'
    printf '%s' "$h"
    printf '\000\000\200\077\000\000\040\300\200\077\000\300\000\000\000\000'
} >"$good"
[ "$(wc -c <"$good")" -eq $((8 + n + 16)) ] || { echo "cli_inspect: bad test file"; exit 99; }

expect 0 "$kvcert" inspect "$good"
contains "$tmp/out" "format = pt"
contains "$tmp/out" "BF16"
contains "$tmp/out" "[2, 2]"
contains "$tmp/out" "[0, 8)"
contains "$tmp/out" "[8, 16)"
contains "$tmp/out" "$((8 + n + 8))"
contains "$tmp/out" "2 tensors, 16 data bytes"

expect 0 "$kvcert" inspect --json "$good"
cp "$tmp/out" "$tmp/json"
contains "$tmp/json" '"file_offset":'
if command -v python3 >/dev/null 2>&1; then
    python3 -c '
import json, sys
d = json.load(open(sys.argv[1]))
n = int(sys.argv[2])
assert d["header_size"] == n and d["data_offset"] == 8 + n, d
assert d["file_size"] == 8 + n + 16 and d["data_size"] == 16, d
assert d["metadata"] == {"format": "pt"}, d
assert d["tensor_count"] == 2, d
w, b = d["tensors"]
assert (w["name"], w["dtype"], w["shape"], w["bytes"]) == ("w", "F32", [2], 8), w
assert w["data_offsets"] == [0, 8] and w["file_offset"] == 8 + n, w
assert (b["name"], b["shape"], b["numel"], b["data_offsets"]) == ("b", [2, 2], 4, [8, 16]), b
assert list(d) == ["file", "file_size", "header_size", "data_offset", "data_size",
                   "metadata", "tensor_count", "tensors"], list(d)
' "$tmp/json" "$n" || fail "--json output"
else
    echo "cli_inspect: python3 not found; --json output not parsed"
fi

expect 0 "$kvcert" inspect --help
contains "$tmp/out" "usage: kvcert inspect FILE [--json]"

# usage errors: exit 2
expect 2 "$kvcert" inspect --bogus "$good"
expect 2 "$kvcert" inspect
expect 2 "$kvcert" inspect "$good" "$good"
contains "$tmp/err" "kvcert: error: inspect:"

# bad files: exit 3, one message naming the file
printf 'abcdefg' >"$tmp/short.safetensors"
expect 3 "$kvcert" inspect "$tmp/short.safetensors"
contains "$tmp/err" "kvcert: error: inspect: file shorter than the 8-byte header length"
contains "$tmp/err" "short.safetensors"
{ cat "$good"; printf 'x'; } >"$tmp/long.safetensors"
expect 3 "$kvcert" inspect --json "$tmp/long.safetensors"
contains "$tmp/err" "file size disagrees with the data buffer"
[ -s "$tmp/out" ] && fail "output printed for a bad file"
expect 3 "$kvcert" inspect "$tmp/missing.safetensors"
contains "$tmp/err" "cannot open file"

[ "$fails" -eq 0 ] || exit 1
echo "cli_inspect: all checks passed"
exit 0
