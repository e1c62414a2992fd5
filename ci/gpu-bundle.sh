#!/bin/sh
# Builds, here, everything the GPU machine runs, and gathers it in .gpu/.
#
# The GPU machine has a compiler and the CUDA toolkit but no libtool, cJSON
# or Check, and no network; so the programs are built here with CUDA, linked
# statically against libkvcert (--disable-shared) and the static CUDA
# runtime, and travel with the two shared libraries they still need
# (libcjson, libsubunit). Run ci/gpu-check.sh there with `.gpu` carried.
set -eu
top=$(cd "$(dirname "$0")/.." && pwd)
cd "$top"
[ -x configure ] || autoreconf -fi
mkdir -p _build/gpu
cd _build/gpu
[ -f Makefile ] || "$top/configure" --with-cuda --disable-shared --enable-werror
jobs=$(nproc 2>/dev/null || echo 2)
make -j"$jobs"
make -j"$jobs" check TESTS=            # builds the test programs, runs none
make -j"$jobs" gpu-programs                 # GPU-only extras

rm -rf "$top/.gpu"
mkdir -p "$top/.gpu/bin" "$top/.gpu/lib" "$top/.gpu/tests"
cp kvcert "$top/.gpu/bin/"
for t in tests/check_* tests/gpu_* tests/exhaustive_*; do
    [ -f "$t" ] && [ -x "$t" ] || continue
    case "$t" in *.o|*.c|*.cu|*.log|*.trs|*.sh) continue ;; esac
    case "$t" in
    tests/check_*) cp "$t" "$top/.gpu/tests/" ;;
    *) cp "$t" "$top/.gpu/bin/" ;;
    esac
done
# Benchmarks built by gpu-programs (bench_cuda links the toolkit's own
# libcublas, which the GPU machine has; gpu-check.sh runs it on request).
for b in bench/bench_cuda; do
    [ -x "$b" ] && cp "$b" "$top/.gpu/bin/"
done
# The shared libraries the GPU machine lacks.
for lib in $(ldd kvcert "$top"/.gpu/tests/* "$top"/.gpu/bin/* 2>/dev/null | awk '/libcjson|libsubunit/ {print $3}' | sort -u); do
    cp -L "$lib" "$top/.gpu/lib/"
done
echo "gpu-bundle: $(ls "$top/.gpu/tests" | wc -l) test programs, $(ls "$top/.gpu/bin" | wc -l) programs, libs: $(ls "$top/.gpu/lib" | tr '\n' ' ')"
du -sh "$top/.gpu"
