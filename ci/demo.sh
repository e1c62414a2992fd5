#!/bin/sh
# The demo main job: synth -> verify -> inspect, on a scratch folder.
# usage: ci/demo.sh PATH/TO/kvcert
set -eu
kvcert=${1:?usage: demo.sh PATH/TO/kvcert}
work=$(mktemp -d "${TMPDIR:-/tmp}/kvcert-demo-XXXXXX")
trap 'rm -rf "$work"' EXIT
"$kvcert" --version
"$kvcert" devices || true
echo "== kvcert synth --out $work/v4 --seed 1"
"$kvcert" synth --out "$work/v4" --seed 1
echo "== kvcert verify --manifest $work/v4/manifest.json"
"$kvcert" verify --manifest "$work/v4/manifest.json"
echo "== kvcert inspect $work/v4/model-00004-of-00046.safetensors"
"$kvcert" inspect "$work/v4/model-00004-of-00046.safetensors"
