#!/bin/sh
# The main job in make check: `kvcert certify` over every bundled case,
# found through the compiled-in default (this kvcert runs from its build
# tree, so the source tree's conformance/cases). Exit 0; every case line is
# PASS, or SKIP for the real-data case (no real data here) with the
# reason it must give; one line per case file; the summary counts them; the JSON report is
# written.
#
# Real data must not be found by accident (a developer's Hugging Face
# cache): HOME, HF_HOME and the pin folder point into an empty folder.
set -u
KVCERT="${KVC_BUILDDIR:-.}/kvcert"
CASES="${KVC_SRCDIR:-.}/conformance/cases"
[ -x "$KVCERT" ] || { echo "no kvcert binary at $KVCERT"; exit 99; }
tmp=$(mktemp -d "${TMPDIR:-/tmp}/kvcert-bundled-XXXXXX") || exit 99
trap 'rm -rf "$tmp"' EXIT
mkdir "$tmp/home" "$tmp/hf"
unset KVCERT_CASES KVCERT_SHARDS KVCERT_HIDDEN XDG_DATA_HOME
export HOME="$tmp/home" HF_HOME="$tmp/hf" KVCERT_PINNED="$tmp/pins"
fails=0
fail() { echo "FAIL: $1"; fails=$((fails + 1)); }

n=$(ls "$CASES"/*.json | wc -l)
"$KVCERT" certify --report "$tmp/report.json" >"$tmp/out" 2>"$tmp/err"
rc=$?
cat "$tmp/out"
[ "$rc" -eq 0 ] || { fail "exit $rc, want 0"; sed 's/^/    stderr: /' "$tmp/err"; }
lines=$(grep -c '^[a-z0-9][a-z0-9._-]*: \(PASS\|FAIL\|SKIP\)' "$tmp/out")
[ "$lines" -eq "$n" ] || fail "$lines case lines for $n case files"
while IFS= read -r line; do
    id=${line%%: *}
    case "$line" in
    *": PASS"*) ;;
    *": SKIP ("*)
        case "$id" in
        v4flash-stage075)
            echo "$line" | grep -q 'not found: model-00002-of-00046.safetensors' &&
                echo "$line" | grep -q 'deepseek-ai/DeepSeek-V4-Flash' &&
                echo "$line" | grep -q 'tools/make_hidden.py' ||
                fail "$id skips without saying what to download: $line" ;;
        *) fail "unexpected skip: $line" ;;
        esac ;;
    *": "*) fail "not PASS: $line" ;;
    esac
done <<LINES
$(grep -v ' of .* passed' "$tmp/out")
LINES
passed=$(grep -c ': PASS' "$tmp/out")
skipped=$(grep -c ': SKIP' "$tmp/out")
grep -qx "$passed of $n passed, $skipped skipped" "$tmp/out" || fail "summary line"
[ -s "$tmp/report.json" ] && grep -q '"schema":[[:space:]]*"kvcert-certify-report/1"' "$tmp/report.json" ||
    fail "no JSON report"
[ "$fails" -eq 0 ] || exit 1
echo "certify over $n bundled cases: $passed passed, $skipped skipped"
