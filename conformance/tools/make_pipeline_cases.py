#!/usr/bin/env python3
"""Writes the synthetic pipeline cases (one per profile) and the real-data
case v4flash-stage075.

    python3 conformance/tools/make_pipeline_cases.py [GOLDEN_DIR]

run from the top of the source tree (GOLDEN_DIR defaults to golden/). The
pipeline cases take their input pins from golden/synth-seed1.json (the
synth generator's regression pin: size and SHA-256 of each file `kvcert
synth --seed 1` writes) and their expected stream digests from
golden/streams-seed1.json (the V4 path's regression pin of the CPU
reference, checked against a binary64 oracle when pinned). The real-data
case's expected values are the published figures (golden/published/
figures.json). The case files are committed; the build never runs this.
"""
import json
import os
import sys

CASES = "conformance/cases"
STREAMS = ["sliding_window_kv", "csa_pool_kv_ratio4", "hca_pool_kv_ratio128"]
SHARDS = [("shard0", "model-00002-of-00046.safetensors", 0),
          ("shard2", "model-00004-of-00046.safetensors", 2),
          ("shard3", "model-00005-of-00046.safetensors", 3)]
HIDDEN_SYNTH = "hidden.safetensors"
HIDDEN_REAL = "stage075_hidden_n8.safetensors"
HF = "models--deepseek-ai--DeepSeek-V4-Flash"


def write(doc):
    path = os.path.join(CASES, doc["id"] + ".json")
    with open(path, "w") as f:
        f.write(json.dumps(doc, indent=2) + "\n")
    print(path)


def pipeline_cases(golden):
    synth = json.load(open(os.path.join(golden, "synth-seed1.json")))
    streams = json.load(open(os.path.join(golden, "streams-seed1.json")))
    pins = {f["name"]: f for f in synth["files"]}
    assert synth["seed"] == 1 and synth["passages"] == 1
    inputs = []
    for role, name, layer in SHARDS:
        inputs.append({"role": role, "name": name,
                       "generated": {"by": "synth", "seed": 1, "layer": layer},
                       "size": pins[name]["size"], "sha256": pins[name]["sha256"]})
    inputs.append({"role": "hidden", "name": HIDDEN_SYNTH,
                   "generated": {"by": "synth", "seed": 1, "passages": 1},
                   "size": pins[HIDDEN_SYNTH]["size"], "sha256": pins[HIDDEN_SYNTH]["sha256"]})
    for case in streams["cases"]:
        prof = case["profile"]
        expected = []
        for s in STREAMS:
            e = case["streams"][s]
            expected.append({"name": "%s rows" % s, "path": "$.streams.%s.rows" % s,
                             "value": e["shape"][0], "tolerance": "exact"})
            expected.append({"name": "%s: SHA-256 of its bf16 bytes" % s,
                             "path": "$.streams.%s.sha256" % s, "value": e["sha256"],
                             "tolerance": "exact"})
        write({
            "schema": "kvcert-case/1",
            "id": "pipeline-synth-seed1-" + prof,
            "comment": ("The V4 KV write path under profile %s on kvcert's synthetic host, seed 1, "
                        "one passage of 2048 tokens: the shards and hidden states are regenerated "
                        "by the synth generator (src/v4/synth.h) and checked against their pinned "
                        "size and SHA-256 (golden/synth-seed1.json) before use; the SHA-256 of "
                        "each stream's bf16 bytes must equal golden/streams-seed1.json, the "
                        "regression pin of the CPU reference (checked against the binary64 "
                        "pipeline oracle of tests/check_pipeline.c when it was pinned)." % prof),
            "flags": ["pipeline", "synthetic", "bit-exact", prof],
            "kind": "pipeline",
            "inputs": inputs,
            "profile": prof,
            "backend": "any",
            "parameters": {"shards": [r for r, _, _ in SHARDS], "hidden": "hidden"},
            "expected": expected,
            "result": "valid"})


