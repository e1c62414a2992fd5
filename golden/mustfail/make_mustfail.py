#!/usr/bin/env python3
"""Makes the must-fail inputs in golden/mustfail/ and the cases that use
them (conformance/cases/mustfail-*.json).

    python3 golden/mustfail/make_mustfail.py

run from the top of the source tree. Its output is committed; the build
never runs it. Every file is tiny (about 1.3 KB) and built byte by byte here
(Python's standard library only), so how each differs from the good shard is
plain:

  good/model-00002-of-00046.safetensors
      a valid shard named as DeepSeek-V4-Flash's layer-0 file, holding the two
      small layer-0 tensors: layers.0.attn.kv_norm.weight BF16 [512]
      (1 + (i mod 16)/64, exact in bf16) and layers.0.attn.wkv.scale F8_E8M0
      [4, 32] (bytes 0x70 + (i mod 5)); header JSON padded with spaces to a
      multiple of 8 bytes, data in name order with no gap.
  good/manifest.json            kvcert-manifest/1 naming it (size, SHA-256).
  flipped/                      the shard with data byte 100 XOR 0x01 (a bf16
                                low bit: still a valid file), and the good
                                manifest: only the digest tells.
  truncated/                    the shard without its last 100 bytes (inside
                                the scale tensor), and the good manifest.
  malformed-header/             the shard whose header's closing '}' is a
                                space (same length): not JSON.
  wrong-dtype/                  kv_norm.weight stored as F32 [512] (the same
                                values), so a BF16 requirement fails.
  wrong-hash/                   the good shard, and a manifest whose digest
                                has its first hex digit changed.
"""
import hashlib
import json
import os
import struct

TOP = "golden/mustfail"
CASES = "conformance/cases"
REL = "../../" + TOP
SHARD = "model-00002-of-00046.safetensors"
NORM = "layers.0.attn.kv_norm.weight"
SCALE = "layers.0.attn.wkv.scale"


def bf16_bits(x):
    """bf16 of a binary32 value that bf16 holds exactly (asserted)."""
    u = struct.unpack("<I", struct.pack("<f", x))[0]
    assert u & 0xFFFF == 0
    return u >> 16


def shard(norm_dtype="BF16", break_header=False):
    norm_vals = [1.0 + (i % 16) / 64.0 for i in range(512)]
    if norm_dtype == "BF16":
        norm = b"".join(struct.pack("<H", bf16_bits(v)) for v in norm_vals)
    else:
        norm = b"".join(struct.pack("<f", v) for v in norm_vals)
    scale = bytes(0x70 + (i % 5) for i in range(128))
    header = {
        "__metadata__": {"format": "pt", "content": "kvcert must-fail test shard (layer 0, two small tensors)"},
        NORM: {"dtype": norm_dtype, "shape": [512], "data_offsets": [0, len(norm)]},
        SCALE: {"dtype": "F8_E8M0", "shape": [4, 32],
                "data_offsets": [len(norm), len(norm) + len(scale)]},
    }
    text = json.dumps(header, separators=(",", ":")).encode()
    text += b" " * (-len(text) % 8)
    if break_header:
        end = text.rindex(b"}")
        text = text[:end] + b" " + text[end + 1:]
    return struct.pack("<Q", len(text)) + text + norm + scale


def manifest(data, sha=None):
    sha = sha or hashlib.sha256(data).hexdigest()
    m = {"schema": "kvcert-manifest/1",
         "files": [{"name": SHARD, "size": len(data), "sha256": sha}]}
    return (json.dumps(m, indent=2) + "\n").encode()


def write(rel, data):
    path = os.path.join(TOP, rel)
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path, "wb") as f:
        f.write(data)
    return path


def pin(role, rel):
    data = open(os.path.join(TOP, rel), "rb").read()
    return {"role": role, "path": REL + "/" + rel, "size": len(data),
            "sha256": hashlib.sha256(data).hexdigest()}


def case(case_id, comment, flags, inputs, parameters, result, expected=()):
    doc = {"schema": "kvcert-case/1", "id": case_id, "comment": comment, "flags": flags,
           "kind": "must-fail", "inputs": inputs, "profile": None, "backend": "any",
           "parameters": parameters, "expected": list(expected), "result": result}
    path = os.path.join(CASES, case_id + ".json")
    with open(path, "w") as f:
        f.write(json.dumps(doc, indent=2) + "\n")
    print(path)


