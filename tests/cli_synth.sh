#!/bin/sh
# kvcert synth and dequant from the command line: synth -> verify ->
# inspect end to end, determinism across runs, --hf-layout, overwrite and
# failure rules (nothing left behind), a dequant round trip, and each bad
# flag / bad input with its exit status (2 usage, 3 bad input or I/O).
set -u
kvcert=${KVC_BUILDDIR:-.}/kvcert
tmp=$(mktemp -d "${TMPDIR:-/tmp}/kvcert-cli-synth-XXXXXX") || exit 99
trap 'rm -rf "$tmp"' EXIT
shards="model-00002-of-00046.safetensors model-00004-of-00046.safetensors model-00005-of-00046.safetensors"
snap="hub/models--deepseek-ai--DeepSeek-V4-Flash/snapshots/0000000000000000000000000000000000000000"
n=0

fail() {
    echo "FAIL: $*"
    [ -s "$tmp/err" ] && sed 's/^/  stderr: /' "$tmp/err"
    exit 1
}

# expect STATUS CMD...: runs CMD, stdout to $tmp/out, stderr to $tmp/err
expect() {
    want=$1
    shift
    n=$((n + 1))
    "$@" >"$tmp/out" 2>"$tmp/err"
    got=$?
    [ "$got" -eq "$want" ] || fail "'$*' exited $got, expected $want"
    echo "ok $n - exit $want: $*"
}

# the stderr of the last command mentions TEXT
said() {
    grep -q -- "$1" "$tmp/err" || fail "stderr lacks '$1'"
}

# folder DIR holds exactly the names given (sorted), nothing else
holds() {
    d=$1
    shift
    got=$(cd "$d" && ls -A | sort | tr '\n' ' ')
    want=$(printf '%s\n' "$@" | sed '/^$/d' | sort | tr '\n' ' ')
    [ "$got" = "$want" ] || fail "$d holds '$got', expected '$want'"
}

# --- synth -> verify -> inspect
expect 0 "$kvcert" synth --out "$tmp/a" --seed 1
holds "$tmp/a" $shards hidden.safetensors manifest.json
for f in $shards hidden.safetensors; do
    grep -q "\"$f\"" "$tmp/a/manifest.json" || fail "manifest does not name $f"
done
expect 0 "$kvcert" verify --manifest "$tmp/a/manifest.json"
expect 0 "$kvcert" inspect "$tmp/a/model-00004-of-00046.safetensors"
for t in layers.2.attn.wkv.weight layers.2.attn.wkv.scale layers.2.attn.kv_norm.weight \
    layers.2.attn.compressor.wkv.weight layers.2.attn.compressor.wgate.weight \
    layers.2.attn.compressor.ape layers.2.attn.compressor.norm.weight; do
    grep -q "$t" "$tmp/out" || fail "inspect does not list $t"
done
grep -q F8_E4M3 "$tmp/out" || fail "inspect does not show F8_E4M3"
expect 0 "$kvcert" inspect "$tmp/a/hidden.safetensors"
grep -q "hidden" "$tmp/out" || fail "inspect does not list hidden"

# --- the same seed gives the same bytes; another seed does not
expect 0 "$kvcert" synth --out "$tmp/b" --seed 1
for f in $shards hidden.safetensors manifest.json; do
    cmp -s "$tmp/a/$f" "$tmp/b/$f" || fail "seed 1 twice: $f differs"
done
expect 0 "$kvcert" synth --out "$tmp/c" --seed 2
for f in $shards hidden.safetensors; do
    cmp -s "$tmp/a/$f" "$tmp/c/$f" && fail "seeds 1 and 2 give the same $f"
done
rm -rf "$tmp/b" "$tmp/c"

# --- existing files are refused without --force (and left alone)
cp "$tmp/a/manifest.json" "$tmp/manifest.before"
expect 3 "$kvcert" synth --out "$tmp/a" --seed 2
said "already exists"
cmp -s "$tmp/a/manifest.json" "$tmp/manifest.before" || fail "refused run changed manifest.json"
expect 0 "$kvcert" synth --out "$tmp/a" --seed 1 --force
cmp -s "$tmp/a/manifest.json" "$tmp/manifest.before" || fail "--force run changed the bytes"

# --- --hf-layout: shards in the snapshot folder, the rest in DIR
expect 0 "$kvcert" synth --out "$tmp/hf" --seed 1 --hf-layout
holds "$tmp/hf" hub hidden.safetensors manifest.json
holds "$tmp/hf/$snap" $shards
[ "$(cat "$tmp/hf/hub/models--deepseek-ai--DeepSeek-V4-Flash/refs/main")" = \
    0000000000000000000000000000000000000000 ] || fail "refs/main does not name the revision"
