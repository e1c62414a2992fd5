#!/bin/sh
# kvcert certify --lint over every bundled case file (and that the lint
# can fail: a misnamed copy and a malformed file are reported, exit 1).
set -u
KVCERT="${KVC_BUILDDIR:-.}/kvcert"
CASES="${KVC_SRCDIR:-.}/conformance/cases"
[ -x "$KVCERT" ] || { echo "no kvcert binary at $KVCERT"; exit 99; }
tmp=$(mktemp -d "${TMPDIR:-/tmp}/kvcert-lint-XXXXXX") || exit 99
trap 'rm -rf "$tmp"' EXIT
fails=0
n=$(ls "$CASES"/*.json | wc -l)

"$KVCERT" certify --lint --root "$CASES" >"$tmp/out" 2>&1
rc=$?
if [ "$rc" -eq 0 ] && grep -qx "lint: $n case files, no problems" "$tmp/out"; then
    echo "bundled: PASS ($n case files)"
else
    echo "bundled: FAIL (exit $rc)"; sed 's/^/    /' "$tmp/out"; fails=$((fails + 1))
fi

cp "$CASES/published-n8-headline.json" "$tmp/renamed.json"
printf '{"schema": "kvcert-case/1", "id": ' >"$tmp/broken.json"
"$KVCERT" certify --lint "$tmp/renamed.json" "$tmp/broken.json" >"$tmp/out" 2>&1
rc=$?
if [ "$rc" -eq 1 ] && grep -q 'renamed.json: CASE_FIELD: .*must be named "published-n8-headline.json"' "$tmp/out" &&
    grep -q 'broken.json: CASE_JSON' "$tmp/out" && grep -qx 'lint: 2 of 2 case files have problems' "$tmp/out"; then
    echo "problems: PASS"
else
    echo "problems: FAIL (exit $rc)"; sed 's/^/    /' "$tmp/out"; fails=$((fails + 1))
fi
# make install must carry every bundled case and must-fail input
# (src/cert/local.mk lists them one by one).
MK="${KVC_SRCDIR:-.}/src/cert/local.mk"
missing=0
sed -e 's/^[[:space:]]*//' -e 's/[[:space:]]*\\$//' "$MK" >"$tmp/listed"
for f in "$CASES"/*.json "${KVC_SRCDIR:-.}"/golden/mustfail/*/*; do
    rel=${f#"${KVC_SRCDIR:-.}"/}
    grep -Fqx "$rel" "$tmp/listed" || { echo "    not installed: $rel"; missing=1; }
done
[ "$missing" -eq 0 ] && echo "install list: PASS" || { echo "install list: FAIL"; fails=$((fails + 1)); }
[ "$fails" -eq 0 ] || exit 1