def main():
    good = shard()
    write("good/" + SHARD, good)
    write("good/manifest.json", manifest(good))
    flipped = bytearray(good)
    hlen = struct.unpack("<Q", good[:8])[0]
    flipped[8 + hlen + 100] ^= 0x01
    write("flipped/" + SHARD, bytes(flipped))
    write("flipped/manifest.json", manifest(good))
    write("truncated/" + SHARD, good[:-100])
    write("truncated/manifest.json", manifest(good))
    write("malformed-header/" + SHARD, shard(break_header=True))
    write("wrong-dtype/" + SHARD, shard(norm_dtype="F32"))
    write("wrong-hash/" + SHARD, good)
    sha = hashlib.sha256(good).hexdigest()
    wrong = ("1" if sha[0] != "1" else "2") + sha[1:]
    write("wrong-hash/manifest.json", manifest(good, wrong))

    os.makedirs(CASES, exist_ok=True)
    shard_in = lambda d: pin("shard", d + "/" + SHARD)
    manifest_in = lambda d: pin("manifest", d + "/manifest.json")
    made = "golden/mustfail/make_mustfail.py documents how the input was made."
    case("mustfail-flipped-byte",
         "A shard with one flipped data byte (byte 100 of the data buffer XOR 0x01, still a valid "
         "safetensors file), verified against a manifest that records the good shard: the "
         "manifest verifier refuses it by its SHA-256. " + made,
         ["must-fail", "manifest", "sha256"],
         [manifest_in("flipped"), shard_in("flipped")],
         {"operation": "verify", "manifest": "manifest", "output": "verified.json"},
         {"invalid": "INPUT_HASH_MISMATCH"})
    bad_pin = shard_in("flipped")
    bad_pin["sha256"] = sha
    case("mustfail-case-pin-mismatch",
         "The same flipped shard, but pinned in this case with the good shard's size and "
         "SHA-256: the runner's own input check refuses it before the operation runs. " + made,
         ["must-fail", "case-pin", "sha256"],
         [bad_pin],
         {"operation": "inspect", "input": "shard", "output": "tensors.json"},
         {"invalid": "INPUT_HASH_MISMATCH"})
    case("mustfail-truncated-manifest",
         "A shard cut 100 bytes short, verified against the good shard's manifest: the verifier "
         "compares sizes before hashing, so the size check catches it first. " + made,
         ["must-fail", "manifest", "truncated"],
         [manifest_in("truncated"), shard_in("truncated")],
         {"operation": "verify", "manifest": "manifest", "output": "verified.json"},
         {"invalid": "INPUT_SIZE_MISMATCH"})
    case("mustfail-truncated-open",
         "The same truncated shard opened directly (no manifest): the safetensors reader finds "
         "its data buffer shorter than its tensors. " + made,
         ["must-fail", "safetensors", "truncated"],
         [shard_in("truncated")],
         {"operation": "inspect", "input": "shard", "output": "tensors.json"},
         {"invalid": "ST_TRUNCATED"})
    case("mustfail-malformed-header",
         "A shard whose header JSON lacks its closing brace (replaced by a space, same length): "
         "not valid JSON. " + made,
         ["must-fail", "safetensors", "header"],
         [shard_in("malformed-header")],
         {"operation": "inspect", "input": "shard", "output": "tensors.json"},
         {"invalid": "ST_HEADER_JSON"})
    case("mustfail-wrong-dtype",
         "layers.0.attn.kv_norm.weight stored as F32 instead of BF16 (SPEC 1.1): a valid file, "
         "refused where the tensor is required as BF16 [512]. " + made,
         ["must-fail", "tensor", "dtype"],
         [shard_in("wrong-dtype")],
         {"operation": "require", "input": "shard", "tensor": NORM, "dtype": "BF16",
          "shape": [512], "output": "tensor.json"},
         {"invalid": "TENSOR_DTYPE"})
    case("mustfail-manifest-wrong-hash",
         "The good shard, verified against a manifest whose SHA-256 has its first hex digit "
         "changed: refused by its digest. " + made,
         ["must-fail", "manifest", "sha256"],
         [manifest_in("wrong-hash"), shard_in("wrong-hash")],
         {"operation": "verify", "manifest": "manifest", "output": "verified.json"},
         {"invalid": "INPUT_HASH_MISMATCH"})
    # Controls: the same operations on the good input succeed and write their
    # output, so a must-fail PASS cannot come from an operation that always fails.
    case("mustfail-control-verify",
         "Control: the good shard verifies against its manifest and the verified list is "
         "written. " + made,
         ["control", "manifest"],
         [manifest_in("good"), shard_in("good")],
         {"operation": "verify", "manifest": "manifest", "output": "verified.json"},
         "valid",
         [{"path": "$.files", "value": 1, "tolerance": "exact"},
          {"path": "$.output.name", "value": "verified.json", "tolerance": "exact"}])
    case("mustfail-control-inspect",
         "Control: the good shard opens; its two tensors are listed and written. " + made,
         ["control", "safetensors"],
         [shard_in("good")],
         {"operation": "inspect", "input": "shard", "output": "tensors.json"},
         "valid",
         [{"path": "$.tensors", "value": 2, "tolerance": "exact"},
          {"path": "$.output.name", "value": "tensors.json", "tolerance": "exact"}])
    case("mustfail-control-require",
         "Control: the good shard's kv_norm.weight is BF16 [512] as required. " + made,
         ["control", "tensor"],
         [shard_in("good")],
         {"operation": "require", "input": "shard", "tensor": NORM, "dtype": "BF16",
          "shape": [512], "output": "tensor.json"},
         "valid",
         [{"path": "$.tensors", "value": 1, "tolerance": "exact"}])


if __name__ == "__main__":
    main()
