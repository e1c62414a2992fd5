#!/bin/sh
# kvcert aggregate end to end on golden/published (always available):
# --check passes on the transcribed published files, a tampered field
# fails with its JSON path, bad files exit 3, bad flags exit 2, and the
# --json output reads back and checks clean.
set -u
KVCERT="${KVC_BUILDDIR:-.}/kvcert"
SRC="${KVC_SRCDIR:-.}"
N8="$SRC/golden/published/stage075_n8.kvcert.json"
QS="$SRC/golden/published/stage075_qsweep_n8.kvcert.json"
[ -x "$KVCERT" ] || { echo "no kvcert binary at $KVCERT"; exit 99; }
tmp=$(mktemp -d "${TMPDIR:-/tmp}/kvcert-cli-XXXXXX") || exit 99
trap 'rm -rf "$tmp"' EXIT
fails=0
pass() { echo "$1: PASS"; }
fail() { echo "$1: FAIL ($2)"; fails=$((fails + 1)); }

# expect ID RC GREP... : runs the command in $tmp/cmd, checks rc and that
# each pattern appears in stdout+stderr.
expect() {
    id=$1; want=$2; shift 2
    sh "$tmp/cmd" >"$tmp/out" 2>&1
    rc=$?
    if [ "$rc" -ne "$want" ]; then fail "$id" "exit $rc, want $want"; sed 's/^/    /' "$tmp/out" | tail -20; return; fi
    for pat in "$@"; do
        grep -F -q -- "$pat" "$tmp/out" || { fail "$id" "output lacks '$pat'"; sed 's/^/    /' "$tmp/out" | tail -20; return; }
    done
    pass "$id"
}
run() { printf '%s\n' "$*" >"$tmp/cmd"; }

run "'$KVCERT' aggregate --check '$N8'"
expect n8_check 0 "240 of 240 fields match: aggregates" "255 of 255 fields match" "0.959053 ± 0.023973"
run "'$KVCERT' aggregate '$QS' --check"
expect qsweep_check 0 "234 of 234 fields match: Q-sweep thresholds" "305 of 305 fields match"
run "'$KVCERT' aggregate --check '$N8' '$QS'"
expect both_files 0 "255 of 255 fields match" "305 of 305 fields match"

sed 's/"mean": 0.7899826095204807/"mean": 0.7899826095204806/' "$N8" >"$tmp/tampered.json"
run "'$KVCERT' aggregate --check '$tmp/tampered.json'"
expect tampered 1 "MISMATCH \$.aggregate_by_stream.sliding_window_kv.ratios_vs_fp8.v15_e8_Q38.mean: stored 0.78998260952048061" "recomputed 0.78998260952048072 (0x1." "254 of 255 fields match"
run "'$KVCERT' aggregate --check --t-table exact '$N8'"
expect exact_t_differs 1 "exact-student-t" "201 of 255 fields match"
run "'$KVCERT' aggregate '$tmp/tampered.json'"
expect no_check_no_failure 0 "sliding_window_kv"

run "'$KVCERT' aggregate --json '$N8' > '$tmp/n8.json' && '$KVCERT' aggregate --check '$tmp/n8.json'"
expect json_round_trip 0 "kvcert-report/1 per-passage" "fields match: layer-weighted ratios, max usable CR, ratios of means"
run "'$KVCERT' aggregate --json '$N8' '$QS' > '$tmp/two.json' && head -n 1 '$tmp/two.json' && tail -n 1 '$tmp/two.json' && grep -c '\"schema\":' '$tmp/two.json'"
expect json_array 0 "[" "]" "2"
run "'$KVCERT' aggregate --json --check '$QS' 2>'$tmp/err' >/dev/null; rc=\$?; cat '$tmp/err'; exit \$rc"
expect json_check_on_stderr 0 "305 of 305 fields match"
run "'$KVCERT' aggregate --layers 2,21,20 '$N8'"
expect layers_option 0 "layers SWA 2 + CSA 21 + HCA 20"

printf '{"per_passage": [' >"$tmp/bad.json"
run "'$KVCERT' aggregate '$tmp/bad.json'"
expect bad_json 3 "kvcert: error: aggregate: malformed report file: not valid JSON"
printf '{"per_passage": [{"results": 5}]}' >"$tmp/bad2.json"
run "'$KVCERT' aggregate --check '$tmp/bad2.json'"
expect bad_shape 3 "\$.per_passage[0].results: expected an array, found a number"
run "'$KVCERT' aggregate '$tmp/does-not-exist.json'"
expect missing_file 3 "cannot open file"
run "'$KVCERT' aggregate --check '$N8' '$tmp/bad.json'"
expect bad_among_good 3 "255 of 255 fields match" "not valid JSON"

run "'$KVCERT' aggregate"
expect no_file 2 "no FILE given"
run "'$KVCERT' aggregate --t-table normal '$N8'"
expect bad_t 2 "--t-table takes 'published' or 'exact'"
run "'$KVCERT' aggregate --layers 3,20 '$N8'"
expect bad_layers 2 "--layers takes three"
run "'$KVCERT' aggregate --layers 3,,20,20 '$N8'"
expect bad_layers_empty 2 "--layers takes three"
run "'$KVCERT' aggregate --layers 0,0,0 '$N8'"
expect zero_layers 2 "--layers takes three"
run "'$KVCERT' aggregate --frobnicate '$N8'"
expect unknown_option 2 "unknown option"
run "'$KVCERT' aggregate '$N8' --t-table"
expect missing_value 2 "missing value"
run "'$KVCERT' aggregate --help"
expect help 0 "usage: kvcert aggregate FILE..." "Exit status"
run "'$KVCERT' --help"
expect listed 0 "aggregate"

# nothing was written beside the inputs
[ -z "$(ls "$SRC/golden/published" | grep -v -e '\.kvcert\.json$' -e '^figures\.json$' -e '^transcribe\.py$')" ] \
    && pass no_stray_files || fail no_stray_files "unexpected files in golden/published"

[ "$fails" -eq 0 ] && { echo "aggregate_cli: all passed"; exit 0; }
echo "aggregate_cli: $fails failed"
exit 1
