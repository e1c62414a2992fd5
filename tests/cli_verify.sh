#!/bin/sh
# kvcert verify: output lines and exit statuses 0/1/2/3.
#
# Expected digests are the FIPS 180-2 examples ("abc", "") and, for other
# contents, coreutils' sha256sum: oracles independent of kvcert.
set -u

KVCERT=${KVC_BUILDDIR:-.}/kvcert
[ -x "$KVCERT" ] || { echo "cli_verify: $KVCERT not built" >&2; exit 99; }
command -v sha256sum >/dev/null 2>&1 || { echo "cli_verify: no sha256sum" >&2; exit 77; }

T=$(mktemp -d "${TMPDIR:-/tmp}/kvcert-cli-XXXXXX") || exit 99
trap 'rm -rf "$T"' EXIT INT TERM
fail=0
n=0

HEX_ABC=ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad
HEX_EMPTY=e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855

# run EXPECTED_EXIT ARGS...: runs kvcert, keeping stdout in $T/out and
# stderr in $T/err; records a failure when the exit status differs.
run() {
    want=$1
    shift
    n=$((n + 1))
    "$KVCERT" "$@" >"$T/out" 2>"$T/err"
    got=$?
    if [ "$got" -ne "$want" ]; then
        echo "FAIL [$n] kvcert $*: exit $got, expected $want"
        sed 's/^/  stdout: /' "$T/out"
        sed 's/^/  stderr: /' "$T/err"
        fail=1
    fi
}

# expect_out TEXT: stdout must equal TEXT exactly.
expect_out() {
    printf '%s\n' "$1" >"$T/want"
    if ! cmp -s "$T/want" "$T/out"; then
        echo "FAIL [$n] stdout differs:"
        diff "$T/want" "$T/out" | sed 's/^/  /'
        fail=1
    fi
}

# expect_grep FILE REGEX: FILE must hold a line matching REGEX.
expect_grep() {
    if ! grep -q -e "$2" "$T/$1"; then
        echo "FAIL [$n] $1 has no line matching '$2':"
        sed 's/^/  /' "$T/$1"
        fail=1
    fi
}

# ---------------------------------------------------------------- setup
mkdir "$T/data" "$T/data/sub" "$T/elsewhere"
printf 'abc' >"$T/data/abc.txt"
: >"$T/data/sub/empty.bin"
head -c 100000 /dev/zero | tr '\0' 'z' >"$T/data/z.bin"
HEX_Z=$(sha256sum "$T/data/z.bin" | cut -c1-64)
cat >"$T/data/m.json" <<EOF
{
  "schema": "kvcert-manifest/1",
  "files": [
    {"name": "abc.txt", "size": 3, "sha256": "$HEX_ABC"},
    {"name": "sub/empty.bin", "size": 0, "sha256": "$HEX_EMPTY"},
    {"name": "z.bin", "size": 100000, "sha256": "$HEX_Z"}
  ]
}
EOF

# ---------------------------------------------------------------- 0: all OK
run 0 verify --manifest "$T/data/m.json"
expect_out "abc.txt: OK
sub/empty.bin: OK
z.bin: OK
3 of 3 files OK"

# the same with one thread, two threads, short options, = forms
for args in "--threads 1" "--threads=2" "-t 3"; do
    # shellcheck disable=SC2086
    run 0 verify -m "$T/data/m.json" $args
    expect_out "abc.txt: OK
sub/empty.bin: OK
z.bin: OK
3 of 3 files OK"
done

# --dir: the manifest elsewhere, the files in data/
cp "$T/data/m.json" "$T/elsewhere/m.json"
run 0 verify --manifest "$T/elsewhere/m.json" --dir "$T/data"
expect_grep out '^3 of 3 files OK$'
# ... and without --dir the files are looked for beside the manifest
run 1 verify --manifest "$T/elsewhere/m.json"
expect_out "abc.txt: MISSING
sub/empty.bin: MISSING
z.bin: MISSING
0 of 3 files OK"

# a relative manifest path: its directory is the default
(cd "$T/data" && "$KVCERT" verify --manifest m.json >"$T/out" 2>"$T/err")
rc=$?
n=$((n + 1))
[ "$rc" -eq 0 ] || { echo "FAIL [$n] relative manifest: exit $rc"; fail=1; }

