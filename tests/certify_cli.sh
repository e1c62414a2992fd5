#!/bin/sh
# kvcert certify: TAP shape, exit statuses 0/1/2/3, a tampered case fails
# with expected vs got in hex, malformed case files are refused with their
# own errors, --report is atomic, --backend cuda is refused where there is
# no CUDA (build or device), and --pin records a real-data case's inputs.
# Digests of test files come from coreutils' sha256sum (an oracle
# independent of kvcert).
set -u
KVCERT="${KVC_BUILDDIR:-.}/kvcert"
CASES="${KVC_SRCDIR:-.}/conformance/cases"
[ -x "$KVCERT" ] || { echo "no kvcert binary at $KVCERT"; exit 99; }
tmp=$(mktemp -d "${TMPDIR:-/tmp}/kvcert-certify-XXXXXX") || exit 99
trap 'rm -rf "$tmp"' EXIT
mkdir "$tmp/home" "$tmp/hf"
unset KVCERT_CASES KVCERT_SHARDS KVCERT_HIDDEN XDG_DATA_HOME
export HOME="$tmp/home" HF_HOME="$tmp/hf" KVCERT_PINNED="$tmp/pins"
fails=0
pass() { echo "$1: PASS"; }
fail() { echo "$1: FAIL ($2)"; sed 's/^/    /' "$tmp/out" | tail -20; fails=$((fails + 1)); }

# expect ID RC PATTERN... : runs "$@" after --, checks the exit status and
# that each fixed-string pattern appears in stdout+stderr.
expect() {
    id=$1; want=$2; shift 2
    pats=""
    while [ "$1" != "--" ]; do pats="$pats$1
"; shift; done
    shift
    "$@" >"$tmp/out" 2>&1
    rc=$?
    [ "$rc" -eq "$want" ] || { fail "$id" "exit $rc, want $want"; return; }
    printf '%s' "$pats" | while IFS= read -r p; do
        [ -n "$p" ] || continue
        grep -F -q -- "$p" "$tmp/out" || { echo "missing: $p"; exit 1; }
    done || { fail "$id" "output lacks a pattern"; return; }
    pass "$id"
}

