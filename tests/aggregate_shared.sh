#!/bin/sh
# kvcert aggregate --check on the study's own files in ../shared/reference
# (CI has them; the golden tests do not depend on them). Skips (77) where
# they are absent. KVC_REFERENCE_DIR overrides the search.
set -u
KVCERT="${KVC_BUILDDIR:-.}/kvcert"
SRC="${KVC_SRCDIR:-.}"
ref=""
for d in "${KVC_REFERENCE_DIR:-}" "$SRC/../shared/reference" "$SRC/../../shared/reference"; do
    if [ -n "$d" ] && [ -f "$d/stage075_n8.json" ] && [ -f "$d/stage075_qsweep_n8.json" ]; then
        ref=$d
        break
    fi
done
[ -n "$ref" ] || { echo "SKIP: no ../shared/reference with the published files"; exit 77; }
[ -x "$KVCERT" ] || { echo "no kvcert binary at $KVCERT"; exit 99; }
fails=0
for f in stage075_n8.json stage075_qsweep_n8.json; do
    out=$("$KVCERT" aggregate --check "$ref/$f" 2>&1)
    rc=$?
    echo "$out" | tail -6
    if [ "$rc" -eq 0 ] && echo "$out" | grep -q -E '^([0-9]+) of \1 fields match$'; then
        echo "$f: PASS"
    else
        echo "$f: FAIL (exit $rc)"
        fails=$((fails + 1))
    fi
done
# the single-run files read (n = 1) and store nothing to check
for f in stage075_cpu.json stage075_trained.json; do
    [ -f "$ref/$f" ] || continue
    if "$KVCERT" aggregate --check "$ref/$f" >/dev/null 2>&1; then echo "$f: PASS"; else echo "$f: FAIL"; fails=$((fails + 1)); fi
done
exit $((fails > 0))