for f in $shards; do
    cmp -s "$tmp/a/$f" "$tmp/hf/$snap/$f" || fail "--hf-layout changed $f"
    grep -q "\"$snap/$f\"" "$tmp/hf/manifest.json" || fail "manifest does not name $snap/$f"
done
expect 0 "$kvcert" verify --manifest "$tmp/hf/manifest.json"

# --- usage errors: exit 2, nothing created
expect 2 "$kvcert" synth --seed 1
said "--out"
expect 2 "$kvcert" synth --out "$tmp/u"
said "--seed"
expect 2 "$kvcert" synth --out "$tmp/u" --seed x1
expect 2 "$kvcert" synth --out "$tmp/u" --seed -1
expect 2 "$kvcert" synth --out "$tmp/u" --seed 18446744073709551616
expect 2 "$kvcert" synth --out "$tmp/u" --seed 1 --passages 0
expect 2 "$kvcert" synth --out "$tmp/u" --seed 1 --passages 65
expect 2 "$kvcert" synth --out "$tmp/u" --seed 1 --bogus
expect 2 "$kvcert" synth --out "$tmp/u" --seed 1 extra
expect 2 "$kvcert" synth --seed 1 --out
[ -e "$tmp/u" ] && fail "a usage error created $tmp/u"
expect 0 "$kvcert" synth --help
grep -q -- "--hf-layout" "$tmp/out" || fail "synth --help does not describe --hf-layout"

# --- failures leave nothing behind
: >"$tmp/file"
expect 3 "$kvcert" synth --out "$tmp/file" --seed 1
said "not a folder"
mkdir -p "$tmp/h2" && : >"$tmp/h2/hub"
expect 3 "$kvcert" synth --out "$tmp/h2" --seed 1 --hf-layout
holds "$tmp/h2" hub
# the last step fails (manifest.json is a folder): every file written goes
mkdir -p "$tmp/m/manifest.json"
expect 3 "$kvcert" synth --out "$tmp/m" --seed 1 --force
holds "$tmp/m" manifest.json
# ... and so does every folder it created (here: the HF tree)
mkdir -p "$tmp/m3/x/manifest.json"
expect 3 "$kvcert" synth --out "$tmp/m3/x" --seed 1 --hf-layout --force
holds "$tmp/m3/x" manifest.json

# --- dequant: a round trip F8 -> F32 -> F32 keeps the data bytes
w="$tmp/a/model-00002-of-00046.safetensors"
expect 0 "$kvcert" dequant "$w" layers.0.attn.wkv.weight --out "$tmp/wkv.safetensors"
expect 0 "$kvcert" inspect "$tmp/wkv.safetensors"
grep -q F32 "$tmp/out" || fail "dequant output is not F32"
grep -q layers.0.attn.wkv.weight "$tmp/out" || fail "dequant output lost the tensor name"
grep -q "source_tensor" "$tmp/wkv.safetensors" || fail "dequant output lacks source metadata"
expect 0 "$kvcert" dequant "$tmp/wkv.safetensors" layers.0.attn.wkv.weight --out "$tmp/wkv2.safetensors"
bytes=$((512 * 4096 * 4))
tail -c $bytes "$tmp/wkv.safetensors" >"$tmp/d1"
tail -c $bytes "$tmp/wkv2.safetensors" >"$tmp/d2"
cmp -s "$tmp/d1" "$tmp/d2" || fail "F32 -> F32 changed the data"
expect 0 "$kvcert" dequant "$w" layers.0.attn.kv_norm.weight -o "$tmp/norm.safetensors"
expect 0 "$kvcert" dequant --help

# --- dequant: bad input exits 3 and writes nothing
expect 3 "$kvcert" dequant "$w" no.such.tensor --out "$tmp/x.safetensors"
said "not found"
expect 3 "$kvcert" dequant "$w" layers.0.attn.wkv.scale --out "$tmp/x.safetensors"
said "F8_E8M0"
expect 3 "$kvcert" dequant "$tmp/missing.safetensors" t --out "$tmp/x.safetensors"
expect 3 "$kvcert" dequant "$tmp/a/manifest.json" t --out "$tmp/x.safetensors"
[ -e "$tmp/x.safetensors" ] && fail "a failed dequant left its output"
expect 2 "$kvcert" dequant
expect 2 "$kvcert" dequant "$w" layers.0.attn.wkv.weight
said "--out"
expect 2 "$kvcert" dequant "$w" layers.0.attn.wkv.weight --out "$tmp/x.safetensors" --bogus
expect 2 "$kvcert" dequant "$w" --out "$tmp/x.safetensors"
[ -e "$tmp/x.safetensors" ] && fail "a usage error left an output"

echo "cli_synth: $n checks passed"
exit 0
