#!/bin/sh
# kvcert audit and sweep from the command line on the synthetic host
# (seed 1, one passage): the report is written atomically, reads back
# through `kvcert aggregate --check` with every field matching, the table
# names the codecs, bits and gates; each bad flag exits 2 and each bad
# input 3, leaving no output file. (check_audit_run covers the numbers.)
set -u
kvcert=${KVC_BUILDDIR:-.}/kvcert
tmp=$(mktemp -d "${TMPDIR:-/tmp}/kvcert-cli-audit-XXXXXX") || exit 99
trap 'rm -rf "$tmp"' EXIT
n=0

fail() {
    echo "FAIL: $*"
    [ -s "$tmp/err" ] && sed 's/^/  stderr: /' "$tmp/err"
    exit 1
}

# expect STATUS CMD...: runs CMD, stdout to $tmp/out, stderr to $tmp/err
expect() {
    want=$1
    shift
    n=$((n + 1))
    "$@" >"$tmp/out" 2>"$tmp/err"
    got=$?
    [ "$got" -eq "$want" ] || fail "'$*' exited $got, expected $want"
    echo "ok $n - exit $want: $*"
}

said() {
    grep -q -- "$1" "$tmp/err" || fail "stderr lacks '$1'"
}
shows() {
    grep -q -- "$1" "$tmp/out" || fail "stdout lacks '$1'"
}
# the output folder holds nothing but the inputs
no_output() {
    [ ! -e "$tmp/o/r.json" ] || fail "a failed run left $tmp/o/r.json"
    [ -z "$(ls -A "$tmp/o")" ] || fail "a failed run left $(ls -A "$tmp/o")"
}

expect 0 "$kvcert" synth --out "$tmp/s" --seed 1
mkdir "$tmp/o" || exit 99
S="--shards $tmp/s --hidden $tmp/s/hidden.safetensors"

# --- audit: report + table, then aggregate --check
expect 0 "$kvcert" audit $S --q 10,38 --out "$tmp/o/r.json"
for t in sliding_window_kv csa_pool_kv_ratio4 hca_pool_kv_ratio128 v15_e8_Q38 \
    fp8_per64_baseline fp8_ds_mla 3296 4224 4672 rms_wasserstein2_over_sigma_per_dim \
    FIRES Gaussian; do
    shows "$t"
done
grep -Eq '"schema":[[:space:]]*"kvcert-report/1"' "$tmp/o/r.json" || fail "report lacks the schema"
grep -Eq '"bits_realized":[[:space:]]*3296' "$tmp/o/r.json" || fail "report lacks E8 Q38 realized bits"
expect 0 "$kvcert" aggregate --check "$tmp/o/r.json"
shows "fields match"
grep -q "MISMATCH" "$tmp/out" && fail "aggregate --check found mismatches"
expect 0 "$kvcert" audit $S --q 38 --passages 0 --json
grep -Eq '"kind":[[:space:]]*"per-passage"' "$tmp/out" || fail "--json printed no report"

# --- sweep: report + table, then aggregate --check
expect 0 "$kvcert" sweep $S --q 10,38 --out "$tmp/o/q.json"
shows "A_no_regression_point"
shows "strategy 2"
grep -Eq '"kind":[[:space:]]*"q-sweep"' "$tmp/o/q.json" || fail "sweep report is not a q-sweep"
expect 0 "$kvcert" aggregate --check "$tmp/o/q.json"
grep -q "MISMATCH" "$tmp/out" && fail "aggregate --check found mismatches in the sweep"
rm -f "$tmp/o/r.json" "$tmp/o/q.json"

# --- help tells the truth: the whole run on the chosen backend, and both
expect 0 "$kvcert" audit --help
shows "cpu|cuda|both"
shows "the whole run on the CPU and on CUDA"
shows "1 the CPU and CUDA reports differ"
expect 0 "$kvcert" sweep --help
shows "Q-sweep"
shows "cpu|cuda|both"

# --- bad flags: exit 2, nothing written
for cmd in audit sweep; do
    expect 2 "$kvcert" $cmd $S --q 0 --out "$tmp/o/r.json"
    no_output
    expect 2 "$kvcert" $cmd $S --q 10,10 --out "$tmp/o/r.json"
    no_output
    expect 2 "$kvcert" $cmd $S --q 127 --out "$tmp/o/r.json"
    no_output
    expect 2 "$kvcert" $cmd $S --profile nosuch --out "$tmp/o/r.json"
    no_output
    expect 2 "$kvcert" $cmd $S --backend tpu --out "$tmp/o/r.json"
    no_output
    expect 2 "$kvcert" $cmd $S --bogus --out "$tmp/o/r.json"
    no_output
    expect 2 "$kvcert" $cmd --shards "$tmp/s" --out "$tmp/o/r.json"
    no_output
    expect 2 "$kvcert" $cmd $S --passages 5 --q 38 --out "$tmp/o/r.json"
    no_output
    expect 2 "$kvcert" $cmd $S extra --out "$tmp/o/r.json"
    no_output
done

# --- bad inputs: exit 3, nothing written
expect 3 "$kvcert" audit --shards "$tmp/nowhere" --hidden "$tmp/s/hidden.safetensors" \
    --q 38 --out "$tmp/o/r.json"
no_output
expect 3 "$kvcert" audit --shards "$tmp/s" --hidden "$tmp/nowhere.safetensors" --q 38 \
    --out "$tmp/o/r.json"
no_output
expect 3 "$kvcert" sweep --shards "$tmp/s" --hidden "$tmp/s/model-00002-of-00046.safetensors" \
    --q 38 --out "$tmp/o/r.json"
no_output
expect 3 "$kvcert" audit $S --q 38 --out "$tmp/nodir/r.json"
[ ! -e "$tmp/nodir" ] || fail "a failed run made $tmp/nodir"

# --- the CUDA backend: 2 without a CUDA build, 3 without a device
devs=$("$kvcert" devices 2>/dev/null)
expect 2 "$kvcert" audit $S --q 38 --backend gpu --out "$tmp/o/r.json"
said "cpu, cuda, both"
no_output
if echo "$devs" | grep -q "cuda: not built in"; then
    for b in cuda both; do
        expect 2 "$kvcert" audit $S --q 38 --backend $b --out "$tmp/o/r.json"
        said "CUDA"
        no_output
        expect 2 "$kvcert" sweep $S --q 38 --backend $b --out "$tmp/o/r.json"
        said "CUDA"
        no_output
    done
elif echo "$devs" | grep -q "cuda: no CUDA device"; then
    for b in cuda both; do
        expect 3 "$kvcert" sweep $S --q 38 --backend $b --out "$tmp/o/r.json"
        said "no CUDA device"
        no_output
        expect 3 "$kvcert" audit $S --q 38 --backend $b --out "$tmp/o/r.json"
        said "no CUDA device"
        no_output
    done
else
    # a device: both must find the two reports identical, and write the CPU's
    expect 0 "$kvcert" audit $S --q 38 --passages 0 --backend both --out "$tmp/o/r.json"
    shows "the reports are identical"
    expect 0 "$kvcert" audit $S --q 38 --passages 0 --out "$tmp/o/c.json"
    cmp "$tmp/o/r.json" "$tmp/o/c.json" || fail "--backend both did not write the CPU's report"
    expect 0 "$kvcert" sweep $S --q 10,38 --passages 0 --backend both --json
    grep -q "the reports are identical" "$tmp/err" || fail "sweep both: no verdict on stderr"
    rm -f "$tmp/o/r.json" "$tmp/o/c.json"
fi
echo "1..$n"