# ---------------------------------------------------------------- 1: mismatches
printf 'abd' >"$T/data/abc.txt"
HEX_ABD=$(sha256sum "$T/data/abc.txt" | cut -c1-64)
run 1 verify --manifest "$T/data/m.json"
expect_out "abc.txt: MISMATCH (got $HEX_ABD)
sub/empty.bin: OK
z.bin: OK
2 of 3 files OK"
printf 'abc' >"$T/data/abc.txt"

printf 'x' >"$T/data/sub/empty.bin"
run 1 verify --manifest "$T/data/m.json"
expect_out "abc.txt: OK
sub/empty.bin: SIZE MISMATCH (expected 0, got 1)
z.bin: OK
2 of 3 files OK"
: >"$T/data/sub/empty.bin"

mv "$T/data/z.bin" "$T/z.bin"
run 1 verify --manifest "$T/data/m.json" --threads 2
expect_out "abc.txt: OK
sub/empty.bin: OK
z.bin: MISSING
2 of 3 files OK"

# --json: one object, with each file's result
run 1 verify --manifest "$T/data/m.json" --json
expect_grep out '"schema":[[:space:]]*"kvcert-verify/1"'
expect_grep out '"result":[[:space:]]*"MISSING"'
expect_grep out '"status":[[:space:]]*"MANIFEST_UNKNOWN_FILE"'
expect_grep out '"expected_size":[[:space:]]*100000'
expect_grep out '"ok":[[:space:]]*2'
expect_grep out '"total":[[:space:]]*3'
mv "$T/z.bin" "$T/data/z.bin"
run 0 verify --manifest "$T/data/m.json" --json
expect_grep out '"ok":[[:space:]]*3'
expect_grep out "\"sha256\":[[:space:]]*\"$HEX_Z\""
if grep -q 'files OK' "$T/out"; then
    echo "FAIL [$n] --json printed the text summary"
    fail=1
fi

# ---------------------------------------------------------------- 2: usage
run 2 verify
expect_grep err '^kvcert: error: verify: --manifest is required'
run 2 verify --manifest "$T/data/m.json" --threads 0
run 2 verify --manifest "$T/data/m.json" --threads 65
run 2 verify --manifest "$T/data/m.json" --threads two
run 2 verify --manifest "$T/data/m.json" --threads -1
run 2 verify --manifest "$T/data/m.json" --bogus
run 2 verify --manifest "$T/data/m.json" extra
run 2 verify --manifest
run 0 verify --help
expect_grep out '^usage: kvcert verify --manifest'

# ---------------------------------------------------------------- 3: bad input, I/O
run 3 verify --manifest "$T/nope.json"
expect_grep err '^kvcert: error: verify: cannot open file'
printf 'not json' >"$T/bad.json"
run 3 verify --manifest "$T/bad.json"
expect_grep err '^kvcert: error: verify: manifest is not valid JSON'
printf '{"schema": "kvcert-manifest/1", "files": [{"name": "../x", "size": 1, "sha256": "%s"}]}' \
    "$HEX_ABC" >"$T/bad.json"
run 3 verify --manifest "$T/bad.json"
expect_grep err 'files\[0\]\.name'
printf '{"schema": "kvcert-manifest/1", "files": [{"name": "x", "size": 1, "sha256": "abc"}]}' \
    >"$T/bad.json"
run 3 verify --manifest "$T/bad.json"
expect_grep err 'malformed SHA-256 hex digest'
run 3 verify --manifest "$T/data/m.json" --dir "$T/no-such-dir"
expect_grep err 'is not a directory'
# a directory where a file should be: unreadable, not missing
rm "$T/data/z.bin"
mkdir "$T/data/z.bin"
run 3 verify --manifest "$T/data/m.json"
expect_grep out '^z\.bin: ERROR (cannot open file: .*not a regular file'
expect_grep out '^2 of 3 files OK$'
expect_grep err '^kvcert: error: verify: '

if [ "$fail" -ne 0 ]; then
    echo "cli_verify: FAILED"
    exit 1
fi
echo "cli_verify: $n runs passed"
exit 0
