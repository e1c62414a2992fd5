#!/bin/sh
# Runs on the GPU machine, over the .gpu/ bundle that ci/gpu-bundle.sh made:
# every test program (GPU suites included), `kvcert devices`, and the GPU
# extras (equivalence, exhaustive conversion sweeps) where they exist.
# Prints one line per program and a summary; exit 1 on any failure.
# Logs go to $OUT when it is set (the device tool returns that folder).
set -u
top=$(cd "$(dirname "$0")/.." && pwd)
bundle=$top/.gpu
[ -d "$bundle" ] || { echo "gpu-check: no .gpu bundle; run ci/gpu-bundle.sh first" >&2; exit 99; }
logs=${OUT:-$top/_build/gpu-logs}
mkdir -p "$logs"
export LD_LIBRARY_PATH="$bundle/lib${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}"
export KVC_SRCDIR="$top" KVC_BUILDDIR="$bundle/bin"
export CK_DEFAULT_TIMEOUT=600

echo "== device"
nvidia-smi --query-gpu=name,driver_version,memory.total --format=csv,noheader 2>&1 | head -4
"$bundle/bin/kvcert" devices

pass=0 fail=0 skip=0
run_one() { # name, command...
    name=$1
    shift
    start=$(date +%s)
    "$@" > "$logs/$name.log" 2>&1
    rc=$?
    secs=$(( $(date +%s) - start ))
    case $rc in
    0) pass=$((pass + 1)); echo "PASS: $name (${secs}s)" ;;
    77) skip=$((skip + 1)); echo "SKIP: $name ($(tail -n 1 "$logs/$name.log"))" ;;
    *) fail=$((fail + 1)); echo "FAIL: $name (exit $rc, ${secs}s)"; tail -n 20 "$logs/$name.log" ;;
    esac
}

echo "== test programs"
for t in "$bundle"/tests/check_*; do
    [ -x "$t" ] || continue
    run_one "$(basename "$t")" "$t"
done

echo "== GPU extras"
for t in "$bundle"/bin/gpu_*; do
    [ -x "$t" ] || continue
    run_one "$(basename "$t")" "$t"
    grep -E 'identical|IDENTICAL|DIFFERENT|match' "$logs/$(basename "$t").log" | tail -n 12
done
if "$bundle/bin/kvcert" --help | grep -q '^  equiv'; then
    run_one equiv "$bundle/bin/kvcert" equiv
    tail -n 40 "$logs/equiv.log"
fi

# KVC_GPU_BENCH=1: also the CUDA benchmark (matmul vs cuBLAS, dequant vs
# copy, one passage GPU vs CPU; about a minute), with the toolkit's libs.
if [ "${KVC_GPU_BENCH:-0}" = 1 ] && [ -x "$bundle/bin/bench_cuda" ]; then
    for d in /usr/local/cuda/lib64 /usr/local/cuda/lib /usr/local/cuda/targets/x86_64-linux/lib; do
        [ -d "$d" ] && LD_LIBRARY_PATH="$LD_LIBRARY_PATH:$d"
    done
    run_one bench_cuda "$bundle/bin/bench_cuda"
    cat "$logs/bench_cuda.log"
fi

# The main job on the GPU machine: every bundled case, CPU and CUDA.
if "$bundle/bin/kvcert" --help | grep -q '^  certify'; then
    run_one certify "$bundle/bin/kvcert" certify --root "$top/conformance/cases"
    tail -n 20 "$logs/certify.log"
fi

# audit and sweep on the two backends (everything on the backend: streams,
# audit, codecs, bitstreams, metrics): the same report, bar the backend's
# name; once through --backend both (field by field, bits), once by cmp.
audit_backends() {
    k="$bundle/bin/kvcert"
    d=$(mktemp -d)
    "$k" synth --out "$d/s" --seed 1 --passages 2 > /dev/null || return 1
    S="--shards $d/s --hidden $d/s/hidden.safetensors"
    for b in cpu cuda; do
        "$k" audit $S --q 10,38 --backend "$b" --out "$d/$b.json" > "$d/$b.txt" || return 1
    done
    grep -v '"streams_backend"\|"codec_backend"' "$d/cpu.json" > "$d/cpu.cmp"
    grep -v '"streams_backend"\|"codec_backend"' "$d/cuda.json" > "$d/cuda.cmp"
    # last line of a command's stdout, keeping the command's own status
    last() { "$@" > "$d/last.txt"; r=$?; tail -n 1 "$d/last.txt"; return $r; }
    cmp "$d/cpu.cmp" "$d/cuda.cmp" && echo "audit reports identical (cpu vs cuda)" &&
        last "$k" aggregate --check "$d/cuda.json" &&
        last "$k" audit $S --q 10,38 --backend both &&
        last "$k" sweep $S --backend both &&
        last "$k" audit $S --profile intended --q 4,10,38,126 --backend both &&
        last "$k" audit $S --profile v4 --q 4,10,38,126 --backend both
    rc=$?
    rm -rf "$d"
    return $rc
}
if "$bundle/bin/kvcert" --help | grep -q '^  audit'; then
    run_one audit_backends audit_backends
    tail -n 7 "$logs/audit_backends.log"
fi

echo
echo "gpu-check: $pass passed, $fail failed, $skip skipped"
[ "$fail" -eq 0 ]