def real_data_case(golden):
    fig = {f["id"]: f for f in json.load(open(os.path.join(golden, "published/figures.json")))["figures"]}
    obtain_shards = (
        "Download model-00002-of-00046.safetensors, model-00004-of-00046.safetensors and "
        "model-00005-of-00046.safetensors from the Hugging Face repository "
        "deepseek-ai/DeepSeek-V4-Flash (huggingface-cli download deepseek-ai/DeepSeek-V4-Flash "
        "model-00002-of-00046.safetensors model-00004-of-00046.safetensors "
        "model-00005-of-00046.safetensors) into the Hugging Face cache ($HF_HOME/hub or "
        "~/.cache/huggingface/hub), or put them in a folder named by KVCERT_SHARDS.")
    obtain_hidden = (
        "Make the host hidden states the published way (Qwen2-0.5B token embeddings of the 8 "
        "passages, 2048 tokens each, projected 896 -> 4096 by the published seeded bf16 matrix "
        "on a CUDA device) with tools/make_hidden.py, and put " + HIDDEN_REAL + " next to this "
        "case file or name it with KVCERT_HIDDEN (conformance/README.md).")
    search = ["$KVCERT_SHARDS", "$HF_HOME/hub/%s/snapshots/*" % HF,
              "$HOME/.cache/huggingface/hub/%s/snapshots/*" % HF]
    inputs = [{"role": role, "name": name, "search": search, "obtain": obtain_shards,
               "size": None, "sha256": None} for role, name, _ in SHARDS]
    inputs.append({"role": "hidden", "name": HIDDEN_REAL,
                   "search": ["$KVCERT_HIDDEN", "$CASE_DIR"], "obtain": obtain_hidden,
                   "size": None, "sha256": None})
    base = "$.profiles.stage075.report.aggregate_by_stream"
    expected = []
    for fid, s, label in (("ratio_e8q38_swa", STREAMS[0], "SWA"),
                          ("ratio_e8q38_csa", STREAMS[1], "CSA"),
                          ("ratio_e8q38_hca", STREAMS[2], "HCA")):
        e = fig[fid]["expected"]
        expected.append({"name": "E8 Q38 / FP8 rel-MSE, %s, inside the published 95 %% CI" % label,
                         "path": "%s.%s.ratios_vs_fp8.v15_e8_Q38.mean" % (base, s),
                         "value": e["mean"], "tolerance": "published_ci95",
                         "ci95_hw": e["ci95_hw"]})
    for s in STREAMS:
        expected.append({"name": "E8 Q38 accounted bits, %s" % s,
                         "path": "%s.%s.codecs.v15_e8_Q38.bits_per_vector" % (base, s),
                         "value": 3296, "tolerance": "exact"})
        expected.append({"name": "FP8 per-64 baseline bits, %s" % s,
                         "path": "%s.%s.codecs.fp8_per64_baseline.bits_per_vector" % (base, s),
                         "value": 4224, "tolerance": "exact"})
    expected.append({"name": "-21.97 % bits vs FP8 (3296 vs 4224)",
                     "path": "$.profiles.stage075.bit_saving_e8_q38_vs_fp8_pct",
                     "value": 21.97, "tolerance": "absolute", "bound": 0.005})
    reported = []
    for prof in ("stage075", "intended", "v4"):
        for s in STREAMS:
            reported.append("$.profiles.%s.report.aggregate_by_stream.%s.ratios_vs_fp8.v15_e8_Q38"
                            % (prof, s))
        reported.append("$.profiles.%s.report.layer_weighted.ratios_vs_fp8.v15_e8_Q38" % prof)
    write({
        "schema": "kvcert-case/1",
        "id": "v4flash-stage075",
        "comment": ("Real data: the three DeepSeek-V4-Flash shards (layers 0, 2, 3) and the host "
                    "hidden states of the published run (8 passages x 2048 tokens), through the V4 "
                    "KV write path under profile stage075 (as published), then the E8/D4 codecs "
                    "and the FP8 per-64 baseline: the three E8 Q38 / FP8 rel-MSE ratios must fall "
                    "inside the published 95 % CIs and the bit saving be -21.97 %. The profiles "
                    "intended and v4 are run too; how the headline moves is reported, not "
                    "asserted. Inputs ship unpinned: `kvcert certify --pin v4flash-stage075` "
                    "records their sizes and SHA-256 (conformance/README.md)."),
        "flags": ["real-data", "published-ci", "stage075"],
        "kind": "real-data",
        "inputs": inputs,
        "profile": "stage075",
        "backend": "any",
        "parameters": {"shards": [r for r, _, _ in SHARDS], "hidden": "hidden",
                       "compare_profiles": ["intended", "v4"]},
        "expected": expected,
        "reported": reported,
        "result": "valid"})


def main():
    golden = sys.argv[1] if len(sys.argv) > 1 else "golden"
    os.makedirs(CASES, exist_ok=True)
    if os.path.exists(os.path.join(golden, "synth-seed1.json")):
        pipeline_cases(golden)
    else:
        print("no %s/synth-seed1.json: pipeline cases not written" % golden)
    real_data_case(golden)


if __name__ == "__main__":
    main()