# ---------------------------------------------------------------- TAP
n=$(ls "$CASES"/*.json | wc -l)
"$KVCERT" certify --root "$CASES" --tap >"$tmp/tap" 2>/dev/null
rc=$?
cp "$tmp/tap" "$tmp/out"
ok=1
[ "$rc" -eq 0 ] || ok=0
[ "$(sed -n 1p "$tmp/tap")" = "TAP version 13" ] || ok=0
[ "$(sed -n 2p "$tmp/tap")" = "1..$n" ] || ok=0
i=0
while IFS= read -r line; do
    case "$line" in
    "ok "* | "not ok "*)
        i=$((i + 1))
        num=$(echo "$line" | sed -n 's/^\(not \)\{0,1\}ok \([0-9][0-9]*\) - .*/\2/p')
        [ "$num" = "$i" ] || ok=0 ;;
    esac
done <"$tmp/tap"
[ "$i" -eq "$n" ] || ok=0
grep -q '^ok [0-9]* - v4flash-stage075 # SKIP ' "$tmp/tap" || ok=0
[ "$ok" -eq 1 ] && pass tap_shape || fail tap_shape "not TAP 13 with $n points"

# ---------------------------------------------------------------- one case by id, by path
expect by_id 0 "published-n8-headline: PASS" "1 of 1 passed, 0 skipped" -- \
    "$KVCERT" certify --root "$CASES" published-n8-headline
expect by_path 0 "mustfail-wrong-dtype: PASS (TENSOR_DTYPE as expected, nothing written)" -- \
    "$KVCERT" certify "$CASES/mustfail-wrong-dtype.json"
expect unknown_id 3 "kvcert: error: certify: cannot open" -- \
    "$KVCERT" certify --root "$CASES" no-such-case

# ---------------------------------------------------------------- a failing case
mkdir "$tmp/cases"
cp -r "${KVC_SRCDIR:-.}/golden" "$tmp/golden"
# the published SWA ratio one ulp up (0x3fe947899c099312 -> ...13)
sed -e 's/0.78998260952048072/0.78998260952048083/' -e 's#\.\./\.\./golden#../golden#' \
    "$CASES/published-n8-headline.json" >"$tmp/cases/published-n8-headline.json"
expect tampered 1 "published-n8-headline: FAIL (" "expected 0.78998260952048083 (0x3fe947899c099313), got 0.78998260952048072 (0x3fe947899c099312)" "0 of 1 passed, 0 skipped" -- \
    "$KVCERT" certify --root "$tmp/cases"
"$KVCERT" certify --root "$tmp/cases" --tap >"$tmp/out" 2>&1
grep -q '^not ok 1 - published-n8-headline$' "$tmp/out" && grep -q '^  ---$' "$tmp/out" &&
    grep -q '^  \.\.\.$' "$tmp/out" && pass tampered_tap || fail tampered_tap "no TAP failure block"

# ---------------------------------------------------------------- a golden input changed
printf ' ' >>"$tmp/golden/published/stage075_n8.kvcert.json"
sed -e 's#\.\./\.\./golden#../golden#' "$CASES/published-n8-aggregates.json" \
    >"$tmp/cases/published-n8-aggregates.json"
expect input_changed 1 "published-n8-aggregates: FAIL (INPUT_SIZE_MISMATCH" "stage075_n8.kvcert.json" -- \
    "$KVCERT" certify "$tmp/cases/published-n8-aggregates.json"

# ---------------------------------------------------------------- a generated input off its pin
# The pipeline cases regenerate the synthetic inputs, then check them
# against the case's pins like any input: one digit changed must refuse.
sed 's/55be26ee4e36963d571ae0507cccab6b1c0f9fd8908fdfc8651cecb596b0a636/55be26ee4e36963d571ae0507cccab6b1c0f9fd8908fdfc8651cecb596b0a637/' \
    "$CASES/pipeline-synth-seed1-stage075.json" >"$tmp/cases/pipeline-synth-seed1-stage075.json"
expect generated_pin 1 "pipeline-synth-seed1-stage075: FAIL (INPUT_HASH_MISMATCH" "hidden.safetensors" \
    "55be26ee4e36963d571ae0507cccab6b1c0f9fd8908fdfc8651cecb596b0a637" -- \
    "$KVCERT" certify "$tmp/cases/pipeline-synth-seed1-stage075.json"

# ---------------------------------------------------------------- a stream digest off
# (the pinned CSA digest of the v4 profile with its last digit changed)
sed 's/785fd1906ad6ff470727e5a437ce4cbf65d0d6dfff92af306d6260f3e21e135b/785fd1906ad6ff470727e5a437ce4cbf65d0d6dfff92af306d6260f3e21e135c/' \
    "$CASES/pipeline-synth-seed1-v4.json" >"$tmp/cases/pipeline-synth-seed1-v4.json"
expect stream_digest 1 "pipeline-synth-seed1-v4: FAIL (csa_pool_kv_ratio4: SHA-256 of its bf16 bytes: expected \"785fd1906ad6ff470727e5a437ce4cbf65d0d6dfff92af306d6260f3e21e135c\", got \"785fd1906ad6ff470727e5a437ce4cbf65d0d6dfff92af306d6260f3e21e135b\": digests differ)" -- \
    "$KVCERT" certify "$tmp/cases/pipeline-synth-seed1-v4.json"

# ---------------------------------------------------------------- malformed case files: exit 3
printf '{"schema": "kvcert-case/9", "id": "x"}' >"$tmp/v9.json"
expect unknown_schema 3 "unknown case schema version" "kvcert-case/9" -- "$KVCERT" certify "$tmp/v9.json"
printf '{"schema": "kvcert-case/1",' >"$tmp/trunc.json"
expect not_json 3 "case file is not valid JSON" -- "$KVCERT" certify "$tmp/trunc.json"
sed 's/"profile": null,/"profile": null, "speed": 1,/' "$CASES/published-n8-headline.json" >"$tmp/extra.json"
expect unknown_key 3 "unknown key in a case file" "\$.speed" -- "$KVCERT" certify "$tmp/extra.json"
cp "$CASES/published-n8-headline.json" "$tmp/dup1.json"
cp "$CASES/published-n8-headline.json" "$tmp/dup2.json"
expect duplicate_id 3 "two cases have the same id" -- "$KVCERT" certify "$tmp/dup1.json" "$tmp/dup2.json"
mkdir "$tmp/empty"
expect empty_root 3 "no case files" -- "$KVCERT" certify --root "$tmp/empty"
expect missing_root 3 "is not a folder" -- "$KVCERT" certify --root "$tmp/nowhere"

# ---------------------------------------------------------------- usage: exit 2
# --backend cuda|both: exit 2 in a build without CUDA, 3 with no device;
# with a device the cases run (a mustfail case: the backend is not used).
"$KVCERT" devices >"$tmp/devices" 2>&1
dev=$?
if grep -q '^cuda: not built in' "$tmp/devices"; then
    expect backend_cuda 2 "kvcert: error: certify --backend cuda: backend not built in" -- \
        "$KVCERT" certify --root "$CASES" --backend cuda
    expect backend_both 2 "backend not built in" -- "$KVCERT" certify --root "$CASES" --backend both
elif [ "$dev" -ne 0 ]; then
    expect backend_cuda 3 "kvcert: error: certify --backend cuda: no CUDA device" -- \
        "$KVCERT" certify --root "$CASES" --backend cuda
    expect backend_both 3 "no CUDA device" -- "$KVCERT" certify --root "$CASES" --backend both
else
    expect backend_cuda 0 "1 of 1 passed" -- \
        "$KVCERT" certify --root "$CASES" --backend cuda mustfail-wrong-dtype
fi
expect backend_auto 0 "1 of 1 passed" -- \
    "$KVCERT" certify --root "$CASES" --backend auto mustfail-wrong-dtype
expect backend_bad 2 "--backend is cpu, cuda, both or auto" -- "$KVCERT" certify --backend tpu
expect bad_option 2 "unknown option" -- "$KVCERT" certify --frobnicate
expect lint_tap 2 "apply to runs" -- "$KVCERT" certify --lint --tap
expect help 0 "usage: kvcert certify" "Exit status" -- "$KVCERT" certify --help

# ---------------------------------------------------------------- --report
expect report_unwritable 3 "certify --report" -- \
    "$KVCERT" certify --root "$CASES" mustfail-wrong-dtype --report "$tmp/no/dir/r.json"
[ ! -e "$tmp/no" ] && pass report_nothing_left || fail report_nothing_left "a file was left"
expect report_written 0 "1 of 1 passed" -- \
    "$KVCERT" certify --root "$CASES" mustfail-wrong-dtype --report "$tmp/r.json"
grep -q '"invalid":[[:space:]]*"TENSOR_DTYPE"' "$tmp/r.json" && grep -q '"output_written":[[:space:]]*false' "$tmp/r.json" &&
    pass report_content || fail report_content "report lacks the must-fail fields"
ls "$tmp" | grep -q 'r.json.tmp' && fail report_temp "a temporary file was left" || pass report_temp

# ---------------------------------------------------------------- --pin
expect pin_missing 3 "v4flash-stage075: not pinned (" "deepseek-ai/DeepSeek-V4-Flash" -- \
    "$KVCERT" certify --root "$CASES" --pin v4flash-stage075
[ ! -e "$tmp/pins/v4flash-stage075.json" ] && pass pin_missing_nothing_written ||
    fail pin_missing_nothing_written "a pinned copy was written"
expect pin_nothing 0 "nothing to pin" -- "$KVCERT" certify --root "$CASES" --pin published-n8-headline
mkdir "$tmp/shards"
for s in 02 04 05; do printf 'shard %s' "$s" >"$tmp/shards/model-000$s-of-00046.safetensors"; done
printf 'hidden states' >"$tmp/hidden.safetensors"
export KVCERT_SHARDS="$tmp/shards" KVCERT_HIDDEN="$tmp/hidden.safetensors"
expect pin 0 "v4flash-stage075: pinned -> $tmp/pins/v4flash-stage075.json" -- \
    "$KVCERT" certify --root "$CASES" --pin v4flash-stage075
for f in "$tmp/shards/model-00002-of-00046.safetensors" "$tmp/shards/model-00004-of-00046.safetensors" \
    "$tmp/shards/model-00005-of-00046.safetensors" "$tmp/hidden.safetensors"; do
    h=$(sha256sum "$f" | cut -c1-64)
    grep -q "\"sha256\":[[:space:]]*\"$h\"" "$tmp/pins/v4flash-stage075.json" ||
        { cp "$tmp/pins/v4flash-stage075.json" "$tmp/out"; fail pin_digests "no pin $h for $f"; }
done
expect pinned_copy_lints 0 "no problems" -- "$KVCERT" certify --lint "$tmp/pins/v4flash-stage075.json"
printf 'x' >>"$tmp/hidden.safetensors"
expect pin_verified 1 "v4flash-stage075: FAIL (INPUT_SIZE_MISMATCH" "hidden.safetensors" -- \
    "$KVCERT" certify --root "$CASES" v4flash-stage075
unset KVCERT_SHARDS KVCERT_HIDDEN

# ---------------------------------------------------------------- the real-data run path
# kvcert's synthetic host (seed 1, 2 passages) standing in for the real
# files (found through KVCERT_SHARDS / KVCERT_HIDDEN, unpinned): the case
# runs all three profiles end to end. The published CIs are the real
# model's, so the three ratio assertions must fail here while the accounted
# bits and the -21.97 % hold. Each profile's layer-weighted E8 Q38 / FP8
# headline (reported) must equal what `kvcert audit` pinned on the same
# data (golden/audit-seed1.json): two implementations of the measurement,
# compared to the bit.
"$KVCERT" synth --out "$tmp/synth" --seed 1 --passages 2 >/dev/null 2>&1 ||
    fail synth "kvcert synth failed"
KVCERT_SHARDS="$tmp/synth" KVCERT_HIDDEN="$tmp/synth/hidden.safetensors" KVCERT_PINNED="$tmp/nopins" \
    "$KVCERT" certify --root "$CASES" --backend cpu -v v4flash-stage075 --report "$tmp/rd.json" \
    >"$tmp/out" 2>&1
rc=$?
ok=1
[ "$rc" -eq 1 ] || ok=0
grep -q 'v4flash-stage075: FAIL (E8 Q38 / FP8 rel-MSE, SWA, inside the published 95 % CI: expected 0.78998260952048072 .*outside the published 95 % CI \[' "$tmp/out" || ok=0
# the bits assertions passed: exactly the three ratio assertions failed
[ "$(grep -c '"pass":[[:space:]]*false' "$tmp/rd.json")" -eq 3 ] || ok=0
[ "$ok" -eq 1 ] && pass real_data_run_path || fail real_data_run_path "exit $rc"
cp "$tmp/out" "$tmp/rd.out"
for p in stage075 intended v4; do
    # "layer_weighted_v15_e8_Q38": {"mean": M, "ci95_hw": H} of profile p
    lw=$(awk -v p="\"$p\": {" '
        index($0, p) { inp = 1 }
        inp && /"layer_weighted_v15_e8_Q38"/ { lw = 1; next }
        lw && /"mean"/ { gsub(/[ ,]/, ""); split($0, a, ":"); m = a[2] }
        lw && /"ci95_hw"/ { gsub(/[ ,]/, ""); split($0, a, ":"); print m " " a[2]; exit }
    ' "${KVC_SRCDIR:-.}/golden/audit-seed1.json")
    mean=${lw% *}
    hw=${lw#* }
    want="reported: \$.profiles.$p.report.layer_weighted.ratios_vs_fp8.v15_e8_Q38 = {\"mean\":$mean,\"ci95_hw\":$hw}"
    cp "$tmp/rd.out" "$tmp/out"
    if [ -n "$mean" ] && grep -Fq "$want" "$tmp/rd.out"; then
        pass "same_as_audit_$p"
    else
        fail "same_as_audit_$p" "want '$want'"
    fi
done

[ "$fails" -eq 0 ] || exit 1
