#!/bin/sh
# The README's first command after install-deps: bootstrap, build in
# _build/main, then run the main job: `kvcert certify` over every bundled
# conformance case (published figures, synthetic pipeline per profile,
# must-fail inputs; the real-data case skips until its files are present).
set -eu
top=$(cd "$(dirname "$0")/.." && pwd)
cd "$top"
autoreconf -fi
mkdir -p _build/main
cd _build/main
[ -f Makefile ] || "$top/configure"
make -j"$(nproc 2>/dev/null || echo 2)"
exec "$top/_build/main/kvcert" certify --root "$top/conformance/cases"
