#!/bin/sh
# The README's first command after install-deps: bootstrap, build in
# _build/main, then run the main job. Until `kvcert certify` exists the main
# job is a demo: synthesize V4-shaped shards, verify them against their
# manifest, inspect one.
set -eu
top=$(cd "$(dirname "$0")/.." && pwd)
cd "$top"
autoreconf -fi
mkdir -p _build/main
cd _build/main
[ -f Makefile ] || "$top/configure"
make -j"$(nproc 2>/dev/null || echo 2)"
exec sh "$top/ci/demo.sh" "$top/_build/main/kvcert"
